"""The policy rules page: the founder's standing decisions, in evaluation order.

Rules are read and changed only through :class:`~solodesk.store.repos.PolicyRepo`, whose
``add``/``remove`` write an audit entry for every change. Conditions are typed as
``FIELD OP VALUE`` lines and checked with :func:`~solodesk.core.policy.parse_condition` as the
founder types; its :class:`~solodesk.core.policy.RuleError` message is shown inline.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from solodesk.core import kinds as K
from solodesk.core.policy import (
    Condition,
    Outcome,
    PolicyRule,
    RuleError,
    auto_approve_warning,
    fields_for,
    parse_condition,
)
from solodesk.store.repos import NotFound, Store
from solodesk.ui.table_model import Index, ReadOnlyTableModel

log = logging.getLogger(__name__)


ERROR_STYLE = "QLabel { color: #b3261e; }"
OK_STYLE = "QLabel { color: #1b6e35; }"
CAUTION_STYLE = (
    "QLabel { background: #fff4e5; color: #6b3d00; border: 1px solid #f0c27b;"
    " border-radius: 4px; padding: 4px 6px; }"
)

OUTCOME_LABELS = {
    Outcome.AUTO_APPROVE: "auto-approve",
    Outcome.ASK: "ask",
    Outcome.BLOCK: "block",
}
OUTCOME_HELP = {
    Outcome.AUTO_APPROVE: "approved in your name (still through the undo window)",
    Outcome.ASK: "waits in your inbox for you",
    Outcome.BLOCK: "rejected at once",
}
OUTCOME_COLORS = {Outcome.AUTO_APPROVE: "#8a5300", Outcome.BLOCK: "#b3261e"}

DEFAULT_TEXT = (
    "Rules decide what happens to each new proposal before it reaches your inbox. They are "
    "checked from the top (lowest position first) and the first rule whose kind and every "
    "condition match decides: <b>auto-approve</b> (approved in your name, still through the "
    "undo window), <b>ask</b> (waits in your inbox) or <b>block</b> (rejected at once). "
    "<b>When no rule matches, the proposal waits for you (ask).</b> Every change is recorded "
    "in the audit trail."
)


def parse_conditions(text: str, kind: str = "*") -> tuple[list[Condition], list[str]]:
    """Parse one ``FIELD OP VALUE`` condition per non-empty line, for a rule on ``kind``.

    Returns:
        The conditions, and one error per bad line (``line 2: unknown field 'x'; …``).
    """
    conditions: list[Condition] = []
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            conditions.append(parse_condition(line, kind=kind))
        except RuleError as exc:
            errors.append(f"line {n}: {exc}")
    return conditions, errors


def fields_help() -> str:
    """The fields a condition can test and their operators, one per line."""
    return "\n".join(f"{name}  {' '.join(f.ops)}" for name, f in fields_for().items())


class PolicyRulesModel(ReadOnlyTableModel):
    """The rules in evaluation order (a handful of rows: read in full)."""

    COLUMNS = ("Position", "Kind", "Conditions", "Outcome", "Note")

    def __init__(self, store: Store, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self._rules: list[PolicyRule] = store.policy.rules()

    def reload(self) -> None:
        """Re-read the rules."""
        self.beginResetModel()
        self._rules = self.store.policy.rules()
        self.endResetModel()

    def rule(self, row: int) -> PolicyRule | None:
        return self._rules[row] if 0 <= row < len(self._rules) else None

    def row_of(self, rule_id: int) -> int | None:
        return next((i for i, r in enumerate(self._rules) if r.id == rule_id), None)

    def row_total(self) -> int:
        return len(self._rules)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rule = self.rule(index.row())
        if rule is None or index.column() >= len(self.COLUMNS):
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return str(rule.position)
            if col == 1:
                return "* (every kind)" if rule.kind == "*" else rule.kind
            if col == 2:
                return " and ".join(str(c) for c in rule.conditions) or "always"
            if col == 3:
                return OUTCOME_LABELS[rule.outcome]
            return rule.note
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{rule.describe()}\n{rule.outcome.value}: {OUTCOME_HELP[rule.outcome]}"
            warning = auto_approve_warning(rule.outcome, rule.conditions)
            return f"{text}\n⚠ {warning}" if warning else text
        if role == Qt.ItemDataRole.ForegroundRole and col == 3:
            color = OUTCOME_COLORS.get(rule.outcome)
            return QBrush(QColor(color)) if color else None
        return None


class PolicyDialog(QDialog):
    """Lists the policy rules and adds or removes them (each change audited).

    Signals:
        changed(str): A rule was added or removed; the text says which.
    """

    changed = Signal(str)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("policyDialog")
        self.setWindowTitle("Policy rules")

        intro = QLabel(DEFAULT_TEXT)
        intro.setObjectName("policyIntro")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.model = PolicyRulesModel(store, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for col in (0, 1, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.empty_label = QLabel("No rules yet: every proposal waits for you (ask).")
        self.empty_label.setStyleSheet("QLabel { color: #6b6b6b; }")

        self.remove_button = QPushButton("&Remove rule…")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        # the form
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("* (every kind)", "*")
        for kind in K.names():
            self.kind_combo.addItem(kind, kind)
        self.conditions_edit = QPlainTextEdit()
        self.conditions_edit.setObjectName("conditionsEdit")
        self.conditions_edit.setPlaceholderText(
            "one per line, FIELD OP VALUE — e.g.\nrisk == low\nrecipients_known == true\n"
            "(none: the rule matches every proposal of its kind)"
        )
        self.conditions_edit.setTabChangesFocus(True)
        self.conditions_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 5 + 12)
        self.conditions_edit.textChanged.connect(self._validate)
        self.fields_label = QLabel("Fields and operators:\n" + fields_help())
        self.fields_label.setStyleSheet("QLabel { color: #6b6b6b; }")
        self.fields_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label = QLabel()
        self.error_label.setObjectName("conditionErrors")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.outcome_combo = QComboBox()
        for outcome in (Outcome.ASK, Outcome.AUTO_APPROVE, Outcome.BLOCK):
            self.outcome_combo.addItem(
                f"{OUTCOME_LABELS[outcome]} — {OUTCOME_HELP[outcome]}", outcome.value
            )
        self.outcome_combo.currentIndexChanged.connect(self._validate)
        self.untrusted_warning = QLabel()
        self.untrusted_warning.setObjectName("untrustedWarning")
        self.untrusted_warning.setWordWrap(True)
        self.untrusted_warning.setTextFormat(Qt.TextFormat.PlainText)
        self.untrusted_warning.setStyleSheet(CAUTION_STYLE)
        self.untrusted_warning.hide()
        self.position_spin = QSpinBox()
        self.position_spin.setRange(-1, 1_000_000)
        self.position_spin.setSpecialValueText("at the end")
        self.position_spin.setValue(-1)
        self.position_spin.setToolTip("Lower positions are checked first")
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("why this rule exists (optional)")
        self.add_button = QPushButton("&Add rule")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_from_form)

        form = QFormLayout()
        form.addRow("Kind:", self.kind_combo)
        conditions_box = QHBoxLayout()
        conditions_box.addWidget(self.conditions_edit, 2)
        conditions_box.addWidget(self.fields_label, 1)
        form.addRow("Conditions:", conditions_box)
        form.addRow("", self.error_label)
        form.addRow("Outcome:", self.outcome_combo)
        form.addRow("", self.untrusted_warning)
        form.addRow("Position:", self.position_spin)
        form.addRow("Note:", self.note_edit)
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.add_button)
        form.addRow(add_row)
        add_box = QGroupBox("Add a rule")
        add_box.setLayout(form)

        self.status_label = QLabel()
        self.status_label.setObjectName("policyStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        table_row = QHBoxLayout()
        table_row.addWidget(self.empty_label)
        table_row.addStretch(1)
        table_row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(table_row)
        layout.addWidget(add_box)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self.resize(820, 640)
        self._update_buttons()

    # -- form ----------------------------------------------------------------------------------
    def _validate(self, *_args: Any) -> list[str]:
        conditions, errors = parse_conditions(
            self.conditions_edit.toPlainText(), str(self.kind_combo.currentData() or "*")
        )
        self.error_label.setText("\n".join(errors))
        self.error_label.setVisible(bool(errors))
        self.add_button.setEnabled(not errors)
        # A warning, not a refusal: the founder may mean it.
        warning = "" if errors else auto_approve_warning(self._outcome(), conditions)
        self.untrusted_warning.setText(f"⚠ Caution: {warning}" if warning else "")
        self.untrusted_warning.setVisible(bool(warning))
        return errors

    def _outcome(self) -> Outcome:
        return Outcome(str(self.outcome_combo.currentData()))

    def add_from_form(self) -> PolicyRule | None:
        """Add the rule described by the form (audited by the store).

        Returns:
            The stored rule, or None if the form has errors (shown inline).
        """
        conditions, errors = parse_conditions(
            self.conditions_edit.toPlainText(), str(self.kind_combo.currentData() or "*")
        )
        if errors:
            self._validate()
            return None
        position = self.position_spin.value()
        try:
            rule = self.store.policy.add(
                kind=str(self.kind_combo.currentData()),
                conditions=conditions,
                outcome=Outcome(str(self.outcome_combo.currentData())),
                note=self.note_edit.text().strip(),
                position=None if position < 0 else position,
            )
        except RuleError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return None
        self.model.reload()
        row = self.model.row_of(rule.id)
        if row is not None:
            self.table.selectRow(row)
        self.conditions_edit.clear()
        self.note_edit.clear()
        self.position_spin.setValue(-1)
        text = f"Rule #{rule.id} added: {rule.describe()}"
        warning = auto_approve_warning(rule.outcome, rule.conditions)
        if warning:
            text += f"\n⚠ Caution: {warning}"
        self._status(text)
        self.changed.emit(text)
        self._update_buttons()
        return rule

    # -- removing ------------------------------------------------------------------------------
    def selected_rule(self) -> PolicyRule | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rule(rows[0].row()) if rows else None

    def remove_selected(self) -> QMessageBox | None:
        """Ask (non-blocking) whether to remove the selected rule; removes it when confirmed.

        Returns:
            The confirmation box, or None if no rule is selected.
        """
        rule = self.selected_rule()
        if rule is None:
            self._status("Select a rule first", error=True)
            return None
        box = QMessageBox(self)
        box.setObjectName("removeRuleDialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Remove rule")
        box.setText(f"Remove rule #{rule.id}?")
        box.setInformativeText(rule.describe())
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished(_result: int) -> None:
            if box.clickedButton() is remove:
                self.remove_rule(rule.id)
            box.deleteLater()

        box.finished.connect(finished)
        box.open()
        return box

    def remove_rule(self, rule_id: int) -> PolicyRule | None:
        """Remove one rule now (audited by the store)."""
        try:
            rule = self.store.policy.remove(rule_id)
        except NotFound as exc:
            self._status(str(exc), error=True)
            self.model.reload()
            return None
        self.model.reload()
        text = f"Rule #{rule.id} removed: {rule.describe()}"
        self._status(text)
        self.changed.emit(text)
        self._update_buttons()
        return rule

    # -- state ---------------------------------------------------------------------------------
    def _status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else OK_STYLE)

    def _update_buttons(self, *_args: Any) -> None:
        self.remove_button.setEnabled(self.selected_rule() is not None)
        self.empty_label.setVisible(self.model.rowCount() == 0)
