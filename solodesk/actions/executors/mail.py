"""The mail kinds' executor: today's SMTP send (``actions.smtp``) with its stage classification.

The message is built by the SMTP transport at send time: :func:`~solodesk.actions.smtp.
build_message` for a plain mail, :func:`~solodesk.actions.mime.build_mime` when the payload
names attachments (their bytes read from ``store.blobs`` and re-hashed against the approved
sha256; a mismatch is ``failed``, nothing sent). The preflight check is
:func:`~solodesk.actions.smtp.preflight` (host, sender, plaintext login, password in the keyring).
"""

from __future__ import annotations

from solodesk.actions import smtp
from solodesk.actions.executors import (
    ExecutionContext,
    ExecutionInterrupted,
    ExecutionOutcome,
    PreflightContext,
    register_executor,
)
from solodesk.core.actions import Action
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.store.secrets import SecretError

#: The transport name of the SMTP sender in :class:`ExecutionContext`.
SMTP = "smtp"
#: The transport that files a sent mail on the founder's IMAP server (a copy in Sent, and
#: ``\\Answered`` on the mail replied to): ``file(action) -> (note, data)``, or absent.
IMAP_FILING = "imap_filing"

_STATUS = {"sent": "done", "failed": "failed", "unknown": "unknown"}


def outcome_of(send: smtp.SendOutcome) -> ExecutionOutcome:
    """The generic outcome of an SMTP send (``sent`` is ``done``; the result keeps ``sent``,
    the refused recipients and the stage)."""
    data: dict[str, str] = {"status": send.status}
    if send.refused:
        data["refused"] = ", ".join(send.refused)
    if send.stage:
        data["stage"] = send.stage
    return ExecutionOutcome(_STATUS[send.status], send.detail, data)  # type: ignore[arg-type]


async def execute_mail(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Send a ``send_email``/``reply_email`` action through the ``smtp`` transport.

    Raises:
        ExecutionInterrupted: cancelled; its outcome says whether the mail may have been
            delivered (``actions.smtp.send_async``).
    """
    try:
        send = ctx.transport(SMTP)
    except LookupError as exc:
        return ExecutionOutcome("failed", str(exc), {"stage": "SETUP"})
    try:
        result = await send(action)
    except smtp.SendInterrupted as exc:
        raise ExecutionInterrupted(outcome_of(exc.outcome)) from None
    outcome = outcome_of(result)
    if result.status != "sent" or IMAP_FILING not in ctx.transports:
        return outcome
    # Sent: file it on the IMAP server as part of the effect. A filing failure never changes
    # the outcome (the mail went out); the outcome's detail and data say what was filed.
    try:
        note, data = await ctx.transport(IMAP_FILING)(action)
    except Exception as exc:  # the filing must never turn a sent mail into a failure
        note, data = f"not filed on the IMAP server: {type(exc).__name__}: {exc}", {}
    if not note:
        return outcome
    detail = f"{outcome.detail}; {note}" if outcome.detail else note
    return ExecutionOutcome(outcome.status, detail, {**outcome.data, **data})


def mail_preflight(action: Action, ctx: PreflightContext) -> list[str]:
    """What would stop the mail from being sent (``actions.smtp.preflight``)."""
    present = True
    if ctx.config.get("smtp.username"):
        try:
            present = ctx.secrets.get("smtp.password") is not None
        except SecretError as exc:
            return [str(exc)]
    return smtp.preflight(ctx.config, password_present=present)


for _kind in (SEND_EMAIL, REPLY_EMAIL):
    register_executor(_kind, execute_mail, preflight=mail_preflight)
