"""Scheduled jobs: the kinds of work a job can do, and the headless scheduler that runs them.

A *job kind* is an async function registered by name (:func:`register_job_kind`); a job in the
store names its kind. The built-in kind ``mail_sync`` syncs the IMAP folders; the kinds that run
agents (``mail_triage``, ``bookkeeping``, ``invoice_reminders``, ``agent``) are in
``solodesk.jobkinds`` and reach the agents through :attr:`JobContext.runner` (imported only when
such a job runs, so the command line starts light).

Every run an agent starts for a job belongs to the job run (``runs.job_run_id``, through
``agents.runs.for_job_run``): its model calls are checked against the job's budget (scope
``job NAME``) as well as the agent's and the company's. The tokens and cost a job run records
are the sums of those recorded calls. A call refused by any budget pauses the job run: it is
recorded ``paused`` with the budget's message (which budget, what to raise); the work left
(mail not yet triaged, lines not yet proposed) is done by the next run.

:class:`JobScheduler` asks ``core.schedule.due_slots`` which slot of each enabled job is due
(catch-up once), claims it in the store (the UNIQUE (job, slot) insert: of several processes on
one home, one runs it), runs the kind and records the outcome. A job that raises is recorded as
``failed`` with its error, and its next slot runs as usual. A schedule never approves anything:
what a job proposes goes to the inbox like any other proposal.

The clock is injected (``clock``: a function returning an aware UTC datetime), so tests drive
time; :meth:`JobScheduler.run_forever` is the asyncio task the GUI and a headless service run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from solodesk.agents.runs import for_job_run
from solodesk.core.actions import parse_utc
from solodesk.core.events import BudgetExceeded, EventBus, Progress, RunFailed
from solodesk.core.llmtypes import OverBudget
from solodesk.core.schedule import (
    Job,
    Schedule,
    ScheduleError,
    due_slots,
    parse_schedule,
    timezone_named,
)
from solodesk.store.config import Config
from solodesk.store.jobs import JobRow, JobRun, Outcome, Trigger
from solodesk.store.owner import Owner
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    """The real clock: now, aware, in UTC."""
    return datetime.now(UTC)


def founder_timezone(config: Config) -> ZoneInfo:
    """The time zone schedules are read in: ``schedule.timezone``, else the system's.

    Raises:
        ScheduleError: the setting is not an IANA time zone name.
    """
    name = config.get("schedule.timezone").strip()
    if name:
        return timezone_named(name)
    import tzlocal

    try:
        zone = tzlocal.get_localzone()
    except Exception as exc:  # a broken system setting: say which setting fixes it
        raise ScheduleError(
            f"the system time zone cannot be read ({exc}); set one with "
            "'solodesk config set schedule.timezone Europe/Paris'"
        ) from None
    return zone if isinstance(zone, ZoneInfo) else timezone_named(str(zone))


@dataclass(frozen=True, slots=True)
class JobResult:
    """What one run of a job did.

    Attributes:
        ok: False records the run as ``failed`` (with ``detail`` saying why).
        detail: One line: what it did, or what went wrong and what to do.
        proposals: Proposals it made. ``tokens_in``/``tokens_out``: model tokens used.
        cost_usd: Model cost in USD. ``run_id``: the agent run it started, if any.
    """

    ok: bool = True
    detail: str = ""
    proposals: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job kind gets: the job, the slot it runs for, and the headless services.

    Attributes:
        job_run_id: The job run (``job_runs.id``) this is.
        runner: The agents (a :class:`~solodesk.agents.runner.Runner`: its runs, intake,
            gateway), or None where the scheduler was built without them (then a kind that
            needs them fails, saying so).
        clock: The scheduler's clock (aware UTC).
    """

    job: JobRow
    slot: str
    trigger: Trigger
    config: Config
    secrets: SecretStore
    store: Store
    bus: EventBus
    job_run_id: int | None = None
    runner: Any = None
    clock: Clock = utc_now


JobFunction = Callable[[JobContext], Awaitable[JobResult]]


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of work a job can do: its name, a one-line help and its async function."""

    name: str
    help: str
    run: JobFunction


#: The registered job kinds, by name.
JOB_KINDS: dict[str, JobKind] = {}


def register_job_kind(name: str, help: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator: register an async function as the job kind ``name``."""

    def decorate(fn: JobFunction) -> JobFunction:
        JOB_KINDS[name] = JobKind(name=name, help=help, run=fn)
        return fn

    return decorate


@register_job_kind("mail_sync", "fetch new mail from the IMAP folders (the imap.* settings)")
async def mail_sync(ctx: JobContext) -> JobResult:
    """The built-in kind ``mail_sync``: one IMAP sync of the configured folders."""
    from solodesk.connectors.imap import ImapConnector

    connector = ImapConnector(config=ctx.config, secrets=ctx.secrets, store=ctx.store, bus=ctx.bus)
    report = await connector.sync()
    lines = [f.line() for f in report.folders]
    detail = "; ".join(lines) if lines else report.error
    if report.error and lines:
        detail = f"{report.error} ({detail})"
    return JobResult(ok=report.ok, detail=detail)


