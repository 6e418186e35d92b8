"""Meeting invitations (RFC 5545 iCalendar, sent per RFC 6047 iMIP) and free slots.

An invitation is one VEVENT in a VCALENDAR with ``METHOD:REQUEST``: the founder is the
ORGANIZER, each invitee an ATTENDEE asked to reply (``RSVP=TRUE``). Times are written in the
founder's time zone (``DTSTART;TZID=Europe/Berlin:...``) with the matching VTIMEZONE, built
from the IANA database (:mod:`zoneinfo`), so daylight saving time is right on both sides. The
UID is fixed when the invitation is proposed: it is the idempotency key, and sending the same
UID again updates the same meeting in the invitee's calendar instead of adding a second one.

:func:`free_slots` proposes meeting times from the founder's weekly availability (local wall
time) and busy periods. Pure functions; icalendar (BSD) builds and parses the iCalendar text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import getaddresses
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from solodesk.core.mail import check_address

if TYPE_CHECKING:  # icalendar is imported where it is used: the kinds registry stays light
    from icalendar import Calendar, vCalAddress

PRODID = "-//SoloDesk//SoloDesk Invitations//EN"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """An invitation, time zone or availability that cannot be used; the message says why."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``).

    Raises:
        CalendarError: unknown zone name.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or "
            "America/New_York"
        ) from None


def new_uid(domain: str) -> str:
    """A new globally unique UID (RFC 5545 3.8.4.7), fixed at proposal time."""
    return f"{uuid.uuid4()}@{domain or 'solodesk.invalid'}"


@dataclass(frozen=True, slots=True)
class Invitation:
    """A meeting the founder invites people to.

    Attributes:
        uid: The event's UID (idempotency key; see :func:`new_uid`).
        summary: Title (SUMMARY).
        start: Start, an aware datetime (DTSTART).
        end: End, aware, after ``start`` (DTEND).
        timezone: IANA zone the times are written in (the founder's).
        organizer: The founder, ``"Name <addr>"`` (ORGANIZER).
        attendees: Invitees, each ``"Name <addr>"`` or ``addr`` (ATTENDEE).
        description: Details (DESCRIPTION).
        location: Where, or the video link (LOCATION).
        stamp: When the invitation was made, UTC (DTSTAMP).
        sequence: Revision number (SEQUENCE): 0, then +1 per update of the same UID.
    """

    uid: str
    summary: str
    start: datetime
    end: datetime
    timezone: str
    organizer: str
    attendees: tuple[str, ...]
    description: str = ""
    location: str = ""
    stamp: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    sequence: int = 0


def invitation_errors(inv: Invitation) -> list[str]:
    """Why ``inv`` cannot be sent, one line per problem naming the field; empty when fine."""
    errors: list[str] = []
    if not inv.uid.strip() or any(c in inv.uid for c in "\r\n"):
        errors.append("uid: required, one line")
    if not inv.summary.strip():
        errors.append("summary: required (the meeting's title)")
    elif "\n" in inv.summary:
        errors.append("summary: must be one line")
    try:
        zone(inv.timezone)
    except CalendarError as exc:
        errors.append(f"timezone: {exc}")
    for name, value in (("start", inv.start), ("end", inv.end)):
        if value.tzinfo is None or value.utcoffset() is None:
            errors.append(f"{name}: {value.isoformat()} has no time zone")
    if not errors and inv.end <= inv.start:
        errors.append(f"end: {inv.end.isoformat()} is not after the start")
    reason = check_address(inv.organizer)
    if reason:
        errors.append(f"organizer: {reason}")
    if not inv.attendees:
        errors.append("attendees: invite at least one person")
    for i, who in enumerate(inv.attendees, start=1):
        reason = check_address(who)
        if reason:
            errors.append(f"attendees[{i}]: {reason}")
    if inv.sequence < 0:
        errors.append("sequence: must be 0 or more")
    return errors


def _cal_address(value: str, **params: str) -> vCalAddress:
    from icalendar import vCalAddress

    name, addr = getaddresses([value])[0]
    out = vCalAddress(f"mailto:{addr}")
    if name:
        out.params["CN"] = name
    for key, param in params.items():
        out.params[key] = param
    return out


