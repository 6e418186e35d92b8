"""The audit trail: every entry of the hash-chained audit log, newest first.

The table is a model over :meth:`AuditLog.entries <solodesk.store.repos.AuditLog.entries>`;
selecting an entry shows its full detail and hashes. *Verify chain* recomputes every hash
(:func:`~solodesk.core.audit.verify_chain`) and lists the problems in red. *Export…* writes the
same columns as ``solodesk audit export`` (CSV with a header row, or JSON Lines).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.audit import write_entries
from solodesk.store.repos import Store
from solodesk.ui.inbox_model import parse_utc
from solodesk.ui.table_model import Index, ReadOnlyTableModel

log = logging.getLogger(__name__)

Entry = Mapping[str, Any]

ERROR_STYLE = "QLabel { color: #b3261e; font-weight: bold; }"
OK_STYLE = "QLabel { color: #1b6e35; font-weight: bold; }"

CSV_FILTER = "CSV (*.csv)"
JSONL_FILTER = "JSON Lines (*.jsonl)"

#: Longest detail summary shown in the table (characters).
SUMMARY_CHARS = 160


def _short(value: Any) -> str:
    if isinstance(value, str):
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return value[:12] + "…"  # a sha256
        text = value.replace("\n", " ⏎ ")
        return text if len(text) <= 60 else text[:59] + "…"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 60 else text[:59] + "…"


def detail_summary(detail: str) -> str:
    """A one-line summary of an entry's JSON detail (``key: value, …``, long values cut)."""
    try:
        data = json.loads(detail or "{}")
    except ValueError:
        data = detail
    if isinstance(data, dict):
        shown = {k: v for k, v in data.items() if v not in (None, "", [], {})}
        text = ", ".join(f"{k}: {_short(v)}" for k, v in shown.items())
    else:
        text = _short(data)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def local_stamp(ts: str) -> str:
    """A store UTC timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    when = parse_utc(ts)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else ts


def write_audit(entries: Sequence[Entry], path: Path, fmt: str) -> int:
    """Write ``entries`` to ``path`` as ``csv`` or ``jsonl`` (see ``core.audit.write_entries``).

    Raises:
        ValueError: unknown format.
        OSError: the file cannot be written.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    with path.open("w", encoding="utf-8", newline="") as out:
        return write_entries(entries, out, fmt)


class AuditModel(ReadOnlyTableModel):
    """Audit entries, newest first."""

    COLUMNS = ("Time", "Event", "Action", "Actor", "Detail")

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._entries: list[Entry] = []
        self.reload()

    def reload(self) -> None:
        """Re-read the log."""
        self.beginResetModel()
        self._entries = list(reversed(self.store.audit.entries()))
        self.endResetModel()

    def entry(self, row: int) -> Entry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def entries_in_order(self) -> list[Entry]:
        """The entries oldest first (as the chain and the export have them)."""
        return list(reversed(self._entries))

    def row_total(self) -> int:
        return len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.entry(index.row())
        if e is None or index.column() >= len(self.COLUMNS):
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return local_stamp(str(e["ts"]))
            if col == 1:
                return str(e["event"])
            if col == 2:
                return f"#{e['action_id']}" if e["action_id"] is not None else ""
            if col == 3:
                return str(e["actor"])
            return detail_summary(str(e["detail"]))
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return f"{e['ts']} (UTC), entry {e['id']}"
            if col == 4:
                return detail_summary(str(e["detail"]))
        return None


