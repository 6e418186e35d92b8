"""The inbox: the list of proposals, the editor of the selected one and its source email.

The founder approves, edits or rejects proposals here, one at a time or several at once, and
entirely from the keyboard (see :mod:`solodesk.ui.shortcuts`). Approval records the sha256 of
exactly what the editor shows: every decision goes through the decisions service
(``inbox.decisions``), which saves pending edits first (a new payload and hash) and approves with
the ``expected_sha256`` the editor opened, so a payload changed behind the founder's back is
refused. Bulk approvals use the hash of each row as it was when the founder confirmed.

Slots are thin wrappers (:func:`~solodesk.ui.tasks.async_slot`) around plain async methods
(:meth:`InboxView.approve_selected`, :meth:`InboxView.approve_many`,
:meth:`InboxView.reject_selected`, :meth:`InboxView.save_selected`, :meth:`InboxView.undo_send`)
that tests await directly. Dialogs are opened with ``open()`` and awaited, never ``exec()``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from solodesk.actions.outbox import NotClaimed
from solodesk.agents.runner import Runner
from solodesk.connectors.mailparse import inline_parts
from solodesk.core import kinds as K
from solodesk.core.actions import (
    APPROVABLE,
    EDITABLE,
    Action,
    ActionStatus,
    InvalidTransition,
    can_transition,
)
from solodesk.core.events import ActionProposed, ActionResolved
from solodesk.inbox.decisions import DecisionError
from solodesk.store.repos import MailRecord, NotFound, StaleApproval, Store
from solodesk.ui import shortcuts as keys
from solodesk.ui.editors.host import EditorHost
from solodesk.ui.inbox_model import (
    COL_AGE,
    COL_AGENT,
    COL_KIND,
    COL_RISK,
    COL_STATUS,
    COL_SUMMARY,
    FILTER_ALL,
    FILTER_OPEN,
    FILTER_PENDING,
    RISK_LEVELS,
    InboxModel,
    parse_utc,
)
from solodesk.ui.proposal_editor import SourceMailPane, local_time
from solodesk.ui.tasks import TaskTracker, async_slot, await_dialog

log = logging.getLogger(__name__)

#: Errors a founder's decision can meet that are reported, not raised.
DECISION_ERRORS = (
    NotFound, DecisionError, StaleApproval, InvalidTransition, NotClaimed, ValueError
)

HINT = "Import mail, then Triage mail — or ask the agent in the chat"


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is narrower than its text (the whole text in
    its tooltip), instead of being cut mid-word."""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                              self.contentsRect().width())
        painter.drawText(self.contentsRect(), int(self.alignment()), shown)
ERROR_STYLE = "QLabel { color: #b3261e; }"
UNKNOWN_STYLE = (
    "QFrame#unknownBox { background: #fdecea; border: 1px solid #b3261e; border-radius: 4px; }"
)

#: How often the undo-window countdowns are redrawn (milliseconds).
COUNTDOWN_MS = 1000

#: How many rows are searched for the next pending proposal after a decision.
NEXT_PENDING_SCAN = 500

#: Default share of the detail area: the proposal (with "Approving will") : the source mail.
SOURCE_SHARE = (55, 45)

GROUPS = (
    ("No grouping", ""),
    ("Agent", "agent"),
    ("Kind", "kind"),
    ("Risk", "risk"),
    ("Status", "status"),
)


class UndoSendFilter(QObject):
    """Gives the Undo send shortcut priority over a text field's own undo while a send is
    pending.

    Installed on the window's text fields. A text field claims Ctrl+Z for its text undo
    (Qt's ``ShortcutOverride``), so the window's Undo send shortcut never fired while the
    cursor was in the body and the mail was sent. While :meth:`InboxView.send_pending`, the
    override is withheld from the field and the shortcut fires; otherwise the field keeps
    Ctrl+Z for its text.
    """

    def __init__(self, inbox: InboxView) -> None:
        super().__init__(inbox)
        self.inbox = inbox
        self.keys = QKeySequence(keys.UNDO_KEYS)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent):
            return False
        pressed = QKeySequence(event.keyCombination())
        if pressed.matches(self.keys) != QKeySequence.SequenceMatch.ExactMatch:
            return False
        if not self.inbox.send_pending():
            return False  # the field's text undo
        event.ignore()  # not claimed by the field: the window's shortcut runs
        return True

    def watch(self, root: QWidget) -> int:
        """Install on every text field under ``root``; returns how many."""
        fields = [
            *root.findChildren(QLineEdit),
            *root.findChildren(QPlainTextEdit),
            *root.findChildren(QTextEdit),
        ]
        for field in fields:
            field.installEventFilter(self)
        return len(fields)


