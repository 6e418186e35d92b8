"""When scheduled jobs run: cron expressions and intervals, in the founder's time zone.

Pure functions with the clock passed in (``now``), so tests drive time. A *slot* is one time a
job is due, keyed by its UTC instant (``2026-11-16T07:00:00Z``): unique even when a wall-clock
time happens twice (the autumn DST change). The key is what the store's UNIQUE (job, slot)
constraint claims.

Cron expressions (5 fields: minute hour day-of-month month day-of-week, as in crontab(5), plus
the Vixie macros ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``) are evaluated
with cronsim, which follows Debian's cron, DST included: a job at a time skipped by the spring
change runs at the first minute after it, and a job at a time that happens twice in autumn runs
once. Jobs that run at every minute or hour (``*/15 * * * *``) follow real elapsed time.

Intervals (``every 15m``, ``every 2h``, ``every 1d``) count elapsed time from the Unix epoch
(1970-01-01T00:00Z), so ``every 15m`` is due at :00, :15, :30 and :45 of every UTC hour.

Catch-up once: slots missed while SoloDesk was closed collapse into one run, for the latest
missed slot (:func:`due_slots`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SLOT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MIN_INTERVAL = timedelta(minutes=1)
# Wider than any DST shift (at most two hours, Antarctica/Troll).
_LOOKBACK = timedelta(hours=3)
_WINDOWS_DAYS = (1, 8, 32, 367, 4 * 366, 50 * 366)

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_INTERVAL = re.compile(r"^every\s+(\d+)\s*(m|min|minutes?|h|hours?|d|days?)$", re.IGNORECASE)
_UNITS = {"m": 60, "h": 3600, "d": 86400}


class ScheduleError(ValueError):
    """A schedule that cannot be understood; the message says what is wrong and what works."""


def timezone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``).

    Raises:
        ScheduleError: not a known time zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name!r} is not a time zone; use an IANA name such as Europe/Paris or UTC"
        ) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule.

    Attributes:
        text: As written (``0 7 * * 1-5``, ``@daily``, ``every 30m``).
        tz: The founder's time zone the cron fields are read in.
        cron: The 5-field cron expression, or None for an interval.
        interval: The interval, or None for a cron expression.
    """

    text: str
    tz: ZoneInfo
    cron: str | None = None
    interval: timedelta | None = None

    def latest(self, now: datetime) -> datetime | None:
        """The latest slot at or before ``now`` (aware UTC), or None if there is none.

        Forward iteration defines the slots; cronsim's reverse iteration only suggests where to
        start looking (around DST changes it can land an hour off, so it is never trusted alone).
        """
        _check_aware(now)
        if self.interval is not None:
            steps = (now - EPOCH) // self.interval
            return EPOCH + steps * self.interval
        assert self.cron is not None
        # cronsim's reverse iteration starts one second before its start: start just after now.
        start = now.astimezone(self.tz).replace(microsecond=0) + timedelta(seconds=1)
        try:
            hint: datetime | None = next(CronSim(self.cron, start, reverse=True)).astimezone(UTC)
        except StopIteration:
            hint = None
        lower = (min(hint, now) if hint is not None else now) - _LOOKBACK
        found = self._last_between(lower, now)
        for days in _WINDOWS_DAYS:  # nothing near the hint: look further back, widening
            if found is not None:
                break
            found = self._last_between(now - timedelta(days=days), now)
        return found

    def _last_between(self, lower: datetime, now: datetime) -> datetime | None:
        last = None
        for slot in self.after(lower):
            if slot > now:
                break
            last = slot
        return last

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Slots strictly after ``moment``, in order (aware UTC datetimes)."""
        _check_aware(moment)
        if self.interval is not None:
            steps = (moment - EPOCH) // self.interval + 1
            while True:
                yield EPOCH + steps * self.interval
                steps += 1
        assert self.cron is not None
        for slot in CronSim(self.cron, moment.astimezone(self.tz).replace(microsecond=0)):
            slot_utc = slot.astimezone(UTC)
            if slot_utc > moment:
                yield slot_utc

    def next(self, moment: datetime) -> datetime | None:
        """The first slot strictly after ``moment`` (aware UTC), or None if there is none."""
        return next(self.after(moment), None)

    def describe(self) -> str:
        """In words (``At 07:00 on Monday through Friday``), in the schedule's time zone."""
        if self.interval is not None:
            minutes = int(self.interval.total_seconds() // 60)
            if minutes % 1440 == 0:
                return f"Every {minutes // 1440} day(s) (elapsed time)"
            if minutes % 60 == 0:
                return f"Every {minutes // 60} hour(s)"
            return f"Every {minutes} minute(s)"
        assert self.cron is not None
        text = CronSim(self.cron, datetime.now(self.tz)).explain()
        return f"{text} ({self.tz.key})"


def parse_schedule(text: str, tz: ZoneInfo) -> Schedule:
    """Parse a cron expression (5 fields or a ``@`` macro) or an interval (``every 30m``).

    Raises:
        ScheduleError: not understood (the message names the bad field and shows examples).
    """
    raw = " ".join(text.split())
    if not raw:
        raise ScheduleError("empty schedule; " + _EXAMPLES)
    match = _INTERVAL.match(raw)
    if match:
        interval = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)[0].lower()])
        if interval < MIN_INTERVAL:
            raise ScheduleError(f"interval {raw!r} is shorter than one minute")
        return Schedule(text=raw, tz=tz, interval=interval)
    if raw.lower().startswith("every"):
        raise ScheduleError(f"interval {raw!r} not understood; " + _EXAMPLES)
    expr = MACROS.get(raw.lower(), raw)
    if raw.startswith("@") and expr == raw:
        raise ScheduleError(f"unknown macro {raw!r}; known: {', '.join(MACROS)}")
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression {raw!r} has {len(fields)} field(s), needs 5 "
            "(minute hour day-of-month month day-of-week); " + _EXAMPLES
        )
    try:
        it = CronSim(expr, datetime.now(tz))
    except CronSimError as exc:
        raise ScheduleError(f"cron expression {raw!r}: {exc}; " + _EXAMPLES) from None
    try:
        next(it)
    except StopIteration:
        raise ScheduleError(f"cron expression {raw!r} never matches a date") from None
    return Schedule(text=raw, tz=tz, cron=expr)