def build_ics(inv: Invitation, *, method: str = "REQUEST") -> bytes:
    """The VCALENDAR of ``inv`` (RFC 5545), UTF-8 with CRLF line ends.

    Raises:
        CalendarError: the invitation is invalid (the message lists every problem).
    """
    errors = invitation_errors(inv)
    if errors:
        raise CalendarError("invitation not built: " + "; ".join(errors))
    from icalendar import Calendar, Event

    tz = zone(inv.timezone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.upper())
    event = Event()
    event.add("uid", inv.uid)
    event.add("dtstamp", inv.stamp.astimezone(UTC))
    event.add("sequence", inv.sequence)
    event.add("dtstart", inv.start.astimezone(tz))
    event.add("dtend", inv.end.astimezone(tz))
    event.add("summary", inv.summary)
    if inv.description:
        event.add("description", inv.description)
    if inv.location:
        event.add("location", inv.location)
    event.add("organizer", _cal_address(inv.organizer))
    for who in inv.attendees:
        event.add("attendee", _cal_address(
            who, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION",
            RSVP="TRUE",
        ))
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    year = timedelta(days=366)
    cal.add_missing_timezones(
        first_date=(inv.start - year).date(), last_date=(inv.end + year).date()
    )
    if cal.get_missing_tzids():
        raise CalendarError(f"no VTIMEZONE could be made for {inv.timezone}")
    ics: bytes = cal.to_ical()
    return ics


def parse_ics(data: bytes) -> Calendar:
    """Parse an iCalendar object.

    Raises:
        CalendarError: not an iCalendar object.
    """
    from icalendar import Calendar

    try:
        cal = Calendar.from_ical(data)
    except ValueError as exc:
        raise CalendarError(f"not an iCalendar object: {exc}") from None
    if not isinstance(cal, Calendar):
        raise CalendarError("not a single VCALENDAR")
    return cal


class InvitationPayload(BaseModel):
    """What a ``send_invitation`` proposal carries: the meeting and the mail that sends it.

    Times travel as ISO 8601 with their UTC offset; ``uid`` and ``message_id`` are fixed at
    proposal time (the first is the meeting's identity in every calendar, the second the
    mail's idempotency key).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: str = Field(min_length=1)
    summary: str
    start: datetime
    end: datetime
    timezone: str
    organizer: str
    attendees: list[str]
    description: str = ""
    location: str = ""
    sequence: int = 0
    stamp: datetime
    message_id: str
    body: str = Field("", description="Plain-text part of the invitation mail")

    def to_invitation(self) -> Invitation:
        """The :class:`Invitation` it describes."""
        return Invitation(
            uid=self.uid, summary=self.summary, start=self.start, end=self.end,
            timezone=self.timezone, organizer=self.organizer, attendees=tuple(self.attendees),
            description=self.description, location=self.location, stamp=self.stamp,
            sequence=self.sequence,
        )

    def errors(self) -> list[str]:
        """Why it cannot be sent (fields named); empty when fine."""
        errors = invitation_errors(self.to_invitation())
        if not re.fullmatch(r"<[^<>\s@]+@[^<>\s@]+>", self.message_id):
            errors.append("message_id: must look like <id@domain> (RFC 5322 msg-id)")
        return errors

    def subject(self) -> str:
        """The invitation mail's subject: ``Invitation: Intro call @ Mon 30 Mar 2026 10:00
        (Europe/Berlin)``."""
        try:
            local = self.start.astimezone(zone(self.timezone))
        except CalendarError:
            local = self.start
        return (f"Invitation: {self.summary} @ {local.strftime('%a %d %b %Y %H:%M')} "
                f"({self.timezone})")

    def inbox_summary(self) -> str:
        """One line for the inbox."""
        who = ", ".join(self.attendees[:3]) + (" ..." if len(self.attendees) > 3 else "")
        return f"{self.subject()} to {who}"

    def idempotency_key(self) -> str:
        """The mail's Message-ID (one invitation mail per proposal)."""
        return self.message_id


def invitation_payload(
    inv: Invitation, *, message_id: str, body: str = ""
) -> InvitationPayload:
    """The ``send_invitation`` payload for ``inv``."""
    return InvitationPayload(
        uid=inv.uid, summary=inv.summary, start=inv.start, end=inv.end, timezone=inv.timezone,
        organizer=inv.organizer, attendees=list(inv.attendees), description=inv.description,
        location=inv.location, sequence=inv.sequence, stamp=inv.stamp, message_id=message_id,
        body=body,
    )


# -- availability and free slots ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """When the founder takes meetings: per weekday (0 = Monday) the local-time windows."""

    windows: tuple[tuple[tuple[time, time], ...], ...]

    def on(self, day: date) -> tuple[tuple[time, time], ...]:
        """The windows of ``day``'s weekday."""
        return self.windows[day.weekday()]


def _parse_time(text: str, where: str) -> time:
    m = re.fullmatch(r"([01]?[0-9]|2[0-4]):([0-5][0-9])", text.strip())
    if not m:
        raise CalendarError(f"availability: {where}: {text.strip()!r} is not a time like 09:30")
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour == 24:
        if minute:
            raise CalendarError(f"availability: {where}: {text.strip()!r} is past midnight")
        return time(23, 59, 59)
    return time(hour, minute)


