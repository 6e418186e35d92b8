"""The Costs page: model spend per agent, per model and per day over a period, and the budgets.

Every figure comes from :mod:`solodesk.store.costs` (a sum over the recorded calls in
``llm_calls``, the same sums as ``solodesk costs --since DATE``); the budgets and their use from
the runner's :class:`~solodesk.agents.budget.BudgetGuard` (no SQL here). Amounts are US dollars
from litellm's price list; calls whose price is unknown count $0 and are counted as unpriced.
Days are the founder's (``schedule.timezone``, else the system's time zone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from solodesk.store.costs import CostReport, Spend, report, start_of_day
from solodesk.ui.table_model import Index, ReadOnlyTableModel

if TYPE_CHECKING:
    from solodesk.agents.budget import BudgetLimit
    from solodesk.services import Services

log = logging.getLogger(__name__)

BAR_COLOR = QColor("#3a6ea5")
WARN_BRUSH = QBrush(QColor("#b3261e"))
ERROR_STYLE = "QLabel { color: #b3261e; font-weight: bold; }"
#: Share of a budget from which its row is shown in red (the budget warning's threshold).
WARN_SHARE = 0.8

#: Milliseconds after a spend event before the shown page re-reads (one read per burst).
SPEND_REFRESH_MS = 300

#: The periods the page offers: key, label.
PERIODS = (("month", "This month"), ("30days", "Last 30 days"), ("since", "Since a date"))


def usd(amount: float) -> str:
    """``$12.50``, or 4 significant digits below a dollar (``$0.0006557``); ``$0.00`` for 0."""
    if amount == 0:
        return "$0.00"
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount:.4g}"


def period_start(kind: str, today: date, since: date) -> date:
    """The first day of a period: ``month`` (the 1st of ``today``'s month), ``30days`` (30
    days including ``today``) or ``since`` (``since`` itself).

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind == "month":
        return today.replace(day=1)
    if kind == "30days":
        return today - timedelta(days=29)
    if kind == "since":
        return since
    raise ValueError(f"unknown period {kind!r}")


