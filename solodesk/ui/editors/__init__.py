"""Editors per action kind: the widget the inbox shows for the selected proposal.

An editor registers once per kind (``register_editor(kind, cls)``). Every editor class is a
``QWidget`` that takes an optional parent and provides:

- ``changed`` (a ``Signal()``): the founder edited a field;
- ``action`` (the proposal as loaded), ``show_action(action | None)``, ``update_status()``;
- ``edited_payload()`` (the payload as shown), ``is_dirty()``, ``shown_sha256()``;
- ``review_area`` (a widget with risk and what will happen, shown under the editor);
- ``focus_widget()`` (where Enter/E puts the keyboard focus).

The mail kinds use :class:`~solodesk.ui.proposal_editor.ProposalEditor`; simple kinds register
the generic :class:`~solodesk.ui.editors.schema_form.SchemaFormEditor` explicitly. The inbox
shows them through :class:`~solodesk.ui.editors.host.EditorHost`, which picks the editor of the
selected action's kind.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

_EDITORS: dict[str, type[QWidget]] = {}


def register_editor(kind: str, cls: type[QWidget]) -> None:
    """Register (or, in tests, replace) the editor class of ``kind``."""
    _EDITORS[kind] = cls


def unregister_editor(kind: str) -> None:
    """Remove the editor of ``kind`` (tests that register their own kinds)."""
    _EDITORS.pop(kind, None)


def editor_class(kind: str) -> type[QWidget] | None:
    """The editor class registered for ``kind``, or None."""
    return _EDITORS.get(kind)


def has_editor(kind: str) -> bool:
    """Whether ``kind`` has an editor."""
    return kind in _EDITORS


# The built-in editors register themselves on import.
from solodesk.ui.editors import mail as _mail  # noqa: E402,F401,I001
from solodesk.ui.editors import memory as _memory  # noqa: E402,F401
from solodesk.ui.editors import money as _money  # noqa: E402,F401

# Documents (issue 8).
from solodesk.ui.editors import document as _document  # noqa: E402,F401
