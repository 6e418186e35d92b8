"""The calendar kind: ``send_invitation``, an RFC 5545 invitation (``METHOD:REQUEST``, the
founder as ORGANIZER) sent by mail as iMIP (RFC 6047) after approval.

The payload is :class:`~solodesk.core.calendar.InvitationPayload` (times as ISO 8601 with their
offset, the IANA time zone the VTIMEZONE is built from, the UID and the mail's Message-ID fixed
at proposal time). The idempotency key is the Message-ID. Risk is that of a new mail to the
attendees (``core.kinds.mail``: new conversation, unknown or outside recipients, hidden
characters), the policy facts those of the mail kinds (``recipient_domains``, ``recipients``,
``recipient_count``, ``recipients_known``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from solodesk.core.actions import Action, Provenance
from solodesk.core.calendar import InvitationPayload
from solodesk.core.kinds import KindSpec, RiskContext, register
from solodesk.core.kinds.mail import FACT_FIELDS, assess_send, mail_facts
from solodesk.core.mail import SendEmailPayload
from solodesk.core.risk import RiskAssessment

SEND_INVITATION = "send_invitation"


def as_mail(p: InvitationPayload) -> SendEmailPayload:
    """The invitation mail as a ``send_email`` payload (for risk and policy facts)."""
    return SendEmailPayload.model_validate({
        "to": list(p.attendees), "cc": [], "subject": p.subject(),
        "body": p.body or p.description or p.summary, "message_id": p.message_id,
    })


def assess(p: InvitationPayload, provenance: Provenance, ctx: RiskContext) -> RiskAssessment:
    """The risk of the invitation mail (a new conversation: at least medium)."""
    return assess_send(as_mail(p), provenance, ctx)


def facts(p: InvitationPayload, ctx: RiskContext) -> dict[str, Any]:
    """The mail kinds' recipient facts of the attendees."""
    return mail_facts(as_mail(p), ctx)


def busy(actions: Iterable[Action]) -> list[tuple[datetime, datetime]]:
    """The meetings the founder already has or may soon have: ``(start, end)`` of every
    ``send_invitation`` among ``actions`` that was not rejected or found invalid (pending ones
    included, so two proposals never offer the same time)."""
    out: list[tuple[datetime, datetime]] = []
    for action in actions:
        if action.kind != SEND_INVITATION or action.status.value in ("rejected", "invalid"):
            continue
        try:
            p = InvitationPayload.model_validate(dict(action.payload))
        except ValueError:
            continue
        out.append((p.start, p.end))
    return out


def render(p: Mapping[str, Any]) -> list[str]:
    """A stored invitation as ``inbox show`` lines: the meeting in its time zone, then who."""
    from pydantic import ValidationError

    from solodesk.core.bounds import escape_controls
    from solodesk.core.calendar import CalendarError, zone
    from solodesk.core.kinds import render_fields

    try:
        inv = InvitationPayload.model_validate(dict(p))
    except ValidationError:
        return render_fields(InvitationPayload.model_json_schema().get("properties", {}), p)
    try:
        tz = zone(inv.timezone)
        start, end = inv.start.astimezone(tz), inv.end.astimezone(tz)
    except CalendarError:
        start, end = inv.start, inv.end
    lines = [
        f"  Meeting:   {escape_controls(inv.summary)}",
        f"  When:      {start:%a %d %b %Y %H:%M} – {end:%H:%M} ({escape_controls(inv.timezone)})",
        f"  Organizer: {escape_controls(inv.organizer)}",
        f"  Attendees: {escape_controls(', '.join(inv.attendees))}",
        f"  UID:       {escape_controls(inv.uid)} (sequence {inv.sequence})",
        f"  Message-ID: {escape_controls(inv.message_id)}",
    ]
    if inv.location:
        lines.append(f"  Where:     {escape_controls(inv.location)}")
    text = inv.body or inv.description
    if text:
        lines.append("")
        lines += ["  " + ln for ln in escape_controls(text, multiline=True).splitlines()]
    return lines


SEND_INVITATION_SPEC = register(
    KindSpec(
        name=SEND_INVITATION,
        title="Send a meeting invitation",
        label="Invitation",
        payload_model=InvitationPayload,
        summary=InvitationPayload.inbox_summary,
        idempotency_key=InvitationPayload.idempotency_key,
        validate=InvitationPayload.errors,
        assess=assess,
        facts=facts,
        fact_fields=FACT_FIELDS,
        render_text=render,
        edit_fields=("summary", "start", "end", "attendees", "description", "location",
                     "body"),
    )
)