class AgentCombo(QComboBox):
    """The agent filter; its list is re-read from the store each time it opens."""

    ALL = "All agents"

    def __init__(self, agents: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._agents = agents
        self.reload()

    def reload(self) -> None:
        """Re-read the agents, keeping the current choice."""
        current = self.currentData()
        names = self._agents()
        if current is not None and current not in names:
            names.append(current)
        self.blockSignals(True)
        try:
            self.clear()
            self.addItem(self.ALL, None)
            for name in names:
                self.addItem(name, name)
            self.setCurrentIndex(max(0, self.findData(current)) if current is not None else 0)
        finally:
            self.blockSignals(False)

    def showPopup(self) -> None:  # noqa: N802
        self.reload()
        super().showPopup()


class InboxView(QWidget):
    """Proposals in the current filter, the selected one's editor and its source email.

    Args:
        store: The database (read through :class:`InboxModel`).
        runner: Executes the founder's decisions (approve, reject, edit, cancel).
        tasks: Owns the tasks the view starts (one is created if None).

    Signals:
        message(str): A one-line outcome or error for the status bar.
        problem(str): The same text again when it reports a failure (shown as an error).
    """

    message = Signal(str)
    problem = Signal(str)  # also emitted (after ``message``) when the outcome is a failure
    runRequested = Signal(int)  # noqa: N815 - the "Produced by run #N" link was followed

    #: A proposal the list moved to after a decision must be shown this long before a
    #: decision on it is accepted.
    min_review_seconds = 0.5

    def __init__(
        self,
        store: Store,
        runner: Runner,
        parent: QWidget | None = None,
        *,
        tasks: TaskTracker | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.runner = runner
        #: The decisions service: the only way this view approves, edits, rejects, cancels.
        self.decisions = runner.decisions
        self.tasks = tasks if tasks is not None else TaskTracker(self)
        self.model = InboxModel(store, parent=self)
        self._in_flight: set[int] = set()
        self._auto_selected: tuple[int, float] | None = None
        self._undo_stack: list[int] = []  # founder's approvals, newest last
        self._last_row = 0
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(50)
        self._refresh_timer.timeout.connect(self.refresh)
        self.countdown_timer = QTimer(self)
        self.countdown_timer.setInterval(COUNTDOWN_MS)
        self.countdown_timer.timeout.connect(self._on_tick)

        self._make_header()
        self._make_filter_bar()
        self._make_table()

        # editor and source
        self.editor = EditorHost()  # the editor of the selected proposal's kind
        self.run_link = QLabel()  # "Produced by run #N (agent)": opens the Activity page
        self.run_link.setObjectName("runLink")
        self.run_link.setTextFormat(Qt.TextFormat.RichText)
        self.run_link.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.run_link.linkActivated.connect(self._on_run_link)
        self.run_link.hide()
        self.source = SourceMailPane()
        self.editor.changed.connect(self._update_buttons)
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._on_selection_changed)
        selection.currentRowChanged.connect(self._on_selection_changed)

        self._make_buttons()
        self._make_unknown_box()
        self._make_shortcuts()
        self._make_layout()

        self._update_count()
        self._select_row(0)
        self._update_buttons()
        self.countdown_timer.start()

    # -- construction --------------------------------------------------------------------------
    def _make_header(self) -> None:
        self.count_label = QLabel()
        font = self.count_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.count_label.setFont(font)
        self.hint_label = ElidedLabel(HINT)
        self.hint_label.setStyleSheet("QLabel { color: #6b6b6b; }")
        self.hint_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.approve_low_button = QPushButton(
            f"Approve low-risk…  ({keys.native(keys.APPROVE_LOW_RISK_KEYS)})"
        )
        self.approve_low_button.setObjectName("approveLowRiskButton")
        self.approve_low_button.setToolTip(
            "Approve every pending low-risk proposal in the list (as filtered), after one "
            f"confirmation showing how many ({keys.native(keys.APPROVE_LOW_RISK_KEYS)})"
        )
        self.approve_low_button.setAutoDefault(False)
        self.approve_low_button.clicked.connect(self._on_approve_low_risk)

    def _make_filter_bar(self) -> None:
        self.filter_combo = QComboBox()
        self.filter_combo.addItem("Open", FILTER_OPEN)
        self.filter_combo.setItemData(
            0,
            "Pending proposals, approvals in their undo window, and sends that failed or were "
            "interrupted",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.filter_combo.addItem("Pending", FILTER_PENDING)
        self.filter_combo.addItem("All", FILTER_ALL)
        for status in ActionStatus:
            if status is not ActionStatus.PENDING:
                self.filter_combo.addItem(status.value.capitalize(), status.value)
        self.filter_combo.setToolTip("Which proposals to list, by status")
        self.agent_combo = AgentCombo(self.model.agents)
        self.agent_combo.setToolTip("Only one agent's proposals")
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("All kinds", None)
        for kind in K.names():
            self.kind_combo.addItem(K.label(kind), kind)
        self.kind_combo.setToolTip("Only one kind of action")
        self.risk_combo = QComboBox()
        self.risk_combo.addItem("Any risk", None)
        for level in RISK_LEVELS:
            self.risk_combo.addItem(level.capitalize(), level)
        self.risk_combo.setToolTip("Only one risk level")
        self.group_combo = QComboBox()
        for text, key in GROUPS:
            self.group_combo.addItem(text, key)
        self.group_combo.setToolTip("Sort the list so each group is together (then newest first)")
        self._filter_combos = (
            self.filter_combo,
            self.agent_combo,
            self.kind_combo,
            self.risk_combo,
            self.group_combo,
        )
        for combo in self._filter_combos:
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._on_filters_changed)

    def _make_table(self) -> None:
        self.table = QTableView()
        self.table.setObjectName("inboxTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
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
            COL_RISK: fm.horizontalAdvance("medium · untrusted") + 16,
            COL_STATUS: fm.horizontalAdvance("sending in 10:00") + 30,
        }
        for col, width in widths.items():
            header.resizeSection(col, width)
        self.table.setToolTip(
            f"{keys.native('J')} / {keys.native('K')} or Down / Up: next / previous · "
            "Shift+Down / Shift+Up: select several · "
            f"{keys.native('E')}: edit · {keys.native(keys.HELP_KEYS[0])}: all shortcuts"
        )

    def _make_buttons(self) -> None:
        self.approve_button = QPushButton()
        self.reject_button = QPushButton()
        self.save_button = QPushButton(f"&Save edit  ({keys.native(keys.SAVE_KEYS)})")
        self.save_button.setToolTip(
            f"Save your changes without approving ({keys.native(keys.SAVE_KEYS)})"
        )
        self.undo_button = QPushButton(f"&Undo send  ({keys.native(keys.UNDO_KEYS)})")
        self.undo_button.setToolTip(
            "Cancel the latest approval still in its undo window; it becomes pending again "
            f"and nothing is sent ({keys.native(keys.UNDO_KEYS)})"
        )
        for button in (self.approve_button, self.reject_button, self.save_button):
            button.setAutoDefault(False)
        self.undo_button.setAutoDefault(False)
        self.approve_button.clicked.connect(self._on_approve)
        self.reject_button.clicked.connect(self._on_reject)
        self.save_button.clicked.connect(self._on_save)
        self.undo_button.clicked.connect(self._on_undo)
        self._label_decision_buttons(1)

    def _label_decision_buttons(self, selected: int) -> None:
        approve = keys.native(keys.APPROVE_KEYS)
        reject = keys.native(keys.REJECT_KEYS[0])
        if selected > 1:
            self.approve_button.setText(f"&Approve {selected} selected…  ({approve})")
            self.approve_button.setToolTip(
                f"Approve the {selected} selected proposals exactly as stored, after one "
                f"confirmation ({approve})"
            )
            self.reject_button.setText(f"&Reject {selected} selected…  ({reject})")
            self.reject_button.setToolTip(
                f"Reject the {selected} selected proposals with one reason ({reject})"
            )
            return
        self.approve_button.setText(f"&Approve  ({approve})")
        self.approve_button.setToolTip(
            f"Save any edits, approve exactly what is shown and send it ({approve})"
        )
        self.reject_button.setText(f"&Reject…  ({reject})")
        self.reject_button.setToolTip(
            "Reject this proposal, with an optional reason "
            f"({reject} or {keys.native(keys.REJECT_KEYS[1])})"
        )

    def _make_unknown_box(self) -> None:
        self.unknown_box = QFrame()
        self.unknown_box.setObjectName("unknownBox")
        self.unknown_box.setStyleSheet(UNKNOWN_STYLE)
        self.unknown_label = QLabel()
        self.unknown_label.setObjectName("unknownLabel")
        self.unknown_label.setWordWrap(True)
        self.unknown_label.setTextFormat(Qt.TextFormat.PlainText)
        self.unknown_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.delivered_button = QPushButton("It was &delivered")
        self.delivered_button.setObjectName("deliveredButton")
        self.delivered_button.setToolTip(
            "You checked (the recipient's copy or your Sent folder): record it as sent"
        )
        self.dismiss_button = QPushButton("Dis&miss")
        self.dismiss_button.setObjectName("dismissButton")
        self.dismiss_button.setToolTip(
            "Close it without sending (recorded as rejected); to send the message anyway, ask "
            "the agent for a new draft"
        )
        for button in (self.delivered_button, self.dismiss_button):
            button.setAutoDefault(False)
        self.delivered_button.clicked.connect(self._on_delivered)
        self.dismiss_button.clicked.connect(self._on_dismiss)
        row = QHBoxLayout()
        row.addWidget(self.delivered_button)
        row.addStretch(1)
        row.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self.unknown_box)
        layout.addWidget(self.unknown_label)
        layout.addLayout(row)
        self.unknown_box.hide()

    def _make_shortcuts(self) -> None:
        # Decisions anywhere in the inbox; J/K and E/F2 only in the list; Esc back to the list.
        self._shortcuts: list[QShortcut] = []
        self._add_shortcut(keys.APPROVE_KEYS, self._on_approve, self)
        self._add_shortcut(keys.APPROVE_LOW_RISK_KEYS, self._on_approve_low_risk, self)
        for k in keys.REJECT_KEYS:
            self._add_shortcut(k, self._on_reject, self)
        self._add_shortcut(keys.SAVE_KEYS, self._on_save, self)
        # Undo send works from anywhere in the window (the chat too); while a send is pending
        # it also takes Ctrl+Z from text fields (see UndoSendFilter), otherwise they keep it.
        self._add_shortcut(keys.UNDO_KEYS, self._on_undo, self, window=True)
        self._add_shortcut(keys.NEXT_KEYS[0], self.select_next, self.table, local=True)
        self._add_shortcut(keys.PREVIOUS_KEYS[0], self.select_previous, self.table, local=True)
        for k in keys.EDIT_KEYS:
            self._add_shortcut(k, self.focus_editor, self.table, local=True)
        self._add_shortcut(keys.BACK_TO_LIST_KEYS, self.focus_list, self)

    def _make_layout(self) -> None:
        head = QHBoxLayout()
        head.addWidget(self.count_label)
        head.addSpacing(8)
        head.addWidget(self.undo_button)
        head.addSpacing(8)
        head.addWidget(self.hint_label, 1)
        head.addWidget(self.approve_low_button)

        bar = QHBoxLayout()
        bar.setSpacing(4)
        for text, combo in (
            ("&Show:", self.filter_combo),
            ("A&gent:", self.agent_combo),
            ("&Kind:", self.kind_combo),
            ("R&isk:", self.risk_combo),
            ("Group &by:", self.group_combo),
        ):
            label = QLabel(text)
            label.setBuddy(combo)
            bar.addWidget(label)
            bar.addWidget(combo)
            bar.addSpacing(8)
        bar.addStretch(1)

        buttons = QHBoxLayout()
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reject_button)

        review_box = QWidget()
        review_layout = QVBoxLayout(review_box)
        review_layout.setContentsMargins(0, 0, 0, 0)
        review_heading = QLabel("Approving will")
        font = review_heading.font()
        font.setBold(True)
        review_heading.setFont(font)
        review_layout.addWidget(review_heading)
        review_layout.addWidget(self.editor.review_area, 1)

        # Left: the proposal, what approving it will do (read just before pressing Approve),
        # and the decisions. Right: the mail it answers, the whole height.
        self.editor_splitter = QSplitter(Qt.Orientation.Vertical)
        self.editor_splitter.setObjectName("editorSplitter")
        self.editor_splitter.addWidget(self.editor)
        self.editor_splitter.addWidget(review_box)
        self.editor_splitter.setStretchFactor(0, 3)
        self.editor_splitter.setStretchFactor(1, 2)
        self.editor_splitter.setChildrenCollapsible(False)
        self.editor_splitter.setSizes([300, 200])

        editor_box = QWidget()
        editor_layout = QVBoxLayout(editor_box)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(self.run_link)
        editor_layout.addWidget(self.editor_splitter, 1)
        editor_layout.addWidget(self.unknown_box)
        editor_layout.addLayout(buttons)

        self.detail_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.detail_splitter.setObjectName("detailSplitter")
        self.detail_splitter.addWidget(editor_box)
        self.detail_splitter.addWidget(self.source)
        self.detail_splitter.setStretchFactor(0, 1)
        self.detail_splitter.setStretchFactor(1, 1)
        self.detail_splitter.setChildrenCollapsible(False)
        self.detail_splitter.setSizes([SOURCE_SHARE[0] * 10, SOURCE_SHARE[1] * 10])

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("inboxSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail_splitter)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([200, 600])

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

    @property
    def splitters(self) -> dict[str, QSplitter]:
        """The splitters whose sizes the window remembers, by name."""
        return {
            "inbox": self.splitter,
            "detail": self.detail_splitter,
            "editor": self.editor_splitter,
        }

    def _add_shortcut(
        self, keys_: str, slot: Any, widget: QWidget, *, local: bool = False, window: bool = False
    ) -> None:
        shortcut = QShortcut(QKeySequence(keys_), widget)
        if window:
            context = Qt.ShortcutContext.WindowShortcut
        elif local:
            context = Qt.ShortcutContext.WidgetShortcut
        else:
            context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        shortcut.setContext(context)
        shortcut.setAutoRepeat(False)
        shortcut.activated.connect(slot)
        self._shortcuts.append(shortcut)

    @property
    def shortcut_keys(self) -> list[str]:
        """The key sequences bound in the inbox (portable text)."""
        return [s.key().toString() for s in self._shortcuts]

    # -- events from the runner ----------------------------------------------------------------
    def on_action_event(self, event: ActionProposed | ActionResolved) -> None:
        """An action was proposed or changed: refresh soon (bursts are coalesced)."""
        self.model.invalidate(event.action_id)
        self._refresh_timer.start()

    def _on_tick(self) -> None:
        """Redraw the undo-window countdowns (status cells of scheduled rows only)."""
        self.model.tick()
        shown = self.editor.action
        if shown is not None and shown.status is ActionStatus.SCHEDULED:
            self.editor.update_status()

    # -- selection -----------------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        """Selected rows, in list order."""
        return sorted(i.row() for i in self.table.selectionModel().selectedRows())

    def selected_ids(self) -> list[int]:
        """Ids of the selected proposals, in list order."""
        ids = (self.model.action_id(r) for r in self.selected_rows())
        return [i for i in ids if i is not None]

    def selection_size(self) -> int:
        """How many rows are selected (cheap: counts selection ranges)."""
        selection = self.table.selectionModel().selection()
        return sum(
            selection.at(i).bottom() - selection.at(i).top() + 1 for i in range(selection.size())
        )

    def selected_row(self) -> int | None:
        """The row the editor shows: the current row if it is selected, else the first
        selected one."""
        sm = self.table.selectionModel()
        current = sm.currentIndex()
        if current.isValid() and sm.isRowSelected(current.row(), QModelIndex()):
            return current.row()
        rows = self.selected_rows()
        return rows[0] if rows else None

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

    def select_actions(self, action_ids: Sequence[int]) -> int:
        """Select the rows of ``action_ids`` (those in the current filter); returns how many."""
        flags = QItemSelectionModel.SelectionFlag
        sm = self.table.selectionModel()
        rows = sorted(r for r in (self.model.row_of(i) for i in action_ids) if r is not None)
        if not rows:
            return 0
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for r in rows:
            selection.select(self.model.index(r, 0), self.model.index(r, last))
        sm.setCurrentIndex(self.model.index(rows[0], 0), flags.NoUpdate)
        sm.select(selection, flags.ClearAndSelect | flags.Rows)
        return len(rows)

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

    def _on_selection_changed(self, *_args: Any) -> None:
        previous = self.editor.action
        new_id = self.selected_action_id()
        if previous is not None and new_id == previous.id:
            self._update_buttons()  # e.g. more rows selected around the shown one
            return
        if previous is not None and self.editor.is_dirty():
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
        self._show_run_link(action)
        warnings: list[str] = []
        if mail is not None:
            try:
                warnings = [sig.reason for sig in self.runner.gates.sender_signals(mail)]
            except Exception:  # a display aid must never hide the proposal
                log.exception("sender checks failed for mail %s", mail.id)
        self.source.show_source(
            action,
            mail,
            warnings=warnings,
            resolve_cid=self._cid_resolver(mail.id) if mail is not None else None,
        )
        self._show_unknown(action)
        self._update_buttons()

    def _show_run_link(self, action: Action | None) -> None:
        """``Produced by run #N (agent)`` above the proposal, when a run made it."""
        run_id = action.run_id if action is not None else None
        if action is None or run_id is None:
            self.run_link.hide()
            self.run_link.setText("")
            return
        agent = html.escape(action.agent)
        self.run_link.setText(
            f"Produced by <a href='run:{run_id}'>run #{run_id}</a> ({agent}): "
            "see what it did in Activity"
        )
        self.run_link.setToolTip(f"Open run #{run_id} on the Activity page")
        self.run_link.show()

    def _on_run_link(self, link: str) -> None:
        kind, _, number = link.partition(":")
        if kind == "run" and number.isdigit():
            self.runRequested.emit(int(number))

    def _cid_resolver(self, mail_id: int) -> Callable[[str], tuple[str, bytes] | None]:
        """Finds ``cid:`` parts (RFC 2392) of one stored mail for its HTML view; the message is
        parsed only if its HTML asks for one."""
        parts: dict[str, tuple[str, bytes]] | None = None

        def resolve(content_id: str) -> tuple[str, bytes] | None:
            nonlocal parts
            if parts is None:
                try:
                    parts = inline_parts(self.store.mail.raw(mail_id))
                except NotFound:
                    parts = {}
            return parts.get(content_id.strip("<>"))

        return resolve

    def _show_unknown(self, action: Action | None) -> None:
        """For a send interrupted mid-flight: what is known, and the two ways to close it
        (there is deliberately no way to send it again from here)."""
        unknown = action is not None and action.status is ActionStatus.UNKNOWN
        self.unknown_box.setVisible(unknown)
        for button in (self.approve_button, self.save_button, self.reject_button):
            button.setVisible(not unknown)
        if not unknown or action is None:
            self.unknown_label.setText("")
            return
        result = action.result or {}
        detail = str(result.get("detail") or result.get("reason") or "no detail was recorded")
        claimed = [
            e["ts"]
            for e in self.store.audit.entries(action_id=action.id)
            if e["event"] == "claimed"
        ]
        lines = [
            "⚠ This send was interrupted. It may or may not have been delivered, and SoloDesk "
            "will never send it again on its own.",
            f"What is known: {detail}",
            f"Approved: {_when(action.approved_at)} by {action.decided_by or 'founder'}",
            f"Sending started: {_when(claimed[-1]) if claimed else 'not recorded'}",
            "Check the recipient's copy or your Sent folder, then record what happened.",
        ]
        self.unknown_label.setText("\n".join(lines))

    def _update_buttons(self) -> None:
        action = self.editor.action
        busy = action is not None and action.id in self._in_flight
        status = action.status if action is not None else None
        selected = self.selection_size()
        self._label_decision_buttons(selected)
        if selected > 1:
            self.approve_button.setEnabled(True)
            self.reject_button.setEnabled(True)
        else:
            self.approve_button.setEnabled(
                status is not None and not busy and can_transition(status, ActionStatus.APPROVED)
            )
            self.reject_button.setEnabled(
                status is not None and not busy and can_transition(status, ActionStatus.REJECTED)
            )
        self.save_button.setEnabled(status in EDITABLE and not busy and self.editor.is_dirty())
        self.undo_button.setEnabled(self._undo_target() is not None)
        unknown = status is ActionStatus.UNKNOWN
        self.delivered_button.setEnabled(unknown and not busy)
        self.dismiss_button.setEnabled(unknown and not busy)

    # -- refresh and filters -------------------------------------------------------------------
    def stop_timers(self) -> None:
        """Stop the countdown and a pending refresh (the window is closing: the store may be
        closed before they would fire)."""
        self.countdown_timer.stop()
        self._refresh_timer.stop()

    def refresh(self) -> None:
        """Re-read the list and the pending count; keep or move the selection sensibly."""
        self._refresh_timer.stop()
        shown = self.editor.action
        self.model.refresh()
        self._update_count()
        row = self.selected_row()
        if row is None:
            # The model was reset (many changes, or rows moved between groups) or the shown
            # row left the list: show the same proposal again if it is still listed.
            again = self.model.row_of(shown.id) if shown is not None else None
            self._select_row(again if again is not None else self._last_row)
            if again is not None and not self.editor.is_dirty():
                self._load_selected()
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
        flt = self.model.filters
        narrowed = flt.describe()
        default = flt.status == FILTER_OPEN and not narrowed
        # cleared, not hidden, so the header's layout does not jump
        self.hint_label.setText(HINT if pending == 0 and default else "")
        if not default:
            shown = self.model.rowCount()
            what = ", ".join(x for x in (flt.status, narrowed) if x)
            text += f"  ·  {shown} shown ({what})"
        self.count_label.setText(text)

    def set_filter(self, value: str) -> None:
        """Show ``open`` (default), ``pending``, ``all`` or one status."""
        i = self.filter_combo.findData(value)
        if i < 0:
            raise ValueError(f"unknown inbox filter {value!r}")
        self.filter_combo.setCurrentIndex(i)

    def set_filters(
        self,
        *,
        status: str | None = None,
        agent: str | None = None,
        kind: str | None = None,
        risk: str | None = None,
        group_by: str | None = None,
    ) -> None:
        """Choose filters through their combos (None leaves a filter as it is; use
        :meth:`clear_filters` to show everything again)."""
        if status is not None:
            self.set_filter(status)
        for combo, value in (
            (self.agent_combo, agent),
            (self.kind_combo, kind),
            (self.risk_combo, risk),
            (self.group_combo, group_by),
        ):
            if value is None:
                continue
            if combo is self.agent_combo:
                self.agent_combo.reload()
            i = combo.findData(value)
            if i < 0:
                raise ValueError(f"no filter value {value!r}")
            combo.setCurrentIndex(i)

    def clear_filters(self) -> None:
        """Back to the default: open proposals, every agent, kind and risk, no grouping."""
        for combo in self._filter_combos:
            combo.setCurrentIndex(0)

    def _on_filters_changed(self, _index: int) -> None:
        shown = self._shown_id()
        self.model.set_filters(
            status=str(self.filter_combo.currentData()),
            agent=self.agent_combo.currentData(),
            kind=self.kind_combo.currentData(),
            risk=self.risk_combo.currentData(),
            group_by=str(self.group_combo.currentData()),
        )
        self._update_count()
        # Keep showing the same proposal (and any unsaved edits) if it is still listed.
        row = self.model.row_of(shown) if shown is not None else None
        self._select_row(row if row is not None else 0)

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
        After the approval the list moves to the next pending proposal.

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
            with self.tasks.critical():
                if not self.decisions.undo_seconds(action.kind):
                    self.message.emit(f"Sending #{action.id}…")
                # Edits are saved first (a new hash) and the approval covers exactly them.
                final = await self.decisions.approve(
                    action.id, expected_sha256=action.payload_sha256, payload=shown
                )
            if final.status is ActionStatus.SCHEDULED:
                self._undo_stack.append(final.id)
            text = self._outcome_text(final)
        except DECISION_ERRORS as exc:
            text = f"#{action.id} not approved: {exc}"
        except Exception as exc:
            log.exception("approving #%s failed", action.id)
            text = f"#{action.id} not approved: {type(exc).__name__}: {exc}"
        finally:
            self._in_flight.discard(action.id)
        self._after_decision([action.id], advance=final is not None)
        ok = final is not None and final.status in (ActionStatus.EXECUTED, ActionStatus.SCHEDULED)
        self._report(text, error=not ok)
        return final

    async def approve_many(self, action_ids: Sequence[int], *, what: str) -> list[Action]:
        """Approve several proposals exactly as stored, after one confirmation with the count.

        Each goes through :meth:`Decisions.approve_many
        <solodesk.inbox.decisions.Decisions.approve_many>` with the sha256 it had when the
        founder confirmed (a proposal changed meanwhile is refused and named) and its kind's
        undo window. Proposals that cannot be approved (already decided) are left out of the
        count. Stops early (the rest stay pending) if the application is shutting down.

        Args:
            action_ids: The proposals.
            what: How the confirmation names them (``"selected"``, ``"low-risk"``).

        Returns:
            The approved actions in their new status (scheduled, or executed/failed).
        """
        shown = self.editor.action
        if shown is not None and shown.id in action_ids and self.editor.is_dirty():
            self._report(
                f"#{shown.id} has unsaved edits: save them ({keys.native(keys.SAVE_KEYS)}) or "
                "approve it on its own first",
                error=True,
            )
            return []
        snapshot: list[tuple[int, str]] = []
        for action_id in action_ids:
            if action_id in self._in_flight:
                continue
            try:
                current = self.store.actions.get(action_id)
            except NotFound:
                continue
            if current.status in APPROVABLE:
                snapshot.append((current.id, current.payload_sha256))
        if not snapshot:
            self.message.emit(f"No {what} proposals to approve")
            return []
        count = len(snapshot)
        delay = self.decisions.undo_seconds()
        when = (
            f"They are sent after the {delay:g} s undo window ({keys.native(keys.UNDO_KEYS)} "
            "cancels the latest)."
            if delay
            else "They are sent at once."
        )
        confirmed = await self.confirm(
            "Approve proposals",
            f"Approve {count} {what} proposal{'s' if count != 1 else ''}?",
            f"Each is approved exactly as stored now. {when}",
            ok_text=f"Approve {count}",
        )
        if not confirmed:
            self.message.emit("Approval cancelled; nothing was approved")
            return []
        ids = [i for i, _sha in snapshot]
        self._in_flight.update(ids)
        self._update_buttons()
        try:
            result = await self.decisions.approve_many(
                snapshot,
                guard=self.tasks.critical,
                stop=lambda: "stopped: SoloDesk is closing" if self.tasks.closing else "",
            )
        finally:
            self._in_flight.difference_update(ids)
        done = result.approved
        errors = [f"#{action_id}: {why}" for action_id, why in result.skipped]
        if result.stopped:
            errors.append(result.stopped)
        for final in done:
            if final.status is ActionStatus.SCHEDULED:
                self._undo_stack.append(final.id)
        self._after_decision(ids, advance=True)
        by_status: dict[str, int] = {}
        for a in done:
            by_status[a.status.value] = by_status.get(a.status.value, 0) + 1
        parts = [f"{n} {status}" for status, n in by_status.items()]
        text = f"Approved {len(done)} of {count} {what}: " + (", ".join(parts) or "none")
        if errors:
            text += f"; {len(errors)} not approved — " + "; ".join(errors[:3])
        bad = errors or any(a.status not in (ActionStatus.EXECUTED, ActionStatus.SCHEDULED)
                            for a in done)
        self._report(text, error=bool(bad))
        return done

    async def approve_selection(self) -> list[Action]:
        """Approve every selected proposal (after one confirmation)."""
        return await self.approve_many(self.selected_ids(), what="selected")

    async def approve_low_risk(self) -> list[Action]:
        """Approve every pending low-risk proposal in the list as filtered (after one
        confirmation showing the count). A draft the model needed several attempts for (its
        earlier drafts were invalid) is never offered: it is reviewed one at a time."""
        ids = self.model.matching_ids(status=ActionStatus.PENDING, risk="low", first_draft=True)
        return await self.approve_many(ids, what="low-risk")

    async def confirm(self, title: str, text: str, detail: str, *, ok_text: str) -> bool:
        """Ask a yes/no question without a nested event loop; Enter confirms, Esc cancels."""
        box = QMessageBox(self)
        box.setObjectName("confirmDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(title)
        box.setText(text)
        box.setInformativeText(detail)
        ok = box.addButton(ok_text, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(ok)
        try:
            await await_dialog(box)
            return box.clickedButton() is ok
        finally:
            box.setObjectName("")
            box.deleteLater()

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
                f"Undo send ({keys.native(keys.UNDO_KEYS)}) cancels it"
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
        """Reject the shown proposal; asks for a reason when ``reason`` is None. The list then
        moves to the next pending proposal.

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
                reason = await self.ask_reason(f"Why reject #{action.id}?")
            if reason is None:
                text = "Reject cancelled"
            else:
                rejected = self.decisions.reject(action.id, reason=reason)
                text = f"#{action.id} rejected" + (f": {reason}" if reason else "")
        except DECISION_ERRORS as exc:
            text = f"#{action.id} not rejected: {exc}"
        except Exception as exc:
            log.exception("rejecting #%s failed", action.id)
            text = f"#{action.id} not rejected: {type(exc).__name__}: {exc}"
        finally:
            self._in_flight.discard(action.id)
        if rejected is not None:
            self._after_decision([action.id], advance=True)
        else:
            self._update_buttons()
        self._report(text, error=rejected is None and reason is not None)
        return rejected

    async def reject_many(
        self, action_ids: Sequence[int], reason: str | None = None
    ) -> list[Action]:
        """Reject several proposals with one reason (asked once when ``reason`` is None).

        Returns:
            The rejected actions (empty if cancelled).
        """
        ids = [i for i in action_ids if i not in self._in_flight]
        if not ids:
            self.message.emit("Nothing to reject")
            return []
        if reason is None:
            reason = await self.ask_reason(f"Why reject these {len(ids)} proposals?")
        if reason is None:
            self.message.emit("Reject cancelled")
            return []
        self._in_flight.update(ids)
        rejected: list[Action] = []
        errors: list[str] = []
        try:
            for action_id in ids:
                try:
                    rejected.append(self.decisions.reject(action_id, reason=reason))
                except DECISION_ERRORS as exc:
                    errors.append(f"#{action_id}: {exc}")
        finally:
            self._in_flight.difference_update(ids)
        self._after_decision(ids, advance=True)
        text = f"Rejected {len(rejected)} of {len(ids)}" + (f": {reason}" if reason else "")
        if errors:
            text += f"; {len(errors)} not rejected — " + "; ".join(errors[:3])
        self._report(text, error=bool(errors))
        return rejected

    def _undo_target(self) -> int | None:
        """The scheduled approval Undo applies to: the shown one, else the founder's latest
        approval in this session still in its undo window, else the latest approval (by
        anyone, e.g. a policy rule) still in its undo window."""
        shown = self.editor.action
        if shown is not None and shown.status is ActionStatus.SCHEDULED:
            return shown.id
        while self._undo_stack:
            last = self._undo_stack[-1]
            try:
                status = self.store.actions.get(last).status
            except NotFound:
                status = None
            if status is ActionStatus.SCHEDULED:
                return last
            self._undo_stack.pop()
        return self.store.actions.latest_scheduled()

    def send_pending(self) -> bool:
        """Whether an approval is in its undo window (so Ctrl+Z means Undo send)."""
        return self._undo_target() is not None

    @property
    def last_scheduled(self) -> int | None:
        """The founder's latest approval that may still be in its undo window."""
        return self._undo_stack[-1] if self._undo_stack else None

    async def undo_send(self) -> Action | None:
        """Cancel a scheduled approval (the shown one, else the latest) during its undo
        window: it is pending again, selected, and nothing is sent.

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
            cancelled = self.decisions.cancel(target)
            text = f"#{target} not sent: the approval was cancelled and it is pending again"
        except DECISION_ERRORS as exc:
            text = f"#{target} could not be cancelled (too late?): {exc}"
        finally:
            self._in_flight.discard(target)
        if cancelled is not None:
            if target in self._undo_stack:
                self._undo_stack.remove(target)
            self.refresh()
            self.select_action(target)
            self._auto_selected = None
        self._update_buttons()
        self._report(text, error=cancelled is None)
        return cancelled

    async def ask_reason(self, question: str) -> str | None:
        """Ask for a rejection reason without a nested event loop (the dialog is opened with
        ``open()`` and awaited); Enter confirms. Returns None if cancelled."""
        dialog = QInputDialog(self)
        dialog.setObjectName("rejectReasonDialog")
        dialog.setWindowTitle("Reject")
        dialog.setLabelText(f"{question} (optional, kept in the audit log)")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setOkButtonText("Reject")
        try:
            result = await await_dialog(dialog)
            accepted = result == QDialog.DialogCode.Accepted.value
            return dialog.textValue().strip() if accepted else None
        finally:
            dialog.setObjectName("")
            dialog.deleteLater()

    async def save_selected(self) -> Action | None:
        """Save the editor's changes as a new payload (validated and re-assessed; not
        approved).

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
            saved = self.decisions.edit(
                action.id, self.editor.edited_payload(), expected_sha256=action.payload_sha256
            )
            text = f"#{saved.id} saved (risk: {saved.risk})"
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

    async def confirm_delivered(self) -> Action | None:
        """Record an interrupted (``unknown``) send as delivered, on the founder's word.

        Returns:
            The executed action, or None if the shown proposal is not ``unknown``.
        """
        action = self.editor.action
        if action is None or action.status is not ActionStatus.UNKNOWN:
            self.message.emit("Only an interrupted send can be confirmed as delivered")
            return None
        try:
            done = self.decisions.resolve(action.id, delivered=True)
        except DECISION_ERRORS as exc:
            self._report(f"#{action.id} not changed: {exc}", error=True)
            return None
        self._after_decision([action.id], advance=True)
        self._report(f"#{action.id} recorded as delivered", error=False)
        return done

    async def dismiss_unknown(self) -> Action | None:
        """Close an interrupted (``unknown``) send without sending it (recorded as rejected).

        Returns:
            The rejected action, or None if the shown proposal is not ``unknown``.
        """
        action = self.editor.action
        if action is None or action.status is not ActionStatus.UNKNOWN:
            self.message.emit("Only an interrupted send can be dismissed here")
            return None
        try:
            done = self.decisions.reject(
                action.id, reason="dismissed after an interrupted send (delivery not confirmed)"
            )
        except DECISION_ERRORS as exc:
            self._report(f"#{action.id} not dismissed: {exc}", error=True)
            return None
        self._after_decision([action.id], advance=True)
        self._report(f"#{action.id} dismissed", error=False)
        return done

    def _shown_id(self) -> int | None:
        return self.editor.action.id if self.editor.action is not None else None

    def _after_decision(self, decided: Sequence[int], *, advance: bool) -> None:
        """Show the decided action's new state, refresh the list and, after a decision, move
        to the next pending proposal (noted, so it is not approved unseen)."""
        rows = [r for r in (self.model.row_of(i) for i in decided) if r is not None]
        anchor = min(rows) if rows else self._last_row
        shown_action = self.editor.action
        if shown_action is not None and shown_action.id in decided:
            try:
                stored = self.store.actions.get(shown_action.id)
            except NotFound:
                stored = None
            # Reload unless nothing changed (then the founder's unsaved edits are kept).
            if stored is not None and (
                stored.status is not shown_action.status
                or stored.payload_sha256 != shown_action.payload_sha256
                or stored.updated_at != shown_action.updated_at
            ):
                self.editor.show_action(stored)
                self._show_unknown(stored)
        for action_id in decided:
            self.model.invalidate(action_id)
        self.refresh()
        if advance:
            self._select_next_pending(anchor, skip=set(decided))
        shown = self._shown_id()
        if advance and shown is not None and shown not in decided:
            self._auto_selected = (shown, time.monotonic())
        self._update_buttons()

    def _select_next_pending(self, anchor: int, *, skip: set[int]) -> None:
        """Select the first pending row at or after ``anchor`` (else before it); if there is
        none nearby, the row at ``anchor``."""
        count = self.model.rowCount()
        if count == 0:
            self._select_row(0)
            return
        anchor = max(0, min(anchor, count - 1))
        after = range(anchor, min(count, anchor + NEXT_PENDING_SCAN))
        before = range(anchor - 1, max(-1, anchor - NEXT_PENDING_SCAN), -1)
        for row in itertools.chain(after, before):
            action = self.model.action(row)
            if action is not None and action.id not in skip:
                if action.status is ActionStatus.PENDING:
                    self._select_one(row)
                    return
        self._select_one(anchor)

    def _select_one(self, row: int) -> None:
        if self.selected_rows() == [row]:
            if self.model.action_id(row) != self._shown_id():
                self._load_selected()
            return
        self._select_row(row)

    # -- thin slots ----------------------------------------------------------------------------
    @async_slot("Approving")
    async def _on_approve(self) -> None:
        if self.selection_size() > 1:
            await self.approve_selection()
        else:
            await self.approve_selected()

    @async_slot("Approving low-risk proposals")
    async def _on_approve_low_risk(self) -> None:
        await self.approve_low_risk()

    @async_slot("Rejecting")
    async def _on_reject(self) -> None:
        if self.selection_size() > 1:
            await self.reject_many(self.selected_ids())
        else:
            await self.reject_selected()

    @async_slot("Saving")
    async def _on_save(self) -> None:
        await self.save_selected()

    @async_slot("Undo send")
    async def _on_undo(self) -> None:
        await self.undo_send()

    @async_slot("Confirming delivery")
    async def _on_delivered(self) -> None:
        await self.confirm_delivered()

    @async_slot("Dismissing")
    async def _on_dismiss(self) -> None:
        await self.dismiss_unknown()

    # -- focus ---------------------------------------------------------------------------------
    def focus_list(self) -> None:
        """Put keyboard focus on the proposal list (edits in the editor are kept)."""
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_editor(self) -> None:
        """Put keyboard focus in the body of the shown proposal (Esc comes back)."""
        action = self.editor.action
        if action is None:
            self.message.emit("Select a proposal first")
            return
        if action.status not in EDITABLE:
            self.message.emit(f"#{action.id} is {action.status.value}; it cannot be edited")
        self.editor.focus_widget().setFocus(Qt.FocusReason.ShortcutFocusReason)


def _when(timestamp: str | None) -> str:
    """A store UTC timestamp as local date and time, or ``unknown``."""
    when = parse_utc(timestamp or "")
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "unknown"
