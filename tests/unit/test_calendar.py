"""Invitations as RFC 5545 iCalendar (parsed back with icalendar, DST-correct) and free slots
from weekly availability."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from solodesk.core.calendar import (
    CalendarError,
    Invitation,
    build_ics,
    free_slots,
    invitation_errors,
    new_uid,
    parse_availability,
    parse_ics,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def invitation(**changes: object) -> Invitation:
    base: dict[str, object] = {
        "uid": "4c1b0f6e-2f7e-4b8e-9d0a-7f1f3f0d9a11@solodesk.example",
        "summary": "Intro call: writing workshop",
        "start": datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN),  # the day after DST starts
        "end": datetime(2026, 3, 30, 10, 45, tzinfo=BERLIN),
        "timezone": "Europe/Berlin",
        "organizer": "Ada Founder <ada@solodesk.example>",
        "attendees": ("Marta Kowalski <marta.kowalski@example.com>", "bob@example.org"),
        "description": "Agenda: scope; dates, budget\nSecond line",
        "location": "https://meet.example/abc-defg",
        "stamp": datetime(2026, 3, 20, 8, 15, 0, tzinfo=UTC),
    }
    base.update(changes)
    return Invitation(**base)  # type: ignore[arg-type]


def test_ics_has_what_rfc5545_and_imip_need_and_parses_back() -> None:
    ics = build_ics(invitation())
    text = ics.decode("utf-8")
    assert "\r\n" in text and text.startswith("BEGIN:VCALENDAR\r\n")
    unfolded = text.replace("\r\n ", "")
    for line in [
        "METHOD:REQUEST", "VERSION:2.0", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
        "DTSTART;TZID=Europe/Berlin:20260330T100000",
        "DTEND;TZID=Europe/Berlin:20260330T104500",
        "DTSTAMP:20260320T081500Z",
        "UID:4c1b0f6e-2f7e-4b8e-9d0a-7f1f3f0d9a11@solodesk.example",
        'ORGANIZER;CN="Ada Founder":mailto:ada@solodesk.example',
        "SEQUENCE:0",
    ]:
        assert line in unfolded, line
    assert "RSVP=TRUE" in unfolded and "mailto:marta.kowalski@example.com" in unfolded
    cal = parse_ics(ics)
    assert str(cal["METHOD"]) == "REQUEST"
    (event,) = cal.events
    assert str(event["UID"]) == invitation().uid
    assert str(event["SUMMARY"]) == "Intro call: writing workshop"
    assert str(event["DESCRIPTION"]) == "Agenda: scope; dates, budget\nSecond line"
    assert str(event["LOCATION"]) == "https://meet.example/abc-defg"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:marta.kowalski@example.com",
                                           "mailto:bob@example.org"]
    assert attendees[0].params["CN"] == "Marta Kowalski"
    assert all(a.params["RSVP"] == "TRUE" for a in attendees)
    assert str(event["ORGANIZER"]) == "mailto:ada@solodesk.example"
    assert [tz.tz_name for tz in cal.timezones] == ["Europe/Berlin"]


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        (datetime(2026, 3, 27, 10, 0), datetime(2026, 3, 27, 9, 0)),  # CET, UTC+1
        (datetime(2026, 3, 30, 10, 0), datetime(2026, 3, 30, 8, 0)),  # CEST, UTC+2
        (datetime(2026, 10, 26, 10, 0), datetime(2026, 10, 26, 9, 0)),  # back to CET
    ],
)
def test_times_are_dst_correct_after_a_round_trip(local: datetime, utc: datetime) -> None:
    inv = invitation(start=local.replace(tzinfo=BERLIN),
                     end=(local + timedelta(hours=1)).replace(tzinfo=BERLIN))
    (event,) = parse_ics(build_ics(inv)).events
    assert event.start.astimezone(UTC) == utc.replace(tzinfo=UTC)
    assert event.end - event.start == timedelta(hours=1)
    assert event.start.utcoffset() == local.replace(tzinfo=BERLIN).utcoffset()


def test_times_given_in_another_zone_are_written_in_the_founders() -> None:
    start = datetime(2026, 3, 30, 4, 0, tzinfo=NEW_YORK)  # = 10:00 in Berlin
    ics = build_ics(invitation(start=start, end=start + timedelta(minutes=30)))
    assert b"DTSTART;TZID=Europe/Berlin:20260330T100000" in ics
    (event,) = parse_ics(ics).events
    assert event.start == start


def test_invalid_invitations_name_the_field() -> None:
    bad = invitation(
        summary=" ", timezone="Mars/Olympus", attendees=("not an address",),
        organizer="ada",
    )
    errors = invitation_errors(bad)
    assert any(e.startswith("summary: required") for e in errors)
    assert any(e.startswith("timezone: unknown time zone 'Mars/Olympus'") for e in errors)
    assert any(e.startswith("attendees[1]:") for e in errors)
    assert any(e.startswith("organizer:") for e in errors)
    naive = invitation(start=datetime(2026, 3, 30, 10))
    assert any("has no time zone" in e for e in invitation_errors(naive))
    backwards = invitation(end=datetime(2026, 3, 30, 9, tzinfo=BERLIN))
    assert any(e.startswith("end:") for e in invitation_errors(backwards))
    with pytest.raises(CalendarError, match="invitation not built"):
        build_ics(bad)


def test_uid_is_unique_and_names_the_domain() -> None:
    a, b = new_uid("solodesk.example"), new_uid("solodesk.example")
    assert a != b and a.endswith("@solodesk.example")


def test_availability_parsing() -> None:
    week = parse_availability("Mon-Fri 09:00-12:00,14:00-17:00; Sat 10:00-12:00")
    assert week.on(date(2026, 3, 30)) == ((time(9), time(12)), (time(14), time(17)))  # Monday
    assert week.on(date(2026, 4, 4)) == ((time(10), time(12)),)  # Saturday
    assert week.on(date(2026, 4, 5)) == ()  # Sunday
    assert parse_availability("mon,wed 08:30-24:00").on(date(2026, 4, 1))[0][1] == time(
        23, 59, 59)
    for text, message in [
        ("", "empty"),
        ("Mon-Fri", "give days then hours"),
        ("Mo-Fr 09:00-17:00", "is not a day"),
        ("Fri-Mon 09:00-17:00", "runs backwards"),
        ("Mon 9-17", "is not a time like 09:30"),
        ("Mon 17:00-09:00", "ends before it starts"),
        ("Mon 09:00", "is not a window"),
    ]:
        with pytest.raises(CalendarError, match=message):
            parse_availability(text)


def test_free_slots_skip_busy_times_and_respect_after() -> None:
    week = parse_availability("Mon-Fri 09:00-12:00")
    busy = [(datetime(2026, 3, 30, 9, 30, tzinfo=BERLIN), datetime(2026, 3, 30, 10, 30,
                                                                     tzinfo=BERLIN))]
    slots = free_slots(week, busy, timezone="Europe/Berlin",
                       after=datetime(2026, 3, 30, 7, 0, tzinfo=UTC),  # 09:00 in Berlin
                       duration=timedelta(hours=1), count=4)
    starts = [s.strftime("%a %H:%M") for s, _ in slots]
    assert starts == ["Mon 10:30", "Mon 11:00", "Tue 09:00", "Tue 09:30"]
    assert all(e - s == timedelta(hours=1) for s, e in slots)
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(hours=2) for s, _ in slots)


def test_free_slots_across_a_dst_change() -> None:
    """Berlin skips 02:00-03:00 on 2026-03-29: those wall times are never proposed, and a slot
    across the change is still one hour long."""
    week = parse_availability("Sun 01:00-04:00")
    slots = free_slots(week, [], timezone="Europe/Berlin",
                       after=datetime(2026, 3, 28, 0, 0, tzinfo=UTC),
                       duration=timedelta(hours=1), count=10)
    walls = [s.strftime("%H:%M") for s, _ in slots if s.date() == date(2026, 3, 29)]
    assert walls == ["01:00", "01:30", "03:00"]
    first_start, first_end = slots[0]
    assert first_end.strftime("%H:%M") == "03:00"  # 01:00 CET + 1 h = 03:00 CEST
    # (Python subtracts datetimes sharing a tzinfo by wall clock: compare elapsed time in UTC.)
    assert first_end.astimezone(UTC) - first_start.astimezone(UTC) == timedelta(hours=1)
    # Back to winter time on 2026-10-25: 02:00-03:00 happens twice; the first is proposed.
    autumn = free_slots(parse_availability("Sun 02:00-03:00"), [], timezone="Europe/Berlin",
                        after=datetime(2026, 10, 24, tzinfo=UTC),
                        duration=timedelta(minutes=30), count=1)
    assert autumn[0][0].astimezone(UTC) == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)


def test_free_slots_refuse_nonsense() -> None:
    week = parse_availability("Mon 09:00-10:00")
    with pytest.raises(CalendarError, match="aware datetimes"):
        free_slots(week, [], timezone="UTC", after=datetime(2026, 1, 1),
                   duration=timedelta(hours=1), count=1)
    with pytest.raises(CalendarError, match="must be positive"):
        free_slots(week, [], timezone="UTC", after=datetime(2026, 1, 1, tzinfo=UTC),
                   duration=timedelta(0), count=1)
    with pytest.raises(CalendarError, match="unknown time zone"):
        free_slots(week, [], timezone="Nowhere", after=datetime(2026, 1, 1, tzinfo=UTC),
                   duration=timedelta(hours=1), count=1)
    # A meeting longer than every window: nothing to propose.
    assert free_slots(week, [], timezone="UTC", after=datetime(2026, 1, 1, tzinfo=UTC),
                      duration=timedelta(hours=2), count=1, horizon_days=14) == []


def test_invitation_payload_round_trips_as_json() -> None:
    from solodesk.core.calendar import InvitationPayload, invitation_payload

    p = invitation_payload(invitation(), message_id="<inv-1@solodesk.example>",
                           body="Hi Marta, see you then.")
    data = p.model_dump(mode="json")
    assert data["start"] == "2026-03-30T10:00:00+02:00"
    back = InvitationPayload.model_validate(data)
    assert back.to_invitation().start.astimezone(UTC) == invitation().start.astimezone(UTC)
    assert back.errors() == []
    assert back.subject() == ("Invitation: Intro call: writing workshop @ Mon 30 Mar 2026 10:00 "
                              "(Europe/Berlin)")
    assert back.inbox_summary().endswith(
        "to Marta Kowalski <marta.kowalski@example.com>, bob@example.org")
    assert back.idempotency_key() == "<inv-1@solodesk.example>"
    bad = back.model_copy(update={"message_id": "nope", "attendees": []})
    assert {e.split(":")[0] for e in bad.errors()} == {"message_id", "attendees"}
