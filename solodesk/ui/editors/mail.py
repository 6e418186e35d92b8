"""The mail kinds' editor: :class:`~solodesk.ui.proposal_editor.ProposalEditor` (recipients,
subject, body; the review of recipients, hidden characters and links)."""

from __future__ import annotations

from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.ui.editors import register_editor
from solodesk.ui.proposal_editor import ProposalEditor

for _kind in (SEND_EMAIL, REPLY_EMAIL):
    register_editor(_kind, ProposalEditor)
