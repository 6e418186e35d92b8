"""Benchmark: the Activity page following a large triage (one command run, a child run per mail).

Records the runs in a real store and hands the page the events the run manager publishes
(``RunStarted`` and ``RunFinished`` per mail), with the command's run selected so that its detail
pane is re-rendered on every event, as when the founder watches it. Then re-reads everything as
showing the page does. Prints the time per event and for the re-read; asserts nothing about time.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.bench.bench_activity [MAILS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from solodesk.core.events import RunFinished, RunStarted  # noqa: E402
from solodesk.core.runs import RunStatus  # noqa: E402
from solodesk.store.db import connect  # noqa: E402
from solodesk.store.repos import Store  # noqa: E402
from solodesk.ui.pages.activity import ActivityPage  # noqa: E402


def main(mails: int) -> None:
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(connect(Path(tmp) / "solodesk.db"))
        services: Any = SimpleNamespace(store=store, runner=SimpleNamespace(runs=None))
        page = ActivityPage(services)
        page.resize(1200, 800)
        page.show()
        root = store.runs.start(agent="support", task=f"triage {mails} mail")
        page.on_run_event(RunStarted(root.id, None, "support", root.task))
        assert page.select_run(root.id)
        began = time.perf_counter()
        for n in range(mails):
            child = store.runs.start(agent="support", task=f"mail {n}: a question",
                                     parent_id=root.id)
            page.on_run_event(RunStarted(child.id, root.id, "support", child.task))
            store.runs.finish(child.id, RunStatus.DONE)
            page.on_run_event(RunFinished(child.id, "done"))
            app.processEvents()
        took = time.perf_counter() - began
        print(f"live: {mails} child runs, {2 * mails} events with the parent selected: "
              f"{took:.2f} s = {1000 * took / (2 * mails):.2f} ms per event")
        shown = len(page.model.child_ids(root.id))
        began = time.perf_counter()
        page.model.clear_runs()
        page.reload()
        took = time.perf_counter() - began
        print(f"re-read: {len(page.model.runs)} runs from the store in {took:.2f} s "
              f"({shown} children were shown live)")
        page.close()
        store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
