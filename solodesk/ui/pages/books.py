"""The Books page: the register, the month's reports, income vs expenses, bank statement import.

Everything is read through :class:`~solodesk.store.ledger.LedgerRepo` and
:class:`~solodesk.store.bank.BankRepo` queries (no SQL here). The register is a
:class:`RegisterModel` over the ids of the postings shown, fetching rows in pages as the view
asks for them, so 100,000 postings cost a list of ints, not 100,000 rows of widgets.

The import (File → Import bank statement…) reads and stores the files in a worker thread on a
database connection of its own, like the mail import; each file is stored whole or not at all,
and a bad file's problem names the file and the place.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QShowEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.ledger import balance_sheet, month_bounds, profit_and_loss
from solodesk.core.money import format_money
from solodesk.ui import shortcuts as keys
from solodesk.ui.table_model import Index, ReadOnlyTableModel
from solodesk.ui.tasks import TaskTracker, async_slot, await_dialog

if TYPE_CHECKING:
    from solodesk.agents.bookkeeper import PostingReport
    from solodesk.connectors.bank.importer import FileOutcome
    from solodesk.core.bank import CsvMapping
    from solodesk.services import Services
    from solodesk.store.ledger import LedgerRepo, MonthTotal, RegisterRow

log = logging.getLogger(__name__)

ALL = ""
INCOME_COLOR = QColor("#2e7d32")
EXPENSE_COLOR = QColor("#c62828")
NEGATIVE = QBrush(QColor("#b3261e"))


def _month_text(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def last_months(today: date, n: int = 12) -> list[str]:
    """The ``n`` months up to and including ``today``'s, oldest first (``YYYY-MM``)."""
    months, y, m = [], today.year, today.month
    for _ in range(n):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months[::-1]


# -- the register --------------------------------------------------------------------------------
class RegisterModel(ReadOnlyTableModel):
    """The ledger's postings in register order, read in pages of :attr:`PAGE` rows.

    The transaction's date, number and text are shown on its first posting only.
    """

    COLUMNS = ("Date", "Txn", "Payee — narration", "Account", "Amount")
    HEADER_TOOLTIPS = {1: "Transaction number", 4: "Positive: debit; negative: credit"}
    PAGE = 256
    #: Pages kept in memory (the rest are read again when scrolled back to).
    CACHED_PAGES = 64

    def __init__(self, ledger: LedgerRepo, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ledger = ledger
        self._ids: list[int] = []
        self._pages: OrderedDict[int, list[RegisterRow]] = OrderedDict()

    def load(
        self, *, start: date | None = None, end: date | None = None, account: str | None = None
    ) -> None:
        """Show the postings with ``start <= date < end`` on ``account`` (and sub-accounts)."""
        self.beginResetModel()
        self._ids = self.ledger.register_ids(start=start, end=end, account=account)
        self._pages.clear()
        self.endResetModel()

    def row_total(self) -> int:
        return len(self._ids)

    def row_at(self, row: int) -> RegisterRow | None:
        """The posting shown on ``row`` (read with its page if needed)."""
        if not 0 <= row < len(self._ids):
            return None
        page = row // self.PAGE
        rows = self._pages.get(page)
        if rows is None:
            rows = self.ledger.register_rows(self._ids[page * self.PAGE : (page + 1) * self.PAGE])
            self._pages[page] = rows
            while len(self._pages) > self.CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page)
        offset = row - page * self.PAGE
        return rows[offset] if offset < len(rows) else None

    def _first_of_transaction(self, row: int, item: RegisterRow) -> bool:
        if row == 0:
            return True
        before = self.row_at(row - 1)
        return before is None or before.transaction_id != item.transaction_id

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.row_at(index.row())
        if item is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            first = col == 3 or col == 4 or self._first_of_transaction(index.row(), item)
            if not first:
                return ""
            if col == 0:
                return item.date.isoformat()
            if col == 1:
                return f"#{item.transaction_id}"
            if col == 2:
                return " — ".join(t for t in (item.payee, item.narration) if t)
            if col == 3:
                return item.account
            return format_money(item.amount, item.currency)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and item.amount < 0:
            return NEGATIVE
        if role == Qt.ItemDataRole.ToolTipRole and col == 2 and item.bank_line_id is not None:
            return f"Books bank line #{item.bank_line_id}"
        return None