def check_job(schedule: str, kind: str, tz: ZoneInfo, *, kinds: dict[str, JobKind]) -> Schedule:
    """Validate a new job's schedule and kind.

    Raises:
        ScheduleError: the schedule is not understood, or the kind is unknown.
    """
    if kind not in kinds:
        raise ScheduleError(f"unknown job kind {kind!r}; known: {', '.join(sorted(kinds))}")
    return parse_schedule(schedule, tz)


class JobScheduler:
    """Runs the jobs that are due, each slot at most once across processes.

    Args:
        store: Jobs and their runs (and whatever the job kinds use).
        config: Settings (``schedule.timezone``, and the job kinds').
        secrets: The keyring, for the job kinds.
        bus: Progress and failures are published here.
        kinds: The job kinds (default: :data:`JOB_KINDS`).
        clock: Returns the current time, aware UTC (default: the real clock).
        runner: The agents, for the kinds that run them (``Services.runner``).
    """

    def __init__(
        self,
        *,
        store: Store,
        config: Config,
        secrets: SecretStore,
        bus: EventBus | None = None,
        kinds: dict[str, JobKind] | None = None,
        clock: Clock = utc_now,
        runner: Any = None,
    ) -> None:
        self.store = store
        self.config = config
        self.secrets = secrets
        self.bus = bus or EventBus()
        self.kinds = JOB_KINDS if kinds is None else kinds
        self.clock = clock
        self.runner = runner
        self._bad_schedules: set[tuple[str, str]] = set()

    def spec(self, job: JobRow, tz: ZoneInfo) -> Job:
        """The ``core.schedule`` view of a stored job.

        Raises:
            ScheduleError: its schedule cannot be parsed.
        """
        since = job.enabled_since or job.created_at
        return Job(
            name=job.name,
            schedule=parse_schedule(job.schedule, tz),
            enabled=job.enabled,
            not_before=parse_utc(since),
        )

    def _stamp(self) -> str:
        return self.clock().astimezone(UTC).strftime(STAMP)

    async def run_due(self) -> list[JobRun]:
        """Run every enabled job that has a due slot (missed slots catch up once).

        A job whose previous run is still going (in any live process) is left for a later
        pass. Job failures are recorded, never raised.

        Returns:
            The runs this call made, in order.

        Raises:
            ScheduleError: ``schedule.timezone`` is not a time zone.
        """
        now = self.clock()
        tz = founder_timezone(self.config)
        runs: list[JobRun] = []
        for job in self.store.jobs.all():
            if not job.enabled:
                continue
            try:
                spec = self.spec(job, tz)
            except ScheduleError as exc:
                self._report_bad_schedule(job, str(exc))
                continue
            if self.store.jobs.running(job):
                continue
            for slot in due_slots(spec, self.store.jobs.last_slot(job), now):
                run = self.store.jobs.claim(job, slot, now=self._stamp())
                if run is not None:  # None: another process claimed it first
                    runs.append(await self._execute(job, run))
        return runs

    async def run_now(self, name: str) -> JobRun:
        """Run the job ``name`` once now, whether or not it is enabled (a manual run).

        Raises:
            JobNotFound: no such job.
        """
        job = self.store.jobs.get(name)
        stamp = self._stamp()
        run = self.store.jobs.claim(job, f"manual:{stamp}", trigger="manual", now=stamp)
        assert run is not None  # a manual slot is unique to the microsecond
        return await self._execute(job, run)

    async def _execute(self, job: JobRow, run: JobRun) -> JobRun:
        task = f"job:{job.name}"
        kind = self.kinds.get(job.kind)
        if kind is None:
            detail = (
                f"unknown job kind {job.kind!r} (known: {', '.join(sorted(self.kinds))}); "
                f"this SoloDesk cannot run it"
            )
            self.bus.publish(RunFailed(task=task, message=f"{job.name}: {detail}"))
            return self.store.jobs.finish(run.id, outcome="failed", detail=detail,
                                          now=self._stamp())
        self.bus.publish(Progress(task=task, done=0, total=1, message=f"job {job.name} started"))
        ctx = JobContext(job, run.slot, "manual" if run.trigger == "manual" else "schedule",
                         self.config, self.secrets, self.store, self.bus, run.id, self.runner,
                         self.clock)
        owner = Owner.from_json(run.owner)
        refused: list[BudgetExceeded] = []

        def on_refused(event: BudgetExceeded) -> None:
            if event.run_id is not None and self._job_run_of(event.run_id) == run.id:
                refused.append(event)

        unsubscribe = self.bus.subscribe(BudgetExceeded, on_refused)
        try:
            with (
                self.store.jobs.lease(run.id, owner) if owner else contextlib.nullcontext(),
                for_job_run(run.id),
            ):
                result = await kind.run(ctx)
        except asyncio.CancelledError:
            self.store.jobs.finish(
                run.id, outcome="interrupted", detail="stopped before it finished",
                now=self._stamp(),
            )
            raise
        except OverBudget as exc:
            result = JobResult(ok=False, detail=str(exc))
            if not refused:
                refused.append(BudgetExceeded(exc.scope, exc.limit_usd, exc.spent_usd,
                                              exc.estimate_usd, str(exc)))
        except Exception as exc:
            log.exception("job %s (%s) failed", job.name, job.kind)
            detail = f"{type(exc).__name__}: {exc}"
            self.bus.publish(RunFailed(task=task, message=f"job {job.name} failed: {detail}"))
            spend, first_run, _ = self.store.costs.job_run_usage(run.id)
            return self.store.jobs.finish(
                run.id, outcome="failed", detail=detail, tokens_in=spend.tokens_in,
                tokens_out=spend.tokens_out, cost_usd=spend.cost_usd, agent_run_id=first_run,
                now=self._stamp(),
            )
        finally:
            unsubscribe()
        # The figures are the sums of the calls recorded for this job run's runs.
        spend, first_run, _ = self.store.costs.job_run_usage(run.id)
        outcome: Outcome = "done" if result.ok else "failed"
        detail = result.detail
        if refused:
            outcome = "paused"
            reason = refused[0].message
            so_far = detail.replace(reason, "over budget") if detail != reason else ""
            detail = f"paused: {reason}" + (f" (so far: {so_far})" if so_far else "")
            self.bus.publish(RunFailed(task=task, message=f"job {job.name} paused: {reason}"))
        elif result.ok:
            self.bus.publish(
                Progress(task=task, done=1, total=1, message=f"job {job.name} done")
            )
        else:
            self.bus.publish(
                RunFailed(task=task, message=f"job {job.name} failed: {result.detail}")
            )
        return self.store.jobs.finish(
            run.id,
            outcome=outcome,
            detail=detail,
            proposals=result.proposals,
            tokens_in=max(result.tokens_in, spend.tokens_in),
            tokens_out=max(result.tokens_out, spend.tokens_out),
            cost_usd=max(result.cost_usd, spend.cost_usd),
            agent_run_id=result.run_id if result.run_id is not None else first_run,
            now=self._stamp(),
        )

    def _job_run_of(self, run_id: int) -> int | None:
        """The job run an agent run belongs to (walking up to its root), or None."""
        seen: set[int] = set()
        current: int | None = run_id
        while current is not None and current not in seen:
            seen.add(current)
            try:
                r = self.store.runs.get(current)
            except LookupError:
                return None
            if r.job_run_id is not None:
                return int(r.job_run_id)
            current = r.parent_id
        return None

    def _report_bad_schedule(self, job: JobRow, message: str) -> None:
        key = (job.name, job.schedule)
        if key in self._bad_schedules:
            return
        self._bad_schedules.add(key)
        self.bus.publish(
            RunFailed(
                task=f"job:{job.name}",
                message=f"job {job.name} has a schedule SoloDesk cannot read ({message}); "
                f"it does not run until fixed",
            )
        )

    def next_due(self) -> datetime | None:
        """The earliest next slot of any enabled job (aware UTC), or None."""
        now = self.clock()
        try:
            tz = founder_timezone(self.config)
        except ScheduleError:
            return None
        times = []
        for job in self.store.jobs.all():
            if not job.enabled:
                continue
            try:
                nxt = self.spec(job, tz).schedule.next(now)
            except ScheduleError:
                continue
            if nxt is not None:
                times.append(nxt)
        return min(times, default=None)

    async def run_forever(
        self,
        stop: asyncio.Event,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_wait_s: float = 60.0,
    ) -> None:
        """Run due jobs until ``stop`` is set: at start (catching up what was missed), then at
        each slot. Sleeps until the next slot, at most ``max_wait_s`` at a time (so jobs added
        or enabled meanwhile are seen, and a suspended machine catches up on waking).

        Args:
            stop: Set it to end the loop (an ongoing job finishes first).
            sleep: Waits the given seconds (default: until the timeout or ``stop``).
        """
        self.store.jobs.reconcile()
        while not stop.is_set():
            try:
                await self.run_due()
            except ScheduleError as exc:
                self.bus.publish(RunFailed(task="jobs", message=str(exc)))
            nxt = self.next_due()
            wait = max_wait_s
            if nxt is not None:
                wait = min(max_wait_s, max(0.0, (nxt - self.clock()) / timedelta(seconds=1)))
            if stop.is_set():
                break
            if sleep is not None:
                await sleep(wait)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass


# The kinds that run agents register themselves (their agents are imported when they run).
from solodesk import jobkinds as _jobkinds  # noqa: E402,F401
