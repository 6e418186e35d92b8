"""The support agent's meeting proposals: when a mail asks for a meeting or a call, triage may
answer with a ``send_invitation`` (RFC 5545, ``METHOD:REQUEST``) at one of the founder's free
times instead of a reply.

:func:`meeting_offer` computes the next free slots from the business profile's availability
(else the ``calendar.availability`` setting; weekly hours in ``calendar.timezone``), at least
``calendar.notice_hours`` ahead, ``calendar.meeting_minutes`` long, skipping the meetings
already proposed, approved or sent (``core.kinds.calendar.busy``). The model picks a slot by its
label (an enum: it cannot invent a time) and writes the title and a short note;
:func:`meeting_payload` turns that into the invitation payload (the founder as ORGANIZER, the
mail's sender as ATTENDEE, a new UID and Message-ID). It goes through the one
intake like every proposal: nothing is sent before the founder approves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from solodesk.core.calendar import (
    CalendarError,
    Invitation,
    free_slots,
    invitation_payload,
    new_uid,
    parse_availability,
)
from solodesk.core.kinds.calendar import SEND_INVITATION, busy
from solodesk.core.llmtypes import ToolSpec
from solodesk.core.mail import addr_specs, new_message_id
from solodesk.store.config import Config
from solodesk.store.repos import Store

#: The triage tool that proposes a meeting.
PROPOSE_MEETING = "propose_meeting"
#: How many free slots the model is offered.
SLOTS_OFFERED = 6

#: Words of a mail that may ask for a meeting (English, German, French, Spanish). Only then is
#: the model offered the founder's free times (they cost prompt tokens on every other mail).
_MEETING_WORDS = re.compile(
    r"\b(?:meet(?:ing)?s?|call|calls|catch up|chat|zoom|teams|google meet|appointment|"
    r"schedule|calendar|availability|available|slot|demo|termin|treffen|besprechung|"
    r"gespr[äa]ch|rendez-vous|r[ée]union|appel|cita|reuni[óo]n|llamada)\b",
    re.IGNORECASE,
)


def asks_for_meeting(subject: str, body: str) -> bool:
    """Whether a mail may ask for a meeting or a call (a word of :data:`_MEETING_WORDS` in its
    subject or its first 4,000 characters); the model decides whether it really does."""
    return _MEETING_WORDS.search(f"{subject}\n{body[:4000]}") is not None


@dataclass(frozen=True, slots=True)
class MeetingOffer:
    """The founder's next free slots, as the model sees them.

    Attributes:
        slots: Label (``"Tue 2026-11-24 09:00"``, the founder's wall time) -> (start, end),
            aware in ``timezone``.
        timezone: The founder's IANA time zone.
        organizer: The founder, ``"Name <addr>"``.
    """

    slots: dict[str, tuple[datetime, datetime]]
    timezone: str
    organizer: str

    def text(self) -> str:
        """The offer as a short data block for the model's prompt."""
        lines = [f"- {label}" for label in self.slots]
        return (f"The founder's free times for a meeting ({self.timezone}, "
                f"{self._minutes()} minutes each):\n" + "\n".join(lines))

    def _minutes(self) -> int:
        start, end = next(iter(self.slots.values()))
        return int((end - start).total_seconds() // 60)

    def tool(self) -> ToolSpec:
        """The ``propose_meeting`` tool: a slot out of the offer, a title and a short note."""
        return ToolSpec(
            name=PROPOSE_MEETING,
            description=(
                "The email asks for a meeting or a call: propose a calendar invitation at one "
                "of the founder's free times. It is NOT sent: it waits in the founder's "
                "approval inbox."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "slot": {"type": "string", "enum": list(self.slots),
                             "description": "One of the founder's free times, exactly as listed"},
                    "summary": {"type": "string",
                                "description": "The meeting's title, e.g. 'Intro call'"},
                    "body": {"type": "string",
                             "description": "A short, friendly note to the attendee that goes "
                             "with the invitation, signed by the founder"},
                },
                "required": ["slot", "summary", "body"],
            },
        )


def meeting_offer(store: Store, config: Config, *, now: datetime | None = None
                  ) -> MeetingOffer | None:
    """The founder's next :data:`SLOTS_OFFERED` free slots, or None when no meeting can be
    proposed: no sender address (``smtp.from``), unreadable availability or time zone, or no
    free time in the next 60 days.
    """
    sender = config.get("smtp.from").strip()
    if not addr_specs(sender):
        return None
    timezone = config.get("calendar.timezone").strip() or config.get("schedule.timezone").strip()
    if not timezone:
        import tzlocal

        try:
            timezone = tzlocal.get_localzone_name() or "UTC"
        except Exception:  # a broken system setting: the founder sets calendar.timezone
            return None
    now = now or datetime.now(UTC)
    try:
        hours = parse_availability(store.profile.get().availability.strip()
                                   or config.get("calendar.availability"))
        found = free_slots(
            hours, busy(store.actions.list(kind=SEND_INVITATION)), timezone=timezone,
            after=now + timedelta(hours=config.get_int("calendar.notice_hours")),
            duration=timedelta(minutes=config.get_int("calendar.meeting_minutes")),
            count=SLOTS_OFFERED,
        )
    except CalendarError:
        return None
    if not found:
        return None
    name = config.get("founder.name")
    organizer = sender if "<" in sender else f"{name} <{sender}>"
    return MeetingOffer({f"{s:%a %Y-%m-%d %H:%M}": (s, e) for s, e in found}, timezone,
                        organizer)


def meeting_payload(
    args: dict[str, Any], offer: MeetingOffer, attendees: list[str], *, domain: str,
    now: datetime | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``send_invitation`` payload for a ``propose_meeting`` call, or the errors to send back
    to the model (an unknown slot, an empty title or note)."""
    errors: list[str] = []
    slot = str(args.get("slot", "")).strip()
    if slot not in offer.slots:
        errors.append(f"slot: {slot!r} is not one of the free times; choose one exactly as "
                      f"listed: {', '.join(offer.slots)}")
    summary = " ".join(str(args.get("summary", "")).split())[:200]
    body = str(args.get("body", "")).strip()
    if not summary:
        errors.append("summary: must not be empty (the meeting's title)")
    if not body:
        errors.append("body: must not be empty (a short note to the attendee)")
    if errors:
        return None, errors
    start, end = offer.slots[slot]
    inv = Invitation(
        uid=new_uid(domain), summary=summary, start=start, end=end, timezone=offer.timezone,
        organizer=offer.organizer, attendees=tuple(attendees), description=body,
        stamp=(now or datetime.now(UTC)).replace(microsecond=0),
    )
    payload = invitation_payload(inv, message_id=new_message_id(domain), body=body)
    return payload.model_dump(mode="json"), []