class AuditDialog(QDialog):
    """The audit trail with Verify chain and Export…."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("auditDialog")
        self.setWindowTitle("Audit trail")
        self.model = AuditModel(store, self)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for col in range(4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)

        self.detail_view = QPlainTextEdit()
        self.detail_view.setObjectName("auditDetail")
        self.detail_view.setReadOnly(True)
        self.detail_view.setPlaceholderText("Select an entry to see its full detail")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)

        self.count_label = QLabel()
        self.verify_label = QLabel()
        self.verify_label.setObjectName("verifyResult")
        self.verify_label.setWordWrap(True)
        self.verify_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verify_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verify_button = QPushButton("&Verify chain")
        self.verify_button.setToolTip("Recompute every entry's hash and check the chain")
        self.verify_button.clicked.connect(self.verify)
        self.export_button = QPushButton("&Export…")
        self.export_button.setToolTip("Write the trail as CSV or JSON Lines (the CLI's columns)")
        self.export_button.clicked.connect(self.choose_export)
        self.reload_button = QPushButton("Re&load")
        self.reload_button.clicked.connect(self.reload)
        for button in (self.verify_button, self.export_button, self.reload_button):
            button.setAutoDefault(False)

        row = QHBoxLayout()
        row.addWidget(self.count_label)
        row.addStretch(1)
        row.addWidget(self.reload_button)
        row.addWidget(self.verify_button)
        row.addWidget(self.export_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.verify_label)
        layout.addWidget(splitter, 1)
        layout.addWidget(close)
        self.resize(980, 680)
        self._update_count()
        self.verify_label.hide()
        if self.model.rowCount():
            self.table.selectRow(0)

    def reload(self) -> None:
        """Re-read the log (the verification result is cleared)."""
        self.model.reload()
        self._update_count()
        self.verify_label.hide()
        if self.model.rowCount():
            self.table.selectRow(0)

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n} entr{'y' if n == 1 else 'ies'}, newest first")

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        e = self.model.entry(current.row()) if current.isValid() else None
        if e is None:
            self.detail_view.clear()
            return
        try:
            detail = json.dumps(json.loads(str(e["detail"])), indent=2, ensure_ascii=False)
        except ValueError:
            detail = str(e["detail"])
        action = f"#{e['action_id']}" if e["action_id"] is not None else "—"
        self.detail_view.setPlainText(
            f"entry {e['id']}  ·  {e['ts']} (UTC)  ·  {local_stamp(str(e['ts']))} local\n"
            f"event: {e['event']}\naction: {action}\nactor: {e['actor']}\n"
            f"prev_sha256: {e['prev_sha256']}\nsha256:      {e['sha256']}\n\n"
            f"detail:\n{detail}"
        )

    def verify(self) -> list[str]:
        """Check the whole chain and show the result.

        Returns:
            The problems (empty when intact).
        """
        problems = self.store.audit.verify()
        count = len(self.store.audit.entries())
        if problems:
            self.verify_label.setText(
                f"✖ Audit chain BROKEN: {len(problems)} problem(s) in {count} entries\n"
                + "\n".join(problems[:20])
                + (f"\n… and {len(problems) - 20} more" if len(problems) > 20 else "")
            )
            self.verify_label.setStyleSheet(ERROR_STYLE)
        else:
            self.verify_label.setText(f"✔ Audit chain intact: {count} entries")
            self.verify_label.setStyleSheet(OK_STYLE)
        self.verify_label.show()
        return problems

    def choose_export(self) -> QFileDialog:
        """Open a (window-modal, non-blocking) save dialog; the export runs when accepted."""
        dialog = QFileDialog(self, "Export audit trail")
        dialog.setObjectName("auditExportDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters([CSV_FILTER, JSONL_FILTER])
        dialog.setDefaultSuffix("csv")
        dialog.selectFile("solodesk-audit.csv")

        def filter_chosen(name: str) -> None:
            dialog.setDefaultSuffix("jsonl" if name == JSONL_FILTER else "csv")

        def chosen(path: str) -> None:
            fmt = "jsonl" if dialog.selectedNameFilter() == JSONL_FILTER else "csv"
            if path.lower().endswith(".jsonl"):
                fmt = "jsonl"
            elif path.lower().endswith(".csv"):
                fmt = "csv"
            self.export(Path(path), fmt)

        dialog.filterSelected.connect(filter_chosen)
        dialog.fileSelected.connect(chosen)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def export(self, path: Path, fmt: str) -> int | None:
        """Write the trail to ``path`` as ``csv`` or ``jsonl``.

        Returns:
            The number of entries written, or None if it failed (shown in the dialog).
        """
        try:
            n = write_audit(self.store.audit.entries(), path, fmt)
        except (OSError, ValueError) as exc:
            log.warning("audit export to %s failed: %s", path, exc)
            self.verify_label.setText(f"Export failed: {exc}")
            self.verify_label.setStyleSheet(ERROR_STYLE)
            self.verify_label.show()
            return None
        self.verify_label.setText(f"Exported {n} entries to {path} ({fmt.upper()})")
        self.verify_label.setStyleSheet(OK_STYLE)
        self.verify_label.show()
        return n
