"""The outbox scheduler: a headless asyncio task that executes approvals when they are due.

:meth:`OutboxScheduler.run_forever` executes every due action (``approved``, or ``scheduled``
past its undo window's ``send_at``) through the outbox's execute function, then sleeps until the
next ``send_at``. An approval, an Undo send or any other change of an action's status in this
process (an :class:`~solodesk.core.events.ActionResolved` event on the bus) wakes it at once; it
also looks again at least every ``max_wait_s`` seconds, for approvals made by another process
(the command line) and for a clock that jumped (a suspended laptop).

Each executed action is reported as an :class:`~solodesk.core.events.OutboxExecuted` event; a
pass that cannot run (a locked keyring, a full disk, a busy database) as a
:class:`~solodesk.core.events.RunFailed` event (task ``Sending``) and it tries again at the next
wake. Exactly-once is the outbox's (the claim); several schedulers (the window and a
``solodesk serve``) on one home never execute an action twice. The GUI and a headless service
both run it; no Qt timer owns the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from solodesk.core.actions import Action, ActionStatus, parse_utc
from solodesk.core.events import ActionResolved, EventBus, OutboxExecuted, RunFailed
from solodesk.store.db import StoreError
from solodesk.store.repos import Store

log = logging.getLogger(__name__)

ExecuteFn = Callable[[int], Awaitable[Action]]
"""Claims and executes one due action (``Runner.execute_approved``); raises a LookupError when
it is not claimable (another task or process took it)."""

#: Statuses whose announcement may bring a new due time (an approval, a retry, an Undo send).
_WAKING = frozenset({ActionStatus.SCHEDULED.value, ActionStatus.APPROVED.value,
                     ActionStatus.PENDING.value})

#: Longest sleep between looks at the outbox, in seconds (approvals by another process).
MAX_WAIT_S = 5.0

#: The ``task`` of the RunFailed events it publishes (the window shows "Sending failed: ...").
OUTBOX_TASK = "Sending"


class OutboxScheduler:
    """Runs due actions through the outbox.

    Args:
        store: The database (``actions.due()``, ``actions.next_send_at()``).
        execute: Executes one action (normally ``Runner.execute_approved``).
        bus: Where outcomes are published; its ``ActionResolved`` events wake the scheduler.
        max_wait_s: Longest sleep between looks (seconds).
        guard: Wraps each execution (the GUI passes ``TaskTracker.critical``, so closing the
            window lets a send in progress finish); None: nothing.
        clock: Returns the current time, aware UTC (tests may drive it).
    """

    def __init__(
        self,
        store: Store,
        execute: ExecuteFn,
        bus: EventBus,
        *,
        max_wait_s: float = MAX_WAIT_S,
        guard: Callable[[], AbstractContextManager[None]] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.execute = execute
        self.bus = bus
        self.max_wait_s = max_wait_s
        self.guard = guard
        self.clock = clock or (lambda: datetime.now(UTC))
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self.passes = 0  # how many times it looked at the outbox (benchmarks print it)
        self._unsubscribe = bus.subscribe(ActionResolved, self._on_resolved)

    def close(self) -> None:
        """Stop listening to the bus (the loop itself ends when its ``stop`` is set)."""
        self._unsubscribe()

    # -- waking --------------------------------------------------------------------------------
    def _on_resolved(self, event: ActionResolved) -> None:
        if event.status in _WAKING:
            self.wake()

    def wake(self) -> None:
        """Look at the outbox now (safe from any thread; a no-op before :meth:`run_forever`)."""
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def seconds_to_next(self) -> float:
        """Seconds until the next ``send_at`` (0 if one is due), at most :attr:`max_wait_s`."""
        nxt = self.store.actions.next_send_at()
        if nxt is None:
            return self.max_wait_s
        wait = (parse_utc(nxt) - self.clock()).total_seconds()
        return min(self.max_wait_s, max(0.0, wait))

    # -- running -------------------------------------------------------------------------------
    async def run_due(self) -> list[Action]:
        """Execute every due action once (those claimed elsewhere meanwhile are skipped) and
        publish each outcome.

        Returns:
            The executed actions in their final status.

        Raises:
            StoreError: the outbox could not record (locked keyring, full disk, busy database);
                actions not started stay due.
        """
        self.passes += 1
        done: list[Action] = []
        for action_id in self.store.actions.due():
            try:
                with self.guard() if self.guard is not None else contextlib.nullcontext():
                    final = await self.execute(action_id)
            except LookupError:  # NotClaimed: another task or process got it first
                continue
            done.append(final)
            detail = str((final.result or {}).get("detail", ""))
            self.bus.publish(OutboxExecuted(final.id, final.status.value, detail))
        return done

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Execute due actions until ``stop`` is set: now (what was left from the last session),
        then at each ``send_at``, on every wake, and at least every :attr:`max_wait_s`.

        An action being executed when ``stop`` is set is finished first; cancelling the task
        interrupts it (the outbox records how far it got).
        """
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._running = True
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.run_due()
                except StoreError as exc:  # a locked keyring, a full disk, a busy database
                    log.warning("the outbox did not send: %s", exc)
                    self.bus.publish(RunFailed(OUTBOX_TASK, str(exc)))
                except Exception as exc:  # a bug must not end the outbox for the session
                    log.exception("the outbox failed")
                    self.bus.publish(RunFailed(OUTBOX_TASK, f"{type(exc).__name__}: {exc}"))
                if stop.is_set():
                    break
                try:
                    wait = self.seconds_to_next()
                except Exception:
                    log.exception("reading the next send time failed")
                    wait = self.max_wait_s
                if wait > 0 and not self._wake.is_set():
                    await _first(stop, self._wake, timeout=wait)
        finally:
            self._running = False

    @property
    def running(self) -> bool:
        """Whether :meth:`run_forever` is running."""
        return self._running


async def _first(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of ``events`` is set or ``timeout`` seconds passed."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
