"""``solodesk serve``: the outbox and the scheduled jobs, headless, for an always-on machine.

One process runs the :class:`~solodesk.actions.scheduler.OutboxScheduler` (approvals are sent
when due) and the :class:`~solodesk.scheduler.JobScheduler` (jobs run at their slots) on one home,
without Qt. It logs to ``LOGS/serve.log`` (rotated at 2 MB, 3 files kept) and to stderr.

Stopping: SIGTERM or SIGINT stops starting new work; a send (or job) in progress gets
``--grace`` seconds to finish, then is cancelled, and the outbox records how far it got (a send
cut after the message data went out becomes ``unknown``, to be resolved by the founder; one cut
before becomes ``failed``). Approvals not yet started stay approved for the next run. Exit
status 0 after a clean stop; 1 with one line on stderr when the home cannot be opened.

Beside an open window (or a second ``serve``) on the same home, nothing is done twice, and no
lock file or pid file is used: every execution first claims its action in the database (a
conditional UPDATE ``approved -> executing`` with the claiming process as owner; the loser gets
``NotClaimed`` and skips it), and every job slot is claimed by the UNIQUE (job, slot) insert.
A claim left by a process that died is recognised by its owner (pid + start time) and turned
into ``unknown`` at the next start (``Outbox.reconcile``), never re-sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from solodesk.core.bounds import escape_controls
from solodesk.core.events import (
    BudgetExceeded,
    BudgetWarning,
    OutboxExecuted,
    Progress,
    RunFailed,
)

COMMANDS = ("serve",)

#: Seconds a send or job in progress gets to finish after SIGTERM (default of ``--grace``).
GRACE_S = 30.0

log = logging.getLogger("solodesk.serve")


def register(sub: Any) -> None:
    """Add the ``serve`` command to the top-level subcommands ``sub``."""
    p = sub.add_parser(
        "serve",
        help="run the outbox and the scheduled jobs without the window, until SIGTERM",
        description="Headless mode for an always-on machine: sends approvals when due and runs "
        "the enabled jobs at their slots. Logs to the log folder (serve.log) and stderr. "
        "Safe beside an open window on the same home: each approval is sent once and each "
        "job slot runs once. SIGTERM/SIGINT stop it cleanly (exit 0).",
    )
    p.add_argument(
        "--grace", type=float, default=GRACE_S, metavar="SECONDS",
        help=f"on SIGTERM, how long a send in progress may take to finish (default {GRACE_S:g})",
    )
    p.add_argument(
        "--max-wait", type=float, default=5.0, metavar="SECONDS", help=argparse.SUPPRESS,
    )


class _Handler(logging.handlers.RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging API
        pass  # a full disk: never a traceback on the console


def _log_to(log_dir: Any) -> Callable[[], None]:
    """Log ``solodesk`` records to ``log_dir/serve.log`` and stderr; returns the undo."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = _Handler(
        log_dir / "serve.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8", delay=True
    )
    err = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [file_handler, err]
    root = logging.getLogger("solodesk")
    for h in handlers:
        h.setFormatter(fmt)
        h.setLevel(logging.INFO)
        root.addHandler(h)
    root.setLevel(logging.INFO)

    def undo() -> None:
        for h in handlers:
            root.removeHandler(h)
            h.close()

    return undo


def _log_events(sv: Any) -> list[Callable[[], None]]:
    def executed(e: OutboxExecuted) -> None:
        verb = "sent" if e.status == "executed" else e.status
        detail = escape_controls(e.detail.strip())
        level = logging.INFO if e.status == "executed" else logging.WARNING
        log.log(level, "#%s %s%s", e.action_id, verb, f": {detail}" if detail else "")

    def failed(e: RunFailed) -> None:
        log.warning("%s: %s", e.task, escape_controls(e.message))

    def progress(e: Progress) -> None:
        if e.task.startswith("job:") and e.message:
            log.info("%s", escape_controls(e.message))

    def budget(e: BudgetExceeded | BudgetWarning) -> None:
        log.warning("budget%s: %s", "" if isinstance(e, BudgetExceeded) else " warning",
                    e.message)

    return [
        sv.bus.subscribe(BudgetExceeded, budget),
        sv.bus.subscribe(BudgetWarning, budget),
        sv.bus.subscribe(OutboxExecuted, executed),
        sv.bus.subscribe(RunFailed, failed),
        sv.bus.subscribe(Progress, progress),
    ]


