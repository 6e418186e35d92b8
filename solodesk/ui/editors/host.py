"""The inbox's editor slot: shows the editor registered for the selected action's kind.

:class:`EditorHost` keeps one editor per editor class (made on first use) in a stacked widget,
and their review areas in another; it forwards the editor protocol (``action``,
``show_action``, ``edited_payload``, ``is_dirty``, ``shown_sha256``, ``update_status``,
``changed``) to the editor in front. Other attributes are the front editor's (the mail editor's
``body_edit``...). A kind without an editor is shown read-only in the generic schema form.
Above the editor, for every kind, :attr:`EditorHost.critique` shows the devil's advocate's
critique of the proposal (``ui.critique_panel``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from solodesk.core.actions import Action
from solodesk.ui.critique_panel import CritiquePanel
from solodesk.ui.editors import editor_class
from solodesk.ui.editors.schema_form import SchemaFormEditor
from solodesk.ui.proposal_editor import ProposalEditor


class EditorHost(QWidget):
    """The editor of the shown proposal's kind (see the module docstring)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack = QStackedWidget()
        self.review_area = QStackedWidget()
        self.critique = CritiquePanel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.critique)
        layout.addWidget(self.stack, 1)
        self._editors: dict[type[QWidget], Any] = {}
        self.current: Any = self._editor(ProposalEditor)  # shown while nothing is selected

    def _editor(self, cls: type[QWidget]) -> Any:
        editor: Any = self._editors.get(cls)
        if editor is None:
            editor = cls()
            editor.changed.connect(self.changed.emit)
            self._editors[cls] = editor
            self.stack.addWidget(editor)
            self.review_area.addWidget(editor.review_area)
        return editor

    def editor_for(self, action: Action | None) -> Any:
        """The editor that shows ``action`` (made if needed)."""
        if action is None:
            return self.current
        return self._editor(editor_class(action.kind) or SchemaFormEditor)

    def show_action(self, action: Action | None) -> None:
        """Bring the editor of ``action``'s kind to the front and load ``action``."""
        editor = self.editor_for(action)
        if editor is not self.current:
            self.current.show_action(None)
        self.current = editor
        self.stack.setCurrentWidget(editor)
        self.review_area.setCurrentWidget(editor.review_area)
        self.critique.show_action(action)
        editor.show_action(action)

    @property
    def action(self) -> Action | None:
        """The proposal shown (as loaded)."""
        action: Action | None = self.current.action
        return action

    def update_status(self) -> None:
        self.current.update_status()

    def edited_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.current.edited_payload()
        return payload

    def is_dirty(self) -> bool:
        return bool(self.current.is_dirty())

    def shown_sha256(self) -> str | None:
        sha: str | None = self.current.shown_sha256()
        return sha

    def focus_widget(self) -> QWidget:
        widget: QWidget = self.current.focus_widget()
        return widget

    def __getattr__(self, name: str) -> Any:
        # Only reached for names EditorHost lacks: the front editor's widgets (body_edit...).
        if name.startswith("_") or name in ("stack", "review_area", "current", "critique"):
            raise AttributeError(name)
        return getattr(self.current, name)
