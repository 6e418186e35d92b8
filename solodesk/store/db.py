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
def m005_localmodel_draft_attempts(db: Database) -> None:
    # How many model attempts a proposal took (1: the first draft passed every check). Rows
    # from before this migration count as first tries.
    db.execute("ALTER TABLE actions ADD COLUMN draft_attempts INTEGER NOT NULL DEFAULT 1")


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
