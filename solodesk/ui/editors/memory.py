"""The ``remember_fact`` editor: the generic schema form (the fact as a text area, its ref)."""

from __future__ import annotations

from solodesk.core.kinds.memory import REMEMBER_FACT
from solodesk.ui.editors import register_editor
from solodesk.ui.editors.schema_form import SchemaFormEditor

register_editor(REMEMBER_FACT, SchemaFormEditor)
