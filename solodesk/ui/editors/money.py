"""The money and calendar kinds' editors: the generic schema form (postings, invoice lines and
attendees as JSON or comma-separated lists), with what approving will do under it: the kind's
own rendering (the postings as a table with who decided, the invoice's parties, lines and
total, the meeting in its time zone)."""

from __future__ import annotations

import html

from solodesk.core import kinds as K
from solodesk.core.kinds.calendar import SEND_INVITATION
from solodesk.core.kinds.invoice import CREATE_INVOICE, MARK_PAID
from solodesk.core.kinds.ledger import RECORD_TRANSACTION
from solodesk.ui.editors import register_editor
from solodesk.ui.editors.schema_form import SchemaFormEditor
from solodesk.ui.inbox_model import reveal


class RenderedFormEditor(SchemaFormEditor):
    """:class:`SchemaFormEditor` whose review shows the kind's ``inbox show`` rendering."""

    def _show_risk(self) -> None:
        super()._show_risk()
        action = self.action
        if action is None:
            return
        spec = K.find(action.kind)
        if spec is None:
            return
        text = "\n".join(line[2:] if line.startswith("  ") else line
                         for line in spec.render(action.payload))
        self.risk_label.setText(
            self.risk_label.text() + f"<br><br><b>{html.escape(spec.title)}:</b>"
            f"<pre>{html.escape(reveal(text))}</pre>"
        )


for _kind in (RECORD_TRANSACTION, CREATE_INVOICE, MARK_PAID, SEND_INVITATION):
    register_editor(_kind, RenderedFormEditor)