def parse_availability(text: str) -> WeeklyHours:
    """Read weekly hours like ``"Mon-Fri 09:00-12:00,14:00-17:00; Sat 10:00-12:00"``.

    Groups are separated by ``;``; each names days (``Mon``, ``Mon-Fri``, ``Mon,Wed``) and
    comma-separated ``HH:MM-HH:MM`` windows in the founder's local time.

    Raises:
        CalendarError: the message names the group and what is wrong.
    """
    days: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    groups = [g.strip() for g in text.split(";") if g.strip()]
    if not groups:
        raise CalendarError("availability: empty; e.g. 'Mon-Fri 09:00-17:00'")
    for n, group in enumerate(groups, start=1):
        where = f"group {n} ({group!r})"
        parts = group.split(None, 1)
        if len(parts) != 2:
            raise CalendarError(f"availability: {where}: give days then hours, e.g. "
                                "'Mon-Fri 09:00-17:00'")
        chosen: set[int] = set()
        for token in parts[0].lower().split(","):
            ends = token.split("-")
            if any(e[:3] not in _DAYS or len(e) < 3 for e in ends) or len(ends) > 2:
                raise CalendarError(f"availability: {where}: {token!r} is not a day or range "
                                    "of days (Mon, Tue, ..., Sun)")
            a, b = _DAYS.index(ends[0][:3]), _DAYS.index(ends[-1][:3])
            if b < a:
                raise CalendarError(f"availability: {where}: {token!r} runs backwards")
            chosen.update(range(a, b + 1))
        for window in parts[1].split(","):
            bounds = window.split("-")
            if len(bounds) != 2:
                raise CalendarError(f"availability: {where}: {window.strip()!r} is not a "
                                    "window like 09:00-12:00")
            start, end = _parse_time(bounds[0], where), _parse_time(bounds[1], where)
            if end <= start:
                raise CalendarError(
                    f"availability: {where}: {window.strip()!r} ends before it starts"
                )
            for d in chosen:
                days[d].append((start, end))
    return WeeklyHours(tuple(tuple(sorted(w)) for w in days))


def _local(day: date, t: time, tz: ZoneInfo) -> datetime | None:
    """``day`` at wall time ``t`` in ``tz``; ``None`` when that wall time does not exist (the
    hour skipped when clocks go forward). An ambiguous time (clocks go back) is its first
    occurrence."""
    naive = datetime.combine(day, t)
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return aware


def free_slots(
    availability: WeeklyHours,
    busy: Sequence[tuple[datetime, datetime]],
    *,
    timezone: str,
    after: datetime,
    duration: timedelta,
    count: int,
    step: timedelta = timedelta(minutes=30),
    horizon_days: int = 60,
) -> list[tuple[datetime, datetime]]:
    """The next ``count`` free meeting slots of ``duration``.

    Slots start on the ``step`` grid from each window's start (09:00, 09:30, ...), lie
    entirely inside an availability window in the founder's wall time, start at or after
    ``after``, and overlap no busy period. Durations are real elapsed time, so a slot across a
    daylight-saving change is still ``duration`` long; wall times skipped by the change are
    never proposed.

    Args:
        availability: Weekly hours (:func:`parse_availability`), in ``timezone``'s wall time.
        busy: Busy periods as aware ``(start, end)`` pairs.
        timezone: The founder's IANA time zone.
        after: The earliest start (aware), e.g. now plus some notice.
        duration: Meeting length (> 0).
        count: How many slots to return.
        step: Grid of start times (> 0).
        horizon_days: How many days ahead to look.

    Returns:
        Up to ``count`` ``(start, end)`` pairs, aware in ``timezone``, in order.

    Raises:
        CalendarError: unknown zone, naive datetimes, or a non-positive duration or step.
    """
    tz = zone(timezone)
    if after.tzinfo is None or any(b.tzinfo is None or e.tzinfo is None for b, e in busy):
        raise CalendarError("free slots: give aware datetimes (with a time zone)")
    if duration <= timedelta(0) or step <= timedelta(0):
        raise CalendarError("free slots: duration and step must be positive")
    busy_utc = sorted((b.astimezone(UTC), e.astimezone(UTC)) for b, e in busy)
    found: list[tuple[datetime, datetime]] = []
    first_day = after.astimezone(tz).date()
    for offset in range(horizon_days + 1):
        day = first_day + timedelta(days=offset)
        for win_start, win_end in availability.on(day):
            cursor = datetime.combine(day, win_start)
            limit = datetime.combine(day, win_end)
            while cursor < limit and len(found) < count:
                start = _local(day, cursor.time(), tz)
                cursor += step
                if start is None:
                    continue
                start_utc = start.astimezone(UTC)
                end_utc = start_utc + duration
                end = end_utc.astimezone(tz)
                if end.date() != day or end.replace(tzinfo=None) > limit:
                    break
                if start_utc < after.astimezone(UTC):
                    continue
                if any(b < end_utc and start_utc < e for b, e in busy_utc):
                    continue
                found.append((start, end))
            if len(found) >= count:
                return found
    return found
