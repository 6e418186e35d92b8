"""The ``remember_fact`` editor: the generic schema form (the fact as a text area, its ref),
with what approving will do under the risk: store the fact in the shared memory (marked
untrusted when the proposal is), where every agent's ``search_memory`` finds it."""

from __future__ import annotations

from solodesk.core.kinds.memory import REMEMBER_FACT
from solodesk.ui.editors import register_editor
from solodesk.ui.editors.schema_form import SchemaFormEditor


class FactEditor(SchemaFormEditor):
    """:class:`SchemaFormEditor` whose review says what approving a fact does."""

    def _show_risk(self) -> None:
        super()._show_risk()
        action = self.action
        if action is None:
            return
        what = ("Approving stores this fact in the shared memory at once; agents find it "
                "with search_memory. Forget it on the Memory page (Ctrl+7).")
        if action.provenance.untrusted:
            what += (" It comes from text you did not write: it stays marked untrusted and "
                     "agents are told so.")
        self.risk_label.setText(self.risk_label.text() + f"<br><br>{what}")


register_editor(REMEMBER_FACT, FactEditor)
