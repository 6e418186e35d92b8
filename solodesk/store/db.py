"""The SQLite database: connection settings, write transactions and ordered migrations.

Opened with WAL journaling, ``synchronous=FULL`` (an approval survives power loss once
recorded) and a busy timeout. Migrations are ordered functions recorded in
``_sqlite_migrations`` by sqlite-utils' :class:`~sqlite_utils.migrations.Migrations`.

Several processes use one database at once (the window, the command line, a future
``solodesk serve``). Every write transaction therefore starts with ``BEGIN IMMEDIATE``
(:meth:`StoreDatabase.write`): it takes the write lock up front, waiting up to the busy timeout
for it. A deferred ``BEGIN`` whose first SELECT takes a read snapshot cannot upgrade to a writer
once another process has committed (SQLite answers ``database is locked`` at once, without
waiting), which crashed concurrent commands after a mail had been delivered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from solodesk.core.actions import utcnow
from solodesk.core.ledger import DEFAULT_CHART
from solodesk.core.mail import addr_specs, all_recipients, first_mailbox
from solodesk.store.correspondents import record_received, record_sent

BUSY_TIMEOUT_MS = 10_000

log = logging.getLogger(__name__)


class StoreError(Exception):
    """A database failure the founder can act on; the message is one line saying what to do."""


class StoreBusy(StoreError):
    """Another process held the database's write lock for longer than the busy timeout."""


class DiskFull(StoreError):
    """SQLite could not write: the disk holding the database is full (``SQLITE_FULL``)."""


