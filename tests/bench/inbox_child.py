"""Inbox figures in their own process (offscreen Qt): ``python -m tests.bench.inbox_child ARGS``.

The operations of ``bench_inbox.py`` (model build, 200 scroll jumps with repaint, a filter, a
selection), timed per operation for SoloDesk's :class:`~solodesk.ui.inbox_model.InboxModel` and,
alternately, for the baseline: a bare ``QTableView`` over a ``QAbstractTableModel`` holding the
same rows in a Python list (one ``SELECT`` of the shown columns). Prints one JSON line: medians
in ms, and the Python heap of one model build (tracemalloc, MB).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from solodesk.store.paths import home_paths  # noqa: E402
from solodesk.store.repos import Store  # noqa: E402
from solodesk.ui.inbox_model import OPEN_STATUSES, InboxModel  # noqa: E402
from tests.bench.report import median  # noqa: E402

Index = QModelIndex | QPersistentModelIndex
HEAD = ("Age", "Agent", "Kind", "Risk", "Summary", "Status")


class BareModel(QAbstractTableModel):
    """The baseline: every shown row in a list, read with one SELECT."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        statuses = ", ".join(f"'{getattr(s, 'value', s)}'" for s in OPEN_STATUSES)
        self.all = store.db.execute(
            "SELECT id, created_at, agent, kind, risk, summary, status FROM actions"
            f" WHERE status IN ({statuses}) ORDER BY id DESC"
        ).fetchall()
        self.rows = self.all

    def set_risk(self, risk: str | None) -> None:
        self.beginResetModel()
        self.rows = self.all if risk is None else [r for r in self.all if r[4] == risk]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(HEAD)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        return str(self.rows[index.row()][index.column() + 1])

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEAD[section]
        return None


def main(args: dict[str, Any]) -> None:
    from solodesk.store.db import connect

    app = QApplication.instance() or QApplication(sys.argv[:1])
    store = Store(connect(home_paths(Path(args["home"])).database))
    runs = int(args["runs"])
    times: dict[str, dict[str, list[float]]] = {
        side: {k: [] for k in ("open", "scroll", "filter", "select")}
        for side in ("solodesk", "bare")
    }
    views: dict[str, QTableView] = {}
    models: dict[str, Any] = {}

    def build(side: str) -> Any:
        return InboxModel(store) if side == "solodesk" else BareModel(store)

    def do_open(side: str) -> None:
        t = time.perf_counter()
        model = build(side)
        view = views.get(side) or QTableView()
        view.resize(1000, 600)
        view.setModel(model)
        view.show()
        app.processEvents()
        times[side]["open"].append((time.perf_counter() - t) * 1000)
        views[side], models[side] = view, model

    def do_scroll(side: str) -> None:
        view, model = views[side], models[side]
        n = model.rowCount()
        for row in range(0, n, max(1, n // 200)):
            t = time.perf_counter()
            view.scrollTo(model.index(row, 0))
            app.processEvents()
            times[side]["scroll"].append((time.perf_counter() - t) * 1000)

    def do_filter(side: str) -> None:
        model = models[side]
        t = time.perf_counter()
        if side == "solodesk":
            model.set_filters(risk="high")
        else:
            model.set_risk("high")
        app.processEvents()
        times[side]["filter"].append((time.perf_counter() - t) * 1000)
        if side == "solodesk":
            model.set_filters(risk=None)
        else:
            model.set_risk(None)
        app.processEvents()

    rng = random.Random(1)

    def do_select(side: str) -> None:
        view, model = views[side], models[side]
        for _ in range(20):
            row = rng.randrange(model.rowCount())
            t = time.perf_counter()
            view.scrollTo(model.index(row, 0))
            view.selectRow(row)
            if side == "solodesk":
                model.action(row)  # what the detail pane reads
            app.processEvents()
            times[side]["select"].append((time.perf_counter() - t) * 1000)

    for op in (do_open, do_scroll, do_filter, do_select):
        for i in range(runs):
            order = ("solodesk", "bare") if i % 2 == 0 else ("bare", "solodesk")
            for side in order:
                op(side)
    out: dict[str, Any] = {}
    for side in ("solodesk", "bare"):
        out[side] = {k: median(v) for k, v in times[side].items()}
        out[side]["rows"] = models[side].rowCount()
        views[side].close()
        tracemalloc.start()
        model = build(side)
        mem = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[side]["mem"] = mem / 2**20
        del model
    assert out["solodesk"]["rows"] == out["bare"]["rows"] == int(args["shown"]), out
    store.close()
    print(json.dumps(out), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
