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
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

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

    @contextlib.contextmanager
    def write(self) -> Iterator[StoreDatabase]:
        """A write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); nested use is a savepoint.

        Raises:
            StoreBusy: the write lock was not free within the busy timeout.
            DiskFull: the disk is full (the transaction is rolled back).
        """
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._translate(exc) from None
        try:
            yield self
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


def _pending(db: Database) -> bool:
    return bool(migrations.pending(db))
