"""The job scheduler with an injected clock on a real store; two real processes on one home;
the built-in ``mail_sync`` kind against Dovecot."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from solodesk.core.events import EventBus, Progress, RunFailed
from solodesk.core.schedule import ScheduleError, timezone_named
from solodesk.scheduler import JobContext, JobKind, JobResult, JobScheduler
from solodesk.store.config import Config, ConfigError
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore
from tests.support import imap_server, job_race
from tests.support.helpers import dead_owner
from tests.support.imap_server import PASSWORD, USER, sample_message

pytestmark = pytest.mark.integration

MONDAY_0600 = datetime(2026, 11, 16, 5, 0, tzinfo=UTC)  # 06:00 in Paris (CET)
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock:
    """The injected clock: an aware UTC time the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_paris(self, text: str) -> None:
        """``2026-11-16 07:00`` in Paris."""
        from zoneinfo import ZoneInfo

        local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Paris"))
        self.now = local.astimezone(UTC)


class World:
    """A store on a temp home, settings in Paris time, a clock, and a recording job kind."""

    def __init__(self, tmp: Path) -> None:
        self.paths = home_paths(tmp / "home").ensure()
        self.store = Store(connect(self.paths.database))
        self.config = Config(self.paths.config_file)
        self.config.set("schedule.timezone", "Europe/Paris")
        self.clock = Clock(MONDAY_0600)
        self.bus = EventBus()
        self.failures: list[RunFailed] = []
        self.bus.subscribe(RunFailed, self.failures.append)
        self.calls: list[str] = []
        self.crash_next = 0

        async def record(ctx: JobContext) -> JobResult:
            self.calls.append(ctx.slot)
            if self.crash_next:
                self.crash_next -= 1
                raise RuntimeError("the mail server said no")
            return JobResult(detail=f"ran {ctx.slot}", proposals=1, tokens_in=3, cost_usd=0.01)

        self.kinds = {"record": JobKind("record", "records its slots", record)}
        self.scheduler = JobScheduler(store=self.store, config=self.config,
                                      secrets=SecretStore(), bus=self.bus, kinds=self.kinds,
                                      clock=self.clock)

    def add(self, name: str, schedule: str, *, enabled: bool = True) -> None:
        self.store.jobs.add(name, schedule=schedule, kind="record")
        if enabled:
            self.store.jobs.set_enabled(name, True,
                                        now=(self.clock.now).strftime(STAMP))

    def tick(self) -> list[Any]:
        return asyncio.run(self.scheduler.run_due())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.store.close()


def test_a_due_slot_fires_once(world: World) -> None:
    world.add("morning", "0 7 * * *")
    assert world.tick() == []  # 06:00: not yet
    world.clock.set_paris("2026-11-16 07:00:30")
    (run,) = world.tick()
    assert (run.job, run.slot, run.outcome, run.trigger) == (
        "morning", "2026-11-16T06:00:00Z", "done", "schedule",
    )
    assert (run.proposals, run.tokens_in, run.cost_usd) == (1, 3, 0.01)
    for later in ("2026-11-16 07:00:31", "2026-11-16 07:30", "2026-11-16 23:59"):
        world.clock.set_paris(later)
        assert world.tick() == []
    assert world.calls == ["2026-11-16T06:00:00Z"]


def test_missed_slots_catch_up_once(world: World) -> None:
    world.add("morning", "0 7 * * *")
    world.clock.set_paris("2026-11-16 07:05")
    world.tick()
    # SoloDesk closed from Monday until Friday 10:00: Tue, Wed, Thu, Fri 07:00 were missed.
    world.clock.set_paris("2026-11-20 10:00")
    (run,) = world.tick()
    assert run.slot == "2026-11-20T06:00:00Z"  # once, for the latest missed slot
    assert world.tick() == []
    assert world.calls == ["2026-11-16T06:00:00Z", "2026-11-20T06:00:00Z"]


def test_a_disabled_job_never_runs(world: World) -> None:
    world.add("morning", "0 7 * * *", enabled=False)
    for hour in range(0, 24 * 7, 3):
        world.clock.now = MONDAY_0600 + timedelta(hours=hour)
        assert world.tick() == []
    assert world.calls == [] and world.store.jobs.history("morning") == []
    # Turned on Sunday 10:00: the week it was off is not caught up; Monday's slot runs.
    world.clock.set_paris("2026-11-22 10:00")
    world.store.jobs.set_enabled("morning", True, now=world.clock.now.strftime(STAMP))
    assert world.tick() == []
    world.clock.set_paris("2026-11-23 07:00")
    assert [r.slot for r in world.tick()] == ["2026-11-23T06:00:00Z"]


