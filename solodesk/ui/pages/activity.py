"""The Activity page: the live tree of agent runs, with cancel and what each run did.

Every piece of agent work is a run (``core.runs``): a chat turn and the specialists its manager
delegated to, a triage command and the triage of each mail. The page shows them as a tree
(children under their parent; the newest top-level run first, children in the order they
started) with agent, task, status, elapsed time, tokens and cost, and keeps the finished runs of
the last 24 hours (at most :data:`MAX_ROOTS` top-level runs).

It is updated from the bus's ``RunStarted``/``RunUpdated``/``RunFinished`` events (through the
window's :class:`~solodesk.ui.bridge.EventBridge`), each re-reading the one run from
:class:`~solodesk.store.runs.RunRepo` (no SQL here); nothing is polled while idle. One 1 s timer
ticks the elapsed time of running runs, and only while some run is running. Showing the page
re-reads the recent runs (runs of another process, e.g. ``solodesk triage``, send no events to
this window).

Cancel (button, Delete or Ctrl+.) goes through the runner's
:class:`~solodesk.agents.runs.RunManager`: the run and every run below it are cancelled; their
statuses then arrive as ``RunFinished`` events. A detail pane shows the selected run as
``solodesk runs show`` does: its error, usage (own and with its children), its parent and
children, the proposals it made (links into the inbox), its model calls and, for a chat turn,
the latest messages of its conversation.
"""

from __future__ import annotations

import bisect
import html
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFont,
    QHideEvent,
    QKeySequence,
    QShowEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.runs import Run, RunStatus, Usage
from solodesk.ui import shortcuts as keys

if TYPE_CHECKING:
    from solodesk.core.events import RunFinished, RunStarted, RunUpdated
    from solodesk.services import Services

log = logging.getLogger(__name__)

#: Finished runs are kept this long after they started (running runs always stay).
KEEP_FINISHED = timedelta(hours=24)
#: At most this many top-level runs are listed (the oldest finished ones go first).
MAX_ROOTS = 200
#: The elapsed time of running runs is updated this often (milliseconds).
TICK_MS = 1000
#: Conversation messages shown in the detail pane of a chat turn (the latest), and their length.
CONVERSATION_MESSAGES = 6
MESSAGE_CHARS = 600

#: Events within this many milliseconds re-render the selected run's detail once.
DETAIL_COALESCE_MS = 150
#: Child runs listed in the detail pane (a triage command may have thousands; the tree has all).
DETAIL_CHILDREN = 50

#: The run id of a row, on every cell of the row.
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("Run", "Agent", "Task", "Status", "Elapsed", "Tokens in / out", "Cost")
COL_RUN, COL_AGENT, COL_TASK, COL_STATUS, COL_ELAPSED, COL_TOKENS, COL_COST = range(7)
#: Starting widths of the columns other than the task's, in digits.
COLUMN_CHARS = {
    COL_RUN: 11, COL_AGENT: 16, COL_STATUS: 11, COL_ELAPSED: 12, COL_TOKENS: 17, COL_COST: 10
}

STATUS_BRUSH = {
    RunStatus.RUNNING: QBrush(QColor("#1a5fb4")),
    RunStatus.FAILED: QBrush(QColor("#b3261e")),
    RunStatus.CANCELLED: QBrush(QColor("#6b6b6b")),
    RunStatus.PAUSED: QBrush(QColor("#9a6700")),
}
ERROR_COLOR = "#b3261e"


def elapsed_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 03 min`` (whole seconds, rounded down)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def cost_text(cost_usd: float | None) -> str:
    """``$0.0123``-style dollars, ``—`` when no call had a known price (a local model)."""
    if cost_usd is None:
        return "—"
    if cost_usd == 0:
        return "$0.00"
    return f"${cost_usd:,.2f}" if cost_usd >= 1 else f"${cost_usd:.4g}"


