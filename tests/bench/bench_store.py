"""Benchmarks of the store and the mail importer. Prints figures; asserts nothing about time.

Run: .venv/bin/python tests/bench/bench_store.py [N]
"""

from __future__ import annotations

import mailbox
import sys
import tempfile
import time
import tracemalloc
from email.message import EmailMessage
from pathlib import Path

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.store.db import connect
from solodesk.store.repos import Store


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(connect(Path(tmp) / "bench.db"))
        t = time.perf_counter()
        for i in range(n):
            store.actions.propose(
                kind=SEND_EMAIL,
                payload={
                    "to": [f"user{i}@example.com"], "cc": [], "subject": f"Hello {i}",
                    "body": "Thanks for your mail.\n" * 5, "message_id": f"<b{i}@example.com>",
                },
                agent="bench", summary=f"Hello {i}", provenance=Provenance("chat", 1),
                idempotency_key=f"<b{i}@example.com>",
            )
        dt = time.perf_counter() - t
        print(f"propose (insert + audit entry, synchronous=FULL): {n} in {dt:.2f} s "
              f"= {n / dt:,.0f}/s")
        t = time.perf_counter()
        ids = store.actions.ids(statuses=[ActionStatus.PENDING])
        print(f"ids of {len(ids)} pending: {(time.perf_counter() - t) * 1000:.1f} ms")
        t = time.perf_counter()
        for i in ids[:1000]:
            store.actions.get(i)
        print(f"get 1000 actions: {(time.perf_counter() - t) * 1000:.1f} ms")
        t = time.perf_counter()
        problems = store.audit.verify()
        print(f"audit verify {n} entries: {(time.perf_counter() - t) * 1000:.0f} ms, "
              f"problems={len(problems)}")

        box_path = Path(tmp) / "big.mbox"
        box = mailbox.mbox(str(box_path))
        m = max(1, n // 2)
        for i in range(m):
            msg = EmailMessage()
            msg["From"] = f"Customer {i} <c{i}@example.com>"
            msg["To"] = "ada@example.com"
            msg["Subject"] = f"Question {i}"
            msg["Message-ID"] = f"<q{i}@example.com>"
            msg.set_content("Hello,\nI have a question about my plan.\n" * 20)
            box.add(msg)
        box.flush()
        size = box_path.stat().st_size
        tracemalloc.start()
        t = time.perf_counter()
        report = import_mail(box_path, store.mail)
        dt = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"import mbox of {m} messages ({size / 1e6:.1f} MB): {dt:.2f} s = "
              f"{m / dt:,.0f} msg/s, peak Python memory {peak / 1e6:.1f} MB, "
              f"imported={len(report.imported)}")
        t = time.perf_counter()
        again = import_mail(box_path, store.mail)
        print(f"re-import (all duplicates): {time.perf_counter() - t:.2f} s, "
              f"skipped={again.duplicates}")
        store.close()


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
