"""Runs: every piece of agent work, with its parent, status and model usage.

A *run* is one unit of agent work: a triage command (parent) and the triage of each mail
(its children), a chat turn, and later a delegated task or a scheduled job's agent work. Every
model call and every proposal records the run it belongs to, so usage is counted per run (the
sum of its own calls) and per tree (a run and all its descendants).

Pure data: the store keeps runs (``store.runs``), ``agents.runs.RunManager`` starts, awaits and
cancels them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from solodesk.core.actions import parse_utc


class RunStatus(enum.StrEnum):
    """Where a run stands. ``paused`` is reserved for runs waiting on the founder (budgets)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


#: Statuses a run ends in (``ended_at`` is set on entering them).
ENDED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Usage:
    """Model usage of a run (or of a tree of runs).

    Attributes:
        model_calls: Calls made, failed and cancelled ones included.
        tokens_in: Prompt tokens (calls whose provider did not say count 0).
        tokens_out: Completion tokens.
        cost_usd: US dollars from litellm's price list; None when no call had a known price
            (a local model).
    """

    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            self.model_calls + other.model_calls,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            cost,
        )

    def to_json(self) -> dict[str, Any]:
        """The audit log's ``cost`` record: ``model_calls``, ``tokens_in``, ``tokens_out``,
        ``cost_usd`` (rounded to 6 decimals, or None)."""
        return {
            "model_calls": self.model_calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
        }


@dataclass(frozen=True, slots=True)
class Run:
    """One run as stored.

    Attributes:
        id: Row id.
        parent_id: The run that started it (a triage command for a mail's run), or None.
        agent: The agent that does the work (``support``, ``manager``...).
        task: One line: what it was asked to do.
        status: Where it stands.
        started_at: UTC ISO 8601.
        ended_at: UTC ISO 8601 once ended, else None.
        usage: Its own model calls (not its children's; see :func:`tree_usage`).
        error: Why it failed or was cancelled (one line), else None.
        conversation_id: The chat conversation it belongs to, if any.
        job_run_id: The scheduled job run that started it, if any.
    """

    id: int
    parent_id: int | None
    agent: str
    task: str
    status: RunStatus
    started_at: str
    ended_at: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    conversation_id: int | None = None
    job_run_id: int | None = None

    def elapsed_s(self, now: datetime | None = None) -> float:
        """Seconds from start to end (or to ``now`` while it runs)."""
        start = parse_utc(self.started_at)
        if self.ended_at is not None:
            end = parse_utc(self.ended_at)
        else:
            end = now if now is not None else datetime.now(UTC)
        return max(0.0, (end - start).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """For ``solodesk runs --json``: every field, usage flattened, ``parent`` the parent id."""
        return {
            "id": self.id,
            "parent": self.parent_id,
            "agent": self.agent,
            "task": self.task,
            "status": self.status.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed_s": round(self.elapsed_s(), 3),
            **self.usage.to_json(),
            "error": self.error,
            "conversation_id": self.conversation_id,
            "job_run_id": self.job_run_id,
        }


def descendants(runs: Iterable[Run], root_id: int) -> list[Run]:
    """Every run below ``root_id`` (children, their children...), parents before children."""
    children: dict[int, list[Run]] = {}
    for run in runs:
        if run.parent_id is not None:
            children.setdefault(run.parent_id, []).append(run)
    found: list[Run] = []
    todo = [root_id]
    seen = {root_id}
    while todo:
        for child in sorted(children.get(todo.pop(0), []), key=lambda r: r.id):
            if child.id not in seen:  # a cycle cannot be stored, but never loop on one
                seen.add(child.id)
                found.append(child)
                todo.append(child.id)
    return found


def tree_usage(runs: Mapping[int, Run] | Iterable[Run], root_id: int) -> Usage:
    """Usage of ``root_id`` and all its descendants among ``runs``."""
    items = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    by_id = {r.id: r for r in items}
    total = by_id[root_id].usage if root_id in by_id else Usage()
    for run in descendants(items, root_id):
        total = total + run.usage
    return total
