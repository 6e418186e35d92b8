"""The inbox: the list of proposals, the editor of the selected one and its source email.

The founder approves, edits or rejects proposals here. Approval records the sha256 of exactly
what the editor shows: pending edits are saved first (a new payload and hash), then the runner
approves with ``expected_sha256`` so a payload changed behind the founder's back is refused.

Slots are thin ``@asyncSlot`` wrappers around plain async methods (:meth:`InboxView.
approve_selected`, :meth:`InboxView.reject_selected`, :meth:`InboxView.save_selected`) that tests
await directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from solodesk.actions.outbox import NotClaimed
from solodesk.agents.runner import Runner
from solodesk.core.actions import (
    EDITABLE,
    Action,
    ActionStatus,
    InvalidTransition,
    JSONObject,
    can_transition,
    payload_sha256,
)
from solodesk.core.events import ActionProposed, ActionResolved
from solodesk.core.inspect import hidden_characters, links
from solodesk.store.repos import MailRecord, NotFound, StaleApproval, Store
from solodesk.ui.inbox_model import (
    COL_AGE,
    COL_AGENT,
    COL_KIND,
    COL_STATUS,
    COL_SUMMARY,
    FILTER_ALL,
    FILTER_PENDING,
    InboxModel,
    parse_utc,
    untrusted_tooltip,
)

log = logging.getLogger(__name__)

#: Errors a founder's decision can meet that are reported, not raised.
DECISION_ERRORS = (NotFound, StaleApproval, InvalidTransition, NotClaimed, ValueError)

# Key sequences (portable text form; QKeySequence objects need a QGuiApplication).
APPROVE_KEYS = "Ctrl+Return"
REJECT_KEYS = ("Ctrl+Delete", "Ctrl+Backspace")
SAVE_KEYS = "Ctrl+S"
UNDO_KEYS = "Ctrl+Z"
NEXT_KEYS = "J"
PREVIOUS_KEYS = "K"

HINT = "Import mail, then Triage mail — or ask the agent in the chat"

UNTRUSTED_STYLE = (
    "QLabel { background: #fff4e5; color: #7a4100; border: 1px solid #f0b35a;"
    " border-radius: 4px; padding: 4px 6px; }"
)
ERROR_STYLE = "QLabel { color: #b3261e; }"
RISK_STYLES = {
    "low": "",
    "medium": "QLabel { color: #7a4100; }",
    "high": "QLabel { color: #b3261e; font-weight: bold; }",
}


def payload_warnings(payload: JSONObject) -> list[str]:
    """Hidden characters in recipients, subject and body, and the links in the body (disguised
    ones marked), as one-line warnings for the founder (see ``core.inspect``)."""
    found = []
    for name in ("subject", "body"):
        found += hidden_characters(name, str(payload.get(name, "")))
    for addr in list(payload.get("to", []) or []) + list(payload.get("cc", []) or []):
        found += hidden_characters("recipient", str(addr))
    out = [f"⚠ hidden character {h.codepoint} {h.name} in {h.field}" for h in found]
    for link in links(str(payload.get("body", ""))):
        if link.disguised:
            out.append(f"⚠ DISGUISED link: shows {link.text!r} but opens {link.target}")
        else:
            out.append(f"link: {link.target}")
    return out


def local_time(timestamp: str | None) -> str:
    """A store UTC timestamp as local wall-clock time (``HH:MM:SS``)."""
    when = parse_utc(timestamp or "")
    return when.astimezone().strftime("%H:%M:%S") if when else "?"


def _addresses(text: str) -> list[str]:
    """Split a comma-separated address field (display names with commas must be quoted)."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch in ",;" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return [a.strip() for a in out if a.strip()]


def _keys_text(keys: str) -> str:
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