def test_a_crashing_job_is_recorded_and_the_next_slot_still_runs(world: World) -> None:
    world.add("hourly", "0 * * * *")
    world.crash_next = 1
    world.clock.set_paris("2026-11-16 07:00")
    (failed,) = world.tick()
    assert failed.outcome == "failed"
    assert failed.detail == "RuntimeError: the mail server said no"
    assert failed.ended_at is not None
    assert world.failures[-1].message == (
        "job hourly failed: RuntimeError: the mail server said no"
    )
    world.clock.set_paris("2026-11-16 08:00")
    (ok,) = world.tick()
    assert (ok.slot, ok.outcome) == ("2026-11-16T07:00:00Z", "done")
    assert [r.outcome for r in world.store.jobs.history("hourly")] == ["done", "failed"]


def test_a_kind_reporting_failure_and_an_unknown_kind(world: World) -> None:
    async def refuse(ctx: JobContext) -> JobResult:
        return JobResult(ok=False, detail="IMAP is not configured")

    world.kinds["refuse"] = JobKind("refuse", "", refuse)
    world.store.jobs.add("a", schedule="@hourly", kind="refuse", enabled=True)
    world.store.jobs.add("b", schedule="@hourly", kind="gone_in_this_version", enabled=True)
    world.store.db.execute("UPDATE jobs SET enabled_since = '2026-01-01T00:00:00.000000Z'")
    world.clock.set_paris("2026-11-16 07:00")
    a, b = world.tick()
    assert (a.outcome, a.detail) == ("failed", "IMAP is not configured")
    assert b.outcome == "failed"
    assert b.detail.startswith("unknown job kind 'gone_in_this_version' (known: record, refuse)")


def test_manual_runs_do_not_take_the_scheduled_slot(world: World) -> None:
    world.add("morning", "0 7 * * *")
    world.clock.set_paris("2026-11-16 06:59")
    manual = asyncio.run(world.scheduler.run_now("morning"))
    assert manual.trigger == "manual" and manual.slot.startswith("manual:2026-11-16T05:59")
    world.clock.set_paris("2026-11-16 07:00")
    assert [r.slot for r in world.tick()] == ["2026-11-16T06:00:00Z"]


def test_a_job_still_running_is_not_started_again(world: World) -> None:
    world.add("hourly", "0 * * * *")
    job = world.store.jobs.get("hourly")
    world.store.jobs.claim(job, "manual:long-sync", trigger="manual")  # still running, here
    world.clock.set_paris("2026-11-16 07:00")
    assert world.tick() == []
    world.store.db.execute("UPDATE job_runs SET outcome = 'done'")
    assert [r.slot for r in world.tick()] == ["2026-11-16T06:00:00Z"]


def test_a_schedule_that_cannot_be_read_is_reported_once_and_skipped(world: World) -> None:
    world.add("ok", "0 7 * * *")
    world.store.jobs.add("broken", schedule="0 7 * *", kind="record", enabled=True)
    world.clock.set_paris("2026-11-16 07:00")
    assert [r.job for r in world.tick()] == ["ok"]
    world.tick()
    bad = [f.message for f in world.failures if "broken" in f.message]
    assert len(bad) == 1 and "has a schedule SoloDesk cannot read" in bad[0]


def test_a_bad_time_zone_setting_is_a_clear_error(world: World) -> None:
    with pytest.raises(ConfigError, match="schedule.timezone"):
        world.config.set("schedule.timezone", "Mars/Olympus")
    # Hand-edited into the settings file: the scheduler stops with the key and the value.
    world.paths.config_file.write_text('{"schedule.timezone": "Mars/Olympus"}', encoding="utf-8")
    world.scheduler.config = world.config = Config(world.paths.config_file)
    with pytest.raises(ConfigError, match="schedule.timezone.*Mars/Olympus"):
        world.tick()
    # And the schedule core's own check still names a bad zone handed to it directly.
    with pytest.raises(ScheduleError, match="'Mars/Olympus' is not a time zone"):
        timezone_named("Mars/Olympus")


