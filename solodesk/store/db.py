"""The SQLite database: connection settings and ordered migrations.

Opened with WAL journaling, ``synchronous=FULL`` (an approval survives power loss once
recorded) and a busy timeout. Migrations are ordered functions recorded in
``_sqlite_migrations`` by sqlite-utils' :class:`~sqlite_utils.migrations.Migrations`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from solodesk.core.actions import utcnow

BUSY_TIMEOUT_MS = 10_000

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


def connect(path: Path | str) -> Database:
    """Open (creating if needed) and migrate the database at ``path``.

    Args:
        path: A file path, or ``":memory:"`` for tests.

    Returns:
        A sqlite-utils :class:`Database` in WAL mode with ``synchronous=FULL``.

    Raises:
        sqlite3.DatabaseError: the file is not a SQLite database or is corrupt.
    """
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    db = Database(conn)
    migrations.apply(db)
    return db
