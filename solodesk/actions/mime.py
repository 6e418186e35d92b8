"""MIME messages with attachments and calendar invitations, from approved payloads.

:func:`build_mime` is what the SMTP executor will call for a mail whose payload names
attachments by sha256 (:class:`~solodesk.core.attachments.AttachmentRef`): it checks every
attachment's bytes against the sha256 the founder approved and refuses a mismatch, then builds
the RFC 5322 message (headers as :func:`solodesk.actions.smtp.build_message` writes them,
``multipart/mixed`` with RFC 2183 ``attachment`` parts, base64). An invitation adds the
iCalendar object as a ``text/calendar; method=REQUEST`` alternative to the plain-text body and
as an ``invite.ics`` attachment (RFC 6047, iMIP), which is how mail clients offer to accept it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from solodesk.actions.smtp import build_message
from solodesk.core.attachments import AttachmentRef, attachment_errors
from solodesk.core.calendar import InvitationPayload, build_ics
from solodesk.store.blobs import BlobRepo


class AttachmentMismatch(Exception):
    """An attachment's bytes are not the ones approved: nothing is sent."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment's approved reference and its bytes."""

    ref: AttachmentRef
    data: bytes


@dataclass(frozen=True, slots=True)
class CalendarPart:
    """An iCalendar object to send as an iMIP message (RFC 6047).

    Attributes:
        ics: The VCALENDAR as bytes (UTF-8, CRLF lines), see :mod:`solodesk.core.calendar`.
        method: Its ``METHOD`` (``REQUEST`` for an invitation, ``CANCEL``...).
        filename: Name of the attached copy.
    """

    ics: bytes
    method: str = "REQUEST"
    filename: str = "invite.ics"


def load_attachments(blobs: BlobRepo, refs: Sequence[AttachmentRef]) -> list[Attachment]:
    """The bytes of each approved attachment from the blob store.

    Raises:
        NotFound: an attachment's bytes are not stored.
        BlobCorrupt: stored bytes no longer match their sha256.
        AttachmentMismatch: a stored blob's size differs from the approved one.
    """
    out = []
    for ref in refs:
        blob = blobs.get(ref.sha256)
        if blob.size != ref.size:
            raise AttachmentMismatch(
                f"attachment {ref.filename!r}: {blob.size} bytes stored, {ref.size} approved"
            )
        out.append(Attachment(ref, blob.data))
    return out


def build_mime(
    payload: Mapping[str, Any],
    from_addr: str,
    attachments: Sequence[Attachment] = (),
    *,
    calendar: CalendarPart | None = None,
) -> EmailMessage:
    """The message for a mail payload with its attachments (and an invitation).

    Args:
        payload: A ``send_email``/``reply_email`` payload (to, cc, subject, body, message_id,
            threading headers); its ``attachments`` entry, if any, is ignored here: the
            attachments are given with their bytes.
        from_addr: The From header (``smtp.from``).
        attachments: Each approved reference with its bytes.
        calendar: An iCalendar object to send as an iMIP invitation.

    Returns:
        The :class:`~email.message.EmailMessage` (``as_bytes()`` gives what is sent).

    Raises:
        AttachmentMismatch: some bytes do not hash to the approved sha256 or size, or the
            attachments break :func:`~solodesk.core.attachments.attachment_errors`.
    """
    for att in attachments:
        actual = hashlib.sha256(att.data).hexdigest()
        if actual != att.ref.sha256 or len(att.data) != att.ref.size:
            raise AttachmentMismatch(
                f"attachment {att.ref.filename!r}: its bytes (sha256 {actual[:12]}..., "
                f"{len(att.data)} bytes) are not the ones approved (sha256 "
                f"{att.ref.sha256[:12]}..., {att.ref.size} bytes); nothing was sent"
            )
    problems = attachment_errors([a.ref for a in attachments])
    if problems:
        raise AttachmentMismatch("; ".join(problems))
    msg = build_message(payload, from_addr)
    if calendar is not None:
        method = calendar.method.upper()
        # Content-Type: text/calendar; charset="utf-8"; method="REQUEST" (RFC 6047 2.4; the
        # quotes are RFC 2045's optional ones). Quoted-printable: 7-bit safe, still readable.
        msg.add_alternative(
            calendar.ics.decode("utf-8"), subtype="calendar", charset="utf-8",
            cte="quoted-printable", params={"method": method},
        )
        msg.add_attachment(
            calendar.ics, maintype="application", subtype="ics", filename=calendar.filename
        )
    for att in attachments:
        maintype, _, subtype = att.ref.media_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype,
                           filename=att.ref.filename)
    return msg


def attachment_ref(data: bytes, *, filename: str, media_type: str) -> AttachmentRef:
    """The reference a payload carries for ``data``."""
    return AttachmentRef(
        sha256=hashlib.sha256(data).hexdigest(), filename=filename, media_type=media_type,
        size=len(data),
    )


def invitation_message(payload: InvitationPayload, from_addr: str) -> EmailMessage:
    """The iMIP mail of a ``send_invitation`` payload: to every attendee, its subject and body,
    the VCALENDAR as ``text/calendar; method=REQUEST`` and ``invite.ics``.

    Raises:
        CalendarError: the invitation is invalid (see
            :func:`~solodesk.core.calendar.invitation_errors`).
    """
    body = payload.body.strip() or (
        f"You are invited to {payload.summary}.\n\n{payload.description}".strip()
    )
    mail = {
        "to": list(payload.attendees),
        "cc": [],
        "subject": payload.subject(),
        "body": body,
        "message_id": payload.message_id,
    }
    return build_mime(mail, from_addr, calendar=CalendarPart(build_ics(payload.to_invitation())))
