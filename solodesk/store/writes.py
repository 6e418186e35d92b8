"""Write transactions that take SQLite's write lock up front (``BEGIN IMMEDIATE``).

A deferred ``BEGIN`` that reads first and writes later can fail with "database is locked" when
another process (the GUI, a CLI command) wrote in between: in WAL mode a stale read snapshot
cannot be upgraded. ``BEGIN IMMEDIATE`` waits (up to the busy timeout) for the other writer and
then reads fresh data, so check-then-insert logic (a bank line is booked once) stays correct
across processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """One write transaction begun with ``BEGIN IMMEDIATE`` (a savepoint when nested)."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    else:
        db.execute("COMMIT")
