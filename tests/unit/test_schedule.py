"""The schedule core: cron and interval schedules, slot keys, catch-up once, DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from solodesk.core.schedule import (
    Job,
    ScheduleError,
    due_slots,
    parse_schedule,
    slot_key,
    slot_time,
    timezone_named,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    """``2026-03-29T01:00`` (UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def job(schedule: str, *, tz: ZoneInfo = PARIS, enabled: bool = True,
        since: str = "2026-01-01T00:00") -> Job:
    return Job("j", parse_schedule(schedule, tz), enabled, utc(since))


def run_through(j: Job, start: datetime, end: datetime, step: timedelta) -> list[str]:
    """Drive the clock from ``start`` to ``end``, the slot before ``start`` having run; returns
    every slot that ran, in order."""
    before = j.schedule.latest(start)
    last = slot_key(before) if before is not None else None
    ran: list[str] = []
    now = start
    while now <= end:
        for key in due_slots(j, ran[-1] if ran else last, now):
            ran.append(key)
        now += step
    return ran


def test_slot_keys_are_utc_and_round_trip() -> None:
    moment = datetime(2026, 11, 16, 8, 0, tzinfo=PARIS)
    assert slot_key(moment) == "2026-11-16T07:00:00Z"
    assert slot_time("2026-11-16T07:00:00Z") == moment
    with pytest.raises(ValueError, match="no time zone"):
        slot_key(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        slot_time("tomorrow")


def test_a_due_slot_fires_once() -> None:
    j = job("0 7 * * *")
    now = utc("2026-11-16T06:00:30")  # 07:00:30 in Paris (CET)
    assert due_slots(j, None, now) == ["2026-11-16T06:00:00Z"]
    assert due_slots(j, "2026-11-16T06:00:00Z", now) == []
    assert due_slots(j, "2026-11-16T06:00:00Z", now + timedelta(hours=5)) == []
    # Exactly at the slot's instant it is due; a second before it is not.
    assert due_slots(j, "2026-11-16T06:00:00Z", utc("2026-11-17T06:00")) == [
        "2026-11-17T06:00:00Z"
    ]
    assert due_slots(j, "2026-11-16T06:00:00Z", utc("2026-11-17T05:59:59")) == []


def test_missed_slots_catch_up_once_with_the_latest() -> None:
    j = job("0 7 * * *")
    # Closed from Monday 07:00 until Friday 10:00: four missed slots, one run.
    assert due_slots(j, "2026-11-16T06:00:00Z", utc("2026-11-20T09:00")) == [
        "2026-11-20T06:00:00Z"
    ]
    every = job("every 15m")
    assert due_slots(every, "2026-11-16T06:00:00Z", utc("2026-11-16T09:07:12")) == [
        "2026-11-16T09:00:00Z"
    ]


def test_a_disabled_job_never_runs() -> None:
    j = job("* * * * *", enabled=False)
    now = utc("2026-11-16T00:00")
    while now <= utc("2026-11-17T00:00"):
        assert due_slots(j, None, now) == []
        now += timedelta(minutes=1)


def test_slots_before_enabling_never_run() -> None:
    # Enabled at 09:30 Paris: this morning's 07:00 is not run; tomorrow's is.
    j = job("0 7 * * *", since="2026-11-16T08:30")
    assert due_slots(j, None, utc("2026-11-16T08:31")) == []
    assert due_slots(j, None, utc("2026-11-17T06:00")) == ["2026-11-17T06:00:00Z"]


def test_weekdays_only() -> None:
    j = job("0 7 * * 1-5")
    ran = run_through(j, utc("2026-11-13T00:00"), utc("2026-11-20T00:00"), timedelta(minutes=5))
    # Friday 13th, (no weekend), Monday 16th ... Thursday 19th.
    assert ran == [
        "2026-11-13T06:00:00Z", "2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z",
        "2026-11-18T06:00:00Z", "2026-11-19T06:00:00Z",
    ]


def test_spring_forward_a_skipped_time_runs_once_right_after_the_gap() -> None:
    # Paris, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    j = job("30 2 * * *")
    ran = run_through(j, utc("2026-03-28T00:00"), utc("2026-03-30T12:00"), timedelta(minutes=3))
    assert ran == [
        "2026-03-28T01:30:00Z",  # 02:30 CET
        "2026-03-29T01:00:00Z",  # 03:00 CEST: the first minute after the gap (Debian cron)
        "2026-03-30T00:30:00Z",  # 02:30 CEST
    ]


def test_fall_back_a_repeated_time_runs_once() -> None:
    # Paris, 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    j = job("30 2 * * *")
    ran = run_through(j, utc("2026-10-24T00:00"), utc("2026-10-26T12:00"), timedelta(minutes=3))
    assert ran == ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]


def test_fall_back_hourly_jobs_follow_elapsed_time() -> None:
    # An every-hour job runs at each real hour, including both 02:00s of the long night.
    j = job("0 * * * *")
    ran = run_through(j, utc("2026-10-24T23:30"), utc("2026-10-25T02:30"), timedelta(minutes=1))
    assert ran == [
        "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z",
    ]
    assert [slot_time(k).astimezone(PARIS).strftime("%H:%M %Z") for k in ran] == [
        "02:00 CEST", "02:00 CET", "03:00 CET",
    ]


def test_new_york_transitions() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    j = job("15 2 * * *", tz=NEW_YORK)
    spring = run_through(j, utc("2026-03-07T12:00"), utc("2026-03-09T12:00"),
                         timedelta(minutes=3))
    assert [slot_time(k).astimezone(NEW_YORK).strftime("%d %H:%M %Z") for k in spring] == [
        "08 03:00 EDT", "09 02:15 EDT",
    ]
    j = job("30 1 * * *", tz=NEW_YORK)
    fall = run_through(j, utc("2026-10-31T12:00"), utc("2026-11-02T12:00"), timedelta(minutes=3))
    assert [slot_time(k).astimezone(NEW_YORK).strftime("%d %H:%M %Z") for k in fall] == [
        "01 01:30 EDT", "02 01:30 EST",
    ]


@pytest.mark.parametrize(
    "expr", ["30 2 * * *", "0 * * * *", "*/20 * * * *", "0 3 * * 0", "45 1,2,3 * * *"]
)
@pytest.mark.parametrize("window", ["2026-03-28T12:00", "2026-10-24T12:00"])
def test_latest_slot_agrees_with_forward_iteration(expr: str, window: str) -> None:
    """``latest`` and forward iteration (``after``) agree every 7 minutes (co-prime with the
    hour, so every minute offset is visited) of the two days around each DST change."""
    schedule = parse_schedule(expr, PARIS)
    start = utc(window)
    forward = []
    for slot in schedule.after(start):
        if slot > start + timedelta(days=2):
            break
        forward.append(slot)
    now = start
    while now <= start + timedelta(days=2):
        expected = [s for s in forward if s <= now]
        if expected:
            assert schedule.latest(now) == expected[-1], now
        now += timedelta(minutes=7)


def test_intervals_are_aligned_to_the_epoch() -> None:
    s = parse_schedule("every 2h", PARIS)
    assert s.latest(utc("2026-11-16T09:59")) == utc("2026-11-16T08:00")
    assert s.next(utc("2026-11-16T09:59")) == utc("2026-11-16T10:00")
    assert parse_schedule("every 1d", PARIS).latest(utc("2026-11-16T09:59")) == utc(
        "2026-11-16T00:00"
    )
    assert parse_schedule("Every 30 minutes", PARIS).interval == timedelta(minutes=30)


def test_macros_and_description() -> None:
    assert parse_schedule("@daily", PARIS).cron == "0 0 * * *"
    assert parse_schedule("@hourly", PARIS).cron == "0 * * * *"
    assert parse_schedule("0 7 * * 1-5", PARIS).describe() == (
        "At 07:00 on Monday through Friday (Europe/Paris)"
    )
    assert parse_schedule("every 15m", PARIS).describe() == "Every 15 minute(s)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty schedule"),
        ("61 * * * *", "Bad minute"),
        ("0 25 * * *", "Bad hour"),
        ("* * *", r"has 3 field\(s\), needs 5"),
        ("0 0 * * * *", r"has 6 field\(s\), needs 5"),
        ("every 0m", "shorter than one minute"),
        ("every 3 fortnights", "not understood"),
        ("@sometimes", "unknown macro"),
        ("0 0 30 2 *", "Bad day-of-month"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message) as info:
        parse_schedule(text, PARIS)
    assert "examples" in str(info.value) or "minute" in str(info.value) or "macro" in str(
        info.value
    )


def test_time_zone_names() -> None:
    assert timezone_named("Europe/Paris") == PARIS
    with pytest.raises(ScheduleError, match="not a time zone; use an IANA name"):
        timezone_named("Mars/Olympus_Mons")


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        due_slots(job("@daily"), None, datetime(2026, 1, 1))
