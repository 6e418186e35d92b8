"""The run manager: every piece of agent work runs as its own asyncio task, recorded as a run.

:meth:`RunManager.run` records a ``running`` run (``store.runs``), runs the work as a new asyncio
task that the manager owns, waits for it and records how it ended: ``done``, ``failed`` (the work
raised, or set :attr:`RunContext.error`) or ``cancelled``. :meth:`RunManager.cancel` cancels a
live run and every live run below it (children first), so cancelling a triage command cancels
the triage of the mail in progress, and later a manager's cancel reaches its delegates.

A child run that is cancelled while its parent is not raises :class:`RunCancelled` (an ordinary
exception) in the parent, so the parent decides whether to go on; cancelling the parent's task
cancels the child too. Usage is per run: each model call names its run (``LLMCallRecord.run_id``)
and :meth:`RunManager.record_call` stores it and publishes :class:`RunUpdated`.

The generic agent loop (cards, delegation) runs its steps through this manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from solodesk.core.events import EventBus, RunFinished, RunStarted, RunUpdated
from solodesk.core.llmtypes import LLMCallRecord, OverBudget
from solodesk.core.runs import Run, RunStatus, Usage
from solodesk.store.repos import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The scheduled job run the current asyncio task works for (None: not a job's work). A run
#: started without a parent and without an explicit ``job_run_id`` belongs to it, so the job's
#: budget (``BudgetGuard``: scope ``job NAME``) covers every model call of the runs it starts.
CURRENT_JOB_RUN: ContextVar[int | None] = ContextVar("solodesk_job_run", default=None)


@contextlib.contextmanager
def for_job_run(job_run_id: int | None) -> Iterator[None]:
    """Within the block (and the tasks it starts), root runs belong to ``job_run_id``."""
    token = CURRENT_JOB_RUN.set(job_run_id)
    try:
        yield
    finally:
        CURRENT_JOB_RUN.reset(token)


class RunCancelled(Exception):
    """The run was cancelled (by :meth:`RunManager.cancel`) while its caller was not."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id


@dataclass(slots=True)
class RunContext:
    """What the work of a run gets.

    Attributes:
        id: The run's id: pass it to every model call (``run_id=``) and proposal.
        parent_id: The run that started it, if any.
        agent: The agent doing the work.
        error: Set it to end the run as ``failed`` with this reason although the work
            returned normally (e.g. a triage that stopped because the model is unreachable).
    """

    id: int
    parent_id: int | None
    agent: str
    error: str | None = None


@dataclass(slots=True)
class _Live:
    parent_id: int | None
    task: asyncio.Task[object]


