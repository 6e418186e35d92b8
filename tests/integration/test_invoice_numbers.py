"""Gapless, unique invoice numbers under 50 concurrent approvals from several processes, each
with several threads, on one SoloDesk home; retries of the same approval issue nothing new."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from solodesk.core.actions import Provenance
from solodesk.core.invoice import invoice_number
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.store.db import connect
from solodesk.store.repos import Store

pytestmark = pytest.mark.integration

PROCESSES = 5
THREADS = 10
RETRIES = 10  # approvals issued a second time (an outbox retry after a crash)


def _issue_in_threads(db_path: str, action_ids: list[int], retry_ids: list[int]) -> list[str]:
    """Run in a child process: one thread per action id, each with its own connection."""
    from tests.support.invoices import GLOBEX, draft

    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(action_ids))

    def work(aid: int) -> None:
        store = Store(connect(db_path))
        try:
            start.wait()
            customer = GLOBEX.model_copy(update={"name": f"Customer {aid}"})
            inv = store.invoices.issue(draft(customer=customer), action_id=aid)
            out = f"{aid}:{inv.number}"
            if aid in retry_ids:
                again = store.invoices.issue(draft(customer=customer), action_id=aid)
                out += f":{again.number}"
        except Exception as exc:  # reported to the parent, which fails the test
            out = f"{aid}:ERROR {type(exc).__name__}: {exc}"
        finally:
            store.close()
        with lock:
            results.append(out)

    threads = [threading.Thread(target=work, args=(aid,)) for aid in action_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_fifty_concurrent_issues_get_numbers_1_to_50(tmp_path: Path) -> None:
    db_path = tmp_path / "solodesk.db"
    store = Store(connect(db_path))  # migrated once, before the workers start
    ids = [
        store.actions.propose(
            kind=SEND_EMAIL, payload={"n": n}, agent="invoicing",
            summary=f"stand-in for create_invoice {n}", provenance=Provenance("chat", None),
            idempotency_key=f"k{n}",
        ).id
        for n in range(PROCESSES * THREADS)
    ]
    retry = ids[::PROCESSES][:RETRIES]
    chunks = [ids[i::PROCESSES] for i in range(PROCESSES)]
    began = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        outputs = pool.starmap(
            _issue_in_threads, [(str(db_path), chunk, retry) for chunk in chunks]
        )
    elapsed = time.perf_counter() - began
    lines = [line for out in outputs for line in out]
    errors = [line for line in lines if "ERROR" in line]
    assert errors == []

    issued = {int(line.split(":")[0]): line.split(":")[1:] for line in lines}
    assert sorted(issued) == sorted(ids)
    for aid in retry:
        assert issued[aid][0] == issued[aid][1]  # the retry returned the same invoice
    numbers = sorted(v[0] for v in issued.values())
    assert numbers == [invoice_number(2026, n) for n in range(1, PROCESSES * THREADS + 1)]

    stored = store.invoices.all()
    assert [i.number for i in stored] == numbers
    assert {i.action_id for i in stored} == set(ids)
    row = store.db.execute("SELECT last FROM invoice_sequences WHERE year = 2026").fetchone()
    assert row[0] == PROCESSES * THREADS
    assert store.audit.verify() == []
    issued_events = [e for e in store.audit.entries() if e["event"] == "invoice_issued"]
    assert len(issued_events) == PROCESSES * THREADS
    store.close()
    print(f"\n{PROCESSES} processes x {THREADS} threads: {len(stored)} invoices, "
          f"{len(retry)} retries, numbers 2026-0001..{numbers[-1]} in {elapsed:.2f} s")
