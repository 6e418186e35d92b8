"""The Jobs page: scheduled jobs, their history, run now, and the IMAP sync state.

Jobs and runs are read from :class:`~solodesk.store.jobs.JobRepo`, the sync state from
:class:`~solodesk.store.imapstate.ImapStateRepo` (no SQL here). "Run now" goes through
:meth:`solodesk.scheduler.JobScheduler.run_now` as an asyncio task (the IMAP work itself runs in
a worker thread), so the window stays responsive; a job never approves anything, its proposals
wait in the inbox.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.schedule import parse_stamp
from solodesk.ui import shortcuts as keys
from solodesk.ui.table_model import Index, ReadOnlyTableModel
from solodesk.ui.tasks import TaskTracker, async_slot

if TYPE_CHECKING:
    from solodesk.scheduler import JobScheduler
    from solodesk.services import Services
    from solodesk.store.imapstate import FolderState
    from solodesk.store.jobs import JobRow, JobRun

log = logging.getLogger(__name__)

ERROR_BRUSH = QBrush(QColor("#b3261e"))
ERROR_STYLE = "QLabel { color: #b3261e; font-weight: bold; }"


def local_text(stamp: str | None, tz: ZoneInfo) -> str:
    """A stored UTC timestamp in the founder's time zone, ``2026-05-20 09:00 CEST``."""
    if not stamp:
        return "—"
    try:
        return parse_stamp(stamp.removeprefix("manual:")).astimezone(tz).strftime(
            "%Y-%m-%d %H:%M %Z"
        )
    except ValueError:
        return stamp


class JobsModel(ReadOnlyTableModel):
    """Every job with its schedule, state, next run and last run."""

    COLUMNS = ("Name", "Schedule", "Kind", "Enabled", "Next run", "Last run", "Outcome")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[JobRow, str, str, JobRun | None]] = []
        self.tz = ZoneInfo("UTC")

    def set_rows(self, rows: list[tuple[JobRow, str, str, JobRun | None]], tz: ZoneInfo) -> None:
        """``(job, schedule described, next run text, last run)`` per job."""
        self.beginResetModel()
        self.rows, self.tz = rows, tz
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        job, described, nxt, last = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                job.name,
                job.schedule,
                job.kind,
                "on" if job.enabled else "off",
                nxt,
                local_text(last.started_at, self.tz) if last else "never",
                (last.outcome + (f": {last.detail}" if last.detail else "")) if last else "",
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 1:
                return described
            if col == 6 and last is not None:
                return last.detail or last.outcome
            if col == 0 and job.note:
                return job.note
        if role == Qt.ItemDataRole.ForegroundRole and col == 6 and last is not None:
            return ERROR_BRUSH if last.outcome in ("failed", "paused", "interrupted") else None
        if role == Qt.ItemDataRole.CheckStateRole and col == 3:
            return Qt.CheckState.Checked if job.enabled else Qt.CheckState.Unchecked
        return None


class HistoryModel(ReadOnlyTableModel):
    """The runs of one job, newest first."""

    COLUMNS = ("Started", "Ended", "Trigger", "Outcome", "Proposals", "Tokens", "Cost",
               "Detail")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs: list[JobRun] = []
        self.tz = ZoneInfo("UTC")

    def set_runs(self, runs: list[JobRun], tz: ZoneInfo) -> None:
        """Show ``runs`` (newest first)."""
        self.beginResetModel()
        self.runs, self.tz = runs, tz
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.runs)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.runs):
            return None
        run, col = self.runs[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                local_text(run.started_at, self.tz),
                local_text(run.ended_at, self.tz) if run.ended_at else "running",
                run.trigger,
                run.outcome,
                str(run.proposals),
                f"{run.tokens_in + run.tokens_out:,}",
                f"${run.cost_usd:.4f}",
                run.detail,
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 7:
            return run.detail
        if role == Qt.ItemDataRole.ToolTipRole and col == 5:
            return f"{run.tokens_in:,} in, {run.tokens_out:,} out"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and run.outcome in (
            "failed", "paused", "interrupted"
        ):
            return ERROR_BRUSH
        return None


class SyncModel(ReadOnlyTableModel):
    """The IMAP sync state per folder: last complete sync, messages stored, last error."""

    COLUMNS = ("Account", "Folder", "Last sync", "Messages", "Error")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[FolderState, int]] = []
        self.tz = ZoneInfo("UTC")

    def set_rows(self, rows: list[tuple[FolderState, int]], tz: ZoneInfo) -> None:
        """``(folder state, messages stored from it)`` per folder."""
        self.beginResetModel()
        self.rows, self.tz = rows, tz
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        state, count = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                state.account,
                state.folder,
                local_text(state.synced_at, self.tz) if state.synced_at else "never",
                f"{count:,}",
                state.last_error,
            )[col]
        if role == Qt.ItemDataRole.ForegroundRole and state.last_error:
            return ERROR_BRUSH
        if role == Qt.ItemDataRole.ToolTipRole and state.last_error:
            return state.last_error
        return None