class ProposalEditor(QWidget):
    """Shows one proposal: editable To/Cc/Subject/Body and read-only details.

    ``invalid`` proposals show their validation errors and the model's raw output instead.
    """

    changed = Signal()  # the founder edited a field

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action: Action | None = None
        self._loading = False

        self.title = QLabel("No proposal selected")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setWordWrap(True)

        self.to_edit = QLineEdit()
        self.cc_edit = QLineEdit()
        self.subject_edit = QLineEdit()
        self.to_edit.setPlaceholderText("name@example.com, other@example.com")
        self.cc_edit.setPlaceholderText("(none)")
        self.body_edit = QPlainTextEdit()
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setMinimumHeight(120)

        self.message_id_label = self._detail_label()
        self.in_reply_to_label = self._detail_label()
        self.status_label = self._detail_label()
        self.agent_label = self._detail_label()
        self.errors_label = QLabel()
        self.errors_label.setWordWrap(True)
        self.errors_label.setStyleSheet(ERROR_STYLE)
        self.errors_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.errors_label.hide()
        self.risk_label = self._detail_label()
        self.risk_label.setWordWrap(True)
        self.checks_label = QLabel()
        self.checks_label.setWordWrap(True)
        self.checks_label.setTextFormat(Qt.TextFormat.PlainText)
        self.checks_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.checks_label.hide()
        self.dirty_label = QLabel("unsaved edits")
        self.dirty_label.setStyleSheet("QLabel { color: #7a4100; }")
        self.dirty_label.hide()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&To:", self.to_edit)
        form.addRow("&Cc:", self.cc_edit)
        form.addRow("S&ubject:", self.subject_edit)

        details = QFormLayout()
        details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        details.addRow("Status:", self.status_label)
        details.addRow("Risk:", self.risk_label)
        details.addRow("Agent:", self.agent_label)
        details.addRow("Message-ID:", self.message_id_label)
        details.addRow("In-Reply-To:", self.in_reply_to_label)
        self._details = details

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.dirty_label)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addWidget(self.body_edit, 1)
        layout.addWidget(self.errors_label)
        layout.addWidget(self.checks_label)
        layout.addLayout(details)

        for line in (self.to_edit, self.cc_edit, self.subject_edit):
            line.textEdited.connect(self._on_edited)
        self.body_edit.textChanged.connect(self._on_edited)
        self.show_action(None)

    @staticmethod
    def _detail_label() -> QLabel:
        label = QLabel()
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        return label

    # -- state ---------------------------------------------------------------------------------
    @property
    def action(self) -> Action | None:
        """The proposal as loaded (before the founder's unsaved edits)."""
        return self._action

    def show_action(self, action: Action | None) -> None:
        """Load ``action`` into the fields (None clears the editor)."""
        self._loading = True
        try:
            self._action = action
            p: JSONObject = action.payload if action is not None else {}
            invalid = action is not None and action.status is ActionStatus.INVALID
            if action is None:
                self.title.setText("No proposal selected")
            else:
                self.title.setText(f"#{action.id}  {action.summary}")
            if invalid:
                self.to_edit.setText("")
                self.cc_edit.setText("")
                self.subject_edit.setText("")
                raw = p.get("arguments") or p.get("text") or ""
                self.body_edit.setPlainText(f"Model output (not sendable):\n{raw}")
            else:
                self.to_edit.setText(", ".join(p.get("to", []) or []))
                self.cc_edit.setText(", ".join(p.get("cc", []) or []))
                self.subject_edit.setText(str(p.get("subject", "")))
                self.body_edit.setPlainText(str(p.get("body", "")))
            for w in (self.to_edit, self.cc_edit, self.subject_edit):
                w.setCursorPosition(0)
            editable = action is not None and action.status in EDITABLE
            for w in (self.to_edit, self.cc_edit, self.subject_edit):
                w.setReadOnly(not editable)
            self.body_edit.setReadOnly(not editable)
            self.setEnabled(action is not None)

            for label, key in (
                (self.message_id_label, "message_id"),
                (self.in_reply_to_label, "in_reply_to"),
            ):
                label.setText(str(p.get(key, "")) or "—")
                label.setToolTip(str(p.get(key, "")))
            self._details.setRowVisible(self.in_reply_to_label, bool(p.get("in_reply_to")))
            self.agent_label.setText(action.agent if action else "—")
            self.status_label.setText(self._status_text(action))
            errors = list(action.errors) if action is not None else []
            self.errors_label.setText(
                "Validation errors:\n" + "\n".join(f"• {e}" for e in errors) if errors else ""
            )
            self.errors_label.setVisible(bool(errors))
            risk = action.risk if action is not None else ""
            reasons = "; ".join(action.risk_reasons) if action is not None else ""
            self.risk_label.setText((risk + (f" — {reasons}" if reasons else "")) or "—")
            self.risk_label.setToolTip(reasons)
            self.risk_label.setStyleSheet(RISK_STYLES.get(risk, ""))
            self._update_checks()
            self.dirty_label.hide()
        finally:
            self._loading = False

    @staticmethod
    def _status_text(action: Action | None) -> str:
        if action is None:
            return "—"
        text = action.status.value
        if action.status is ActionStatus.SCHEDULED:
            text += f" — sends at {local_time(action.send_at)} unless you undo it"
        if action.decided_by and action.decided_by != "founder":
            text += f" (by {action.decided_by})"
        result = action.result or {}
        detail = result.get("detail") or result.get("reason")
        if detail:
            text += f" — {detail}"
        return text

    def edited_payload(self) -> JSONObject:
        """The payload as shown: the loaded payload with To/Cc/Subject/Body from the fields.

        Raises:
            ValueError: no proposal is loaded, or it is ``invalid`` (not editable).
        """
        action = self._action
        if action is None:
            raise ValueError("no proposal selected")
        if action.status is ActionStatus.INVALID:
            return dict(action.payload)
        payload = dict(action.payload)
        payload["to"] = _addresses(self.to_edit.text())
        payload["cc"] = _addresses(self.cc_edit.text())
        payload["subject"] = self.subject_edit.text()
        payload["body"] = self.body_edit.toPlainText()
        return payload

    def is_dirty(self) -> bool:
        """True if the fields differ from the loaded payload."""
        action = self._action
        if action is None or action.status is ActionStatus.INVALID:
            return False
        return self.edited_payload() != action.payload

    def shown_sha256(self) -> str | None:
        """The sha256 of the payload as shown (what an approval must match)."""
        if self._action is None:
            return None
        return payload_sha256(self.edited_payload())

    def _update_checks(self) -> None:
        action = self._action
        if action is None or action.status is ActionStatus.INVALID:
            warnings: list[str] = []
        else:
            warnings = payload_warnings(self.edited_payload())
        self.checks_label.setText("\n".join(warnings))
        self.checks_label.setVisible(bool(warnings))
        alarming = any(w.startswith("⚠") for w in warnings)
        self.checks_label.setStyleSheet(ERROR_STYLE if alarming else "")

    def _on_edited(self, *_args: Any) -> None:
        if self._loading:
            return
        self.dirty_label.setVisible(self.is_dirty())
        self._update_checks()
        self.changed.emit()