async def serve(sv: Any, *, stop: asyncio.Event, grace_s: float = GRACE_S,
                max_wait_s: float = 5.0) -> int:
    """Run the outbox scheduler and the job scheduler on ``sv`` until ``stop`` is set.

    Args:
        sv: The process's :class:`~solodesk.services.Services`.
        stop: Set it (the signal handlers do) to stop.
        grace_s: Seconds a send or job in progress may take to finish after ``stop``; then it
            is cancelled and the outbox records how far it got.
        max_wait_s: Longest sleep of the outbox between looks (approvals by other processes).

    Returns:
        0 (a clean stop).
    """
    from solodesk.actions.scheduler import OutboxScheduler
    from solodesk.scheduler import JobScheduler

    for action_id in sv.outbox.reconcile():  # claims of processes that are gone
        a = sv.store.actions.get(action_id)
        log.warning("#%s unknown: it was being sent by a process that stopped; check the "
                    "recipient's copy, then 'solodesk inbox resolve %s --delivered' or "
                    "'--not-delivered'", a.id, a.id)
    outbox = OutboxScheduler(sv.store, sv.runner.execute_approved, sv.bus, max_wait_s=max_wait_s)
    jobs = JobScheduler(store=sv.store, config=sv.config, secrets=sv.secrets, bus=sv.bus,
                        runner=sv.runner)
    tasks = [
        asyncio.create_task(outbox.run_forever(stop), name="outbox scheduler"),
        asyncio.create_task(jobs.run_forever(stop), name="job scheduler"),
    ]
    log.info("serving %s (outbox and %d enabled job(s)); stop with SIGTERM or Ctrl-C",
             sv.paths.data_dir, sum(1 for j in sv.store.jobs.all() if j.enabled))
    try:
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            if t in done and not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("%s ended: %s: %s", t.get_name(), type(exc).__name__, exc)
        stop.set()
        stopped.cancel()
        log.info("stopping: waiting up to %g s for work in progress", grace_s)
        pending = [t for t in tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for t in late:
                log.warning("%s did not finish within %g s: interrupting it", t.get_name(),
                            grace_s)
                t.cancel()
            if late:
                await asyncio.wait(late)
    finally:
        outbox.close()
    for a in sv.outbox.interrupted:
        log.warning("#%s interrupted: %s", a.id, {
            "failed": "was NOT sent (failed); it can be approved again",
            "unknown": "MAY have been sent (unknown); check, then 'solodesk inbox resolve'",
            "executed": "was sent",
        }.get(a.status.value, a.status.value))
    log.info("stopped")
    return 0


async def _main(args: argparse.Namespace) -> int:
    from solodesk.services import build_services
    from solodesk.store.paths import HOME_ENV, default_paths

    try:
        sv = build_services()
    except Exception as exc:  # one line: which home, and why
        home = os.environ.get(HOME_ENV) or default_paths().data_dir
        reason = str(exc) or type(exc).__name__
        print(f"solodesk: serve cannot open the home {home}: {reason}", file=sys.stderr)
        return 1
    undo_logging = _log_to(sv.paths.log_dir)
    unsubscribe = _log_events(sv)
    for problem in sv.config.problems:
        log.warning("setting: %s", problem.message)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            log.info("%s received", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await serve(sv, stop=stop, grace_s=args.grace, max_wait_s=args.max_wait)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for u in unsubscribe:
            u()
        await sv.aclose()
        undo_logging()


def main(args: argparse.Namespace) -> int:
    """Run ``solodesk serve``; returns the exit status.

    Raises:
        Exception: the home cannot be opened (``cli.main`` prints it as one line, exit 1).
    """
    if args.grace < 0:
        print("solodesk: --grace must be 0 or more seconds", file=sys.stderr)
        return 2
    return asyncio.run(_main(args))
