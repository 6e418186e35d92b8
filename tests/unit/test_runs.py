"""Runs: the pure model (core.runs), the store (store.runs) and the RunManager's tasks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.agents.runs import RunCancelled, RunContext, RunManager
from solodesk.core.events import Event, EventBus, RunFinished, RunStarted, RunUpdated
from solodesk.core.llmtypes import LLMCallRecord
from solodesk.core.runs import Run, RunStatus, Usage, descendants, tree_usage
from solodesk.store.db import connect
from solodesk.store.repos import Store
from solodesk.store.runs import RunNotFound
from tests.support.helpers import dead_owner


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "runs.db"))
    yield s
    s.close()


def call(run_id: int | None, tokens_in: int, tokens_out: int, cost: float | None = None
         ) -> LLMCallRecord:
    return LLMCallRecord("openai/x", "triage", tokens_in, tokens_out, cost, 5, None, run_id)


# -- core -------------------------------------------------------------------------------------
def test_usage_adds_and_keeps_unknown_cost_unknown() -> None:
    assert (Usage(1, 10, 2) + Usage(2, 5, 1)) == Usage(3, 15, 3, None)
    assert (Usage(1, 1, 1, None) + Usage(1, 1, 1, 0.25)).cost_usd == 0.25
    assert Usage(1, 1, 1, 0.1234567).to_json() == {
        "model_calls": 1, "tokens_in": 1, "tokens_out": 1, "cost_usd": 0.123457,
    }


def test_descendants_and_tree_usage() -> None:
    def r(i: int, parent: int | None, tokens: int) -> Run:
        return Run(i, parent, "a", "t", RunStatus.DONE, "2026-01-01T00:00:00.000000Z",
                   usage=Usage(1, tokens, 0))

    runs = [r(1, None, 1), r(2, 1, 10), r(3, 2, 100), r(4, None, 1000), r(5, 1, 10000)]
    assert [x.id for x in descendants(runs, 1)] == [2, 5, 3]
    assert tree_usage(runs, 1) == Usage(4, 10111, 0)
    assert tree_usage({x.id: x for x in runs}, 3) == Usage(1, 100, 0)


# -- store ------------------------------------------------------------------------------------
def test_usage_is_added_with_each_call_and_equals_the_calls(store: Store) -> None:
    parent = store.runs.start(agent="support", task="triage 2 mail")
    child = store.runs.start(agent="support", task="triage mail #1", parent_id=parent.id)
    store.llm_calls.record(call(child.id, 100, 20))
    store.llm_calls.record(call(child.id, 120, 30, 0.5))
    store.llm_calls.record(call(parent.id, 7, 1))
    store.llm_calls.record(call(None, 999, 999))  # outside any run: counted nowhere
    assert store.runs.get(child.id).usage == Usage(2, 220, 50, 0.5)
    assert store.runs.calls_usage(child.id) == store.runs.get(child.id).usage
    assert store.runs.get(parent.id).usage == Usage(1, 7, 1, None)
    assert store.runs.tree_usage(parent.id) == Usage(3, 227, 51, 0.5)
    assert [r.id for r in store.runs.tree(parent.id)] == [parent.id, child.id]
    assert [r.id for r in store.runs.children(parent.id)] == [child.id]
    assert [r["run_id"] for r in store.runs.calls(child.id)] == [child.id, child.id]


def test_a_call_naming_a_run_that_does_not_exist_is_refused(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.llm_calls.record(call(12345, 1, 1))
    with pytest.raises(RunNotFound):
        store.runs.start(agent="a", task="t", parent_id=999)


def test_finish_ends_a_run_once(store: Store) -> None:
    run = store.runs.start(agent="manager", task="  chat:\n hello  ")
    assert run.task == "chat: hello" and run.status is RunStatus.RUNNING
    assert run.ended_at is None
    done = store.runs.finish(run.id, RunStatus.FAILED, error="the model is unreachable")
    assert done.status is RunStatus.FAILED and done.ended_at is not None
    again = store.runs.finish(run.id, RunStatus.DONE)
    assert again == done  # an ended run stays as it ended
    with pytest.raises(ValueError, match="done, failed or cancelled"):
        store.runs.finish(run.id, RunStatus.RUNNING)
    with pytest.raises(RunNotFound, match="no run with id 999"):
        store.runs.get(999)


def test_reconcile_ends_only_runs_of_dead_processes(store: Store) -> None:
    live = store.runs.start(agent="support", task="mine")
    dead = store.runs.start(agent="support", task="crashed", owner=dead_owner())
    assert store.runs.reconcile() == [dead.id]
    ended = store.runs.get(dead.id)
    assert ended.status is RunStatus.FAILED
    assert ended.error is not None and ended.error.startswith("interrupted: process")
    assert store.runs.get(live.id).status is RunStatus.RUNNING


def test_recent_runs_are_the_live_ones_and_the_newest_since(store: Store) -> None:
    old_done = store.runs.start(agent="support", task="yesterday")
    store.runs.finish(old_done.id, RunStatus.DONE)
    old_running = store.runs.start(agent="manager", task="still running")
    for run_id in (old_done.id, old_running.id):
        store.db.execute(
            "UPDATE runs SET started_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?", [run_id]
        )
    new = [store.runs.start(agent="support", task=f"mail {i}") for i in range(3)]
    for run in new:
        store.runs.finish(run.id, RunStatus.DONE)
    since = "2026-01-01T00:00:00.000000Z"
    assert [r.id for r in store.runs.recent(since=since)] == [
        new[2].id, new[1].id, new[0].id, old_running.id
    ]
    assert [r.id for r in store.runs.recent(since=since, limit=2)] == [
        new[2].id, new[1].id, old_running.id
    ]
    with pytest.raises(ValueError, match="at least 1"):
        store.runs.recent(since=since, limit=0)


# -- RunManager -------------------------------------------------------------------------------
def events(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    for kind in (RunStarted, RunUpdated, RunFinished):
        bus.subscribe(kind, seen.append)
    return seen


def test_a_run_records_its_outcome_and_usage(store: Store) -> None:
    bus = EventBus()
    seen = events(bus)
    runs = RunManager(store, bus)

    async def work(run: RunContext) -> str:
        runs.record_call(call(run.id, 30, 4))
        return "report"

    assert asyncio.run(runs.run(work, agent="support", task="one mail")) == "report"
    (run,) = store.runs.list()
    assert run.status is RunStatus.DONE and run.usage == Usage(1, 30, 4)
    assert seen == [
        RunStarted(run.id, None, "support", "one mail"),
        RunUpdated(run.id, "running", 1, 30, 4, None),
        RunFinished(run.id, "done", ""),
    ]
    assert runs.live() == []


def test_a_failing_run_is_recorded_failed_and_raises(store: Store) -> None:
    runs = RunManager(store, EventBus())

    async def work(run: RunContext) -> None:
        raise LookupError("no such mail")

    async def flagged(run: RunContext) -> int:
        run.error = "stopped: the model is unreachable"
        return 1

    with pytest.raises(LookupError):
        asyncio.run(runs.run(work, agent="support", task="t"))
    assert asyncio.run(runs.run(flagged, agent="support", task="t")) == 1
    second, first = store.runs.list()
    assert (first.status, first.error) == (RunStatus.FAILED, "no such mail")
    assert (second.status, second.error) == (RunStatus.FAILED, "stopped: the model is unreachable")


def test_cancel_reaches_every_descendant(store: Store) -> None:
    """Cancelling a parent cancels its children and grandchildren; the caller sees
    RunCancelled; every run of the tree is recorded cancelled."""
    runs = RunManager(store, EventBus())
    started = asyncio.Event

    async def scenario() -> tuple[list[int], list[int]]:
        ready = started()
        seen: list[int] = []

        async def leaf(run: RunContext) -> None:
            seen.append(run.id)
            if len(seen) == 2:
                ready.set()
            await asyncio.Event().wait()  # works until cancelled

        async def middle(run: RunContext) -> None:
            await runs.run(leaf, agent="legal", task="leaf", parent_id=run.id)

        async def root(run: RunContext) -> None:
            await asyncio.gather(
                runs.run(middle, agent="marketing", task="mid", parent_id=run.id),
                runs.run(leaf, agent="legal", task="leaf2", parent_id=run.id),
            )

        task = asyncio.ensure_future(runs.run(root, agent="manager", task="root"))
        await ready.wait()
        root_id = min(runs.live())
        cancelled = runs.cancel(root_id)
        with pytest.raises(RunCancelled):
            await task
        return cancelled, runs.live()

    cancelled, live_after = asyncio.run(scenario())
    all_runs = store.runs.list()
    assert len(all_runs) == 4 and sorted(cancelled) == sorted(r.id for r in all_runs)
    assert {r.status for r in all_runs} == {RunStatus.CANCELLED}
    assert all(r.ended_at is not None for r in all_runs)
    assert live_after == []


def test_cancelling_one_child_lets_the_parent_go_on(store: Store) -> None:
    runs = RunManager(store, EventBus())

    async def scenario() -> str:
        ready = asyncio.Event()

        async def stuck(run: RunContext) -> None:
            ready.set()
            await asyncio.Event().wait()

        async def quick(run: RunContext) -> str:
            return "ok"

        async def parent(run: RunContext) -> str:
            try:
                await runs.run(stuck, agent="legal", task="stuck", parent_id=run.id)
            except RunCancelled as exc:
                note = f"child {exc.run_id} cancelled"
            return note + "; " + await runs.run(quick, agent="legal", task="q", parent_id=run.id)

        task = asyncio.ensure_future(runs.run(parent, agent="manager", task="p"))
        await ready.wait()
        (child_id,) = [i for i in runs.live() if store.runs.get(i).agent == "legal"]
        assert runs.cancel(child_id) == [child_id]
        return await task

    result = asyncio.run(scenario())
    quick_run, stuck_run, parent_run = store.runs.list()
    assert result == f"child {stuck_run.id} cancelled; ok"
    assert stuck_run.status is RunStatus.CANCELLED
    assert (parent_run.status, quick_run.status) == (RunStatus.DONE, RunStatus.DONE)


def test_cancelling_the_caller_cancels_the_run(store: Store) -> None:
    runs = RunManager(store, EventBus())

    async def scenario() -> None:
        ready = asyncio.Event()

        async def stuck(run: RunContext) -> None:
            ready.set()
            await asyncio.Event().wait()

        async def caller() -> None:
            await runs.run(stuck, agent="manager", task="chat: hi")

        task = asyncio.ensure_future(caller())
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    (run,) = store.runs.list()
    assert run.status is RunStatus.CANCELLED
    assert runs.live() == []