# -- the chart -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChartBar:
    """One month of the chart: income and expenses in minor units of one currency."""

    month: str
    income: int
    expenses: int


class IncomeExpenseChart(QWidget):
    """Income (green) and expenses (red) per month as bars, drawn with QPainter.

    The numbers are also in the table beside it (screen readers read that); the widget's
    accessible description summarises them.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("incomeExpenseChart")
        self.setAccessibleName("Income and expenses per month (chart)")
        self.setMinimumSize(360, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.bars: list[ChartBar] = []
        self.currency = ""

    def set_data(self, bars: Sequence[ChartBar], currency: str) -> None:
        """Show ``bars`` (oldest first) in ``currency``."""
        self.bars = list(bars)
        self.currency = currency
        summary = "; ".join(
            f"{b.month}: income {format_money(b.income, currency)}, "
            f"expenses {format_money(b.expenses, currency)}"
            for b in self.bars
            if b.income or b.expenses
        )
        self.setAccessibleDescription(summary or "no income or expenses")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = QRectF(self.rect()).adjusted(48, 24, -12, -36)
        painter.setPen(pal.color(pal.ColorRole.WindowText))
        if not self.bars or rect.width() <= 0 or rect.height() <= 0:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No income or expenses")
            painter.end()
            return
        top = max(max(b.income, b.expenses) for b in self.bars) or 1
        fm = painter.fontMetrics()
        # legend and scale
        painter.drawText(
            QRectF(rect.left(), 2, rect.width(), 20),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            f"max {format_money(top, self.currency)}",
        )
        legend_x = rect.right() - 170
        for n, (label, color) in enumerate((("Income", INCOME_COLOR), ("Expenses",
                                                                       EXPENSE_COLOR))):
            x = legend_x + n * 85
            painter.fillRect(QRectF(x, 7, 10, 10), color)
            painter.drawText(QRectF(x + 14, 2, 70, 20), Qt.AlignmentFlag.AlignVCenter, label)
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        slot = rect.width() / len(self.bars)
        bar_w = max(2.0, slot * 0.35)
        for i, b in enumerate(self.bars):
            x = rect.left() + i * slot + slot * 0.1
            for j, (value, color) in enumerate(((b.income, INCOME_COLOR),
                                                (b.expenses, EXPENSE_COLOR))):
                h = rect.height() * max(value, 0) / top
                painter.fillRect(QRectF(x + j * bar_w, rect.bottom() - h, bar_w, h), color)
            label = b.month[2:] if slot < fm.horizontalAdvance("2026-05") + 4 else b.month
            painter.drawText(
                QRectF(rect.left() + i * slot, rect.bottom() + 4, slot, 20),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                label,
            )
        painter.end()


def chart_bars(
    totals: Sequence[MonthTotal], months: Sequence[str], currency: str
) -> list[ChartBar]:
    """One bar pair per month of ``months`` (zero where nothing was booked) in ``currency``."""
    by_month = {t.month: t for t in totals if t.currency == currency}
    return [
        ChartBar(m, by_month[m].income if m in by_month else 0,
                 by_month[m].expenses if m in by_month else 0)
        for m in months
    ]


# -- import in a worker thread ---------------------------------------------------------------------
def import_on_own_connection(
    database: Path, paths: Sequence[Path], mapping: CsvMapping | None
) -> list[FileOutcome]:
    """Import statement files in a worker thread, on a connection of that thread."""
    from solodesk.connectors.bank.importer import import_files
    from solodesk.store.db import connect
    from solodesk.store.repos import Store

    store = Store(connect(database))
    try:
        return import_files(list(paths), store.bank, mapping=mapping)
    finally:
        store.close()


def is_csv(path: Path) -> bool:
    """True when ``path`` is neither OFX nor camt.053 (so it needs a CSV mapping)."""
    from solodesk.connectors.bank.importer import detect_format

    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError:
        return False  # the import says why it cannot be read
    return detect_format(head) == "csv"


def outcome_line(o: FileOutcome) -> str:
    """One line per file: what was imported, or why nothing was."""
    if o.error:
        return f"{o.path.name}: nothing imported — {o.error}"
    line = f"{o.path.name}: {o.imported} imported, {o.duplicates} duplicates skipped ({o.format})"
    if o.mismatches:
        line += "; balance check: " + "; ".join(o.mismatches)
    return line


# -- the page ----------------------------------------------------------------------------------
class BooksPage(QWidget):
    """The register, the month's P&L and balance sheet, income vs expenses, unbooked lines.

    Args:
        services: The back end (the store's ledger and bank, the database path).
        tasks: Where the import's task runs.

    Signals:
        message(str, bool): Text for the status bar, and whether it is an error (connect it to
            ``MainWindow.show_message``).
    """

    message = Signal(str, bool)

    def __init__(
        self, services: Services, *, tasks: TaskTracker, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("booksPage")
        self.services = services
        self.tasks = tasks
        self.importing = False
        self._stale = True
        self.report_dialog: QMessageBox | None = None
        self.last_outcomes: list[FileOutcome] = []

        self.import_action = QAction("Import &bank statement…", self)
        self.import_action.setShortcut(QKeySequence(keys.BANK_IMPORT_KEYS))
        self.import_action.setToolTip(
            "Import OFX/QFX, camt.053 or CSV statements "
            f"({keys.native(keys.BANK_IMPORT_KEYS)})"
        )
        self.import_action.triggered.connect(self.choose_import)

        self.month_combo = QComboBox()
        self.month_combo.setObjectName("monthFilter")
        self.month_combo.setAccessibleName("Month")
        self.account_combo = QComboBox()
        self.account_combo.setObjectName("accountFilter")
        self.account_combo.setAccessibleName("Account")
        self.account_combo.setMinimumContentsLength(24)
        month_label = QLabel("&Month:")
        month_label.setBuddy(self.month_combo)
        account_label = QLabel("&Account:")
        account_label.setBuddy(self.account_combo)
        self.unbooked_label = QLabel()
        self.unbooked_label.setObjectName("unbookedLabel")
        self.proposing = False
        self.last_report: PostingReport | None = None
        self.propose_button = QPushButton("Propo&se postings")
        self.propose_button.setObjectName("proposePostings")
        self.propose_button.setToolTip(
            "The bookkeeper proposes a posting for every bank line not yet booked or proposed "
            "(your rules, then your past approvals, then the model); you approve them in the "
            "inbox"
        )
        self.propose_button.clicked.connect(self._on_propose)
        self.propose_progress = QProgressBar()
        self.propose_progress.setObjectName("proposeProgress")
        self.propose_progress.setAccessibleName("Proposing postings")
        self.propose_progress.setMaximumWidth(180)
        self.propose_progress.setFormat("%v of %m lines")
        self.propose_progress.hide()
        filters = QHBoxLayout()
        filters.addWidget(month_label)
        filters.addWidget(self.month_combo)
        filters.addSpacing(12)
        filters.addWidget(account_label)
        filters.addWidget(self.account_combo)
        filters.addStretch(1)
        filters.addWidget(self.unbooked_label)
        filters.addWidget(self.propose_progress)
        filters.addWidget(self.propose_button)

        self.register_model = RegisterModel(services.store.ledger, self)
        self.register_view = QTableView()
        self.register_view.setObjectName("registerView")
        self.register_view.setAccessibleName("Register")
        self.register_view.setModel(self.register_model)
        self.register_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.register_view.setAlternatingRowColors(True)
        self.register_view.setShowGrid(False)
        self.register_view.setWordWrap(False)
        self.register_view.verticalHeader().hide()
        # fixed row heights: the view never measures 100,000 rows
        self.register_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.register_view.verticalHeader().setDefaultSectionSize(
            self.fontMetrics().height() + 6
        )
        header = self.register_view.horizontalHeader()
        for col, width in ((0, 96), (1, 64), (3, 220), (4, 140)):
            header.resizeSection(col, width)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.register_count = QLabel()
        self.register_empty = QLabel()
        self.register_empty.setObjectName("registerEmpty")
        self.register_empty.setWordWrap(True)
        self.register_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.register_empty.setContentsMargins(24, 24, 24, 24)
        self.register_empty.hide()
        self.empty_propose = QPushButton("Propose postings")
        self.empty_propose.setObjectName("emptyProposePostings")
        self.empty_propose.clicked.connect(self._on_propose)
        self.empty_propose.hide()
        register_tab = QWidget()
        rl = QVBoxLayout(register_tab)
        rl.addWidget(self.register_empty)
        rl.addWidget(self.empty_propose, 0, Qt.AlignmentFlag.AlignHCenter)
        rl.addWidget(self.register_view, 1)
        rl.addWidget(self.register_count)

        self.pnl_model = QStandardItemModel(0, 2, self)
        self.pnl_view = self._report_view(self.pnl_model, "Profit and loss")
        self.balance_model = QStandardItemModel(0, 2, self)
        self.balance_view = self._report_view(self.balance_model, "Balance sheet")
        self.pnl_title = QLabel()
        self.balance_title = QLabel()
        reports_tab = QSplitter(Qt.Orientation.Horizontal)
        for title, view in ((self.pnl_title, self.pnl_view),
                            (self.balance_title, self.balance_view)):
            box = QWidget()
            bl = QVBoxLayout(box)
            bl.setContentsMargins(0, 0, 0, 0)
            bl.addWidget(title)
            bl.addWidget(view, 1)
            reports_tab.addWidget(box)

        self.chart = IncomeExpenseChart()
        self.chart_model = QStandardItemModel(self)
        self.chart_table = QTableView()
        self.chart_table.setObjectName("chartTable")
        self.chart_table.setAccessibleName("Income and expenses per month (table)")
        self.chart_table.setModel(self.chart_model)
        self.chart_table.verticalHeader().hide()
        self.chart_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chart_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.chart_table.setMinimumWidth(420)
        self.currency_combo = QComboBox()
        self.currency_combo.setObjectName("chartCurrency")
        self.currency_combo.setAccessibleName("Currency of the chart")
        currency_label = QLabel("C&urrency:")
        currency_label.setBuddy(self.currency_combo)
        chart_tab = QWidget()
        cl = QVBoxLayout(chart_tab)
        top = QHBoxLayout()
        top.addWidget(QLabel("Income vs expenses, last 12 months"))
        top.addStretch(1)
        top.addWidget(currency_label)
        top.addWidget(self.currency_combo)
        cl.addLayout(top)
        chart_split = QSplitter(Qt.Orientation.Horizontal)
        chart_split.addWidget(self.chart)
        chart_split.addWidget(self.chart_table)
        chart_split.setStretchFactor(0, 3)
        chart_split.setStretchFactor(1, 2)
        chart_split.setSizes([640, 460])
        cl.addWidget(chart_split, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("booksTabs")
        self.tabs.addTab(register_tab, "&Register")
        self.tabs.addTab(reports_tab, "Re&ports")
        self.tabs.addTab(chart_tab, "&Income vs expenses")

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.tabs, 1)

        self.month_combo.currentIndexChanged.connect(lambda _i: self.reload())
        self.account_combo.currentIndexChanged.connect(lambda _i: self.reload_register())
        self.currency_combo.currentIndexChanged.connect(lambda _i: self.reload_chart())

    @staticmethod
    def _report_view(model: QStandardItemModel, name: str) -> QTreeView:
        view = QTreeView()
        view.setAccessibleName(name)
        view.setModel(model)
        view.setRootIsDecorated(False)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setUniformRowHeights(True)
        header = view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        return view

    # -- reading -------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def mark_stale(self, *_event: object) -> None:
        """The ledger or the bank lines changed: re-read now if shown, else when next shown."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def focus_first(self) -> None:
        """Give the keyboard to the register."""
        self.register_view.setFocus()

    def today(self) -> date:
        """Today (UTC); tests may replace it."""
        return datetime.now(UTC).date()

    def refresh(self) -> None:
        """Re-read the filters' choices and everything shown, keeping the choices made."""
        self._stale = False
        ledger = self.services.store.ledger
        month, account = self.month(), self.account()
        totals = ledger.monthly_totals()
        months = sorted({t.month for t in totals} | {_month_text(self.today())}, reverse=True)
        self.month_combo.blockSignals(True)
        self.month_combo.clear()
        self.month_combo.addItem("All months", ALL)
        for m in months:
            self.month_combo.addItem(m, m)
        index = self.month_combo.findData(month) if month is not None else -1
        self.month_combo.setCurrentIndex(index if index >= 0 else 0)
        self.month_combo.blockSignals(False)
        self.account_combo.blockSignals(True)
        self.account_combo.clear()
        self.account_combo.addItem("All accounts", ALL)
        for a in ledger.accounts():
            self.account_combo.addItem(a.name, a.name)
        index = self.account_combo.findData(account) if account else 0
        self.account_combo.setCurrentIndex(max(index, 0))
        self.account_combo.blockSignals(False)
        currency = self.currency_combo.currentText()
        currencies = sorted({t.currency for t in totals})
        self.currency_combo.blockSignals(True)
        self.currency_combo.clear()
        self.currency_combo.addItems(currencies)
        if currency in currencies:
            self.currency_combo.setCurrentText(currency)
        self.currency_combo.blockSignals(False)
        self.reload()

    def month(self) -> str | None:
        """The chosen month (``YYYY-MM``), or None for every month."""
        data = self.month_combo.currentData()
        return data or None

    def account(self) -> str | None:
        """The chosen account, or None for every account."""
        data = self.account_combo.currentData()
        return data or None

    def set_filter(self, *, month: str | None = None, account: str | None = None) -> None:
        """Choose the month (None: all) and the account (None: all), as the combos do."""
        self.month_combo.setCurrentIndex(max(self.month_combo.findData(month or ALL), 0))
        self.account_combo.setCurrentIndex(max(self.account_combo.findData(account or ALL), 0))

    def _bounds(self) -> tuple[date | None, date | None]:
        month = self.month()
        return month_bounds(month) if month else (None, None)

    def reload(self) -> None:
        """Re-read the register, the reports, the chart and the unbooked count."""
        self.reload_register()
        self.reload_reports()
        self.reload_chart()
        n = self.services.store.bank.count_unbooked()
        self.unbooked_label.setText(
            f"{n} bank line{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} "
            "for the bookkeeper" if n else "Every bank line is booked"
        )
        self.propose_button.setVisible(bool(n))
        self.propose_button.setEnabled(not self.proposing)
        empty = self.register_model.rowCount() == 0 and self.month() is None and (
            self.account() is None)
        if empty:
            self.register_empty.setText(
                f"Nothing is booked yet. {n} imported bank line{'s' if n != 1 else ''} "
                f"wait{'s' if n == 1 else ''} for the bookkeeper: it proposes a posting for "
                "each (your rules first, then your past approvals, then the model) and you "
                "approve them in the inbox." if n else
                "Nothing is booked yet. Import a bank statement (File → Import bank "
                f"statement…, {keys.native(keys.BANK_IMPORT_KEYS)}) and the bookkeeper will "
                "propose its postings."
            )
        self.register_empty.setVisible(empty)
        self.empty_propose.setVisible(empty and bool(n))
        self.empty_propose.setEnabled(not self.proposing)

    def reload_register(self) -> None:
        """Re-read the register with the filters chosen."""
        start, end = self._bounds()
        self.register_model.load(start=start, end=end, account=self.account())
        n = self.register_model.rowCount()
        self.register_count.setText(f"{n:,} posting{'s' if n != 1 else ''}")

    def reload_reports(self) -> None:
        """The month's profit and loss and the balance sheet at its end (per currency)."""
        ledger = self.services.store.ledger
        start, end = self._bounds()
        month = self.month()
        pnl = profit_and_loss(ledger.balances(start=start, end=end))
        sheets = balance_sheet(ledger.balances(end=end))
        at = (end - timedelta(days=1)) if end is not None else self.today()
        self.pnl_title.setText(f"Profit and loss — {month or 'all months'}")
        self.balance_title.setText(f"Balance sheet at {at.isoformat()}")
        rows: list[tuple[str, str, bool]] = []
        for r in pnl:
            c = r.currency
            rows.append((f"Income ({c})", "", True))
            rows += [(f"  {x.account}", format_money(x.amount, c), False) for x in r.income]
            rows.append(("Total income", format_money(r.total_income, c), True))
            rows.append((f"Expenses ({c})", "", True))
            rows += [(f"  {x.account}", format_money(x.amount, c), False) for x in r.expenses]
            rows.append(("Total expenses", format_money(r.total_expenses, c), True))
            rows.append(("Net profit" if r.net >= 0 else "Net loss",
                         format_money(r.net, c), True))
        self._fill(self.pnl_model, rows, "No income or expenses booked in this period")
        rows = []
        for s in sheets:
            c = s.currency
            for title, lines, total in (
                ("Assets", s.assets, s.total_assets),
                ("Liabilities", s.liabilities, s.total_liabilities),
            ):
                rows.append((f"{title} ({c})", "", True))
                rows += [(f"  {x.account}", format_money(x.amount, c), False) for x in lines]
                rows.append((f"Total {title.lower()}", format_money(total, c), True))
            rows.append((f"Equity ({c})", "", True))
            rows += [(f"  {x.account}", format_money(x.amount, c), False) for x in s.equity]
            rows.append(("  Current earnings", format_money(s.earnings, c), False))
            rows.append(("Total equity", format_money(s.total_equity, c), True))
        self._fill(self.balance_model, rows, "Nothing booked yet")

    @staticmethod
    def _fill(model: QStandardItemModel, rows: list[tuple[str, str, bool]], empty: str) -> None:
        model.setRowCount(0)  # (clear() would drop the header's resize modes too)
        model.setHorizontalHeaderLabels(["Account", "Amount"])
        if not rows:
            rows = [(empty, "", False)]
        for label, amount, bold in rows:
            a, b = QStandardItem(label), QStandardItem(amount)
            b.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if bold:
                for item in (a, b):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
            model.appendRow([a, b])

    def report_text(self) -> tuple[list[str], list[str]]:
        """The P&L and balance sheet rows as ``label: amount`` lines (tests read them)."""

        def lines(model: QStandardItemModel) -> list[str]:
            return [
                f"{model.item(r, 0).text().strip()}: {model.item(r, 1).text()}".rstrip(": ")
                for r in range(model.rowCount())
            ]

        return lines(self.pnl_model), lines(self.balance_model)

    def reload_chart(self) -> None:
        """Income vs expenses for the last 12 months up to the chosen month (or today)."""
        month = self.month()
        last = month_bounds(month)[0] if month else self.today()
        months = last_months(last)
        start = month_bounds(months[0])[0]
        end = month_bounds(months[-1])[1]
        totals = self.services.store.ledger.monthly_totals(start=start, end=end)
        currency = self.currency_combo.currentText()
        bars = chart_bars(totals, months, currency) if currency else []
        self.chart.set_data(bars, currency)
        self.chart_model.setRowCount(0)
        self.chart_model.setHorizontalHeaderLabels(["Month", "Income", "Expenses", "Net"])
        for b in bars:
            cells = [QStandardItem(b.month)] + [
                QStandardItem(format_money(v, currency))
                for v in (b.income, b.expenses, b.income - b.expenses)
            ]
            for cell in cells[1:]:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.chart_model.appendRow(cells)

    # -- import --------------------------------------------------------------------------------
    def choose_import(self) -> QFileDialog:
        """Open a (window-modal, non-blocking) file dialog; the import starts when accepted."""
        dialog = QFileDialog(self.window(), "Import bank statements")
        dialog.setObjectName("bankImportDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters([
            "Bank statements (*.ofx *.qfx *.xml *.csv *.txt)",
            "OFX/QFX (*.ofx *.qfx)",
            "camt.053 (*.xml)",
            "CSV (*.csv *.txt)",
            "All files (*)",
        ])
        dialog.filesSelected.connect(self._on_files_selected)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot("Proposing postings")
    async def _on_propose(self) -> None:
        await self.propose_postings()

    async def propose_postings(self) -> PostingReport | None:
        """Run the bookkeeper over the bank lines not yet booked or proposed (of the chosen
        month), with a progress bar; the outcome goes to the status bar.

        Returns:
            The bookkeeper's report, or None if nothing ran (already running, or it failed:
            the status bar says why).
        """
        from solodesk.agents.bookkeeper import bookkeeper_for

        if self.proposing:
            self.message.emit("The bookkeeper is already proposing postings", False)
            return None
        start, end = self._bounds()
        self.proposing = True
        for button in (self.propose_button, self.empty_propose):
            button.setEnabled(False)
        self.propose_progress.setRange(0, 0)  # busy until the first line is done
        self.propose_progress.show()
        self.message.emit("The bookkeeper is proposing postings…", False)

        def progress(done: int, total: int, what: str) -> None:
            self.propose_progress.setRange(0, total)
            self.propose_progress.setValue(done)
            self.propose_progress.setToolTip(what)

        try:
            report = await bookkeeper_for(self.services.runner).propose_postings(
                start=start, end=end, progress=progress
            )
        except Exception as exc:
            log.exception("proposing postings failed")
            self.message.emit(f"Proposing postings failed: {type(exc).__name__}: {exc}", True)
            return None
        finally:
            self.proposing = False
            self.propose_progress.hide()
            for button in (self.propose_button, self.empty_propose):
                button.setEnabled(True)
        self.last_report = report
        counts = {s: report.count(s) for s in ("proposed", "refused", "skipped", "failed")}
        deciders: dict[str, int] = {}
        for o in report.outcomes:
            if o.status == "proposed":
                key = "rule" if o.decided_by.startswith("rule") else o.decided_by
                deciders[key] = deciders.get(key, 0) + 1
        who = ", ".join(f"{n} by {k}" for k, n in sorted(deciders.items()))
        text = f"Bookkeeper: {counts['proposed']} posting(s) proposed" + (
            f" ({who})" if who else "") + " — review them in the inbox"
        for status in ("refused", "skipped", "failed"):
            if counts[status]:
                text += f"; {counts[status]} {status}"
        failed = [o for o in report.outcomes if o.status == "failed"]
        if failed:
            text += f" ({failed[0].reason})"
        self.message.emit(text, bool(failed))
        self.mark_stale()
        return report

    @async_slot("Bank import")
    async def _on_files_selected(self, files: list[str]) -> None:
        await self.import_statements([Path(f) for f in files])

    async def ask_mapping(self, csv_files: Sequence[Path]) -> CsvMapping | None:
        """Ask which saved CSV mapping reads ``csv_files`` (None: cancelled or none saved)."""
        mappings = self.services.store.bank.mappings()
        names = ", ".join(p.name for p in csv_files)
        if not mappings:
            self.message.emit(
                f"{names}: CSV needs a saved column mapping — save one with "
                "'solodesk bank mappings add NAME ...'; nothing imported from these files",
                True,
            )
            return None
        dialog = QInputDialog(self.window())
        dialog.setObjectName("csvMappingDialog")
        dialog.setWindowTitle("CSV mapping")
        dialog.setLabelText(f"Which saved mapping reads {names}?")
        dialog.setComboBoxItems([m.name for m in mappings])
        dialog.setComboBoxEditable(False)
        result = await await_dialog(dialog)
        chosen = dialog.textValue()
        dialog.deleteLater()
        if result != QInputDialog.DialogCode.Accepted.value:
            self.message.emit("Bank import cancelled: no CSV mapping chosen", False)
            return None
        return next((m for m in mappings if m.name == chosen), None)

    async def import_statements(self, paths: Sequence[Path]) -> list[FileOutcome] | None:
        """Import statement files in a worker thread; per-file results in the status bar, the
        problems (file and place) in a details dialog.

        CSV files are read with a saved mapping the founder picks; without one they are left
        out (and said so).

        Returns:
            One outcome per file imported or refused, or None if nothing ran.
        """
        from solodesk.ui.main_window import _in_background_thread

        if self.importing:
            self.message.emit("A bank import is already running", False)
            return None
        paths = list(paths)
        if not paths:
            return None
        csv_files = [p for p in paths if is_csv(p)]
        mapping = None
        if csv_files:
            mapping = await self.ask_mapping(csv_files)
            if mapping is None:
                paths = [p for p in paths if p not in csv_files]
                if not paths:
                    return None
        self.importing = True
        self.import_action.setEnabled(False)
        self.message.emit(f"Importing {len(paths)} bank statement file(s)…", False)
        try:
            outcomes = await _in_background_thread(
                import_on_own_connection, self.services.paths.database, paths, mapping,
                name="bank-import",
            )
        except Exception as exc:
            log.exception("bank import failed")
            self.message.emit(f"Bank import failed: {type(exc).__name__}: {exc}", True)
            return None
        finally:
            self.importing = False
            self.import_action.setEnabled(True)
        self.last_outcomes = outcomes
        lines = [outcome_line(o) for o in outcomes]
        for line in lines:
            log.info("bank import: %s", line)
        failed = [o for o in outcomes if o.error]
        warned = [o for o in outcomes if o.mismatches]
        imported = sum(o.imported for o in outcomes)
        summary = f"Bank import: {imported} line(s) imported" + (
            f", {len(failed)} file(s) refused" if failed else ""
        )
        self.message.emit(summary + " — " + "; ".join(lines), bool(failed))
        if failed or warned:
            self.show_problems(outcomes)
        self.mark_stale()
        return outcomes

    def show_problems(self, outcomes: Sequence[FileOutcome]) -> QMessageBox:
        """A (non-blocking) dialog with each file's outcome; the details name file and place."""
        failed = [o for o in outcomes if o.error]
        box = QMessageBox(self.window())
        box.setObjectName("bankImportProblems")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Bank import")
        box.setText(
            f"{len(failed)} of {len(outcomes)} file(s) were not imported (nothing of them was "
            "stored); fix them and import again." if failed
            else "The files were imported, but a balance check did not match."
        )
        box.setInformativeText("\n".join(outcome_line(o) for o in outcomes))
        box.setDetailedText("\n\n".join(
            f"{o.path}\n  {o.error or '; '.join(o.mismatches) or 'imported'}" for o in outcomes
        ))
        box.finished.connect(box.deleteLater)
        box.open()
        self.report_dialog = box
        return box