def days_between(first: date, last: date) -> list[str]:
    """Every day from ``first`` to ``last`` (inclusive) as ISO dates (empty if ``last`` is
    earlier)."""
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def scope_text(scope: str) -> str:
    """A budget's scope as the page shows it: ``daily`` → ``Company, per day``, ``agent
    support`` → ``Agent support, per day``."""
    if scope == "daily":
        return "Company, per day"
    if scope == "monthly":
        return "Company, per month"
    if scope.startswith("agent "):
        return f"Agent {scope.removeprefix('agent ')}, per day"
    return scope


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the chart: its ISO date and spend (USD)."""

    day: str
    cost_usd: float


class SpendModel(ReadOnlyTableModel):
    """Spend per name (an agent, a model or a day): cost, calls, tokens, unpriced calls."""

    COLUMNS = ("Name", "Cost (USD)", "Calls", "Tokens in", "Tokens out", "Unpriced")
    HEADER_TOOLTIPS = {5: "Calls whose price litellm does not know (counted as $0)"}

    def __init__(self, first: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.first = first
        self.rows: list[tuple[str, Spend]] = []

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (section, orientation, role) == (0, Qt.Orientation.Horizontal,
                                            Qt.ItemDataRole.DisplayRole):
            return self.first
        return super().headerData(section, orientation, role)

    def set_rows(self, rows: Sequence[tuple[str, Spend]]) -> None:
        """Show ``(name, spend)`` rows in this order."""
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        name, s = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (name, usd(s.cost_usd), f"{s.calls:,}", f"{s.tokens_in:,}",
                    f"{s.tokens_out:,}", f"{s.unpriced:,}" if s.unpriced else "")[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 1:
            return f"${s.cost_usd:.6f}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == 5 and s.unpriced:
            return WARN_BRUSH
        return None


class BudgetModel(ReadOnlyTableModel):
    """The budgets that are set, with what each has spent in its current period."""

    COLUMNS = ("Budget", "Period", "Limit", "Spent", "Used")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[BudgetLimit] = []

    def set_rows(self, rows: Sequence[BudgetLimit]) -> None:
        """Show ``rows`` in this order."""
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    @staticmethod
    def share(lim: BudgetLimit) -> float:
        """How much of ``lim`` is spent (1.0 = all; a zero budget counts as fully used)."""
        return lim.spent_usd / lim.limit_usd if lim.limit_usd > 0 else 1.0

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        lim = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (scope_text(lim.scope), lim.period, usd(lim.limit_usd), usd(lim.spent_usd),
                    f"{round(100 * self.share(lim))}%")[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"To change it: {lim.fix}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and self.share(lim) >= WARN_SHARE:
            return WARN_BRUSH
        return None


class DailySpendChart(QWidget):
    """Spend per day as bars, drawn with QPainter (the table of days has the same figures;
    the accessible description summarises them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dailySpendChart")
        self.setAccessibleName("Model spend per day (chart)")
        self.setMinimumSize(360, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.bars: list[DayBar] = []

    def set_data(self, bars: Sequence[DayBar]) -> None:
        """Show ``bars`` (oldest first)."""
        self.bars = list(bars)
        spent = [b for b in self.bars if b.cost_usd]
        self.setAccessibleDescription(
            "; ".join(f"{b.day}: {usd(b.cost_usd)}" for b in spent) or "no spend"
        )
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.setPen(pal.color(pal.ColorRole.WindowText))
        rect = QRectF(self.rect()).adjusted(12, 24, -12, -36)
        top = max((b.cost_usd for b in self.bars), default=0.0)
        if not self.bars or top <= 0 or rect.width() <= 0 or rect.height() <= 0:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "No model spend in this period")
            painter.end()
            return
        fm = painter.fontMetrics()
        painter.drawText(QRectF(rect.left(), 2, rect.width(), 20),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"per day, highest {usd(top)}")
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        slot = rect.width() / len(self.bars)
        bar_w = max(1.0, slot * 0.7)
        # Label every n-th day so that the labels do not overlap.
        label_w = fm.horizontalAdvance("05-31") + 6
        every = max(1, int(label_w // slot) + 1) if slot < label_w else 1
        for i, b in enumerate(self.bars):
            x = rect.left() + i * slot + (slot - bar_w) / 2
            h = rect.height() * max(b.cost_usd, 0) / top
            if h > 0:
                painter.fillRect(QRectF(x, rect.bottom() - max(h, 1.0), bar_w, max(h, 1.0)),
                                 BAR_COLOR)
            if i % every == 0:
                painter.drawText(
                    QRectF(rect.left() + i * slot - label_w / 2 + slot / 2, rect.bottom() + 4,
                           label_w, 20),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    b.day[5:],
                )
        painter.end()


def _fit(view: QTableView) -> None:
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)


class CostsPage(QWidget):
    """Model spend over a chosen period (per agent, per model, per day as a chart and a table),
    the budgets and how much of each is used, and the calls without a price.

    Args:
        services: The back end (``store.costs``, ``config``, ``runner.budget``).
        clock: Returns now, aware UTC (tests drive it).

    Signals:
        message(str, bool): Text for the status bar, and whether it is an error.
    """

    message = Signal(str, bool)

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("costsPage")
        self.services = services
        self.clock = clock or (lambda: datetime.now(UTC))
        self.report = CostReport()
        self.since = date.today()

        self.period = QComboBox()
        self.period.setObjectName("costsPeriod")
        self.period.setAccessibleName("Period")
        for key, label in PERIODS:
            self.period.addItem(label, key)
        self.since_edit = QDateEdit()
        self.since_edit.setObjectName("costsSince")
        self.since_edit.setAccessibleName("First day")
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd")
        self.since_edit.setDate(QDate.currentDate().addDays(-6))
        self.since_edit.setEnabled(False)
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_action = QAction("Refresh costs", self)
        self.refresh_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.refresh_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh_action.triggered.connect(self.refresh)
        self.addAction(self.refresh_action)
        self.refresh_button.clicked.connect(self.refresh)
        self.period.currentIndexChanged.connect(self._period_changed)
        self.since_edit.dateChanged.connect(lambda _d: self.refresh())
        period_label = QLabel("&Period:")
        period_label.setBuddy(self.period)
        since_label = QLabel("&from")
        since_label.setBuddy(self.since_edit)
        bar = QHBoxLayout()
        bar.addWidget(period_label)
        bar.addWidget(self.period)
        bar.addWidget(since_label)
        bar.addWidget(self.since_edit)
        bar.addWidget(self.refresh_button)
        bar.addStretch(1)

        self.summary = QLabel()
        self.summary.setObjectName("costsSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem = QLabel()
        self.problem.setObjectName("costsProblem")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.chart = DailySpendChart()

        self.agent_model = SpendModel("Agent", self)
        self.model_model = SpendModel("Model", self)
        self.day_model = SpendModel("Day", self)
        self.budget_model = BudgetModel(self)
        self.agent_view = self._table(self.agent_model, "costsByAgent", "Spend per agent")
        self.model_view = self._table(self.model_model, "costsByModel", "Spend per model")
        self.day_view = self._table(self.day_model, "costsByDay", "Spend per day")
        self.budget_view = self._table(self.budget_model, "budgets", "Budgets and their use")
        self.budget_note = QLabel()
        self.budget_note.setWordWrap(True)
        # The 80% warnings of the current periods (store.budget_warnings: once per budget and
        # period, whichever process gave them).
        self.warnings_note = QLabel()
        self.warnings_note.setObjectName("budgetWarnings")
        self.warnings_note.setWordWrap(True)
        self.warnings_note.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings_note.setStyleSheet("QLabel { color: #8a5300; }")
        self.warnings_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_note.hide()
        # Spend events (a recorded call, a budget warning or refusal) re-read the page while it
        # is shown, at most once per burst of events.
        self._spend_timer = QTimer(self)
        self._spend_timer.setSingleShot(True)
        self._spend_timer.setInterval(SPEND_REFRESH_MS)
        self._spend_timer.timeout.connect(self._on_spend_timer)

        grid = QGridLayout()
        for col, (title, view) in enumerate(
            (("Per agent", self.agent_view), ("Per model", self.model_view))
        ):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
            grid.addWidget(view, 1, col)
        grid.addWidget(QLabel("<b>Budgets</b>"), 2, 0)
        grid.addWidget(self.budget_view, 3, 0)
        grid.addWidget(self.budget_note, 4, 0)
        grid.addWidget(self.warnings_note, 5, 0)
        grid.addWidget(QLabel("<b>Per day</b>"), 2, 1)
        grid.addWidget(self.day_view, 3, 1, 3, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.problem)
        layout.addWidget(self.chart, 2)
        layout.addLayout(grid, 3)

    def _table(self, model: ReadOnlyTableModel, name: str, accessible: str) -> QTableView:
        view = QTableView()
        view.setObjectName(name)
        view.setAccessibleName(accessible)
        view.setModel(model)
        _fit(view)
        return view

    # -- reading -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def on_spend(self, *_event: object) -> None:
        """A model call was recorded, or a budget warned or refused: re-read the page soon if
        it is shown (a hidden page re-reads when it is shown)."""
        if self.isVisible():
            self._spend_timer.start()

    def _on_spend_timer(self) -> None:
        if self.isVisible() and not self.services.store.closed:
            self.refresh()

    def focus_first(self) -> None:
        """Give the keyboard to the period chooser."""
        self.period.setFocus()

    def set_period(self, kind: str, since: date | None = None) -> None:
        """Choose the period: ``month``, ``30days`` or ``since`` (from ``since``), and show it.

        Raises:
            ValueError: unknown ``kind``.
        """
        index = self.period.findData(kind)
        if index < 0:
            raise ValueError(f"unknown period {kind!r}")
        if since is not None:
            self.since_edit.blockSignals(True)
            self.since_edit.setDate(QDate(since.year, since.month, since.day))
            self.since_edit.blockSignals(False)
        if self.period.currentIndex() == index:
            self.refresh()
        else:
            self.period.setCurrentIndex(index)

    def _period_changed(self) -> None:
        self.since_edit.setEnabled(self.period.currentData() == "since")
        self.refresh()

    def _timezone(self) -> tzinfo | None:
        from solodesk.core.schedule import ScheduleError
        from solodesk.scheduler import founder_timezone
        from solodesk.store.config import ConfigError

        try:
            return founder_timezone(self.services.config)
        except (ScheduleError, ConfigError) as exc:
            self.problem.setText(f"Costs cannot be shown: {exc}")
            self.problem.show()
            self.message.emit(str(exc), True)
            return None

    def refresh(self) -> None:
        """Re-read the spend over the chosen period and the budgets."""
        tz = self._timezone()
        if tz is None:
            return
        self.problem.hide()
        today = self.clock().astimezone(tz).date()
        qd = self.since_edit.date()
        first = period_start(str(self.period.currentData()), today,
                             date(qd.year(), qd.month(), qd.day()))
        self.since = first
        try:
            calls = self.services.store.costs.calls(start_of_day(first, tz))
        except Exception as exc:  # a busy or closed store must not break the window
            log.exception("reading the costs failed")
            self.problem.setText(f"Costs cannot be read: {type(exc).__name__}: {exc}")
            self.problem.show()
            return
        rep = self.report = report(calls, tz)
        total = rep.total
        text = (f"{usd(total.cost_usd)} spent since {first.isoformat()} ({tz}): "
                f"{total.calls:,} model call{'s' if total.calls != 1 else ''}, "
                f"{total.tokens_in:,} tokens in / {total.tokens_out:,} out")
        if total.unpriced:
            text += (f". {total.unpriced:,} call{'s' if total.unpriced != 1 else ''} had no "
                     "price in litellm's price list and count $0 (set llm.price_in_usd_per_mtok "
                     "and llm.price_out_usd_per_mtok to price them)")
        self.summary.setText(text)
        self.agent_model.set_rows(
            sorted(rep.by_agent.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))
        )
        self.model_model.set_rows(
            sorted(rep.by_model.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))
        )
        days = days_between(first, today)
        self.day_model.set_rows(sorted(rep.by_day.items(), reverse=True))
        self.chart.set_data([DayBar(d, rep.by_day[d].cost_usd if d in rep.by_day else 0.0)
                             for d in days])
        self.refresh_budgets()

    def refresh_budgets(self) -> None:
        """Re-read the budgets and how much of each is spent."""
        from solodesk.core.schedule import ScheduleError
        from solodesk.store.config import ConfigError

        try:
            limits = self.services.runner.budget.usage()
        except (ScheduleError, ConfigError, ValueError) as exc:
            self.budget_note.setText(str(exc))
            self.budget_model.set_rows([])
            return
        self.budget_model.set_rows(limits)
        self._show_warnings(limits)
        if limits:
            self.budget_note.setText(
                "A model call that would cross a budget is not made; its run pauses until the "
                "budget is raised or a new period starts."
            )
        else:
            self.budget_note.setText(
                "No budget set: model calls are not limited. Set budget.daily_usd or "
                "budget.monthly_usd in Settings, or budget_usd in an agent's card."
            )

    def _show_warnings(self, limits: Sequence[BudgetLimit]) -> None:
        """Show the 80% warnings given for the budgets' current periods, and those of job runs
        since the first day shown."""
        current = {(lim.scope, lim.period) for lim in limits}
        first = self.since.isoformat()
        try:
            given = self.services.store.budget_warnings.recent(50)
        except Exception:  # a busy or closed store must not break the window
            log.exception("reading the budget warnings failed")
            given = []
        shown = [w for w in given if (w.scope, w.period) in current
                 or (w.period.startswith("job run ") and w.created_at[:10] >= first)]
        if not shown:
            self.warnings_note.hide()
            self.warnings_note.setText("")
            return
        lines = [f"Budget warning ({w.created_at[:16].replace('T', ' ')} UTC): {w.message}"
                 for w in reversed(shown)]
        self.warnings_note.setText("\n".join(lines))
        self.warnings_note.show()