def store_error(exc: sqlite3.Error, *, where: str = "") -> StoreError | None:
    """The :class:`StoreError` for a busy lock or a full disk, or None for other errors.

    Args:
        exc: What sqlite3 raised.
        where: The database file, named in the message.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    place = f" ({where})" if where else ""
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or (
        "database is locked" in text or "database is busy" in text
    ):
        return StoreBusy(
            f"the database{place} is busy: another SoloDesk process (the window or a command) "
            f"kept it locked for over {BUSY_TIMEOUT_MS // 1000} s; wait for it to finish and "
            "run the command again (nothing was changed)"
        )
    if name.startswith("SQLITE_FULL") or "database or disk is full" in text or (
        name.startswith("SQLITE_IOERR") and _nearly_full(where)
    ):
        return DiskFull(
            f"the disk holding the database{place} is full: free some space on it and run the "
            "command again (nothing was changed)"
        )
    return None


def _nearly_full(path: str) -> bool:
    """Whether the file system holding ``path`` has (almost) no room left: SQLite reports a
    full disk as an I/O error when it cannot grow its shared-memory file (``-shm``)."""
    if not path or path == ":memory:":
        return False
    try:
        return shutil.disk_usage(Path(path).parent).free < 64 * 1024
    except OSError:
        return False


class StoreDatabase(Database):
    """A sqlite-utils :class:`Database` whose write transactions start with ``BEGIN IMMEDIATE``.

    :meth:`atomic` is :meth:`write`, so every ``with db.atomic():`` in SoloDesk and in sqlite-utils
    itself takes the write lock up front. A lock held elsewhere for longer than the busy timeout
    raises :class:`StoreBusy` and a full disk :class:`DiskFull`, never a raw ``OperationalError``.
    """

    def __init__(self, conn: sqlite3.Connection, *, path: str = "") -> None:
        super().__init__(conn)
        self.path = path
        self._after_commit: list[Callable[[], None]] = []
        mode = conn.execute("PRAGMA journal_mode").fetchone()
        self._wal = bool(mode) and str(mode[0]).lower() == "wal"

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[StoreDatabase]:
        """A write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); nested use is a savepoint.

        Args:
            durable: False for bookkeeping that a later durable commit always follows (a run's
                start, a model call's usage: the run's end comes after them). In WAL mode such
                a transaction commits with ``synchronous=NORMAL``: no ``fsync`` of its own. It
                survives a crash of the process at once, and a power loss as soon as any later
                transaction commits durably (that commit's ``fsync`` of the write-ahead log
                covers every frame before it; SQLite recovers the log only as a prefix, so a
                later commit is never kept without an earlier one). Without WAL, or nested in
                another transaction, the transaction is as durable as always.

        Raises:
            StoreBusy: the write lock was not free within the busy timeout.
            DiskFull: the disk is full (the transaction is rolled back).
        """
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        if durable or not self._wal:
            with self._transaction():
                yield self
            return
        self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._transaction():
                yield self
        finally:
            self.conn.execute("PRAGMA synchronous=FULL")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None
        try:
            yield
        except BaseException as exc:
            self._after_commit.clear()
            self.rollback()
            if isinstance(exc, sqlite3.OperationalError):
                translated = store_error(exc, where=self.path)
                if translated is not None:
                    raise translated from None
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._after_commit.clear()
            self.rollback()
            raise self._translate(exc) from None
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the commit stands; a hook's failure is logged, not raised
                log.warning("after-commit hook failed", exc_info=True)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[StoreDatabase]:
        """Same as :meth:`write` (sqlite-utils' name)."""
        with self.write():
            yield self

    def bookkeeping(self) -> contextlib.AbstractContextManager[StoreDatabase]:
        """A write transaction for bookkeeping (``write(durable=False)``, see :meth:`write`)."""
        return self.write(durable=False)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current write transaction commits (now if none is open;
        never if it rolls back). Used to write the audit chain head beside the database."""
        if self.conn.in_transaction:
            if callback not in self._after_commit:
                self._after_commit.append(callback)
        else:
            callback()

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _translate(self, exc: sqlite3.OperationalError) -> Exception:
        return store_error(exc, where=self.path) or exc

migrations = Migrations("solodesk")


def _script(db: Database, sql: str) -> None:
    """Run several statements inside the migration's transaction.

    (``executescript`` would COMMIT first and break the migration's atomicity.)
    """
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")


@migrations()
def m001_initial(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE mail (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            from_addr TEXT NOT NULL,
            reply_to TEXT NOT NULL DEFAULT '',
            to_addrs TEXT NOT NULL DEFAULT '',
            cc_addrs TEXT NOT NULL DEFAULT '',
            subject TEXT NOT NULL DEFAULT '',
            date TEXT,
            in_reply_to TEXT NOT NULL DEFAULT '',
            refs TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL DEFAULT '',
            raw BLOB NOT NULL,
            source TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            triage_status TEXT NOT NULL DEFAULT 'new',
            triage_note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX mail_triage ON mail(triage_status);

        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conv ON messages(conversation_id, id);

        CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            agent TEXT NOT NULL,
            summary TEXT NOT NULL,
            provenance TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            approved_sha256 TEXT,
            approved_at TEXT,
            executed_at TEXT,
            result TEXT,
            errors TEXT NOT NULL DEFAULT '[]',
            idempotency_key TEXT UNIQUE
        );
        CREATE INDEX actions_status ON actions(status, id);

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            event TEXT NOT NULL,
            action_id INTEGER,
            actor TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_sha256 TEXT NOT NULL,
            sha256 TEXT NOT NULL
        );
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

        CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            model TEXT NOT NULL,
            purpose TEXT NOT NULL,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost_usd REAL,
            latency_ms INTEGER NOT NULL,
            error TEXT
        );
        """
    )


@migrations()
def m002_mail_automated(db: Database) -> None:
    # Why a mail is automated (RFC 3834 Auto-Submitted, RFC 2369 List-*, Precedence), or ''.
    db.execute("ALTER TABLE mail ADD COLUMN automated TEXT NOT NULL DEFAULT ''")


@migrations()
def m003_risk_schedule_policy(db: Database) -> None:
    _script(
        db,
        """
        ALTER TABLE actions ADD COLUMN risk TEXT NOT NULL DEFAULT 'low';
        ALTER TABLE actions ADD COLUMN risk_reasons TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE actions ADD COLUMN send_at TEXT;
        ALTER TABLE actions ADD COLUMN decided_by TEXT;
        CREATE INDEX actions_send_at ON actions(status, send_at);
        CREATE TABLE policy_rules (
            id INTEGER PRIMARY KEY,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            conditions TEXT NOT NULL,
            outcome TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m004_filter_indexes(db: Database) -> None:
    # The inbox filters by risk, agent and kind; the editor reads one action's audit entries.
    _script(
        db,
        """
        CREATE INDEX actions_risk ON actions(risk, id);
        CREATE INDEX actions_agent ON actions(agent, id);
        CREATE INDEX actions_kind ON actions(kind, id);
        CREATE INDEX audit_log_action ON audit_log(action_id, id);
        """,
    )


@migrations()
def m005_books_ledger(db: Database) -> None:
    """Bank statements, the double-entry ledger and categorisation (issue 10, ``books``).

    Balance is enforced here, not only in Python: a transaction is inserted unsealed, its
    postings are inserted, then ``sealed`` is set to 1, and the ``ledger_txn_seal`` trigger
    refuses the seal unless the postings sum to zero per currency (and there are at least two).
    A sealed transaction and its postings can no longer be changed or deleted; reports read
    only sealed transactions (the ``ledger_entries`` view).
    """
    _script(
        db,
        """
        CREATE TABLE bank_imports (
            id INTEGER PRIMARY KEY,
            file TEXT NOT NULL,
            file_sha256 TEXT NOT NULL,
            format TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            imported INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            balance_note TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE bank_lines (
            id INTEGER PRIMARY KEY,
            import_id INTEGER NOT NULL REFERENCES bank_imports(id),
            account TEXT NOT NULL,
            booking_date TEXT NOT NULL
                CHECK (booking_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            value_date TEXT,
            amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
            currency TEXT NOT NULL CHECK (currency GLOB '[A-Z][A-Z][A-Z]'),
            payee TEXT NOT NULL DEFAULT '',
            payee_key TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            reference TEXT NOT NULL DEFAULT '',
            dedup_key TEXT NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (account, dedup_key)
        );
        CREATE INDEX bank_lines_date ON bank_lines(booking_date, id);
        CREATE INDEX bank_lines_payee ON bank_lines(payee_key);
        CREATE TRIGGER bank_lines_no_update BEFORE UPDATE ON bank_lines
            BEGIN SELECT RAISE(ABORT, 'bank lines are what the bank reported: never changed'); END;
        CREATE TABLE bank_csv_mappings (
            name TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE ledger_accounts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL
                CHECK (type IN ('Assets', 'Liabilities', 'Equity', 'Income', 'Expenses')),
            description TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            CHECK (substr(name, 1, length(type) + 1) = type || ':')
        );
        CREATE TABLE ledger_bank_accounts (
            bank_account TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES ledger_accounts(id)
        );
        CREATE TABLE ledger_transactions (
            id INTEGER PRIMARY KEY,
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            payee TEXT NOT NULL DEFAULT '',
            narration TEXT NOT NULL DEFAULT '',
            bank_line_id INTEGER UNIQUE REFERENCES bank_lines(id),
            action_id INTEGER UNIQUE REFERENCES actions(id),
            sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1)),
            created_at TEXT NOT NULL
        );
        CREATE INDEX ledger_transactions_date ON ledger_transactions(sealed, date, id);
        CREATE TABLE ledger_postings (
            id INTEGER PRIMARY KEY,
            transaction_id INTEGER NOT NULL REFERENCES ledger_transactions(id),
            account_id INTEGER NOT NULL REFERENCES ledger_accounts(id),
            amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount <> 0),
            currency TEXT NOT NULL CHECK (currency GLOB '[A-Z][A-Z][A-Z]')
        );
        CREATE INDEX ledger_postings_txn ON ledger_postings(transaction_id);
        CREATE INDEX ledger_postings_account ON ledger_postings(account_id, currency);

        CREATE TRIGGER ledger_txn_born_unsealed BEFORE INSERT ON ledger_transactions
            WHEN NEW.sealed <> 0
            BEGIN SELECT RAISE(ABORT, 'ledger: a transaction is inserted unsealed'); END;
        CREATE TRIGGER ledger_txn_seal BEFORE UPDATE OF sealed ON ledger_transactions
            WHEN OLD.sealed = 0 AND NEW.sealed = 1
            BEGIN
                SELECT RAISE(ABORT, 'ledger: unbalanced transaction (per currency)')
                WHERE EXISTS (SELECT 1 FROM ledger_postings WHERE transaction_id = NEW.id
                              GROUP BY currency HAVING sum(amount) <> 0);
                SELECT RAISE(ABORT, 'ledger: a transaction needs at least two postings')
                WHERE (SELECT count(*) FROM ledger_postings WHERE transaction_id = NEW.id) < 2;
            END;
        CREATE TRIGGER ledger_txn_sealed_frozen BEFORE UPDATE ON ledger_transactions
            WHEN OLD.sealed = 1
            BEGIN SELECT RAISE(ABORT, 'ledger: a sealed transaction is never changed'); END;
        CREATE TRIGGER ledger_txn_sealed_kept BEFORE DELETE ON ledger_transactions
            WHEN OLD.sealed = 1
            BEGIN SELECT RAISE(ABORT, 'ledger: a sealed transaction is never deleted'); END;
        CREATE TRIGGER ledger_posting_insert_open BEFORE INSERT ON ledger_postings
            WHEN (SELECT sealed FROM ledger_transactions WHERE id = NEW.transaction_id) = 1
            BEGIN SELECT RAISE(ABORT, 'ledger: postings of a sealed transaction are final'); END;
        CREATE TRIGGER ledger_posting_update_open BEFORE UPDATE ON ledger_postings
            WHEN (SELECT sealed FROM ledger_transactions WHERE id = OLD.transaction_id) = 1
              OR (SELECT sealed FROM ledger_transactions WHERE id = NEW.transaction_id) = 1
            BEGIN SELECT RAISE(ABORT, 'ledger: postings of a sealed transaction are final'); END;
        CREATE TRIGGER ledger_posting_delete_open BEFORE DELETE ON ledger_postings
            WHEN (SELECT sealed FROM ledger_transactions WHERE id = OLD.transaction_id) = 1
            BEGIN SELECT RAISE(ABORT, 'ledger: postings of a sealed transaction are final'); END;
        CREATE TRIGGER ledger_account_type_fixed BEFORE UPDATE OF type ON ledger_accounts
            WHEN OLD.type <> NEW.type
             AND EXISTS (SELECT 1 FROM ledger_postings WHERE account_id = OLD.id)
            BEGIN SELECT RAISE(ABORT, 'ledger: an account with postings keeps its type'); END;

        CREATE VIEW ledger_entries AS
            SELECT p.id AS posting_id, t.id AS transaction_id, t.date, t.payee, t.narration,
                   t.bank_line_id, t.action_id, a.name AS account, a.type AS account_type,
                   p.amount, p.currency
            FROM ledger_postings p
            JOIN ledger_transactions t ON t.id = p.transaction_id
            JOIN ledger_accounts a ON a.id = p.account_id
            WHERE t.sealed = 1;

        CREATE TABLE ledger_rules (
            id INTEGER PRIMARY KEY,
            position INTEGER NOT NULL,
            field TEXT NOT NULL CHECK (field IN ('payee', 'description', 'any')),
            pattern TEXT NOT NULL,
            is_regex INTEGER NOT NULL DEFAULT 0 CHECK (is_regex IN (0, 1)),
            account_id INTEGER NOT NULL REFERENCES ledger_accounts(id),
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE ledger_categorisations (
            transaction_id INTEGER PRIMARY KEY REFERENCES ledger_transactions(id),
            bank_line_id INTEGER NOT NULL UNIQUE REFERENCES bank_lines(id),
            payee_key TEXT NOT NULL,
            account_id INTEGER NOT NULL REFERENCES ledger_accounts(id),
            decided_by TEXT NOT NULL,
            edited INTEGER NOT NULL CHECK (edited IN (0, 1)),
            created_at TEXT NOT NULL
        );
        CREATE INDEX ledger_categorisations_payee
            ON ledger_categorisations(payee_key, account_id);
        """,
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for name, description in DEFAULT_CHART:
        db.execute(
            "INSERT INTO ledger_accounts (name, type, description, created_at) VALUES (?, ?, ?, ?)",
            [name, name.split(":", 1)[0], description, now],
        )
@migrations()
def m005_imap_sync_state(db: Database) -> None:
    # IMAP sync state per (account, folder): RFC 3501 UIDVALIDITY/UID, RFC 7162 HIGHESTMODSEQ;
    # and every synced message's UID mapped to its mail row (a later flag or move finds it).
    _script(
        db,
        """
        CREATE TABLE imap_folders (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL DEFAULT 0,
            highestmodseq INTEGER,
            synced_at TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            UNIQUE (account, folder)
        );
        CREATE TABLE imap_messages (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id TEXT NOT NULL DEFAULT '',
            mail_id INTEGER REFERENCES mail(id),
            flags TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            UNIQUE (account, folder, uidvalidity, uid)
        );
        CREATE INDEX imap_messages_message_id ON imap_messages(message_id);
        CREATE INDEX imap_messages_mail ON imap_messages(mail_id);
        """,
    )


@migrations()
def m006_imap_jobs(db: Database) -> None:
    # Scheduled jobs and their runs. UNIQUE (job_id, slot): the INSERT of a run is the claim of
    # its slot, so two processes on one home never run one slot twice.
    _script(
        db,
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            schedule TEXT NOT NULL,
            kind TEXT NOT NULL,
            agent TEXT NOT NULL DEFAULT '',
            task TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 0,
            enabled_since TEXT,
            budget_usd REAL,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            slot TEXT NOT NULL,
            trigger TEXT NOT NULL,
            owner TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL DEFAULT 'running',
            detail TEXT NOT NULL DEFAULT '',
            proposals INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            run_id INTEGER,
            UNIQUE (job_id, slot)
        );
        CREATE INDEX job_runs_job ON job_runs(job_id, id);
        CREATE INDEX job_runs_outcome ON job_runs(outcome);
        """,
    )
    # Shipped disabled: the founder turns it on (solodesk jobs enable morning-mail).
    now = utcnow()
    db.execute(
        "INSERT INTO jobs (name, schedule, kind, enabled, note, created_at, updated_at)"
        " VALUES (?, ?, ?, 0, ?, ?, ?)",
        [
            "morning-mail",
            "0 7 * * *",
            "mail_sync",
            "Fetch new mail from the IMAP folders every morning",
            now,
            now,
        ],
    )


@migrations()
def m005_input_mail_fingerprint(db: Database) -> None:
    # Issue 6: a different message reusing a known Message-ID is imported, not dropped.
    # ``fingerprint``: sha256 of the message's content (its identity when Message-IDs collide);
    # ``header_message_id``: the message's own Message-ID when the row is stored under another
    # key because a different message already holds it ('' otherwise).
    _script(
        db,
        """
        ALTER TABLE mail ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
        ALTER TABLE mail ADD COLUMN header_message_id TEXT NOT NULL DEFAULT '';
        CREATE INDEX mail_header_message_id ON mail(header_message_id)
            WHERE header_message_id != '';
        """,
    )


@migrations()
def m005_realmail_senders_html(db: Database) -> None:
    # True senders beside the raw headers: the addr-spec mail comes from and the addr-specs
    # replies go to (comma-separated), filled for existing rows from the stored headers.
    # body_html: the HTML part kept for the safe rendered view; NULL for mail imported before
    # it was kept. Rows whose stored text is empty stay NULL so that
    # connectors.mailimport.rederive_legacy() re-reads them once from ``raw`` (the old importer
    # dropped HTML-only bodies); the others get '' (text kept as it was, no HTML view).
    _script(
        db,
        """
        ALTER TABLE mail ADD COLUMN from_email TEXT NOT NULL DEFAULT '';
        ALTER TABLE mail ADD COLUMN reply_to_email TEXT NOT NULL DEFAULT '';
        ALTER TABLE mail ADD COLUMN body_html TEXT;
        UPDATE mail SET body_html = '' WHERE body_text != '';
        CREATE INDEX mail_from_email ON mail(from_email);
        CREATE INDEX mail_legacy_body ON mail(id) WHERE body_html IS NULL;
        """,
    )
    rows = db.execute("SELECT id, from_addr, reply_to FROM mail").fetchall()
    for mail_id, from_addr, reply_to in rows:
        db.execute(
            "UPDATE mail SET from_email = ?, reply_to_email = ? WHERE id = ?",
            [first_mailbox(from_addr).addr, ", ".join(addr_specs(reply_to)), mail_id],
        )


@migrations()
def m005_trust_claims(db: Database) -> None:
    # Claims with an owner: who is executing an action (process, start time, host, lease) and
    # who is triaging a mail; the approval MAC and the audit entries' MACs (core.trust).
    _script(
        db,
        """
        ALTER TABLE actions ADD COLUMN claim_owner TEXT;
        ALTER TABLE actions ADD COLUMN approval_mac TEXT;
        ALTER TABLE mail ADD COLUMN triage_claim TEXT;
        ALTER TABLE audit_log ADD COLUMN mac TEXT;
        """,
    )


@migrations()
def m005_localmodel_draft_attempts(db: Database) -> None:
    # How many model attempts a proposal took (1: the first draft passed every check). Rows
    # from before this migration count as first tries.
    db.execute("ALTER TABLE actions ADD COLUMN draft_attempts INTEGER NOT NULL DEFAULT 1")


@migrations()
def m006_invoices_invoices(db: Database) -> None:
    """Invoices, credit notes, customers, payments, reminders and content-addressed blobs
    (issue 10, ``invoices``).

    Gapless numbering is enforced here, not only in Python: ``invoice_sequences`` holds the last
    number given per year; it starts at 1, moves forward by exactly one, and only once the
    number it holds is used by an invoice; an invoice may only take the number its sequence
    holds. Allocation and the invoice row are written in one transaction, so the numbers of a
    year are always 1..last. Issued invoices, their PDFs, payments and reminders are never
    changed or deleted; an invoice is cancelled by a credit note (type 381) that refers to it.
    """
    _script(
        db,
        """
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
            data BLOB NOT NULL,
            size INTEGER NOT NULL CHECK (size = length(data)),
            media_type TEXT NOT NULL,
            filename TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TRIGGER blobs_no_update BEFORE UPDATE ON blobs
            BEGIN SELECT RAISE(ABORT, 'blobs are content-addressed: never changed'); END;

        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL CHECK (name <> ''),
            name_key TEXT NOT NULL UNIQUE,
            address TEXT NOT NULL,
            country TEXT NOT NULL CHECK (country GLOB '[A-Z][A-Z]'),
            vat_id TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL CHECK (source IN ('manual', 'invoice')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE invoice_sequences (
            year INTEGER PRIMARY KEY CHECK (year BETWEEN 1900 AND 9999),
            last INTEGER NOT NULL
        );
        CREATE TRIGGER invoice_sequences_start BEFORE INSERT ON invoice_sequences
            WHEN NEW.last <> 1
            BEGIN SELECT RAISE(ABORT, 'invoice numbers: a sequence starts at 1'); END;
        CREATE TRIGGER invoice_sequences_step BEFORE UPDATE ON invoice_sequences
            WHEN NEW.year <> OLD.year OR NEW.last <> OLD.last + 1
            BEGIN SELECT RAISE(ABORT, 'invoice numbers: a sequence moves forward by one'); END;
        CREATE TRIGGER invoice_sequences_used BEFORE UPDATE ON invoice_sequences
            WHEN NOT EXISTS (SELECT 1 FROM invoices WHERE year = OLD.year AND seq = OLD.last)
            BEGIN
                SELECT RAISE(ABORT, 'invoice numbers: the last number given is not used yet');
            END;
        CREATE TRIGGER invoice_sequences_kept BEFORE DELETE ON invoice_sequences
            BEGIN SELECT RAISE(ABORT, 'invoice numbers: a sequence is never deleted'); END;

        CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            year INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            type_code TEXT NOT NULL CHECK (type_code IN ('380', '381')),
            issue_date TEXT NOT NULL
                CHECK (issue_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            due_date TEXT,
            currency TEXT NOT NULL CHECK (currency GLOB '[A-Z][A-Z][A-Z]'),
            customer_id INTEGER REFERENCES customers(id),
            customer_name TEXT NOT NULL,
            buyer_reference TEXT NOT NULL DEFAULT '',
            net_total INTEGER NOT NULL CHECK (typeof(net_total) = 'integer'),
            tax_total INTEGER NOT NULL CHECK (typeof(tax_total) = 'integer'),
            grand_total INTEGER NOT NULL CHECK (typeof(grand_total) = 'integer'),
            preceding_id INTEGER REFERENCES invoices(id),
            document TEXT NOT NULL,
            xml_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            action_id INTEGER UNIQUE REFERENCES actions(id),
            created_at TEXT NOT NULL,
            UNIQUE (year, seq),
            CHECK (number = printf('%04d-%04d', year, seq)),
            CHECK (substr(issue_date, 1, 4) = printf('%04d', year)),
            CHECK ((type_code = '381') = (preceding_id IS NOT NULL))
        );
        CREATE UNIQUE INDEX invoices_one_credit_note ON invoices(preceding_id)
            WHERE preceding_id IS NOT NULL;
        CREATE INDEX invoices_customer ON invoices(customer_id, issue_date);
        CREATE INDEX invoices_date ON invoices(issue_date, id);
        CREATE TRIGGER invoices_take_allocated_number BEFORE INSERT ON invoices
            WHEN NEW.seq IS NOT (SELECT last FROM invoice_sequences WHERE year = NEW.year)
            BEGIN
                SELECT RAISE(ABORT, 'invoice numbers: an invoice takes the number just allocated');
            END;
        CREATE TRIGGER invoices_credit_an_invoice BEFORE INSERT ON invoices
            WHEN NEW.preceding_id IS NOT NULL
             AND (SELECT type_code FROM invoices WHERE id = NEW.preceding_id) IS NOT '380'
            BEGIN SELECT RAISE(ABORT, 'invoices: a credit note cancels an invoice (380)'); END;
        CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
            BEGIN
                SELECT RAISE(ABORT, 'invoices: an issued invoice is never changed');
            END;
        CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
            BEGIN
                SELECT RAISE(ABORT, 'invoices: an issued invoice is never deleted');
            END;

        CREATE TABLE invoice_pdfs (
            invoice_id INTEGER PRIMARY KEY REFERENCES invoices(id),
            pdf_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            created_at TEXT NOT NULL
        );
        CREATE TRIGGER invoice_pdfs_no_update BEFORE UPDATE ON invoice_pdfs
            BEGIN SELECT RAISE(ABORT, 'invoices: an issued PDF is never changed'); END;
        CREATE TRIGGER invoice_pdfs_no_delete BEFORE DELETE ON invoice_pdfs
            BEGIN SELECT RAISE(ABORT, 'invoices: an issued PDF is never deleted'); END;

        CREATE TABLE invoice_payments (
            id INTEGER PRIMARY KEY,
            invoice_id INTEGER NOT NULL REFERENCES invoices(id),
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
            currency TEXT NOT NULL CHECK (currency GLOB '[A-Z][A-Z][A-Z]'),
            bank_line_id INTEGER UNIQUE REFERENCES bank_lines(id),
            action_id INTEGER UNIQUE REFERENCES actions(id),
            evidence TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX invoice_payments_invoice ON invoice_payments(invoice_id);
        CREATE TRIGGER invoice_payments_no_update BEFORE UPDATE ON invoice_payments
            BEGIN SELECT RAISE(ABORT, 'invoices: a recorded payment is never changed'); END;
        CREATE TRIGGER invoice_payments_no_delete BEFORE DELETE ON invoice_payments
            BEGIN SELECT RAISE(ABORT, 'invoices: a recorded payment is never deleted'); END;

        CREATE TABLE invoice_reminders (
            id INTEGER PRIMARY KEY,
            invoice_id INTEGER NOT NULL REFERENCES invoices(id),
            sent_on TEXT NOT NULL
                CHECK (sent_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            action_id INTEGER UNIQUE REFERENCES actions(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX invoice_reminders_invoice ON invoice_reminders(invoice_id, sent_on);
        CREATE TRIGGER invoice_reminders_no_update BEFORE UPDATE ON invoice_reminders
            BEGIN SELECT RAISE(ABORT, 'invoices: a sent reminder is never changed'); END;
        CREATE TRIGGER invoice_reminders_no_delete BEFORE DELETE ON invoice_reminders
            BEGIN SELECT RAISE(ABORT, 'invoices: a sent reminder is never deleted'); END;
        """,
    )


@migrations()
def m007_perf_correspondents(db: Database) -> None:
    """Known correspondents as an indexed table (issue 9, ``perf``; ``store.correspondents``).

    Backfilled from what the gates used to scan: the senders (``from_email``) of stored mail and
    the To/Cc addresses of executed actions.
    """
    _script(
        db,
        """
        CREATE TABLE correspondents (
            address TEXT PRIMARY KEY,
            domain TEXT NOT NULL,
            first_mail_id INTEGER,
            received INTEGER NOT NULL DEFAULT 0,
            sent INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE correspondent_domains (
            domain TEXT PRIMARY KEY,
            first_mail_id INTEGER,
            sent INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        """,
    )
    for mail_id, from_email, imported_at in db.execute(
        "SELECT id, from_email, imported_at FROM mail WHERE from_email != '' ORDER BY id"
    ).fetchall():
        record_received(db, str(from_email), mail_id=int(mail_id), when=str(imported_at))
    for payload, when in db.execute(
        "SELECT payload, COALESCE(executed_at, updated_at) FROM actions WHERE status = 'executed'"
        " ORDER BY id"
    ).fetchall():
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if isinstance(data, dict):
            record_sent(db, all_recipients(data), when=str(when))


@migrations()
def m008_inbox_filter_indexes(db: Database) -> None:
    """Indexes for the inbox's narrowing filters within a status set (issue 9).

    The inbox filters are ``status IN (...) AND risk|agent|kind = ?``; with only ``(risk, id)``
    SQLite walked every row of that risk in every status (at 1,000,000 stored actions, 90%
    executed: about a second for ``risk = high``). ``(status, X, id)`` seeks each status (the
    inbox names every status when it shows all). ``actions_risk`` and ``actions_kind`` go: the
    planner preferred them and nothing else reads by risk or kind alone; ``actions_agent`` stays
    for the list of agents.
    """
    _script(
        db,
        """
        CREATE INDEX actions_status_risk ON actions(status, risk, id);
        CREATE INDEX actions_status_agent ON actions(status, agent, id);
        CREATE INDEX actions_status_kind ON actions(status, kind, id);
        DROP INDEX actions_risk;
        DROP INDEX actions_kind;
        """,
    )


def connect(path: Path | str) -> StoreDatabase:
    """Open (creating if needed) and migrate the database at ``path``.

    Args:
        path: A file path, or ``":memory:"`` for tests.

    Returns:
        A :class:`StoreDatabase` in WAL mode with ``synchronous=FULL``.

    Raises:
        sqlite3.DatabaseError: the file is not a SQLite database or is corrupt.
        StoreBusy: another process held the write lock while migrations were pending.
        DiskFull: the disk is full.
    """
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = StoreDatabase(conn, path=str(path))
        if _pending(db):
            # All pending migrations in one write transaction: two processes starting on a new
            # home at once apply them once (the second finds nothing pending once it has the lock).
            with db.write():
                migrations.apply(db)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise store_error(exc, where=str(path)) or exc from None
    except BaseException:
        conn.close()
        raise
    return db


def bookkeeping(db: Database) -> contextlib.AbstractContextManager[Any]:
    """A write transaction on ``db`` for bookkeeping that a later durable commit always
    follows (:meth:`StoreDatabase.write` with ``durable=False``); on any other sqlite-utils
    database, its ordinary ``atomic()``."""
    if isinstance(db, StoreDatabase):
        return db.bookkeeping()
    return db.atomic()


def _pending(db: Database) -> bool:
    return bool(migrations.pending(db))


@migrations()
def m009_runs_runs(db: Database) -> None:
    """Runs of agent work (issue 8, ``runs``; ``store.runs``): the ``runs`` table, and the run
    of every model call (``llm_calls.run_id``) and proposal (``actions.run_id``).

    A run's usage columns are its own calls' sums, kept in the transaction that records each
    call; ``owner`` is the process running it (``store.owner``), so runs left ``running`` by a
    process that is gone can be ended.
    """
    _script(
        db,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES runs(id),
            agent TEXT NOT NULL,
            task TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            model_calls INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            error TEXT,
            conversation_id INTEGER,
            job_run_id INTEGER,
            owner TEXT
        );
        CREATE INDEX runs_parent ON runs(parent_id, id);
        CREATE INDEX runs_status ON runs(status, id);
        ALTER TABLE llm_calls ADD COLUMN run_id INTEGER REFERENCES runs(id);
        CREATE INDEX llm_calls_run ON llm_calls(run_id, id);
        ALTER TABLE actions ADD COLUMN run_id INTEGER REFERENCES runs(id);
        CREATE INDEX actions_run ON actions(run_id, id);
        """,
    )


@migrations()
def m010_jobs11_agent_jobs(db: Database) -> None:
    """Jobs that run agents (issue 11): the shipped ``morning-mail`` job syncs *and triages*
    (kind ``mail_triage``), unless the founder ever changed it (enabled it, or it is no longer
    as shipped); ``weekly-books`` (bookkeeping, Mondays 08:00) and ``invoice-reminders``
    (daily 09:00) are shipped disabled. ``budget_warnings``: the 80% budget warnings given,
    one per budget scope and period (``agents.budget``), so each is given once, not once per
    process.
    """
    db.execute(
        "UPDATE jobs SET kind = 'mail_triage', note = ?"
        " WHERE name = 'morning-mail' AND kind = 'mail_sync' AND schedule = '0 7 * * *'"
        " AND enabled = 0 AND enabled_since IS NULL AND updated_at = created_at"
        " AND note = 'Fetch new mail from the IMAP folders every morning'",
        ["Fetch new mail from the IMAP folders every morning and triage it into proposals"],
    )
    now = utcnow()
    for name, schedule, kind, note in (
        ("weekly-books", "0 8 * * 1", "bookkeeping",
         "Propose postings for the new bank lines every Monday morning"),
        ("invoice-reminders", "0 9 * * *", "invoice_reminders",
         "Propose payment reminders for overdue invoices every morning"),
    ):
        db.execute(
            "INSERT OR IGNORE INTO jobs (name, schedule, kind, enabled, note, created_at,"
            " updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
            [name, schedule, kind, note, now, now],
        )
    _script(
        db,
        """
        CREATE TABLE budget_warnings (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            limit_usd REAL NOT NULL,
            spent_usd REAL NOT NULL,
            message TEXT NOT NULL,
            run_id INTEGER,
            job_run_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (scope, period)
        );
        CREATE INDEX budget_warnings_job_run ON budget_warnings(job_run_id);
        """,
    )


@migrations()
def m010_crit_critique(db: Database) -> None:
    """The devil's advocate's critique of a proposal (issue 8, ``core.critique``): JSON in
    ``actions.critique`` (NULL: not critiqued)."""
    _script(db, "ALTER TABLE actions ADD COLUMN critique TEXT;")


@migrations()
def m010_mem_memory(db: Database) -> None:
    """Shared memory (issue 8, ``mem``; ``store.profile``, ``store.facts``): the business
    profile (one JSON document) and the facts agents and the founder remember, with full-text
    search (FTS5, Porter stemming) kept in sync by triggers (sqlite-utils ``enable_fts``).

    ``facts.source`` is who it comes from (``founder``, ``agent``, ``mail``); ``untrusted`` marks
    a fact derived from text the founder did not write; a forgotten fact keeps its row with
    ``forgotten_at``. ``action_id`` is the ``remember_fact`` proposal that stored it (unique: an
    approved proposal stores its fact once).
    """
    _script(
        db,
        """
        CREATE TABLE profile (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            document TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE facts (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('founder', 'agent', 'mail')),
            ref TEXT NOT NULL DEFAULT '',
            untrusted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            forgotten_at TEXT,
            action_id INTEGER REFERENCES actions(id)
        );
        CREATE UNIQUE INDEX facts_action ON facts(action_id) WHERE action_id IS NOT NULL;
        CREATE INDEX facts_active ON facts(forgotten_at, id);
        """,
    )
    db.table("facts").enable_fts(["text"], create_triggers=True, tokenize="porter")
