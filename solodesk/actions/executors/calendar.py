"""The ``send_invitation`` executor: the iMIP mail (RFC 6047) carrying the approved VCALENDAR
(``actions.mime.invitation_message``), sent over SMTP through the ``smtp_message`` transport
(``Outbox.smtp_message_sender``) with the mail kinds' stage classification and preflight."""

from __future__ import annotations

from typing import Any

from solodesk.actions import smtp
from solodesk.actions.executors import (
    ExecutionContext,
    ExecutionInterrupted,
    ExecutionOutcome,
    register_executor,
)
from solodesk.actions.executors.mail import mail_preflight, outcome_of
from solodesk.core.actions import Action
from solodesk.core.calendar import InvitationPayload
from solodesk.core.kinds.calendar import SEND_INVITATION

#: The transport name of the built-message SMTP sender.
SMTP_MESSAGE = "smtp_message"


async def execute_invitation(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Send the invitation mail to every attendee.

    Raises:
        ExecutionInterrupted: cancelled; its outcome says whether it may have been delivered.
    """
    from solodesk.actions.mime import invitation_message

    try:
        send = ctx.transport(SMTP_MESSAGE)
    except LookupError as exc:
        return ExecutionOutcome("failed", str(exc), {"stage": "SETUP"})
    p = InvitationPayload.model_validate(dict(action.payload))
    envelope: dict[str, Any] = {
        "to": list(p.attendees), "cc": [], "message_id": p.message_id,
    }
    try:
        result = await send(envelope, lambda sender: invitation_message(p, sender))
    except smtp.SendInterrupted as exc:
        raise ExecutionInterrupted(outcome_of(exc.outcome)) from None
    return outcome_of(result)


register_executor(SEND_INVITATION, execute_invitation, preflight=mail_preflight)
