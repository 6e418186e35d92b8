"""The Invoices page: issued invoices and credit notes with their payment status, the details of
one (lines and totals), its PDF (open or save), and the customer list.

Read through :class:`~solodesk.store.invoices.InvoiceRepo` and
:class:`~solodesk.store.invoices.CustomerRepo` (no SQL here). Issued invoices are never changed
here: they are issued by approving a ``create_invoice`` proposal and cancelled by a credit note.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QShowEvent,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from solodesk.ui.table_model import Index, ReadOnlyTableModel

if TYPE_CHECKING:
    from solodesk.core.invoice import IssuedInvoice
    from solodesk.core.matching import InvoiceState
    from solodesk.services import Services

log = logging.getLogger(__name__)

ERROR_BRUSH = QBrush(QColor("#b3261e"))


def status_text(invoice: IssuedInvoice, state: InvoiceState | None, today: date) -> str:
    """``open``, ``partly paid``, ``paid``, ``cancelled``, ``overdue N d`` or ``credit note``."""
    if state is None:
        return "credit note"
    if state.is_overdue(today) and state.due_date is not None:
        return f"overdue {(today - state.due_date).days} d"
    return state.status.value


class InvoicesModel(ReadOnlyTableModel):
    """Invoices and credit notes by number, with their status."""

    COLUMNS = ("Number", "Customer", "Date", "Due", "Total", "Status")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[IssuedInvoice, InvoiceState | None, str]] = []

    def set_rows(self, rows: list[tuple[IssuedInvoice, InvoiceState | None, str]]) -> None:
        """``(invoice, payment state or None for a credit note, status text)`` per row."""
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        inv, _state, status = self.rows[index.row()]
        col = index.column()
        d = inv.draft
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                inv.number,
                d.customer.name,
                d.issue_date.isoformat(),
                d.due_date.isoformat() if d.due_date else "—",
                inv.money(inv.totals.grand_total),
                status,
            )[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == 5 and status.startswith("overdue"):
            return ERROR_BRUSH
        return None


def _table(name: str, model: Any, stretch: int) -> QTableView:
    view = QTableView()
    view.setAccessibleName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


class InvoicesPage(QWidget):
    """The invoice list, one invoice's details and PDF, and the customers.

    Args:
        services: The back end (the store's invoices and customers).

    Signals:
        message(str, bool): Text for the status bar, and whether it is an error.
    """

    message = Signal(str, bool)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("invoicesPage")
        self.services = services
        # PDFs opened in the viewer are written here; removed when the page is collected or
        # the application exits.
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        #: Opens a URL (the desktop's PDF viewer for a file); tests replace it.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl

        self.model = InvoicesModel(self)
        self.view = _table("Invoices", self.model, 1)
        self.view.setObjectName("invoicesView")
        self.view.selectionModel().currentRowChanged.connect(lambda _c, _p: self.show_details())
        self.view.activated.connect(lambda _i: self.open_pdf())

        self.title = QLabel()
        self.title.setObjectName("invoiceTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.parties = QLabel()
        self.parties.setTextFormat(Qt.TextFormat.PlainText)
        self.parties.setWordWrap(True)
        self.parties.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lines_model = QStandardItemModel(0, 5, self)
        self.lines_model.setHorizontalHeaderLabels(
            ["Description", "Quantity", "Unit price", "VAT", "Net"]
        )
        self.lines_view = _table("Invoice lines", self.lines_model, 0)
        self.totals = QLabel()
        self.totals.setObjectName("invoiceTotals")
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.totals.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.open_button = QPushButton("&Open PDF")
        self.open_button.setToolTip("Open the PDF/A-3 in the desktop's viewer (or press Enter "
                                    "in the list)")
        self.open_button.clicked.connect(self.open_pdf)
        self.save_button = QPushButton("Save PDF &as…")
        self.save_button.clicked.connect(self.choose_save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        details = QWidget()
        dl = QVBoxLayout(details)
        dl.addWidget(self.title)
        dl.addWidget(self.parties)
        dl.addWidget(self.lines_view, 1)
        dl.addWidget(self.totals)
        dl.addLayout(buttons)
        self.empty_label = QLabel(
            "No invoices yet: ask the manager in the chat to invoice a customer; an invoice is "
            "issued when you approve its create_invoice proposal."
        )
        self.empty_label.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.view, 1)
        ll.addWidget(self.empty_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(details)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)

        self.customers_model = QStandardItemModel(0, 5, self)
        self.customers_model.setHorizontalHeaderLabels(
            ["Name", "Address", "VAT id", "E-mail", "From"]
        )
        self.customers_view = _table("Customers", self.customers_model, 1)
        self.customers_view.setObjectName("customersView")

        self.tabs = QTabWidget()
        self.tabs.addTab(split, "In&voices")
        self.tabs.addTab(self.customers_view, "&Customers")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.show_details()

    def today(self) -> date:
        """Today (UTC); tests may replace it."""
        return datetime.now(UTC).date()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def focus_first(self) -> None:
        """Give the keyboard to the invoice list."""
        self.view.setFocus()

    def refresh(self) -> None:
        """Re-read the invoices (keeping the selection) and the customers."""
        store = self.services.store
        selected = self.selected()
        states = {s.invoice_id: s for s in store.invoices.states()}
        today = self.today()
        rows = []
        for inv in store.invoices.all():
            state = states.get(inv.id)
            rows.append((inv, state, status_text(inv, state, today)))
        self.model.set_rows(rows)
        self.empty_label.setVisible(not rows)
        if rows:
            numbers = [r[0].number for r in rows]
            keep = selected.number if selected is not None else None
            self.select(keep if keep in numbers else numbers[-1])
        self.show_details()
        self.customers_model.setRowCount(0)
        for c in store.customers.all():
            cu = c.customer
            self.customers_model.appendRow([
                QStandardItem(cu.name),
                QStandardItem(", ".join(cu.address.lines())),
                QStandardItem(cu.vat_id),
                QStandardItem(cu.email),
                QStandardItem("entered" if c.source == "manual" else "an invoice"),
            ])

    def selected(self) -> IssuedInvoice | None:
        """The selected invoice, or None."""
        row = self.view.currentIndex().row()
        return self.model.rows[row][0] if 0 <= row < len(self.model.rows) else None

    def select(self, number: str) -> bool:
        """Select the invoice ``number``; False if there is none."""
        for row, (inv, *_rest) in enumerate(self.model.rows):
            if inv.number == number:
                self.view.setCurrentIndex(self.model.index(row, 0))
                return True
        return False

    def show_details(self) -> None:
        """Show the selected invoice's parties, lines and totals."""
        inv = self.selected()
        self.lines_model.setRowCount(0)
        self.open_button.setEnabled(inv is not None)
        self.save_button.setEnabled(inv is not None)
        if inv is None:
            self.title.setText("No invoice selected")
            self.parties.setText("")
            self.totals.setText("")
            return
        from solodesk.core.invoice import format_decimal

        d, t = inv.draft, inv.totals
        status = next((s for i, _st, s in self.model.rows if i.id == inv.id), "")
        self.title.setText(f"{inv.type_name} {inv.number} — {status}")
        due = f", due {d.due_date.isoformat()}" if d.due_date else ""
        refers = f"\nCancels invoice {d.preceding_invoice}" if d.preceding_invoice else ""
        self.parties.setText(
            f"To: {d.customer.name}, {', '.join(d.customer.address.lines())}"
            + (f" (VAT {d.customer.vat_id})" if d.customer.vat_id else "")
            + f"\nFrom: {d.seller.name}\nDated {d.issue_date.isoformat()}{due}"
            + (f"\n{d.payment_terms}" if d.payment_terms else "")
            + f"\nPayment reference: {inv.creditor_reference}{refers}"
        )
        for line, net in zip(d.lines, t.line_nets, strict=True):
            cells = [
                QStandardItem(line.description),
                QStandardItem(format_decimal(line.quantity)),
                QStandardItem(inv.money(line.unit_price)),
                QStandardItem(f"{format_decimal(line.vat_rate)} %"),
                QStandardItem(inv.money(net)),
            ]
            for cell in cells[1:]:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.lines_model.appendRow(cells)
        for col in range(1, 5):
            self.lines_view.resizeColumnToContents(col)
        vat = "\n".join(
            f"VAT {format_decimal(b.rate)} % on {inv.money(b.taxable)}: {inv.money(b.tax)}"
            for b in t.breakdown
        )
        self.totals.setText(
            f"Net total {inv.money(t.tax_basis_total)}\n{vat}\n"
            f"Total {inv.money(t.grand_total)}\nDue {inv.money(t.due_payable)}"
        )

    # -- the PDF --------------------------------------------------------------------------------
    def _pdf(self, inv: IssuedInvoice) -> bytes | None:
        try:
            pdf = self.services.store.invoices.pdf(inv)
        except Exception as exc:  # a corrupt blob: say so, do not open anything
            log.exception("reading the PDF of %s failed", inv.number)
            self.message.emit(f"The PDF of {inv.number} cannot be read: {exc}", True)
            return None
        if pdf is None:
            self.message.emit(
                f"{inv.number} has no PDF stored yet; write one with "
                f"'solodesk invoices pdf {inv.number} -o FILE'",
                True,
            )
        return pdf

    def open_pdf(self) -> Path | None:
        """Write the selected invoice's PDF to a temporary file and open it in the desktop's
        viewer.

        Returns:
            The temporary file, or None if there was nothing to open.
        """
        inv = self.selected()
        if inv is None:
            return None
        pdf = self._pdf(inv)
        if pdf is None:
            return None
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="solodesk-invoices-")
        path = Path(self._tmp.name) / f"{inv.number}.pdf"
        path.write_bytes(pdf)
        if not self.open_url(QUrl.fromLocalFile(str(path))):
            self.message.emit(
                f"No PDF viewer opened {path}; open it yourself or use Save PDF as…", True
            )
        else:
            self.message.emit(f"Opened {inv.number}.pdf", False)
        return path

    def choose_save(self) -> QFileDialog | None:
        """Ask where to save the selected invoice's PDF (non-blocking)."""
        inv = self.selected()
        if inv is None:
            return None
        dialog = QFileDialog(self.window(), f"Save {inv.number}.pdf")
        dialog.setObjectName("savePdfDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("pdf")
        dialog.setNameFilters(["PDF (*.pdf)"])
        dialog.selectFile(f"{inv.number}.pdf")
        dialog.fileSelected.connect(lambda f: self.save_pdf(Path(f)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def save_pdf(self, path: Path) -> bool:
        """Write the selected invoice's PDF to ``path``; False (and why) if it could not."""
        inv = self.selected()
        if inv is None:
            return False
        pdf = self._pdf(inv)
        if pdf is None:
            return False
        try:
            path.write_bytes(pdf)
        except OSError as exc:
            self.message.emit(f"{path}: not saved: {exc.strerror or exc}", True)
            return False
        self.message.emit(f"Saved {inv.number} as {path} ({len(pdf):,} bytes)", False)
        return True
