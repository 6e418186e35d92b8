"""The Memory page: the business profile every agent sees, and the facts they remember.

Left, the business profile as a form (company, offering one item per line as ``NAME: PRICE
CURRENCY[/UNIT]``, customer notes one per line, tone, signature, availability for meetings in
the founder's time zone). Save (Ctrl+S) validates the whole form (``core.profile``): an error
names the field and the place, the form keeps what was typed and the stored profile stays.
Revert puts the stored profile back in the form.

Right, the remembered facts, newest first, with a full-text search box (Ctrl+F), "Show
forgotten", Add fact (the founder's own word: stored at once) and Forget (Delete; the fact
stays in the store, marked forgotten). Facts from mail are marked untrusted. Agents add facts
only through ``remember_fact`` proposals in the inbox. No SQL here: the store's
``profile``/``facts`` repos.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.memory import Fact, FactError
from solodesk.core.profile import FIELDS, ProfileError, field_text, profile_from_texts
from solodesk.ui.table_model import Index, ReadOnlyTableModel

if TYPE_CHECKING:
    from solodesk.services import Services

log = logging.getLogger(__name__)

ERROR_STYLE = "QLabel { color: #b3261e; }"
UNTRUSTED_BRUSH = QBrush(QColor("#b3261e"))
FORGOTTEN_BRUSH = QBrush(QColor("#8a8a8a"))
SAVE_KEYS = "Ctrl+S"
SEARCH_KEYS = "Ctrl+F"

#: Label, placeholder and height in lines of each profile field.
FIELD_FORM: dict[str, tuple[str, str, int]] = {
    "company": ("&Company", "What the company does, in a sentence or two", 3),
    "offering": ("&Offering", "One per line: Website audit: 900 EUR\n"
                 "Consulting: 120.00 EUR/hour", 4),
    "customers": ("C&ustomers", "One note per line: Acme GmbH: pays in 30 days", 4),
    "tone": ("&Tone of voice", "e.g. Warm, brief, no jargon; first names", 2),
    "signature": ("Si&gnature", "How mail is signed", 3),
    "availability": ("A&vailability", "Mon-Fri 09:00-12:00,14:00-17:00", 1),
}


class FactsModel(ReadOnlyTableModel):
    """Facts: id, text (first line), source, ref, added."""

    COLUMNS = ("#", "Fact", "Source", "Ref", "Added")
    HEADER_TOOLTIPS = {2: "founder: your own word; agent: an approved proposal; mail: derived "
                          "from mail (untrusted)"}

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.facts: list[Fact] = []

    def set_facts(self, facts: list[Fact]) -> None:
        self.beginResetModel()
        self.facts = list(facts)
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.facts)

    def fact_at(self, row: int) -> Fact | None:
        return self.facts[row] if 0 <= row < len(self.facts) else None

    def row_of(self, fact_id: int) -> int:
        return next((i for i, f in enumerate(self.facts) if f.id == fact_id), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        fact = self.fact_at(index.row()) if index.isValid() else None
        if fact is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            source = fact.source + (" · untrusted" if fact.untrusted else "")
            if fact.forgotten:
                source += " · forgotten"
            first = fact.text.splitlines()[0] if fact.text else ""
            return (str(fact.id), first, source, fact.ref, fact.created_at[:10])[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = fact.text
            if fact.untrusted:
                tip += "\n\nUntrusted: derived from text you did not write. Agents see it marked."
            if fact.forgotten:
                tip += f"\n\nForgotten {fact.forgotten_at}"
            return tip
        if role == Qt.ItemDataRole.ForegroundRole:
            if fact.forgotten:
                return FORGOTTEN_BRUSH
            if fact.untrusted and col == 2:
                return UNTRUSTED_BRUSH
        return None


class MemoryPage(QWidget):
    """The Memory page (see the module docstring).

    Signals:
        message(str, bool): A one-line status for the window's status bar, and whether it is
            an error.
    """

    message = Signal(str, bool)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryPage")
        self.services = services
        self._loading = False

        # -- profile ----------------------------------------------------------------------
        self.fields: dict[str, QPlainTextEdit | QLineEdit] = {}
        profile_box = QGroupBox("Business profile — every agent sees it")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in FIELDS:
            label, placeholder, lines = FIELD_FORM[name]
            widget: QPlainTextEdit | QLineEdit
            if lines == 1:
                widget = QLineEdit()
                widget.textChanged.connect(self._edited)
            else:
                widget = QPlainTextEdit()
                widget.setTabChangesFocus(True)
                line = widget.fontMetrics().lineSpacing()
                widget.setFixedHeight(line * lines + 14)
                widget.textChanged.connect(self._edited)
            widget.setObjectName(f"profile_{name}")
            widget.setPlaceholderText(placeholder)
            widget.setAccessibleName(label.replace("&", ""))
            self.fields[name] = widget
            form.addRow(label, widget)
        self.tz_label = QLabel()
        self.tz_label.setObjectName("profileTimezone")
        self.tz_label.setStyleSheet("QLabel { color: #6b6b6b; }")
        self.tz_label.setWordWrap(True)
        form.addRow("", self.tz_label)
        self.profile_error = QLabel()
        self.profile_error.setObjectName("profileError")
        self.profile_error.setStyleSheet(ERROR_STYLE)
        self.profile_error.setWordWrap(True)
        self.profile_error.setVisible(False)
        self.profile_state = QLabel()
        self.profile_state.setObjectName("profileState")
        self.save_button = QPushButton("&Save profile")
        self.save_button.setObjectName("saveProfile")
        self.save_button.setToolTip(f"Check and save the profile ({SAVE_KEYS})")
        self.save_button.clicked.connect(self.save_profile)
        self.revert_button = QPushButton("Re&vert")
        self.revert_button.setObjectName("revertProfile")
        self.revert_button.setToolTip("Show the saved profile again (your edits are dropped)")
        self.revert_button.clicked.connect(self.load_profile)
        buttons = QHBoxLayout()
        buttons.addWidget(self.profile_state, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        pbox = QVBoxLayout(profile_box)
        pbox.addLayout(form)
        pbox.addWidget(self.profile_error)
        pbox.addStretch(1)
        pbox.addLayout(buttons)
        save_shortcut = QShortcut(QKeySequence(SAVE_KEYS), self)
        save_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save_shortcut.activated.connect(self.save_profile)

        # -- facts --------------------------------------------------------------------------
        facts_box = QGroupBox("Facts — what the agents remember")
        self.search = QLineEdit()
        self.search.setObjectName("factSearch")
        self.search.setPlaceholderText(f"Search facts by words ({SEARCH_KEYS})")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search facts")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self._on_search_timer)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self.refresh_facts)
        self.show_forgotten = QCheckBox("Show &forgotten")
        self.show_forgotten.setObjectName("showForgotten")
        self.show_forgotten.toggled.connect(lambda _on: self.refresh_facts())
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.show_forgotten)
        self.model = FactsModel(self)
        self.table = QTableView()
        self.table.setObjectName("factsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Facts")
        header = self.table.horizontalHeader()
        for col in (0, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_current())
        self.detail = QLabel()
        self.detail.setObjectName("factDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.forget_button = QPushButton("F&orget")
        self.forget_button.setObjectName("forgetFact")
        self.forget_button.setToolTip("Forget the selected fact (Delete); it stays in the store")
        self.forget_button.clicked.connect(self.forget_current)
        forget_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        forget_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        forget_shortcut.activated.connect(self.forget_current)
        self.new_fact = QLineEdit()
        self.new_fact.setObjectName("newFact")
        self.new_fact.setPlaceholderText("A fact to remember, e.g. Acme pays invoices in 30 days")
        self.new_fact.setAccessibleName("New fact")
        self.new_fact.returnPressed.connect(self.add_fact)
        self.add_button = QPushButton("&Add fact")
        self.add_button.setObjectName("addFact")
        self.add_button.setToolTip("Remember it now (your own word: no approval needed)")
        self.add_button.clicked.connect(self.add_fact)
        self.facts_error = QLabel()
        self.facts_error.setObjectName("factsError")
        self.facts_error.setStyleSheet(ERROR_STYLE)
        self.facts_error.setWordWrap(True)
        self.facts_error.setVisible(False)
        self.facts_summary = QLabel()
        self.facts_summary.setObjectName("factsSummary")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_fact, 1)
        add_row.addWidget(self.add_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.facts_summary, 1)
        bottom.addWidget(self.forget_button)
        fbox = QVBoxLayout(facts_box)
        fbox.addLayout(top)
        fbox.addWidget(self.table, 1)
        fbox.addWidget(self.detail)
        fbox.addLayout(bottom)
        fbox.addLayout(add_row)
        fbox.addWidget(self.facts_error)
        search_shortcut = QShortcut(QKeySequence(SEARCH_KEYS), self)
        search_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        search_shortcut.activated.connect(self.focus_search)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("memorySplit")
        split.addWidget(profile_box)
        split.addWidget(facts_box)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        self._dirty = False
        self._loaded = False

    # -- focus ---------------------------------------------------------------------------------
    def focus_first(self) -> None:
        """Where Ctrl+7 puts the keyboard: the fact search box."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._loaded or not self._dirty:
            self.load_profile()
        self.refresh_facts()
        self._loaded = True

    # -- profile -------------------------------------------------------------------------------
    def form_texts(self) -> dict[str, str]:
        """The form's text per field."""
        return {
            name: (w.text() if isinstance(w, QLineEdit) else w.toPlainText())
            for name, w in self.fields.items()
        }

    def is_dirty(self) -> bool:
        """Whether the form holds edits not saved."""
        return self._dirty

    def _edited(self) -> None:
        if self._loading:
            return
        self._dirty = True
        self.profile_state.setText("Unsaved changes")

    def load_profile(self) -> None:
        """Show the stored profile in the form (edits are dropped)."""
        profile = self.services.store.profile.get()
        self._loading = True
        try:
            for name, widget in self.fields.items():
                text = field_text(profile, name)
                if isinstance(widget, QLineEdit):
                    widget.setText(text)
                else:
                    widget.setPlainText(text)
        finally:
            self._loading = False
        self._dirty = False
        self.profile_error.setVisible(False)
        when = self.services.store.profile.updated_at()
        self.profile_state.setText(f"Saved {when[:16].replace('T', ' ')} UTC" if when
                                   else "Not saved yet")
        tz = self.services.config.get("calendar.timezone") or "your system's time zone"
        self.tz_label.setText(f"Availability is in {tz} (setting calendar.timezone)")

    def save_profile(self) -> bool:
        """Check the whole form and save it; on an error show every wrong field and keep the
        form (the stored profile stays). Returns whether it was saved."""
        try:
            profile = profile_from_texts(self.form_texts())
            self.services.store.profile.save(profile)
        except ProfileError as exc:
            self.profile_error.setText("Not saved — " + "\n".join(exc.errors))
            self.profile_error.setVisible(True)
            first = exc.errors[0].split("[", 1)[0].split(":", 1)[0].split(".", 1)[0]
            if first in self.fields:
                self.fields[first].setFocus(Qt.FocusReason.OtherFocusReason)
            self.message.emit(f"Profile not saved: {exc.errors[0]}", True)
            return False
        except Exception as exc:  # a busy or full store: say so, keep the form
            log.exception("saving the profile failed")
            self.profile_error.setText(f"Not saved — {exc}")
            self.profile_error.setVisible(True)
            self.message.emit(f"Profile not saved: {exc}", True)
            return False
        self.load_profile()
        self.message.emit("Business profile saved: agents see it from their next run", False)
        return True

    # -- facts ---------------------------------------------------------------------------------
    def _on_search_timer(self) -> None:
        """The search box settled: show its matches (only while the page is shown)."""
        if self.isVisible() and not self.services.store.closed:
            self.refresh_facts()

    def refresh_facts(self, select: int | None = None) -> None:
        """Read the facts again (the search's matches, or all), keeping the selection."""
        current = self.current()
        keep = select if select is not None else (current.id if current else None)
        query = self.search.text().strip()
        facts = self.services.store.facts
        if query:
            found = facts.search(query, limit=200)
        else:
            found = facts.list(include_forgotten=self.show_forgotten.isChecked(), limit=500)
        self.model.set_facts(found)
        total = facts.count()
        shown = len(found)
        self.facts_summary.setText(
            (f"{shown} of {total} facts match" if query else f"{total} facts remembered")
            if total else "No facts yet: add one below, or approve an agent's proposal"
        )
        row = self.model.row_of(keep) if keep is not None else -1
        if row < 0 and found:
            row = 0
        if row >= 0:
            self.table.selectRow(row)
        self._show_current()

    def current(self) -> Fact | None:
        """The selected fact, if any."""
        index = self.table.currentIndex()
        return self.model.fact_at(index.row()) if index.isValid() else None

    def _show_current(self) -> None:
        fact = self.current()
        if fact is None:
            self.detail.setText("")
        else:
            head = [f"#{fact.id}", fact.source] + ([fact.ref] if fact.ref else [])
            if fact.untrusted:
                head.append("untrusted: derived from text you did not write")
            if fact.forgotten:
                head.append(f"forgotten {fact.forgotten_at}")
            self.detail.setText(" · ".join(head) + "\n" + fact.text)
        self.forget_button.setEnabled(fact is not None and not fact.forgotten)

    def add_fact(self) -> None:
        """Remember the typed fact now (the founder's own word)."""
        text = self.new_fact.text()
        try:
            fact = self.services.store.facts.add(text, source="founder")
        except FactError as exc:
            self.facts_error.setText(f"Not added — {exc}")
            self.facts_error.setVisible(True)
            return
        self.facts_error.setVisible(False)
        self.new_fact.clear()
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.refresh_facts(select=fact.id)
        self.message.emit(f"Remembered fact #{fact.id}", False)

    def forget_current(self) -> None:
        """Forget the selected fact (kept in the store, no longer used)."""
        fact = self.current()
        if fact is None or fact.forgotten:
            return
        self.services.store.facts.forget(fact.id)
        self.refresh_facts()
        self.message.emit(f"Forgot fact #{fact.id} (kept in the store, no longer used)", False)