def usage_text(u: Usage) -> str:
    """``3 calls, 120 tokens in / 40 out, $0.0012`` (as ``solodesk runs show`` says it)."""
    calls = "1 call" if u.model_calls == 1 else f"{u.model_calls} calls"
    cost = "cost unknown" if u.cost_usd is None else cost_text(u.cost_usd)
    return f"{calls}, {u.tokens_in:,} tokens in / {u.tokens_out:,} out, {cost}"


def _stamp(stamp: str | None) -> str:
    """``2026-11-22 17:20:03 UTC`` from a stored timestamp."""
    if not stamp:
        return "—"
    return stamp[:19].replace("T", " ") + " UTC"


class RunTreeModel(QStandardItemModel):
    """Runs as a tree: a row per run, its children under its first cell.

    Top-level runs are ordered newest first, children oldest first (the order of delegation).
    :meth:`upsert` adds a run or updates its row; a run whose parent is not in the model is
    shown at the top level (the page loads parents first).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        for col, tip in (
            (COL_ELAPSED, "Time from start to end (ticking while the run runs)"),
            (COL_TOKENS, "Model tokens of the run's own calls: prompt in / completion out"),
            (COL_COST, "US dollars of the run's own calls (— for a local model)"),
        ):
            header = self.horizontalHeaderItem(col)
            if header is not None:
                header.setToolTip(tip)
        self.runs: dict[int, Run] = {}
        self._items: dict[int, QStandardItem] = {}  # run id -> its first cell
        # The rows' order, kept beside Qt's so that placing a run is a bisection (a triage of
        # thousands of mail has thousands of children): top-level ids negated (newest first),
        # children's ids by parent (oldest first).
        self._order: dict[int | None, list[int]] = {None: []}
        self._running: set[int] = set()

    # -- reading -------------------------------------------------------------------------------
    def index_of(self, run_id: int, column: int = 0) -> QModelIndex:
        """The index of ``run_id``'s row (invalid if it is not shown)."""
        item = self._items.get(run_id)
        if item is None:
            return QModelIndex()
        first = item.index()
        return first.siblingAtColumn(column)

    def run_at(self, index: QModelIndex) -> Run | None:
        """The run of the row of ``index``."""
        if not index.isValid():
            return None
        run_id = index.data(RUN_ID_ROLE)
        return self.runs.get(run_id) if isinstance(run_id, int) else None

    def running(self) -> list[int]:
        """Ids of the shown runs that are running, oldest first."""
        return sorted(self._running)

    def text(self, run_id: int, column: int) -> str:
        """What the cell shows."""
        value = self.index_of(run_id, column).data()
        return str(value) if value is not None else ""

    def roots(self) -> list[int]:
        """The top-level runs' ids, in the order shown."""
        return [self._id(self.item(row, 0)) for row in range(self.rowCount())]

    def child_ids(self, run_id: int) -> list[int]:
        """The ids of the children shown under ``run_id``, in the order shown."""
        item = self._items.get(run_id)
        if item is None:
            return []
        return [self._id(item.child(row, 0)) for row in range(item.rowCount())]

    def _below(self, run_id: int) -> list[int]:
        found: list[int] = []
        todo = [run_id]
        while todo:
            for child in self._order.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    @staticmethod
    def _id(item: QStandardItem | None) -> int:
        value = item.data(RUN_ID_ROLE) if item is not None else None
        return int(value) if isinstance(value, int) else -1

    # -- writing -------------------------------------------------------------------------------
    def upsert(self, run: Run, *, now: datetime | None = None) -> None:
        """Show ``run``: update its row, or add it under its parent (if shown) in order."""
        self.runs[run.id] = run
        if run.status is RunStatus.RUNNING:
            self._running.add(run.id)
        else:
            self._running.discard(run.id)
        first = self._items.get(run.id)
        if first is None:
            row = [QStandardItem() for _ in COLUMNS]
            for cell in row:
                cell.setEditable(False)
                cell.setData(run.id, RUN_ID_ROLE)
            parent = self._items.get(run.parent_id) if run.parent_id is not None else None
            if parent is not None:  # children oldest first
                siblings = self._order.setdefault(run.parent_id, [])
                position = bisect.bisect_left(siblings, run.id)
                siblings.insert(position, run.id)
                parent.insertRow(position, row)
            else:  # top level newest first
                roots = self._order[None]
                position = bisect.bisect_left(roots, -run.id)
                roots.insert(position, -run.id)
                self.insertRow(position, row)
            self._items[run.id] = row[0]
        self._fill(run, now)

    def _fill(self, run: Run, now: datetime | None) -> None:
        cells = [self.itemFromIndex(self.index_of(run.id, c)) for c in range(len(COLUMNS))]
        u = run.usage
        texts = (
            f"#{run.id}",
            run.agent,
            run.task,
            run.status.value,
            elapsed_text(run.elapsed_s(now)),
            f"{u.tokens_in:,} / {u.tokens_out:,}",
            cost_text(u.cost_usd),
        )
        brush = STATUS_BRUSH.get(run.status)
        if run.error:
            tip = f"Run #{run.id} {run.status.value}: {run.error}"
        else:
            tip = f"Run #{run.id} ({run.agent}): {run.task}"
        for col, (cell, text) in enumerate(zip(cells, texts, strict=True)):
            if cell is None:
                continue
            if cell.text() != text:
                cell.setText(text)
            cell.setToolTip(run.task if col == COL_TASK and not run.error else tip)
            if col in (COL_ELAPSED, COL_TOKENS, COL_COST):
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if col == COL_STATUS:
                cell.setForeground(brush if brush is not None else QBrush())
                font = QFont(cell.font())
                font.setBold(run.status is RunStatus.RUNNING)
                cell.setFont(font)
            elif run.status is RunStatus.FAILED:
                cell.setForeground(STATUS_BRUSH[RunStatus.FAILED])
            else:
                cell.setForeground(QBrush())

    def tick(self, now: datetime | None = None) -> None:
        """Update the elapsed time of the running runs."""
        for run_id in self.running():
            cell = self.itemFromIndex(self.index_of(run_id, COL_ELAPSED))
            if cell is not None:
                text = elapsed_text(self.runs[run_id].elapsed_s(now))
                if cell.text() != text:
                    cell.setText(text)

    def prune(self, max_roots: int | None = None) -> int:
        """Drop the oldest top-level runs beyond ``max_roots`` (default :data:`MAX_ROOTS`)
        whose whole tree has ended; returns how many top-level runs were dropped."""
        if max_roots is None:
            max_roots = MAX_ROOTS
        dropped = 0
        row = self.rowCount() - 1
        while self.rowCount() > max_roots and row >= 0:
            root = self._id(self.item(row, 0))
            tree = [root, *self._below(root)]
            if all(self.runs[r].status is not RunStatus.RUNNING for r in tree if r in self.runs):
                self.removeRow(row)
                self._order[None].remove(-root)
                for r in tree:
                    self.runs.pop(r, None)
                    self._items.pop(r, None)
                    self._order.pop(r, None)
                    self._running.discard(r)
                dropped += 1
            row -= 1
        return dropped

    def clear_runs(self) -> None:
        """Remove every row."""
        self.removeRows(0, self.rowCount())
        self.runs.clear()
        self._items.clear()
        self._order = {None: []}
        self._running.clear()