class RunManager:
    """Starts, owns and cancels runs.

    Args:
        store: The database (the ``runs`` and ``llm_calls`` tables).
        bus: Where :class:`RunStarted`, :class:`RunUpdated` and :class:`RunFinished` go.
    """

    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self._live: dict[int, _Live] = {}

    # -- usage ---------------------------------------------------------------------------------
    def record_call(self, record: LLMCallRecord) -> None:
        """Store a model call (adding its usage to its run) and publish the run's usage."""
        self.store.llm_calls.record(record)
        if record.run_id is None:
            return
        run = self.store.runs.get(record.run_id)
        u = run.usage
        self.bus.publish(
            RunUpdated(
                run.id, run.status.value, u.model_calls, u.tokens_in, u.tokens_out, u.cost_usd
            )
        )

    def usage(self, run_id: int) -> Usage:
        """The run's own usage so far (the sum of its recorded calls)."""
        return self.store.runs.get(run_id).usage

    # -- running -------------------------------------------------------------------------------
    async def run(
        self,
        work: Callable[[RunContext], Awaitable[T]],
        *,
        agent: str,
        task: str,
        parent_id: int | None = None,
        conversation_id: int | None = None,
        job_run_id: int | None = None,
    ) -> T:
        """Run ``work`` as a new run (its own asyncio task) and return what it returns.

        Args:
            work: Gets the run's :class:`RunContext`.
            agent: Who does it. ``task``: one line, what it was asked.
            parent_id: The run that starts it (its cancel reaches this one).

        Raises:
            RunCancelled: the run was cancelled through :meth:`cancel` (the caller was not).
            asyncio.CancelledError: the caller was cancelled (the run is cancelled too).
            Exception: whatever ``work`` raised (the run is recorded ``failed``).
        """
        if job_run_id is None and parent_id is None:
            job_run_id = CURRENT_JOB_RUN.get()
        run = self.store.runs.start(
            agent=agent,
            task=task,
            parent_id=parent_id,
            conversation_id=conversation_id,
            job_run_id=job_run_id,
        )
        ctx = RunContext(run.id, parent_id, agent)
        self.bus.publish(RunStarted(run.id, parent_id, agent, run.task))
        child: asyncio.Task[T] = asyncio.ensure_future(work(ctx))
        child.set_name(f"run {run.id}: {agent}")
        self._live[run.id] = _Live(parent_id, child)
        try:
            try:
                result = await asyncio.shield(child)
            except asyncio.CancelledError:
                if child.done():
                    raise  # the run itself was cancelled: see below
                # The caller was cancelled: cancel the run (and, through it, its children).
                self.cancel(run.id)
                await asyncio.wait([child])
                raise
        except asyncio.CancelledError:
            self._end(run.id, RunStatus.CANCELLED, "cancelled")
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            raise RunCancelled(run.id) from None
        except OverBudget as exc:  # the call was not made: the run waits for the founder
            self._end(run.id, RunStatus.PAUSED, str(exc))
            raise
        except BaseException as exc:
            self._end(run.id, RunStatus.FAILED, str(exc) or type(exc).__name__)
            raise
        finally:
            self._live.pop(run.id, None)
        if ctx.error:
            paused = any(c.status is RunStatus.PAUSED for c in self.store.runs.children(run.id))
            self._end(run.id, RunStatus.PAUSED if paused else RunStatus.FAILED, ctx.error)
        else:
            self._end(run.id, RunStatus.DONE, None)
        return result

    def _end(self, run_id: int, status: RunStatus, error: str | None) -> None:
        try:
            run = self.store.runs.finish(run_id, status, error=error)
        except Exception:  # the store is failing: the run's own outcome matters more
            log.warning("could not record the end of run %s", run_id, exc_info=True)
            return
        self.bus.publish(RunFinished(run.id, run.status.value, run.error or ""))

    # -- control -------------------------------------------------------------------------------
    def live(self) -> list[int]:
        """Ids of the runs running in this process, oldest first."""
        return sorted(rid for rid, live in self._live.items() if not live.task.done())

    def descendants(self, run_id: int) -> list[int]:
        """Live runs below ``run_id`` in this process (children, their children...)."""
        found: list[int] = []
        todo = [run_id]
        while todo:
            parent = todo.pop()
            for rid, live in self._live.items():
                if live.parent_id == parent and rid not in found:
                    found.append(rid)
                    todo.append(rid)
        return sorted(found)

    def cancel(self, run_id: int) -> list[int]:
        """Cancel a live run and every live run below it (the deepest first).

        Returns:
            The ids of the runs that were asked to stop (empty if ``run_id`` is not running in
            this process: already ended, or run by another process).
        """
        ids = [rid for rid in (*reversed(self.descendants(run_id)), run_id) if rid in self._live]
        for rid in ids:
            task = self._live[rid].task
            if not task.done():
                task.cancel()
        return ids

    async def cancel_all(self) -> list[int]:
        """Cancel every live run and wait for them to end (shutdown)."""
        roots = [rid for rid, live in self._live.items() if live.parent_id not in self._live]
        ids: list[int] = []
        for rid in roots:
            ids += self.cancel(rid)
        tasks = [live.task for live in self._live.values()]
        if tasks:
            await asyncio.wait(tasks)
        return ids

    def get(self, run_id: int) -> Run:
        """The stored run (see ``store.runs.RunRepo.get``)."""
        return self.store.runs.get(run_id)