class SourceMailPane(QFrame):
    """The email a proposal answers, with a visible untrusted-content marker."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Source")
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.untrusted_label = QLabel(
            "⚠ Derived from untrusted email. The agent read content you did not write: check "
            "recipients, links and promises before approving."
        )
        self.untrusted_label.setWordWrap(True)
        self.untrusted_label.setStyleSheet(UNTRUSTED_STYLE)
        self.untrusted_label.setObjectName("untrustedMarker")
        self.headers_label = QLabel()
        self.headers_label.setWordWrap(True)
        self.headers_label.setTextFormat(Qt.TextFormat.PlainText)
        self.headers_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body_view = QPlainTextEdit()
        self.body_view.setReadOnly(True)
        self.body_view.setTabChangesFocus(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.untrusted_label)
        layout.addWidget(self.headers_label)
        layout.addWidget(self.body_view, 1)
        layout.addStretch(0)  # keeps the heading at the top when there is no body
        self.setMinimumWidth(220)
        self.mail: MailRecord | None = None
        self.show_source(None, None)

    def show_source(self, action: Action | None, mail: MailRecord | None) -> None:
        """Show the source of ``action``: its mail, or where it came from if not a mail."""
        self.mail = mail
        untrusted = action is not None and action.provenance.untrusted
        self.untrusted_label.setVisible(untrusted)
        if untrusted and action is not None:
            self.untrusted_label.setToolTip(untrusted_tooltip(action))
        if mail is not None:
            self.heading.setText("In reply to")
            lines = [f"From: {mail.from_addr}"]
            if mail.reply_to:
                lines.append(f"Reply-To: {mail.reply_to}")
            lines.append(f"Subject: {mail.subject}")
            if mail.date:
                lines.append(f"Date: {mail.date}")
            self.headers_label.setText("\n".join(lines))
            self.headers_label.show()
            self.body_view.setPlainText(mail.body_text)
            self.body_view.show()
            return
        self.headers_label.hide()
        self.body_view.clear()
        self.body_view.hide()
        if action is None:
            self.heading.setText("Source")
            self.headers_label.setText("The email a selected proposal answers is shown here.")
            self.headers_label.show()
        elif action.provenance.source == "chat":
            self.heading.setText("From your chat with the manager agent")
        elif action.provenance.source == "mail":
            self.heading.setText(f"Source email #{action.provenance.ref} is no longer stored")
        else:
            self.heading.setText(f"Source: {action.provenance.source or 'unknown'}")


class InboxView(QWidget):
    """Pending proposals, the selected one's editor and its source email.

    Args:
        store: The database (read through :class:`InboxModel`).
        runner: Executes the founder's decisions (approve, reject, edit).

    Signals:
        message(str): A one-line outcome or error for the status bar.
        problem(str): The same text again when it reports a failure (shown as an error).
    """

    message = Signal(str)
    problem = Signal(str)  # also emitted (after ``message``) when the outcome is a failure

    #: A proposal the list moved to after a decision must be shown this long before a
    #: decision on it is accepted.
    min_review_seconds = 0.5

    def __init__(self, store: Store, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.runner = runner
        self.model = InboxModel(store, parent=self)
        self._in_flight: set[int] = set()
        self._auto_selected: tuple[int, float] | None = None
        self.last_scheduled: int | None = None  # the approval Undo cancels
        self._last_row = 0
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(50)
        self._refresh_timer.timeout.connect(self.refresh)

        # header
        self.count_label = QLabel()
        font = self.count_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.count_label.setFont(font)
        self.hint_label = QLabel(HINT)
        self.hint_label.setStyleSheet("QLabel { color: #6b6b6b; }")
        self.hint_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filter_combo = QComboBox()
        self.filter_combo.addItem("Pending", FILTER_PENDING)
        self.filter_combo.addItem("All", FILTER_ALL)
        for status in ActionStatus:
            if status is not ActionStatus.PENDING:
                self.filter_combo.addItem(status.value.capitalize(), status.value)
        self.filter_combo.setToolTip("Which proposals to list")
        self.filter_combo.currentIndexChanged.connect(self._on_filter_changed)
        filter_label = QLabel("&Show:")
        filter_label.setBuddy(self.filter_combo)

        # table
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_SUMMARY, QHeaderView.ResizeMode.Stretch)
        fm = self.table.fontMetrics()
        widths = {
            COL_AGE: fm.horizontalAdvance("2024-05-01") + 16,
            COL_AGENT: fm.horizontalAdvance("manager") + 24,
            COL_KIND: fm.horizontalAdvance("Reply") + 24,
            COL_STATUS: fm.horizontalAdvance("executing") + 44,
        }
        for col, width in widths.items():
            header.resizeSection(col, width)
        self.table.setToolTip("J / K or Down / Up: next / previous proposal")

        # editor and source
        self.editor = ProposalEditor()
        self.source = SourceMailPane()
        self.editor.changed.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        self.approve_button = QPushButton(f"&Approve  ({_keys_text(APPROVE_KEYS)})")
        self.approve_button.setToolTip(
            "Save any edits, approve exactly what is shown and send it "
            f"({_keys_text(APPROVE_KEYS)})"
        )
        self.reject_button = QPushButton(f"&Reject…  ({_keys_text(REJECT_KEYS[0])})")
        self.reject_button.setToolTip(
            "Reject this proposal, with an optional reason "
            f"({_keys_text(REJECT_KEYS[0])} or {_keys_text(REJECT_KEYS[1])} in the list)"
        )
        self.save_button = QPushButton(f"&Save edit  ({_keys_text(SAVE_KEYS)})")
        self.save_button.setToolTip(
            f"Save your changes without approving ({_keys_text(SAVE_KEYS)})"
        )
        self.undo_button = QPushButton(f"&Undo send  ({_keys_text(UNDO_KEYS)})")
        self.undo_button.setToolTip(
            "Cancel an approval while it waits out the undo window; it becomes pending again "
            f"and nothing is sent ({_keys_text(UNDO_KEYS)})"
        )
        self.undo_button.clicked.connect(self._on_undo)
        self.approve_button.setDefault(False)
        self.approve_button.setAutoDefault(False)
        self.approve_button.clicked.connect(self._on_approve)
        self.reject_button.clicked.connect(self._on_reject)
        self.save_button.clicked.connect(self._on_save)

        # shortcuts (anywhere in the inbox for the decisions; J/K only in the list)
        self._shortcuts: list[QShortcut] = []
        self._add_shortcut(APPROVE_KEYS, self._on_approve, self)
        for keys in REJECT_KEYS:
            self._add_shortcut(keys, self._on_reject, self)
        self._add_shortcut(SAVE_KEYS, self._on_save, self)
        self._add_shortcut(UNDO_KEYS, self._on_undo, self)
        self._add_shortcut(NEXT_KEYS, self.select_next, self.table, local=True)
        self._add_shortcut(PREVIOUS_KEYS, self.select_previous, self.table, local=True)

        # layout
        head = QHBoxLayout()
        head.addWidget(self.count_label)
        head.addSpacing(12)
        head.addWidget(self.hint_label, 1)
        head.addWidget(filter_label)
        head.addWidget(self.filter_combo)

        buttons = QHBoxLayout()
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reject_button)

        editor_box = QWidget()
        editor_layout = QVBoxLayout(editor_box)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(self.editor, 1)
        editor_layout.addLayout(buttons)

        self.detail_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.detail_splitter.addWidget(editor_box)
        self.detail_splitter.addWidget(self.source)
        self.detail_splitter.setStretchFactor(0, 3)
        self.detail_splitter.setStretchFactor(1, 2)
        self.detail_splitter.setChildrenCollapsible(False)
        self.detail_splitter.setSizes([600, 400])

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail_splitter)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([300, 500])

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.splitter, 1)

        self._update_count()
        self._select_row(0)
        self._update_buttons()

    def _add_shortcut(self, keys: str, slot: Any, widget: QWidget, *, local: bool = False) -> None:
        shortcut = QShortcut(QKeySequence(keys), widget)
        shortcut.setContext(
            Qt.ShortcutContext.WidgetShortcut
            if local
            else Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        shortcut.setAutoRepeat(False)
        shortcut.activated.connect(slot)
        self._shortcuts.append(shortcut)

    # -- events from the runner ----------------------------------------------------------------
    def on_action_event(self, event: ActionProposed | ActionResolved) -> None:
        """An action was proposed or changed: refresh soon (bursts are coalesced)."""
        self.model.invalidate(event.action_id)
        self._refresh_timer.start()

    # -- selection -----------------------------------------------------------------------------
    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def selected_action_id(self) -> int | None:
        row = self.selected_row()
        return self.model.action_id(row) if row is not None else None

    def select_action(self, action_id: int) -> bool:
        """Select the row of ``action_id``; False if it is not in the current filter."""
        row = self.model.row_of(action_id)
        if row is None:
            return False
        self._select_row(row)
        return True

    def _select_row(self, row: int) -> None:
        count = self.model.rowCount()
        if count == 0:
            self.table.clearSelection()
            self._load_selected()
            return
        row = max(0, min(row, count - 1))
        index = self.model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag
        self.table.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
        self.table.scrollTo(index)

    def select_next(self) -> None:
        """Select the next (older) proposal."""
        row = self.selected_row()
        self._select_row(0 if row is None else row + 1)

    def select_previous(self) -> None:
        """Select the previous (newer) proposal."""
        row = self.selected_row()
        self._select_row(0 if row is None else row - 1)

    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        previous = self.editor.action
        if previous is not None and self.editor.is_dirty():
            if previous.id != self.selected_action_id():
                self.message.emit(f"Unsaved edits to #{previous.id} were discarded")
        self._load_selected()

    def _load_selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self._last_row = row
        action_id = self.model.action_id(row) if row is not None else None
        action: Action | None = None
        mail: MailRecord | None = None
        if action_id is not None:
            try:
                action = self.store.actions.get(action_id)
            except NotFound:
                action = None
        if action is not None and action.provenance.source == "mail":
            ref = action.provenance.ref
            if ref is None:
                ref = action.payload.get("source_mail_id")
            if isinstance(ref, int):
                try:
                    mail = self.store.mail.get(ref)
                except NotFound:
                    mail = None
        self.editor.show_action(action)
        self.source.show_source(action, mail)
        self._update_buttons()

    def _update_buttons(self) -> None:
        action = self.editor.action
        busy = action is not None and action.id in self._in_flight
        status = action.status if action is not None else None
        self.approve_button.setEnabled(
            status is not None and not busy and can_transition(status, ActionStatus.APPROVED)
        )
        self.reject_button.setEnabled(
            status is not None and not busy and can_transition(status, ActionStatus.REJECTED)
        )
        self.save_button.setEnabled(status in EDITABLE and not busy and self.editor.is_dirty())
        self.undo_button.setEnabled(self._undo_target() is not None)

    # -- refresh -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the list and the pending count; keep or move the selection sensibly."""
        self._refresh_timer.stop()
        shown = self.editor.action
        self.model.refresh()
        self._update_count()
        row = self.selected_row()
        if row is None:
            self._select_row(self._last_row)
        elif shown is not None and self.model.action_id(row) == shown.id:
            if not self.editor.is_dirty():
                self._load_selected()
            else:
                self._update_buttons()

    def _update_count(self) -> None:
        pending = self.store.actions.count(ActionStatus.PENDING)
        text = f"{pending} pending proposal{'s' if pending != 1 else ''}"
        scheduled = self.store.actions.count(ActionStatus.SCHEDULED)
        if scheduled:
            text += f"  ·  {scheduled} sending soon"
        flt = self.model.status_filter
        # cleared, not hidden, so the header's layout does not jump
        self.hint_label.setText(HINT if pending == 0 and flt == FILTER_PENDING else "")
        if flt != FILTER_PENDING:
            shown = self.model.rowCount()
            text += f"  ·  {shown} shown ({flt})"
        self.count_label.setText(text)

    def set_filter(self, value: str) -> None:
        """Show ``pending`` (default), ``all`` or one status."""
        i = self.filter_combo.findData(value)
        if i < 0:
            raise ValueError(f"unknown inbox filter {value!r}")
        self.filter_combo.setCurrentIndex(i)

    def _on_filter_changed(self, _index: int) -> None:
        self.model.set_filter(str(self.filter_combo.currentData()))
        self._update_count()
        self._select_row(0)

    # -- decisions (plain async: tests await these) --------------------------------------------
    def _refuse(self, action: Action | None) -> str | None:
        """Why a decision on ``action`` cannot start now, or None if it can."""
        if action is None:
            return "Select a proposal first"
        if action.id in self._in_flight:
            return f"#{action.id} is already being handled"
        auto = self._auto_selected
        if (
            auto is not None
            and auto[0] == action.id
            and time.monotonic() - auto[1] < self.min_review_seconds
        ):
            return f"#{action.id} was just selected; review it, then approve"
        return None

    async def approve_selected(self) -> Action | None:
        """Save pending edits, then approve exactly what is shown and execute it.

        A second call while the proposal is being handled only reports that; a proposal the
        list moved to after a decision cannot be approved until it has been on screen for
        :attr:`min_review_seconds` (so a double key press never approves the next one unseen).

        Returns:
            The action in its final status, or None if nothing was approved.
        """
        action = self.editor.action
        refusal = self._refuse(action)
        if refusal is not None or action is None:
            self.message.emit(refusal or "Select a proposal first")
            return None
        self._in_flight.add(action.id)
        self._update_buttons()
        final: Action | None = None
        try:
            shown = self.editor.edited_payload()
            # Let Qt paint the disabled buttons before the (possibly slow) work starts.
            await asyncio.sleep(0)
            sha = payload_sha256(shown)
            if sha != action.payload_sha256:
                current = self.store.actions.get(action.id)
                if current.payload_sha256 != action.payload_sha256:
                    raise StaleApproval(
                        f"#{action.id} changed since you opened it; review it again"
                    )
                saved = await self.runner.edit(action.id, shown)
                sha = saved.payload_sha256
            delay = self.runner.gates.undo_seconds()
            if not delay:
                self.message.emit(f"Sending #{action.id}…")
            final = await self.runner.approve(action.id, expected_sha256=sha, delay_s=delay)
            if final.status is ActionStatus.SCHEDULED:
                self.last_scheduled = final.id
            text = self._outcome_text(final)
        except DECISION_ERRORS as exc:
            text = f"#{action.id} not approved: {exc}"
        except Exception as exc:
            log.exception("approving #%s failed", action.id)
            text = f"#{action.id} not approved: {type(exc).__name__}: {exc}"
        finally:
            self._in_flight.discard(action.id)
        self._after_decision(action.id)
        ok = final is not None and final.status in (ActionStatus.EXECUTED, ActionStatus.SCHEDULED)
        self._report(text, error=not ok)
        return final

    def _report(self, text: str, *, error: bool) -> None:
        self.message.emit(text)
        if error:
            self.problem.emit(text)

    @staticmethod
    def _outcome_text(action: Action) -> str:
        detail = str((action.result or {}).get("detail", "")).strip()
        if action.status is ActionStatus.EXECUTED:
            return f"#{action.id} sent" + (f": {detail}" if detail else "")
        if action.status is ActionStatus.SCHEDULED:
            return (
                f"#{action.id} approved: sends at {local_time(action.send_at)} — "
                f"Undo send ({_keys_text(UNDO_KEYS)}) cancels it"
            )
        if action.status is ActionStatus.UNKNOWN:
            return (
                f"#{action.id}: the send was interrupted; it may or may not have been delivered"
                + (f" ({detail})" if detail else "")
            )
        text = f"#{action.id} {action.status.value}" + (f": {detail}" if detail else "")
        if action.status is ActionStatus.FAILED:
            text += " (nothing was sent; fix it and approve again under Show: Failed)"
        return text

    async def reject_selected(self, reason: str | None = None) -> Action | None:
        """Reject the selected proposal; asks for a reason when ``reason`` is None.

        Returns:
            The rejected action, or None if cancelled or not possible.
        """
        action = self.editor.action
        refusal = self._refuse(action)
        if refusal is not None or action is None:
            self.message.emit((refusal or "").replace("approve", "reject"))
            return None
        self._in_flight.add(action.id)
        self._update_buttons()
        rejected: Action | None = None
        try:
            if reason is None:
                reason = await self.ask_reason(action)
            if reason is None:
                text = "Reject cancelled"
            else:
                rejected = await self.runner.reject(action.id, reason=reason)
                text = f"#{action.id} rejected" + (f": {reason}" if reason else "")
        except DECISION_ERRORS as exc:
            text = f"#{action.id} not rejected: {exc}"
        except Exception as exc:
            log.exception("rejecting #%s failed", action.id)
            text = f"#{action.id} not rejected: {type(exc).__name__}: {exc}"
        finally:
            self._in_flight.discard(action.id)
        if rejected is not None:
            self._after_decision(action.id)
        else:
            self._update_buttons()
        self._report(text, error=rejected is None and reason is not None)
        return rejected

    def _undo_target(self) -> int | None:
        """The scheduled approval Undo applies to: the shown one, else the last approved."""
        shown = self.editor.action
        if shown is not None and shown.status is ActionStatus.SCHEDULED:
            return shown.id
        if self.last_scheduled is not None:
            try:
                last = self.store.actions.get(self.last_scheduled)
            except NotFound:
                last = None
            if last is not None and last.status is ActionStatus.SCHEDULED:
                return last.id
        return None

    async def undo_send(self) -> Action | None:
        """Cancel a scheduled approval (the shown one, else the last one) during its undo
        window: it is pending again and nothing is sent.

        Returns:
            The pending action, or None if there was nothing to undo or it was too late.
        """
        target = self._undo_target()
        if target is None:
            self.message.emit("Nothing to undo")
            return None
        if target in self._in_flight:
            self.message.emit(f"#{target} is already being handled")
            return None
        self._in_flight.add(target)
        cancelled: Action | None = None
        try:
            cancelled = await self.runner.cancel(target)
            text = f"#{target} not sent: the approval was cancelled and it is pending again"
        except DECISION_ERRORS as exc:
            text = f"#{target} could not be cancelled (too late?): {exc}"
        finally:
            self._in_flight.discard(target)
        if cancelled is not None:
            if self.last_scheduled == target:
                self.last_scheduled = None
            self.refresh()
            self.select_action(target)
            self._auto_selected = None
        self._update_buttons()
        self._report(text, error=cancelled is None)
        return cancelled

    async def ask_reason(self, action: Action) -> str | None:
        """Ask for a rejection reason without a nested event loop (the dialog is opened with
        ``open()`` and awaited). Returns None if cancelled."""
        dialog = QInputDialog(self)
        dialog.setObjectName("rejectReasonDialog")
        dialog.setWindowTitle("Reject proposal")
        dialog.setLabelText(f"Why reject #{action.id}? (optional, kept in the audit log)")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setOkButtonText("Reject")
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def finished(result: int) -> None:
            if not future.done():
                accepted = result == QDialog.DialogCode.Accepted.value
                future.set_result(dialog.textValue().strip() if accepted else None)

        dialog.finished.connect(finished)
        dialog.open()
        try:
            return await future
        finally:
            dialog.deleteLater()

    async def save_selected(self) -> Action | None:
        """Save the editor's changes as a new payload (validated; not approved).

        Returns:
            The edited action, or None if nothing was saved.
        """
        action = self.editor.action
        if action is None or not self.editor.is_dirty():
            self.message.emit("Nothing to save")
            return None
        if action.id in self._in_flight:
            self.message.emit(f"#{action.id} is already being handled")
            return None
        self._in_flight.add(action.id)
        saved: Action | None = None
        try:
            current = self.store.actions.get(action.id)
            if current.payload_sha256 != action.payload_sha256:
                raise StaleApproval(f"#{action.id} changed since you opened it; review it again")
            saved = await self.runner.edit(action.id, self.editor.edited_payload())
            text = f"#{saved.id} saved"
        except DECISION_ERRORS as exc:
            text = f"#{action.id} not saved: {exc}"
        finally:
            self._in_flight.discard(action.id)
        if saved is not None and self._shown_id() == saved.id:
            self.editor.show_action(saved)
            self.model.invalidate(saved.id)
        self._update_buttons()
        self._report(text, error=saved is None)
        return saved

    def _shown_id(self) -> int | None:
        return self.editor.action.id if self.editor.action is not None else None

    def _after_decision(self, action_id: int) -> None:
        """Show the decided action's new state, refresh the list, and note an auto-advance."""
        shown_action = self.editor.action
        if shown_action is not None and shown_action.id == action_id:
            try:
                stored = self.store.actions.get(action_id)
            except NotFound:
                stored = None
            # Reload unless nothing changed (then the founder's unsaved edits are kept).
            if stored is not None and (
                stored.status is not shown_action.status
                or stored.payload_sha256 != shown_action.payload_sha256
                or stored.updated_at != shown_action.updated_at
            ):
                self.editor.show_action(stored)
        self.model.invalidate(action_id)
        self.refresh()
        shown = self._shown_id()
        if shown is not None and shown != action_id:
            self._auto_selected = (shown, time.monotonic())
        self._update_buttons()

    # -- thin slots ----------------------------------------------------------------------------
    @asyncSlot()
    async def _on_approve(self) -> None:
        await self.approve_selected()

    @asyncSlot()
    async def _on_reject(self) -> None:
        await self.reject_selected()

    @asyncSlot()
    async def _on_save(self) -> None:
        await self.save_selected()

    @asyncSlot()
    async def _on_undo(self) -> None:
        await self.undo_send()

    def focus_list(self) -> None:
        """Put keyboard focus on the proposal list."""
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
