"""A generic editor built from a kind's payload schema (``KindSpec.payload_model``).

One row per top-level field of the JSON schema: a line edit for strings, numbers and lists
(comma-separated), a text area for long text (a field whose schema says
``"x-multiline": true``, or named ``body``/``content``/``text``/``description``/``notes``), a
check box for booleans, JSON for nested objects. Values are typed back with the same rules as
``solodesk inbox edit`` (``KindSpec.coerce``): a whole number field refuses ``12.5``, a decimal
field refuses ``abc``; the error names the field and the payload is not changed until it is
fixed. Simple kinds register it explicitly::

    register_editor("test_note", SchemaFormEditor)
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from solodesk.core import kinds as K
from solodesk.core.actions import EDITABLE, Action, ActionStatus, JSONObject, payload_sha256
from solodesk.ui.inbox_model import reveal, risk_color, risk_text
from solodesk.ui.proposal_editor import ProposalEditor

#: Field names shown as a text area even without ``x-multiline`` in their schema.
LONG_TEXT_FIELDS = frozenset({"body", "content", "text", "description", "notes"})


def _shown(value: Any) -> str:
    """A payload value as the text of its line edit."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class SchemaFormEditor(QWidget):
    """A form over the payload schema of the shown action's kind (see the module docstring)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action: Action | None = None
        self._kind: str | None = None
        self._loading = False
        self._widgets: dict[str, QWidget] = {}
        self._loaded: dict[str, str] = {}
        self.title = QLabel("No proposal selected")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("QLabel { font-weight: bold; }")
        self.kind_label = QLabel()
        self.kind_label.setStyleSheet("QLabel { color: #6b6b6b; }")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.form_box = QWidget()
        self.form = QFormLayout(self.form_box)
        self.errors_label = QLabel()
        self.errors_label.setWordWrap(True)
        self.errors_label.setStyleSheet("QLabel { color: #b3261e; }")
        self.errors_label.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.kind_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.form_box, 1)
        layout.addWidget(self.errors_label)

        self.risk_label = QLabel("Risk: —")
        self.risk_label.setWordWrap(True)
        review = QWidget()
        review_layout = QVBoxLayout(review)
        review_layout.addWidget(self.risk_label)
        review_layout.addStretch(1)
        self.review_area = QScrollArea()
        self.review_area.setWidgetResizable(True)
        self.review_area.setWidget(review)

    # -- building ----------------------------------------------------------------------------
    def _build(self, kind: str) -> None:
        """One row per schema field of ``kind`` (rebuilt when the kind changes)."""
        if kind == self._kind:
            return
        while self.form.rowCount():
            self.form.removeRow(0)
        self._widgets = {}
        self._kind = kind
        spec = K.find(kind)
        if spec is None:
            return
        for name, schema in spec.fields().items():
            widget: QWidget
            types = {str(schema.get("type", ""))} | {
                str(a.get("type", "")) for a in schema.get("anyOf", []) or []
            }
            if types == {"boolean"}:
                box = QCheckBox()
                box.toggled.connect(self._on_edited)
                widget = box
            elif schema.get("x-multiline") or name in LONG_TEXT_FIELDS:
                area = QPlainTextEdit()
                area.setTabChangesFocus(True)
                area.textChanged.connect(self._on_edited)
                widget = area
            else:
                line = QLineEdit()
                line.textEdited.connect(self._on_edited)
                widget = line
            widget.setObjectName(f"field_{name}")
            widget.setToolTip(str(schema.get("description") or schema.get("title") or name))
            self._widgets[name] = widget
            self.form.addRow(f"{schema.get('title') or name}:", widget)

    # -- the editor protocol (see solodesk.ui.editors) ----------------------------------------
    @property
    def action(self) -> Action | None:
        """The proposal as loaded (before the founder's unsaved edits)."""
        return self._action

    def field(self, name: str) -> QWidget:
        """The widget of field ``name`` (for tests and keyboard users)."""
        return self._widgets[name]

    def show_action(self, action: Action | None) -> None:
        """Load ``action`` into the form (None clears it)."""
        self._loading = True
        try:
            self._action = action
            if action is not None:
                self._build(action.kind)
            self.title.setText(
                "No proposal selected" if action is None
                else f"#{action.id}  {reveal(action.summary)}"
            )
            spec = K.find(action.kind) if action is not None else None
            self.kind_label.setText(
                "" if action is None
                else f"{spec.title if spec else action.kind} ({action.kind}) · proposed by "
                f"{reveal(action.agent)}"
            )
            payload: JSONObject = action.payload if action is not None else {}
            editable = action is not None and action.status in EDITABLE
            self._loaded = {}
            for name, widget in self._widgets.items():
                text = _shown(payload.get(name))
                self._loaded[name] = text
                if isinstance(widget, QCheckBox):
                    widget.setChecked(bool(payload.get(name)))
                    widget.setEnabled(editable)
                elif isinstance(widget, QPlainTextEdit):
                    widget.setPlainText(text)
                    widget.setReadOnly(not editable)
                elif isinstance(widget, QLineEdit):
                    widget.setText(text)
                    widget.setCursorPosition(0)
                    widget.setReadOnly(not editable)
            self.setEnabled(action is not None)
            self.update_status()
            self._show_errors(list(action.errors) if action is not None else [])
            self._show_risk()
        finally:
            self._loading = False

    def update_status(self) -> None:
        """Re-render the status line."""
        self.status_label.setText(ProposalEditor._status_text(self._action))

    def _text(self, widget: QWidget) -> str:
        if isinstance(widget, QCheckBox):
            return "true" if widget.isChecked() else "false"
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        if isinstance(widget, QLineEdit):
            return widget.text()
        return ""

    def field_errors(self) -> list[str]:
        """Why fields as typed cannot be read (``amount_cents: needs a whole number...``)."""
        try:
            self._edited()
        except ValueError as exc:
            return [str(exc)]
        return []

    def _edited(self) -> JSONObject:
        action = self._action
        if action is None:
            raise ValueError("no proposal selected")
        payload = dict(action.payload)
        if action.status is ActionStatus.INVALID:
            return payload
        spec = K.find(action.kind)
        if spec is None:
            return payload
        fields = spec.fields()
        for name, widget in self._widgets.items():
            text = self._text(widget)
            if isinstance(widget, QCheckBox) and name not in payload and text == "false":
                continue
            if text == self._loaded.get(name):
                continue  # untouched: the stored value, exactly
            payload[name] = K.coerce_value(name, fields[name], text)
        return payload

    def edited_payload(self) -> JSONObject:
        """The payload as shown; a field that cannot be read keeps its loaded value (its
        error is shown, and :meth:`is_dirty` stays true until it is fixed).

        Raises:
            ValueError: no proposal is loaded.
        """
        if self._action is None:
            raise ValueError("no proposal selected")
        try:
            return self._edited()
        except ValueError:
            return dict(self._action.payload)

    def is_dirty(self) -> bool:
        """True if any field differs from the loaded payload."""
        action = self._action
        if action is None or action.status is ActionStatus.INVALID:
            return False
        return any(self._text(w) != self._loaded.get(n) for n, w in self._widgets.items())

    def shown_sha256(self) -> str | None:
        """The sha256 of the payload as shown (what an approval must match)."""
        if self._action is None:
            return None
        return payload_sha256(self.edited_payload())

    def focus_widget(self) -> QWidget:
        """The first field."""
        return next(iter(self._widgets.values()), self)

    def review_text(self) -> str:
        """The review area as plain text."""
        return html.unescape(self.risk_label.text().replace("<br>", "\n"))

    # -- feedback ----------------------------------------------------------------------------
    def _show_errors(self, errors: list[str]) -> None:
        self.errors_label.setText("\n".join(f"• {e}" for e in errors))
        self.errors_label.setVisible(bool(errors))

    def _show_risk(self) -> None:
        action = self._action
        if action is None:
            self.risk_label.setText("Risk: —")
            return
        reasons = "".join(f"<br>• {html.escape(reveal(r))}" for r in action.risk_reasons)
        self.risk_label.setText(
            f"<b>Risk:</b> <b style='color:{risk_color(action)}'>"
            f"{html.escape(risk_text(action))}</b>{reasons}"
        )

    def _on_edited(self, *_args: Any) -> None:
        if self._loading:
            return
        errors = self.field_errors()
        self._show_errors(errors)
        self.changed.emit()
