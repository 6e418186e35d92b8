"""Benchmark of the inbox model at 100,000 proposals (offscreen Qt). Prints figures only.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_inbox.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from solodesk.store.db import connect  # noqa: E402
from solodesk.store.repos import Store  # noqa: E402
from solodesk.ui.inbox_model import InboxModel  # noqa: E402
from tests.gui.support import bulk_actions  # noqa: E402


def ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"


def main(n: int) -> None:
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(connect(Path(tmp) / "inbox.db"))
        t = time.perf_counter()
        bulk_actions(store, n)
        with store.db.conn:
            store.db.conn.execute("UPDATE actions SET risk = 'high' WHERE id % 10 = 0")
            store.db.conn.execute("UPDATE actions SET agent = 'support' WHERE id % 3 = 0")
        print(f"insert {n:,} proposals: {ms(t)}")
        t = time.perf_counter()
        model = InboxModel(store)
        print(f"model over {model.rowCount():,} rows: {ms(t)}")
        view = QTableView()
        view.resize(1000, 600)
        view.setModel(model)
        view.show()
        app.processEvents()
        t = time.perf_counter()
        for row in range(0, n, max(1, n // 200)):  # 200 jumps through the whole list
            view.scrollTo(model.index(row, 0))
            app.processEvents()
        print(f"200 scroll jumps with repaint: {ms(t)} "
              f"(rows fetched {model.fetches}, cached {model.cached})")
        for name, changes in (
            ("risk=high", {"risk": "high"}),
            ("agent=support", {"risk": None, "agent": "support"}),
            ("group by risk", {"agent": None, "group_by": "risk"}),
            ("no grouping", {"group_by": ""}),
        ):
            t = time.perf_counter()
            model.set_filters(**changes)
            app.processEvents()
            print(f"filter {name:<14} → {model.rowCount():>7,} rows: {ms(t)}")
        t = time.perf_counter()
        for _ in range(100):
            model.tick()
        print(f"100 countdown ticks: {ms(t)}")
        view.close()
        # Memory, measured apart (tracemalloc slows Python down): a fresh model, scrolled.
        tracemalloc.start()
        model2 = InboxModel(store)
        for row in range(0, n, max(1, n // 50)):
            model2.action(row)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"Python memory of a model over {n:,} rows after scrolling: "
              f"{current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB)")
        store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