def test_run_forever_sleeps_until_each_slot(world: World) -> None:
    world.add("morning", "0 7 * * *")
    interrupted = world.store.jobs.claim(world.store.jobs.get("morning"), "manual:crashed",
                                         trigger="manual")
    # Left running by a process of this machine that is gone (store.owner: a pid reused).
    world.store.db.execute("UPDATE job_runs SET owner = ? WHERE id = ?",
                           [dead_owner().to_json(), interrupted.id])
    stop = asyncio.Event()
    waits: list[float] = []
    end = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        world.clock.now += timedelta(seconds=seconds)
        if world.clock.now >= end:
            stop.set()

    asyncio.run(world.scheduler.run_forever(stop, sleep=sleep, max_wait_s=6 * 3600))
    assert world.calls == [
        "2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z", "2026-11-18T06:00:00Z",
    ]
    assert max(waits) <= 6 * 3600
    print(f"run_forever: {len(waits)} wake-ups over two days")
    # It woke exactly at each slot: the first wait was 06:00 -> 07:00.
    assert waits[0] == 3600
    assert world.store.jobs.run(interrupted.id).outcome == "interrupted"


@pytest.mark.parametrize("mode", ["claim", "scheduler"])
def test_two_processes_never_run_one_slot_twice(tmp_path: Path, mode: str) -> None:
    home = tmp_path / "home"
    paths = home_paths(home).ensure()
    store = Store(connect(paths.database))
    try:
        Config(paths.config_file).set("schedule.timezone", "UTC")
        store.jobs.add(job_race.JOB, schedule="* * * * *", kind="count")
        store.jobs.set_enabled(job_race.JOB, True, now="2026-11-16T07:00:00.000000Z")
    finally:
        store.close()
    steps = 150
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)  # both open the database, then start together
    results = ctx.Queue()
    procs = [
        ctx.Process(target=job_race.worker,
                    args=(str(home), mode, steps, start, results, descending))
        for descending in (False, True)
    ]
    for p in procs:
        p.start()
    wins = dict(results.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    print(f"{mode}: slots won per process: {sorted(wins.values())} of {steps} steps")
    store = Store(connect(paths.database))
    try:
        slots = [r[0] for r in store.db.execute("SELECT slot FROM job_runs").fetchall()]
    finally:
        store.close()
    assert len(slots) == len(set(slots)) == sum(wins.values())  # one claim per slot
    if mode == "claim":
        assert sum(wins.values()) == steps  # both tried every slot: each was won exactly once
        return
    # Scheduler: a process skips a step while the other runs the job (no overlapping runs),
    # and skipped slots collapse into the next one (catch-up once); none runs twice.
    executions = (home / "executions.log").read_text().split("\n")[:-1]
    per_slot = Counter(line.split()[1] for line in executions)
    assert set(per_slot) == set(slots)
    assert set(per_slot.values()) == {1}  # every claimed slot executed exactly once
    per_pid = Counter(line.split()[0] for line in executions)
    # A process that won no slot (the other was faster every time, as on a loaded machine) has
    # no line in the log: compare the counts of the processes that ran something.
    assert sorted(per_pid.values()) == sorted(n for n in wins.values() if n)


def test_a_mail_sync_job_syncs_imap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (The shipped morning-mail job syncs and triages: tests/integration/test_morning_mail.py.)
    server = imap_server.start_server()
    # The test server's certificate is self-signed: trust it as a founder trusts a private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    world = World(tmp_path)
    try:
        server.deliver("INBOX", [sample_message(i) for i in range(1, 4)])
        for key, value in {"imap.host": "127.0.0.1", "imap.port": str(server.port),
                           "imap.security": "starttls", "imap.username": USER}.items():
            world.config.set(key, value)
        secrets = SecretStore()
        secrets.set("imap.password", PASSWORD)
        progress: list[Progress] = []
        world.bus.subscribe(Progress, progress.append)
        scheduler = JobScheduler(store=world.store, config=world.config, secrets=secrets,
                                 bus=world.bus, clock=world.clock)  # the real kinds
        world.store.jobs.add("inbox-sync", schedule="0 7 * * *", kind="mail_sync")
        world.store.jobs.set_enabled("inbox-sync", True, now=world.clock.now.strftime(STAMP))
        world.clock.set_paris("2026-11-17 09:30")  # opened after the job's time (07:00)
        (run,) = asyncio.run(scheduler.run_due())
        assert (run.job, run.slot, run.outcome) == ("inbox-sync", "2026-11-17T06:00:00Z",
                                                    "done")
        assert run.detail == "INBOX: new 3, skipped 0, errors 0"
        assert world.store.mail.count() == 3
        assert any(p.message == "job inbox-sync done" for p in progress)
        assert asyncio.run(scheduler.run_due()) == []
    finally:
        world.store.close()
        server.close()