class ActivityPage(QWidget):
    """The live tree of runs, cancel, and the selected run's detail.

    Args:
        services: The back end (``store.runs`` to read, ``runner.runs`` to cancel).

    Signals:
        message(str, bool): Text for the status bar, and whether it is an error.
        liveCountChanged(int): How many shown runs are running (the side bar's badge).
        proposalRequested(int): The founder followed a link to a proposal (its action id).
    """

    message = Signal(str, bool)
    liveCountChanged = Signal(int)  # noqa: N815
    proposalRequested = Signal(int)  # noqa: N815

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("activityPage")
        self.services = services
        self._live_count = 0
        # While the page is hidden its tree is not kept: run events only update the running
        # runs' ids (the side bar's badge), and showing the page reads the runs again. Rows of
        # a page nobody looks at held ~7.7 KB each (up to MAX_ROOTS): memory grew chat turn by
        # chat turn (issue 9), and each event cost the GUI thread a tree update.
        self._hidden_running: set[int] = set()
        self._hidden_selection: int | None = None

        self.model = RunTreeModel(self)
        self.view = QTreeView()
        self.view.setObjectName("runTree")
        self.view.setAccessibleName("Agent runs")
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setAllColumnsShowFocus(True)
        header = self.view.header()
        header.setStretchLastSection(False)
        # Fixed starting widths (the founder can drag them): sizing columns to their contents
        # would measure every row on every change, which a triage of thousands of mail makes slow.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_TASK, QHeaderView.ResizeMode.Stretch)
        digit = self.fontMetrics().horizontalAdvance("0")
        for col, chars in COLUMN_CHARS.items():
            header.resizeSection(col, digit * chars)
        self.view.selectionModel().currentRowChanged.connect(
            lambda _c, _p: self._selection_changed()
        )

        self.cancel_action = QAction("&Cancel run", self)
        self.cancel_action.setObjectName("cancelRun")
        self.cancel_action.setShortcuts([QKeySequence(k) for k in keys.CANCEL_RUN_KEYS])
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.cancel_action.triggered.connect(self.cancel_selected)
        self.addAction(self.cancel_action)
        self.cancel_button = QPushButton(
            f"&Cancel run ({keys.native(keys.CANCEL_RUN_KEYS[0])})"
        )
        self.cancel_button.setObjectName("cancelRunButton")
        self.cancel_button.setToolTip(
            "Stop the selected run and every run it started "
            f"({' or '.join(keys.native(k) for k in keys.CANCEL_RUN_KEYS)}); what they "
            "already proposed stays in the inbox"
        )
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("activitySummary")
        self.empty_label = QLabel(
            "No agent work in the last 24 hours. Chat with the manager or triage mail, and "
            "each piece of work shows here as it runs."
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("QLabel { color: #6b6b6b; }")

        self.detail = QTextBrowser()
        self.detail.setObjectName("runDetail")
        self.detail.setAccessibleName("The selected run")
        self.detail.setOpenLinks(False)
        self.detail.anchorClicked.connect(self._on_link)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.summary_label, 1)
        head.addWidget(self.cancel_button)
        tl.addLayout(head)
        tl.addWidget(self.view, 1)
        tl.addWidget(self.empty_label)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("activitySplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_COALESCE_MS)
        self._detail_timer.timeout.connect(self._show_detail)
        self.timer = QTimer(self)
        self.timer.setObjectName("elapsedTimer")
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._read_running()  # the tree itself is read when the page is shown

    # -- reading -------------------------------------------------------------------------------
    def _recent(self) -> list[Run] | None:
        """The runs of the last 24 hours (and every running one), or None (said in the status
        bar) if the store cannot be read."""
        since = (datetime.now(UTC) - KEEP_FINISHED).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            return self.services.store.runs.recent(since=since, limit=MAX_ROOTS)
        except Exception as exc:  # a busy or closed store must not break the window
            log.exception("reading the runs failed")
            self.message.emit(f"Could not read the runs: {exc}", True)
            return None

    def reload(self) -> None:
        """Re-read the runs of the last 24 hours (and every running one) from the store."""
        runs = self._recent()
        if runs is None:
            return
        selected = self.selected_run_id()
        now = datetime.now(UTC)
        for run in sorted(runs, key=lambda r: r.id):  # parents before their children
            self._show(run, now)
        self.model.prune()
        if selected is not None:
            self.select_run(selected, quiet=True)
        self._changed()

    def _read_running(self) -> None:
        """While hidden: which runs are running, for the badge."""
        runs = self._recent()
        if runs is None:
            return
        self._hidden_running = {r.id for r in runs if r.status is RunStatus.RUNNING}
        self._set_live(len(self._hidden_running))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.reload()
        if self._hidden_selection is not None:
            self.select_run(self._hidden_selection, quiet=True)
            self._hidden_selection = None
        self._hidden_running.clear()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        """Drop the tree (showing the page reads it again); keep what is running for the
        badge, and the selection."""
        super().hideEvent(event)
        if event.spontaneous():  # the window was minimised: the page is still the one shown
            return
        self._hidden_selection = self.selected_run_id()
        self._hidden_running = set(self.model.running())
        self._detail_timer.stop()
        self.timer.stop()
        self.model.clear_runs()
        self.detail.clear()

    def focus_first(self) -> None:
        """Give the keyboard to the run tree (selecting the newest run if none is)."""
        if not self.view.currentIndex().isValid() and self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(0, 0))
        self.view.setFocus()

    def selected_run_id(self) -> int | None:
        """The id of the selected run, or None."""
        run = self.model.run_at(self.view.currentIndex())
        return run.id if run is not None else None

    def select_run(self, run_id: int, *, quiet: bool = False) -> bool:
        """Select ``run_id`` (reading it, and its parents, from the store if it is not shown),
        expand its parents and scroll to it. False (and a message unless ``quiet``) if there
        is no such run."""
        from solodesk.store.runs import RunNotFound

        if run_id not in self.model.runs:
            try:
                self._show(self.services.store.runs.get(run_id), datetime.now(UTC))
            except RunNotFound:
                if not quiet:
                    self.message.emit(f"There is no run #{run_id}", True)
                return False
            self._changed()
        index = self.model.index_of(run_id)
        parent = index.parent()
        while parent.isValid():
            self.view.expand(parent)
            parent = parent.parent()
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def _show(self, run: Run, now: datetime, depth: int = 0) -> None:
        """Show ``run``, first reading its parent from the store if that is not shown."""
        from solodesk.store.runs import RunNotFound

        if run.parent_id is not None and run.parent_id not in self.model.runs and depth < 16:
            try:
                self._show(self.services.store.runs.get(run.parent_id), now, depth + 1)
            except RunNotFound:  # cannot be stored (a foreign key), but never fail on it
                pass
        is_new = run.id not in self.model.runs
        self.model.upsert(run, now=now)
        if is_new and run.parent_id is not None:
            self.view.expand(self.model.index_of(run.parent_id))

    # -- events --------------------------------------------------------------------------------
    def on_run_event(self, event: RunStarted | RunUpdated | RunFinished) -> None:
        """A run started, used the model or ended: re-read it and update its row."""
        from solodesk.core.events import RunStarted
        from solodesk.store.runs import RunNotFound

        if not self.isVisible():  # only the badge: the event says whether the run runs
            status = RunStatus.RUNNING.value if isinstance(event, RunStarted) else event.status
            if status == RunStatus.RUNNING.value:
                self._hidden_running.add(event.run_id)
            else:
                self._hidden_running.discard(event.run_id)
            self._set_live(len(self._hidden_running))
            return
        try:
            run = self.services.store.runs.get(event.run_id)
        except RunNotFound:
            return
        except Exception:  # a busy or closed store (closing the window) must not break it
            log.exception("reading run %s failed", event.run_id)
            return
        is_new = run.id not in self.model.runs
        self._show(run, datetime.now(UTC))
        if is_new and run.parent_id is None:
            self.model.prune()
        self._changed()
        if self.selected_run_id() in (run.id, run.parent_id) and not self._detail_timer.isActive():
            self._detail_timer.start()  # events in a burst re-render the detail once

    def _changed(self) -> None:
        """After the shown runs changed: the timer, the badge, the summary, the buttons."""
        live = len(self.model.running())
        if live and not self.timer.isActive():
            self.timer.start()
        elif not live and self.timer.isActive():
            self.timer.stop()
        self._set_live(live)
        total = len(self.model.runs)
        self.summary_label.setText(
            (f"{live} running · " if live else "Nothing running · ")
            + (f"{total} run{'s' if total != 1 else ''} in the last 24 hours")
        )
        self.empty_label.setVisible(total == 0)
        self._update_buttons()

    def _set_live(self, live: int) -> None:
        if live != self._live_count:
            self._live_count = live
            self.liveCountChanged.emit(live)

    def _tick(self) -> None:
        self.model.tick()
        if not self.model.running():
            self.timer.stop()

    @property
    def live_count(self) -> int:
        """How many runs are running (the side bar's badge), shown or, while the page is
        hidden, known from run events."""
        return self._live_count

    # -- acting --------------------------------------------------------------------------------
    def cancel_selected(self) -> list[int]:
        """Cancel the selected run and every run below it (see ``RunManager.cancel``).

        Returns:
            The ids of the runs asked to stop (empty if nothing was running in this window).
        """
        run = self.model.run_at(self.view.currentIndex())
        if run is None:
            self.message.emit("Select a running run to cancel", False)
            return []
        if run.status is not RunStatus.RUNNING:
            self.message.emit(f"Run #{run.id} is not running ({run.status.value})", False)
            return []
        ids = self.services.runner.runs.cancel(run.id)
        if not ids:
            self.message.emit(
                f"Run #{run.id} is not running in this window: another SoloDesk process runs "
                "it (stop it there, e.g. Ctrl+C in its terminal)",
                True,
            )
            return []
        below = len(ids) - 1
        self.message.emit(
            f"Cancelling run #{run.id} ({run.agent})"
            + (f" and {below} run{'s' if below != 1 else ''} it started" if below else ""),
            False,
        )
        return ids

    def _update_buttons(self) -> None:
        run = self.model.run_at(self.view.currentIndex())
        can = run is not None and run.status is RunStatus.RUNNING
        self.cancel_button.setEnabled(can)
        self.cancel_action.setEnabled(can)

    def _selection_changed(self) -> None:
        self._update_buttons()
        self._show_detail()

    def _on_link(self, url: QUrl) -> None:
        kind, _, number = url.toString().partition(":")
        if not number.isdigit():
            return
        if kind == "run":
            self.select_run(int(number))
        elif kind == "action":
            self.proposalRequested.emit(int(number))

    # -- the detail pane -----------------------------------------------------------------------
    def _show_detail(self) -> None:
        if self.services.store.closed:  # a late coalescing timer after the back end closed
            return
        run = self.model.run_at(self.view.currentIndex())
        if run is None:
            self.detail.setHtml(
                "<p style='color:#6b6b6b'>Select a run to see what it did: its model calls, "
                "the proposals it made and, if it failed, why.</p>"
            )
            return
        try:
            self.detail.setHtml(self.detail_html(run.id))
        except Exception as exc:  # a display aid must never break the page
            log.exception("showing run %s failed", run.id)
            self.detail.setPlainText(f"Could not read run #{run.id}: {exc}")

    def detail_html(self, run_id: int) -> str:
        """The detail pane's HTML for ``run_id`` (every stored text escaped)."""
        repo = self.services.store.runs
        run = repo.get(run_id)
        e = html.escape
        parts = [
            f"<h3>Run #{run.id} · {e(run.agent)} · {e(run.status.value)}</h3>",
            f"<p><b>Task:</b> {e(run.task)}</p>",
        ]
        if run.error:
            cancelled = run.status is RunStatus.CANCELLED
            parts.append(
                f"<p style='color:{'#6b6b6b' if cancelled else ERROR_COLOR}'><b>"
                f"{'Why it stopped' if cancelled else 'Error'}:</b> {e(run.error)}</p>"
            )
        times = f"Started {_stamp(run.started_at)}"
        if run.ended_at:  # (while it runs, the tree's Elapsed column ticks)
            times += f", ended {_stamp(run.ended_at)} · {elapsed_text(run.elapsed_s())}"
        parts.append(f"<p>{times}</p>")
        children = repo.children(run.id)
        usage = f"<p><b>Usage:</b> {e(usage_text(run.usage))}"
        if children:
            usage += (
                f"<br><b>With the {len(children)} run{'s' if len(children) != 1 else ''} it "
                f"started:</b> {e(usage_text(repo.tree_usage(run.id)))}"
            )
        parts.append(usage + "</p>")
        if run.parent_id is not None:
            parent = self.model.runs.get(run.parent_id)
            name = f" ({e(parent.agent)})" if parent is not None else ""
            parts.append(
                f"<p><b>Started by:</b> <a href='run:{run.parent_id}'>run #{run.parent_id}</a>"
                f"{name}</p>"
            )
        if children:
            parts.append("<p><b>Runs it started:</b></p><ul>")
            parts += [
                f"<li><a href='run:{c.id}'>#{c.id}</a> {e(c.agent)} — {e(c.status.value)}: "
                f"{e(c.task)}</li>"
                for c in children[:DETAIL_CHILDREN]
            ]
            if len(children) > DETAIL_CHILDREN:
                parts.append(
                    f"<li>… and {len(children) - DETAIL_CHILDREN:,} more (in the tree above)</li>"
                )
            parts.append("</ul>")
        proposals = repo.proposals(run.id)
        if proposals:
            parts.append("<p><b>Proposals:</b></p><ul>")
            parts += [
                f"<li><a href='action:{p.action_id}'>#{p.action_id}</a> {e(p.kind)} "
                f"({e(p.status)}): {e(p.summary)}</li>"
                for p in proposals
            ]
            parts.append("</ul>")
        calls = repo.calls(run.id)
        if calls:
            parts.append(self._calls_html(calls))
        if run.conversation_id is not None:
            parts.append("<br>" + self._conversation_html(run.conversation_id))
        return "\n".join(parts)

    @staticmethod
    def _calls_html(calls: Iterable[dict[str, Any]]) -> str:
        e = html.escape
        rows = [
            "<p><b>Model calls:</b></p><table cellspacing='0' cellpadding='3'>",
            "<tr><th align='left'>When</th><th align='left'>Purpose</th>"
            "<th align='left'>Model</th><th align='right'>In</th><th align='right'>Out</th>"
            "<th align='right'>ms</th><th align='left'></th></tr>",
        ]
        for c in calls:
            error = c.get("error")
            last = f"<td style='color:{ERROR_COLOR}'>{e(str(error))}</td>" if error else "<td></td>"
            rows.append(
                f"<tr><td>{e(_stamp(c.get('ts')))}</td><td>{e(str(c.get('purpose') or ''))}</td>"
                f"<td>{e(str(c.get('model') or ''))}</td>"
                f"<td align='right'>{int(c.get('tokens_in') or 0):,}</td>"
                f"<td align='right'>{int(c.get('tokens_out') or 0):,}</td>"
                f"<td align='right'>{int(c.get('latency_ms') or 0):,}</td>"
                + last
                + "</tr>"
            )
        rows.append("</table>")
        return "".join(rows)

    def _conversation_html(self, conversation_id: int) -> str:
        e = html.escape
        try:
            messages = self.services.store.chat.messages(conversation_id)
        except Exception:  # the conversation is a display aid here
            log.exception("reading conversation %s failed", conversation_id)
            return f"<p><b>Conversation #{conversation_id}</b> could not be read.</p>"
        shown = list(messages)[-CONVERSATION_MESSAGES:]
        parts = [
            f"<p><b>Conversation #{conversation_id}</b>"
            + (f" (the latest {len(shown)} of {len(messages)} messages)"
               if len(messages) > len(shown) else "")
            + ":</p>"
        ]
        for m in shown:
            content = str(m["content"] or "")
            if len(content) > MESSAGE_CHARS:
                content = content[:MESSAGE_CHARS] + "…"
            parts.append(
                f"<p><b>{e(str(m['role']))}:</b> "
                f"{e(content).replace(chr(10), '<br>')}</p>"
            )
        return "".join(parts)
