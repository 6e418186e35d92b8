"""The headless outbox scheduler (``actions.scheduler``) with a real SMTP server and no Qt:
it sleeps until the next ``send_at``, approvals and Undo send wake it, each approval is sent once
even with two schedulers, and a failing pass is reported and retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from solodesk.actions.scheduler import OutboxScheduler
from solodesk.core.actions import Action, ActionStatus
from solodesk.core.events import ActionResolved, OutboxExecuted, RunFailed
from solodesk.services import Services
from solodesk.store.db import StoreBusy
from tests.support.helpers import collect, propose_email
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

#: Bound on waiting for something that happens at once when the scheduler works (a hang guard
#: only: the scheduler's own sleep is an hour, so a missed wake-up would never make it).
HANG_S = 120.0
HOUR = 3600.0


def scheduler(services: Services, **kwargs: Any) -> OutboxScheduler:
    return OutboxScheduler(
        services.store, services.runner.execute_approved, services.bus,
        max_wait_s=kwargs.pop("max_wait_s", HOUR), **kwargs,
    )


async def until(check: Callable[[], bool]) -> None:
    """Yield to the loop until ``check()`` holds (bounded by HANG_S)."""

    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), HANG_S)


async def running(
    sched: OutboxScheduler, body: Callable[[], Awaitable[object]]
) -> object:
    """Run ``body`` while ``sched.run_forever`` runs; then stop it and wait for it to end."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(sched.run_forever(stop))
    try:
        await until(lambda: sched.passes >= 1)  # its first pass (what was left) is done
        return await body()
    finally:
        stop.set()
        await asyncio.wait_for(task, HANG_S)


def test_an_approval_wakes_it_and_it_sends_when_the_undo_window_ends(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    sched = scheduler(services)
    executed = collect(services, OutboxExecuted)

    async def body() -> object:
        assert sched.seconds_to_next() == HOUR  # nothing scheduled: it would sleep an hour
        await services.runner.approve(action.id, delay_s=0.3)
        await until(lambda: bool(executed))
        return None

    run(running(sched, body))

    assert executed == [OutboxExecuted(action.id, "executed", executed[0].detail)]
    assert executed[0].detail.startswith("accepted by 127.0.0.1")
    assert len(smtp_server.messages) == 1
    assert services.store.actions.get(action.id).status is ActionStatus.EXECUTED
    print("scheduler passes:", sched.passes)


def test_undo_send_wakes_it_and_nothing_is_sent(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    sched = scheduler(services)
    resolved = collect(services, ActionResolved)

    async def body() -> object:
        passes = sched.passes
        await services.runner.approve(action.id, delay_s=HOUR)
        await until(lambda: sched.passes > passes)  # woken by the approval: next send in 1 h
        assert 0 < sched.seconds_to_next() <= HOUR
        passes = sched.passes
        await services.runner.cancel(action.id)
        await until(lambda: sched.passes > passes)  # woken by Undo send
        assert sched.seconds_to_next() == HOUR  # nothing scheduled any more
        return None

    run(running(sched, body))
    assert smtp_server.messages == []
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING
    assert [e.status for e in resolved] == ["scheduled", "pending"]


def test_left_over_approvals_are_sent_at_start_once_by_two_schedulers(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    """The window and a ``solodesk serve`` on one home: every approval is sent once."""
    actions = [propose_email(services.store, subject=f"Re: question {i}") for i in range(4)]
    for a in actions:
        services.store.actions.approve(a.id)  # approved before a restart
    one, two = scheduler(services), scheduler(services)
    executed = collect(services, OutboxExecuted)

    async def both() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(s.run_forever(stop)) for s in (one, two)]
        await until(lambda: len(executed) == len(actions))
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_S)

    run(both())
    assert sorted(e.action_id for e in executed) == [a.id for a in actions]
    assert len(smtp_server.messages) == len(actions)
    subjects = sorted(str(m.message["Subject"]) for m in smtp_server.messages)
    assert subjects == [f"Re: question {i}" for i in range(4)]
    print("passes:", one.passes, two.passes)


def test_a_failing_pass_is_reported_and_retried_on_the_next_wake(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    calls = 0

    async def flaky(action_id: int) -> Action:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreBusy("the database is busy: another SoloDesk process kept it locked")
        return await services.runner.execute_approved(action_id)

    sched = OutboxScheduler(services.store, flaky, services.bus, max_wait_s=HOUR)
    failures = collect(services, RunFailed)
    executed = collect(services, OutboxExecuted)

    async def body() -> object:
        services.store.actions.approve(action.id)  # no event: as if approved elsewhere
        sched.wake()
        await until(lambda: bool(failures))
        assert smtp_server.messages == []
        assert services.store.actions.get(action.id).status is ActionStatus.APPROVED
        sched.wake()
        await until(lambda: bool(executed))
        return None

    run(running(sched, body))
    assert failures[0].task == "Sending"
    assert "database is busy" in failures[0].message
    assert [e.status for e in executed] == ["executed"]
    assert len(smtp_server.messages) == 1


def test_stop_ends_it_and_wake_before_start_is_harmless(services: Services, run) -> None:
    sched = scheduler(services)
    sched.wake()  # not running yet: nothing to wake

    async def start_and_stop() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(sched.run_forever(stop))
        await until(lambda: sched.running and sched.passes == 1)
        stop.set()
        await asyncio.wait_for(task, HANG_S)

    run(start_and_stop())
    assert not sched.running
    sched.close()
