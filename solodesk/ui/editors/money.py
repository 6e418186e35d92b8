"""The money and calendar kinds' editors: the generic schema form (postings, invoice lines
and attendees as JSON or comma-separated lists)."""

from __future__ import annotations

from solodesk.core.kinds.calendar import SEND_INVITATION
from solodesk.core.kinds.invoice import CREATE_INVOICE, MARK_PAID
from solodesk.core.kinds.ledger import RECORD_TRANSACTION
from solodesk.ui.editors import register_editor
from solodesk.ui.editors.schema_form import SchemaFormEditor

for _kind in (RECORD_TRANSACTION, CREATE_INVOICE, MARK_PAID, SEND_INVITATION):
    register_editor(_kind, SchemaFormEditor)
