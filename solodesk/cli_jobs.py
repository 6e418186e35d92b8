"""``solodesk jobs``: scheduled jobs (list, add, enable, disable, schedule, budget, run, history,
tick).

Times are shown in the founder's time zone (``schedule.timezone``, default the system's).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

from solodesk.core.events import Progress


class JobsCliError(Exception):
    """A user-facing error of a ``jobs`` command (printed as one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``jobs`` command to the top-level subcommands ``sub``."""
    jobs = sub.add_parser(
        "jobs",
        help="scheduled jobs (e.g. the morning mail sync)",
        description="Jobs run on a schedule while SoloDesk runs; missed times catch up once. "
        "A job never approves anything: its proposals wait in the inbox.",
    ).add_subparsers(dest="action", required=True)
    ls = jobs.add_parser("list", help="every job with its schedule, next and last run")
    ls.add_argument("--json", action="store_true")
    add = jobs.add_parser(
        "add",
        help="add a job",
        description="Example: solodesk jobs add inbox-hourly 'every 1h' --kind mail_sync "
        "--enable; solodesk jobs add digest '0 18 * * 1-5' --kind agent --agent manager "
        "--task 'summarise the day' --budget 0.50. Kinds: mail_sync, mail_triage, "
        "bookkeeping, invoice_reminders, agent. SCHEDULE is a cron expression "
        "('0 7 * * 1-5' = 07:00 on weekdays, "
        "'@daily') or an interval ('every 30m', 'every 2h').",
    )
    add.add_argument("name")
    add.add_argument("schedule", help="cron expression or 'every N[m|h|d]'")
    add.add_argument("--kind", default="mail_sync", help="what it does (default: mail_sync)")
    add.add_argument("--enable", action="store_true", help="turn it on now (default: off)")
    add.add_argument("--agent", default="", help="the agent card a job of kind 'agent' runs")
    add.add_argument("--task", default="", help="what that agent is asked (kind 'agent')")
    add.add_argument("--budget-usd", "--budget", dest="budget_usd", type=float, default=None,
                     metavar="USD", help="most US dollars one run's model calls may cost")
    add.add_argument("--note", default="")
    for name, text in (("enable", "turn a job's schedule on"), ("disable", "turn it off")):
        p = jobs.add_parser(name, help=text)
        p.add_argument("name")
    sched = jobs.add_parser(
        "schedule", help="change when a job runs: a cron expression ('30 8 * * 1-5') or an "
        "interval ('every 2h'), in your time zone"
    )
    sched.add_argument("name")
    sched.add_argument("schedule")
    budget = jobs.add_parser(
        "budget", help="set a job's budget per run in US dollars ('' or 'none' clears it)"
    )
    budget.add_argument("name")
    budget.add_argument("usd", metavar="USD")
    run = jobs.add_parser("run", help="run a job once now (enabled or not)")
    run.add_argument("name")
    hist = jobs.add_parser("history", help="a job's runs, newest first")
    hist.add_argument("name")
    hist.add_argument("--limit", type=int, default=20)
    hist.add_argument("--json", action="store_true")
    jobs.add_parser(
        "tick",
        help="run every job that is due now, then exit (for cron or a systemd timer)",
    )


def _local(stamp: str | None, tz: ZoneInfo) -> str:
    if not stamp:
        return "-"
    if stamp.startswith("manual:"):
        stamp = stamp.removeprefix("manual:")
    from solodesk.core.schedule import parse_stamp  # cronsim stays out of the CLI's start

    moment = parse_stamp(stamp)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _duration(run: Any) -> str:
    if not run.ended_at:
        return "running"
    from solodesk.core.schedule import parse_stamp

    seconds = (parse_stamp(run.ended_at) - parse_stamp(run.started_at)).total_seconds()
    return f"{seconds:.1f} s"


def run_json(run: Any) -> dict[str, Any]:
    """The JSON shape of one run in ``jobs history --json``."""
    return {
        "id": run.id,
        "job": run.job,
        "slot": run.slot,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "outcome": run.outcome,
        "detail": run.detail,
        "proposals": run.proposals,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost_usd": run.cost_usd,
        "run_id": run.run_id,
    }


def _check_agent(sv: Any, agent: str, task: str) -> None:
    """A job of kind ``agent`` needs a loaded agent card and a task.

    Raises:
        JobsCliError: either is missing.
    """
    if not agent or not task.strip():
        raise JobsCliError("a job of kind 'agent' needs --agent NAME and --task TEXT")
    cards = sv.cards()
    if cards.get(agent) is None:
        raise JobsCliError(f"no agent named {agent!r}; agents: {', '.join(cards.names())}")


def _print_events(sv: Any) -> list[Any]:
    """Progress on stderr while jobs run (their outcome is printed after each run)."""

    def progress(e: Progress) -> None:
        if e.message and (e.task.startswith("job:") or e.task == "mail_sync"):
            print(e.message, file=sys.stderr, flush=True)

    return [sv.bus.subscribe(Progress, progress)]


def _print_run(run: Any, tz: ZoneInfo) -> None:
    when = _local(run.slot if run.trigger == "schedule" else run.started_at, tz)
    print(
        f"#{run.id:<5} {when:<22} {run.trigger:<8} {run.outcome:<11} {_duration(run):<9} "
        f"proposals {run.proposals}  tokens {run.tokens_in + run.tokens_out}  "
        f"${run.cost_usd:.4f}"
    )
    if run.detail:
        print(f"       {run.detail}")


async def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run a ``jobs`` command with the process's services ``sv``; returns the exit status.

    Raises:
        JobsCliError: bad input (unknown job, bad schedule or kind, bad time zone).
    """
    from solodesk.core.schedule import ScheduleError
    from solodesk.scheduler import JOB_KINDS, JobScheduler, check_job, founder_timezone
    from solodesk.store.jobs import JobExists, JobNotFound

    try:
        tz = founder_timezone(sv.config)
        scheduler = JobScheduler(
            store=sv.store, config=sv.config, secrets=sv.secrets, bus=sv.bus, runner=sv.runner
        )
        jobs = sv.store.jobs
        if args.action == "list":
            return _list(sv, scheduler, tz, as_json=args.json)
        if args.action == "add":
            schedule = check_job(args.schedule, args.kind, tz, kinds=JOB_KINDS)
            if args.kind == "agent":
                _check_agent(sv, args.agent, args.task)
            if args.budget_usd is not None and not args.budget_usd >= 0:
                raise JobsCliError("--budget must be 0 or more US dollars")
            job = jobs.add(
                args.name,
                schedule=schedule.text,
                kind=args.kind,
                agent=args.agent,
                task=args.task,
                enabled=args.enable,
                budget_usd=args.budget_usd,
                note=args.note,
            )
            state = "enabled" if job.enabled else "disabled (solodesk jobs enable " + job.name + ")"
            print(f"added job {job.name}: {schedule.describe()}, {job.kind}, {state}")
            return 0
        if args.action in ("enable", "disable"):
            job = jobs.get(args.name)
            if args.action == "enable":
                scheduler.spec(job, tz)  # refuse to enable a schedule that cannot be read
            job = jobs.set_enabled(args.name, args.action == "enable")
            print(f"{job.name} {'enabled' if job.enabled else 'disabled'}")
            return 0
        if args.action == "schedule":
            job = jobs.get(args.name)
            schedule = check_job(args.schedule, job.kind, tz, kinds=JOB_KINDS)
            job = jobs.set_schedule(args.name, args.schedule)
            state = "" if job.enabled else f" (disabled: solodesk jobs enable {job.name})"
            print(f"{job.name}: {schedule.describe()}{state}")
            return 0
        if args.action == "budget":
            text = args.usd.strip().lower()
            try:
                amount = None if text in ("", "none") else float(text)
            except ValueError:
                raise JobsCliError(f"{args.usd!r} is not an amount of US dollars (e.g. 0.50)"
                                   ) from None
            if amount is not None and not amount >= 0:
                raise JobsCliError("a budget is 0 or more US dollars")
            job = jobs.set_budget(args.name, amount)
            print(f"{job.name}: " + (f"budget ${job.budget_usd:.2f} per run"
                                     if job.budget_usd is not None else "no budget of its own"))
            return 0
        if args.action == "history":
            runs = jobs.history(args.name, limit=args.limit)
            if args.json:
                out = [
                    {**run_json(r), "budget_warnings": [
                        w.message for w in sv.store.budget_warnings.for_job_run(r.id)]}
                    for r in runs
                ]
                print(json.dumps(out, indent=2, ensure_ascii=False))
                return 0
            if not runs:
                print(f"{args.name} has not run yet")
            for run in runs:
                _print_run(run, tz)
                for w in sv.store.budget_warnings.for_job_run(run.id):
                    print(f"       warning: {w.message}")
            return 0
        unsubscribe = _print_events(sv)
        try:
            if args.action == "run":
                run = await scheduler.run_now(args.name)
                _print_run(run, tz)
                return 0 if run.outcome == "done" else 1  # failed, paused
            jobs.reconcile()
            runs = await scheduler.run_due()
        finally:
            for unsub in unsubscribe:
                unsub()
        if not runs:
            print("no job is due")
        for run in runs:
            print(f"{run.job}:")
            _print_run(run, tz)
        return 0 if all(r.outcome == "done" for r in runs) else 1
    except (ScheduleError, JobNotFound, JobExists) as exc:
        raise JobsCliError(str(exc)) from None


def _list(sv: Any, scheduler: Any, tz: ZoneInfo, *, as_json: bool) -> int:
    from solodesk.core.schedule import ScheduleError

    rows = []
    now = scheduler.clock()
    for job in sv.store.jobs.all():
        last = sv.store.jobs.last_run(job)
        try:
            schedule = scheduler.spec(job, tz).schedule
            described = schedule.describe()
            nxt = schedule.next(now) if job.enabled else None
        except ScheduleError as exc:
            described, nxt = f"cannot be read: {exc}", None
        rows.append((job, described, nxt, last))
    if as_json:
        out = [
            {
                "name": job.name,
                "schedule": job.schedule,
                "schedule_text": described,
                "kind": job.kind,
                "agent": job.agent,
                "task": job.task,
                "enabled": job.enabled,
                "budget_usd": job.budget_usd,
                "note": job.note,
                "next_run": nxt.strftime("%Y-%m-%dT%H:%M:%SZ") if nxt else None,
                "last_run": run_json(last) if last else None,
            }
            for job, described, nxt, last in rows
        ]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no jobs: add one with 'solodesk jobs add NAME SCHEDULE'")
    for job, described, nxt, last in rows:
        state = "enabled" if job.enabled else "disabled"
        print(f"{job.name}  [{state}]  {job.kind}")
        print(f"    schedule: {job.schedule}  — {described}")
        if job.enabled:
            when = nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if nxt else "-"
            print(f"    next run: {when}")
        else:
            print(f"    next run: - (turn it on: solodesk jobs enable {job.name})")
        if last is None:
            print("    last run: never")
        else:
            when = _local(last.started_at, tz)
            detail = f": {last.detail}" if last.detail else ""
            print(f"    last run: {when}, {last.outcome}{detail}")
        if job.agent:
            print(f"    agent: {job.agent}, task: {job.task}")
        if job.budget_usd is not None:
            print(f"    budget: ${job.budget_usd:.2f} per run")
        if job.note:
            print(f"    {job.note}")
    return 0