_EXAMPLES = "examples: '0 7 * * 1-5' (07:00 on weekdays), '@daily', 'every 30m', 'every 2h'"


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime (UTC)")


def slot_key(moment: datetime) -> str:
    """The key of the slot at ``moment``: its UTC instant, ``YYYY-MM-DDTHH:MM:SSZ``.

    Keys sort chronologically as strings.
    """
    _check_aware(moment)
    return moment.astimezone(UTC).strftime(SLOT_FORMAT)


def slot_time(key: str) -> datetime:
    """The aware UTC instant of a slot key made by :func:`slot_key`.

    Raises:
        ValueError: not a slot key.
    """
    return datetime.strptime(key, SLOT_FORMAT).replace(tzinfo=UTC)


def parse_stamp(stamp: str) -> datetime:
    """The aware UTC instant of a stored stamp: a slot key (:func:`slot_key`) or a time with
    microseconds (``core.actions.utcnow``: ``2026-05-20T07:00:00.123456Z``).

    Raises:
        ValueError: neither.
    """
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", SLOT_FORMAT):
        try:
            return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a timestamp: {stamp!r}")


@dataclass(frozen=True, slots=True)
class Job:
    """What :func:`due_slots` needs to know of a job.

    Attributes:
        name: The job's name.
        schedule: When it runs.
        enabled: A disabled job is never due.
        not_before: Slots before this instant never run (aware UTC): when the job was last
            enabled, so turning a job on does not fire the slots it missed while off.
    """

    name: str
    schedule: Schedule
    enabled: bool
    not_before: datetime


def due_slots(job: Job, last_slot: str | None, now: datetime) -> list[str]:
    """The slots of ``job`` to run at ``now``: at most one (catch-up once).

    However many slots passed since ``last_slot`` (SoloDesk was closed, the machine slept),
    they collapse into one run for the latest of them.

    Args:
        job: The job.
        last_slot: The key of the latest slot already claimed, or None.
        now: The current time (aware; the injected clock).

    Returns:
        ``[]`` when nothing is due, else ``[key]`` of the latest due slot.
    """
    _check_aware(now)
    if not job.enabled:
        return []
    latest = job.schedule.latest(now)
    if latest is None or latest < job.not_before:
        return []
    key = slot_key(latest)
    if last_slot is not None and key <= last_slot:
        return []
    return [key]
