"""Bookkeeping write transactions (a run's start, a model call's usage) commit without an fsync
of their own; every other write stays ``synchronous=FULL``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from solodesk.core.llmtypes import LLMCallRecord
from solodesk.core.runs import RunStatus
from solodesk.inbox.gates import Gates
from solodesk.store.config import Config
from solodesk.store.db import StoreDatabase, bookkeeping, connect
from solodesk.store.repos import Store

FULL, NORMAL = 2, 1


def synchronous(db: StoreDatabase) -> int:
    return int(db.execute("PRAGMA synchronous").fetchone()[0])


def test_bookkeeping_commits_at_normal_then_restores_full(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.db")
    db.execute("CREATE TABLE t (x INTEGER)")
    seen: list[int] = []
    with db.bookkeeping():
        seen.append(synchronous(db))
        db.execute("INSERT INTO t VALUES (1)")
    seen.append(synchronous(db))
    with db.write():
        seen.append(synchronous(db))
        db.execute("INSERT INTO t VALUES (2)")
    assert seen == [NORMAL, FULL, FULL]
    # committed: another connection sees both rows
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    other.close()
    db.close()


def test_bookkeeping_nested_in_a_durable_transaction_stays_full(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.db")
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.write():
        with bookkeeping(db):
            assert synchronous(db) == FULL
            db.execute("INSERT INTO t VALUES (1)")
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    db.close()


def test_bookkeeping_rolls_back_and_restores_full_on_error(tmp_path: Path) -> None:
    db = connect(tmp_path / "s.db")
    db.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError, match="boom"):
        with db.bookkeeping():
            db.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
    assert synchronous(db) == FULL
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()


def test_without_wal_bookkeeping_is_durable() -> None:
    db = connect(":memory:")  # no write-ahead log: NORMAL would not be covered by later syncs
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.bookkeeping():
        assert synchronous(db) == FULL
        db.execute("INSERT INTO t VALUES (1)")
    assert synchronous(db) == FULL
    db.close()


def test_run_start_and_call_usage_are_bookkeeping_the_run_end_is_durable(
    tmp_path: Path,
) -> None:
    store = Store(connect(tmp_path / "s.db"))
    # The mode in force when each statement runs, read from the store's own connection.
    seen: list[tuple[str, int]] = []
    original = store.db.execute

    def execute(sql: str, params: object = None) -> sqlite3.Cursor:
        head = sql.split(" (")[0].split(" SET")[0]
        if head in ("INSERT INTO runs", "INSERT INTO llm_calls", "UPDATE runs"):
            seen.append((head, synchronous(store.db)))
        return original(sql, params) if params is not None else original(sql)

    store.db.execute = execute  # type: ignore[method-assign]
    run = store.runs.start(agent="support", task="triage mail #1")
    store.llm_calls.record(LLMCallRecord(model="openai/x", purpose="proposal", tokens_in=3,
                                         tokens_out=2, cost_usd=0.0, latency_ms=5, error=None,
                                         run_id=run.id))
    store.runs.finish(run.id, RunStatus.DONE)
    assert seen == [
        ("INSERT INTO runs", NORMAL),  # start
        ("INSERT INTO llm_calls", NORMAL),  # the call's usage...
        ("UPDATE runs", NORMAL),  # ... added to its run, in the same transaction
        ("UPDATE runs", FULL),  # the run's end: durable, and so is all that came before
    ]
    assert synchronous(store.db) == FULL
    assert store.runs.get(run.id).status is RunStatus.DONE


def test_own_domain_is_parsed_once_per_value(tmp_path: Path) -> None:
    config = Config(tmp_path / "config.json")
    gates = Gates(Store(connect(tmp_path / "s.db")), config)
    config.set("smtp.from", "Ada <ada@inkwell.example>")
    parses = 0
    get = config.get

    def counting(key: str) -> str:
        nonlocal parses
        parses += key == "smtp.from"
        return get(key)

    config.get = counting  # type: ignore[method-assign]
    assert {gates.own_domain() for _ in range(5)} == {"inkwell.example"}
    assert parses == 1
    config.set("smtp.from", "Ada <ada@quill.example>")
    assert gates.own_domain() == "quill.example"
    assert parses == 2