def _fit(view: QTableView, stretch: int) -> None:
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


class JobsPage(QWidget):
    """Jobs (enable/disable, run now), a job's history, and the IMAP sync state.

    Args:
        services: The back end (jobs, runs, IMAP state, settings, keyring, bus).
        tasks: Where "Run now" runs.

    Signals:
        message(str, bool): Text for the status bar, and whether it is an error.
    """

    message = Signal(str, bool)

    def __init__(
        self, services: Services, *, tasks: TaskTracker, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("jobsPage")
        self.services = services
        self.tasks = tasks
        self._scheduler: JobScheduler | None = None
        self.running: str | None = None

        self.jobs_model = JobsModel(self)
        self.jobs_view = QTableView()
        self.jobs_view.setObjectName("jobsView")
        self.jobs_view.setAccessibleName("Jobs")
        self.jobs_view.setModel(self.jobs_model)
        _fit(self.jobs_view, 6)
        self.jobs_view.selectionModel().currentRowChanged.connect(
            lambda _c, _p: self._selection_changed()
        )

        self.toggle_button = QPushButton("&Enable")
        self.toggle_button.setObjectName("toggleJob")
        self.toggle_button.clicked.connect(self.toggle_selected)
        self.run_action = QAction("&Run now", self)
        self.run_action.setShortcut(QKeySequence(keys.JOB_RUN_KEYS))
        self.run_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.run_action.triggered.connect(self._on_run)
        self.addAction(self.run_action)
        self.run_button = QPushButton(f"&Run now ({keys.native(keys.JOB_RUN_KEYS)})")
        self.run_button.setObjectName("runJob")
        self.run_button.clicked.connect(self._on_run)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.run_label = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.toggle_button)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.run_label, 1)
        self.empty_label = QLabel(
            "No jobs yet. Add one with 'solodesk jobs add NAME SCHEDULE', e.g. "
            "solodesk jobs add morning-mail '0 7 * * 1-5' --kind mail_sync"
        )
        self.empty_label.setWordWrap(True)

        self.history_title = QLabel("History")
        self.history_model = HistoryModel(self)
        self.history_view = QTableView()
        self.history_view.setObjectName("historyView")
        self.history_view.setAccessibleName("History of the job")
        self.history_view.setModel(self.history_model)
        _fit(self.history_view, 7)

        self.sync_title = QLabel("IMAP sync")
        self.sync_problem = QLabel()
        self.sync_problem.setObjectName("syncProblem")
        self.sync_problem.setWordWrap(True)
        self.sync_problem.setStyleSheet(ERROR_STYLE)
        self.sync_problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sync_problem.hide()
        self.sync_model = SyncModel(self)
        self.sync_view = QTableView()
        self.sync_view.setObjectName("syncView")
        self.sync_view.setAccessibleName("IMAP sync state per folder")
        self.sync_view.setModel(self.sync_model)
        _fit(self.sync_view, 4)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("Jobs run on their schedule while SoloDesk runs; what they "
                            "propose waits in the inbox."))
        tl.addWidget(self.jobs_view, 1)
        tl.addWidget(self.empty_label)
        tl.addLayout(buttons)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.history_title)
        ml.addWidget(self.history_view, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.sync_title)
        bl.addWidget(self.sync_problem)
        bl.addWidget(self.sync_view, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for part in (top, middle, bottom):
            self.splitter.addWidget(part)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)
        self._selection_changed()

    # -- reading -------------------------------------------------------------------------------
    @property
    def scheduler(self) -> JobScheduler:
        """The scheduler "Run now" uses (built on first use)."""
        if self._scheduler is None:
            from solodesk.scheduler import JobScheduler

            sv = self.services
            self._scheduler = JobScheduler(
                store=sv.store, config=sv.config, secrets=sv.secrets, bus=sv.bus,
                runner=getattr(sv, "runner", None),
            )
        return self._scheduler

    @scheduler.setter
    def scheduler(self, value: JobScheduler) -> None:
        self._scheduler = value

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def on_job_event(self, event: Any) -> None:
        """A job started, finished or failed (bus ``Progress``/``RunFailed``): re-read the page
        if it is shown (and no run of its own is about to refresh it)."""
        task = str(getattr(event, "task", ""))
        if task.startswith("job:") and self.isVisible() and self.running is None:
            self.refresh()

    def focus_first(self) -> None:
        """Give the keyboard to the jobs list."""
        self.jobs_view.setFocus()

    def _timezone(self) -> ZoneInfo:
        from solodesk.core.schedule import ScheduleError
        from solodesk.scheduler import founder_timezone

        try:
            return founder_timezone(self.services.config)
        except ScheduleError as exc:
            self.message.emit(str(exc), True)
            return ZoneInfo("UTC")

    def refresh(self) -> None:
        """Re-read the jobs, the selected job's history and the IMAP sync state."""
        from solodesk.core.schedule import ScheduleError

        tz = self._timezone()
        selected = self.selected_job()
        store = self.services.store
        now = self.scheduler.clock()
        rows: list[tuple[JobRow, str, str, JobRun | None]] = []
        for job in store.jobs.all():
            try:
                schedule = self.scheduler.spec(job, tz).schedule
                described = schedule.describe()
                nxt = schedule.next(now) if job.enabled else None
                when = nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if nxt else "—"
            except ScheduleError as exc:
                described, when = f"cannot be read: {exc}", "schedule cannot be read"
            rows.append((job, described, when, store.jobs.last_run(job)))
        self.jobs_model.set_rows(rows, tz)
        self.empty_label.setVisible(not rows)
        if rows:
            names = [r[0].name for r in rows]
            self.select_job(selected if selected in names else names[0])
        self._selection_changed()
        self.refresh_sync(tz)

    def refresh_sync(self, tz: ZoneInfo | None = None) -> None:
        """Re-read the IMAP sync state; a failing folder shows in red with what to do."""
        tz = tz or self._timezone()
        imap = self.services.store.imap
        states = imap.folders()
        self.sync_model.set_rows([(s, imap.count(s.account, s.folder)) for s in states], tz)
        failing = [s for s in states if s.last_error]
        if failing:
            shown = "; ".join(f"{s.folder}: {s.last_error.rstrip('. ')}" for s in failing[:3])
            self.sync_problem.setText(
                f"IMAP sync failing — {shown}. Check the server and user in Settings "
                f"({keys.native(keys.SETTINGS_KEYS)}) and the password in the keyring "
                "(solodesk secrets set imap.password), then run the sync job again."
            )
        self.sync_problem.setVisible(bool(failing))
        if not states:
            self.sync_title.setText(
                "IMAP sync: no folder synced yet (set imap.host and run a mail_sync job)"
            )
        else:
            self.sync_title.setText("IMAP sync")

    def selected_job(self) -> str | None:
        """The name of the selected job, or None."""
        row = self.jobs_view.currentIndex().row()
        rows = self.jobs_model.rows
        return rows[row][0].name if 0 <= row < len(rows) else None

    def select_job(self, name: str) -> bool:
        """Select the job ``name``; False if there is none."""
        for row, (job, *_rest) in enumerate(self.jobs_model.rows):
            if job.name == name:
                self.jobs_view.setCurrentIndex(self.jobs_model.index(row, 0))
                return True
        return False

    def _selection_changed(self) -> None:
        name = self.selected_job()
        job = next((r[0] for r in self.jobs_model.rows if r[0].name == name), None)
        self.toggle_button.setEnabled(job is not None)
        busy = self.running is not None
        self.run_button.setEnabled(job is not None and not busy)
        self.run_action.setEnabled(job is not None and not busy)
        self.toggle_button.setText("&Disable" if job is not None and job.enabled else "&Enable")
        if job is None:
            self.history_title.setText("History")
            self.history_model.set_runs([], self.jobs_model.tz)
            return
        self.history_title.setText(f"History of {job.name}")
        self.history_model.set_runs(
            self.services.store.jobs.history(job.name, limit=200), self.jobs_model.tz
        )

    # -- acting --------------------------------------------------------------------------------
    def toggle_selected(self) -> None:
        """Enable the selected job (its schedule must be readable) or disable it."""
        from solodesk.core.schedule import ScheduleError

        name = self.selected_job()
        if name is None:
            return
        job = self.services.store.jobs.get(name)
        if not job.enabled:
            try:
                self.scheduler.spec(job, self._timezone())
            except ScheduleError as exc:
                self.message.emit(f"{name} not enabled: {exc}", True)
                return
        job = self.services.store.jobs.set_enabled(name, not job.enabled)
        self.message.emit(
            f"{name} {'enabled: it runs on its schedule' if job.enabled else 'disabled'}", False
        )
        self.refresh()

    @async_slot("Run job")
    async def _on_run(self) -> None:
        name = self.selected_job()
        if name is not None:
            await self.run_now(name)

    async def run_now(self, name: str) -> JobRun | None:
        """Run the job ``name`` once now; progress shows on the page, the outcome in the
        status bar and the history.

        Returns:
            The run, or None if another run from this page is going.
        """
        if self.running is not None:
            self.message.emit(f"{self.running} is running; wait for it to finish", False)
            return None
        self.running = name
        self.progress.show()
        self.run_label.setText(f"Running {name}…")
        self._selection_changed()
        self.message.emit(f"Running {name}…", False)
        try:
            run = await self.scheduler.run_now(name)
        except Exception as exc:
            log.exception("running %s failed", name)
            self.message.emit(f"{name} could not run: {type(exc).__name__}: {exc}", True)
            return None
        finally:
            self.running = None
            self.progress.hide()
            self.run_label.setText("")
        ok = run.outcome == "done"
        self.message.emit(
            f"{name}: {run.outcome}" + (f" — {run.detail}" if run.detail else ""), not ok
        )
        self.refresh()
        return run
