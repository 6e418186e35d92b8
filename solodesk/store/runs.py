"""Runs of agent work (``core.runs``) in the ``runs`` table, with the usage of each run.

A run's usage (``model_calls``, ``tokens_in``, ``tokens_out``, ``cost_usd``) is the sum of its own
model calls, added in the transaction that records each call (:func:`add_call_usage`, called by
``LLMCallRepo.record``), so it always equals ``SUM`` over ``llm_calls WHERE run_id = ?``. A tree's
usage (a run and its descendants) is summed on read.

Each running run records its process (``store.owner``): :meth:`RunRepo.reconcile` ends the runs
left ``running`` by a process that is gone (a crash, a kill) as ``failed``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlite_utils import Database

from solodesk.core.actions import utcnow
from solodesk.core.llmtypes import LLMCallRecord
from solodesk.core.runs import ENDED, Run, RunStatus, Usage
from solodesk.store.db import bookkeeping
from solodesk.store.owner import Owner, owner_alive

#: Longest stored task line and error (characters).
TASK_CHARS = 500
ERROR_CHARS = 2000


class RunNotFound(LookupError):
    """No run with that id."""


@dataclass(frozen=True, slots=True)
class RunProposal:
    """A proposal a run made: action id, kind, status and its inbox line."""

    action_id: int
    kind: str
    status: str
    summary: str


def _run(row: Mapping[str, Any]) -> Run:
    return Run(
        id=int(row["id"]),
        parent_id=row["parent_id"],
        agent=row["agent"],
        task=row["task"],
        status=RunStatus(row["status"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        usage=Usage(
            int(row["model_calls"]),
            int(row["tokens_in"]),
            int(row["tokens_out"]),
            row["cost_usd"],
        ),
        error=row["error"],
        conversation_id=row["conversation_id"],
        job_run_id=row["job_run_id"],
    )


def add_call_usage(db: Database, call: LLMCallRecord) -> None:
    """Add one model call's usage to its run (nothing for a call without a run). Call it in the
    transaction that inserts the call."""
    if call.run_id is None:
        return
    db.execute(
        "UPDATE runs SET model_calls = model_calls + 1, tokens_in = tokens_in + ?,"
        " tokens_out = tokens_out + ?,"
        " cost_usd = CASE WHEN ? IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + ? END"
        " WHERE id = ?",
        [call.tokens_in or 0, call.tokens_out or 0, call.cost_usd, call.cost_usd, call.run_id],
    )


class RunRepo:
    """The ``runs`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing -------------------------------------------------------------------------------
    def start(
        self,
        *,
        agent: str,
        task: str,
        parent_id: int | None = None,
        conversation_id: int | None = None,
        job_run_id: int | None = None,
        owner: Owner | None = None,
    ) -> Run:
        """Record a new ``running`` run.

        Raises:
            RunNotFound: ``parent_id`` names no run.
        """
        # Bookkeeping: the run's end (a durable commit) always follows its start.
        with bookkeeping(self.db):
            if parent_id is not None:
                self.get(parent_id)
            cur = self.db.execute(
                "INSERT INTO runs (parent_id, agent, task, status, started_at, conversation_id,"
                " job_run_id, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    parent_id,
                    agent,
                    " ".join(task.split())[:TASK_CHARS],
                    RunStatus.RUNNING.value,
                    utcnow(),
                    conversation_id,
                    job_run_id,
                    (owner or Owner.current()).to_json(),
                ],
            )
            run_id = int(cast(int, cur.lastrowid))
        return self.get(run_id)

    def finish(self, run_id: int, status: RunStatus, *, error: str | None = None) -> Run:
        """End a running run as ``done``, ``failed`` or ``cancelled``, or stop it as ``paused``
        (a budget refused its next model call; an ended run is left as it is).

        Raises:
            ValueError: ``status`` is ``running``.
            RunNotFound: no such run.
        """
        if status not in ENDED and status is not RunStatus.PAUSED:
            raise ValueError(
                f"a run ends as done, failed or cancelled (or pauses), not {status.value}"
            )
        with self.db.atomic():
            self.db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ? AND status = ?",
                [
                    status.value,
                    utcnow(),
                    error[:ERROR_CHARS] if error else None,
                    run_id,
                    RunStatus.RUNNING.value,
                ],
            )
        return self.get(run_id)

    def reconcile(self) -> builtins.list[int]:
        """End as ``failed`` the runs left ``running`` by a process that is gone; returns their
        ids. Runs of live processes (the window, another command) are left alone."""
        ended: list[int] = []
        with self.db.atomic():
            rows = self.db.execute(
                "SELECT id, owner FROM runs WHERE status = ?", [RunStatus.RUNNING.value]
            ).fetchall()
            for run_id, owner_json in rows:
                owner = Owner.from_json(owner_json)
                if owner_alive(owner):
                    continue
                who = owner.describe() if owner is not None else "its process"
                self.db.execute(
                    "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?"
                    " AND status = ?",
                    [
                        RunStatus.FAILED.value,
                        utcnow(),
                        f"interrupted: {who} ended before the run finished",
                        run_id,
                        RunStatus.RUNNING.value,
                    ],
                )
                ended.append(int(run_id))
        return ended

    # -- reading -------------------------------------------------------------------------------
    def get(self, run_id: int) -> Run:
        """The run with ``run_id``.

        Raises:
            RunNotFound: no such run.
        """
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunNotFound(f"no run with id {run_id}")
        return _run(rows[0])

    def list(
        self,
        *,
        limit: int | None = None,
        statuses: builtins.list[RunStatus] | None = None,
        roots_only: bool = False,
    ) -> builtins.list[Run]:
        """Runs, newest first."""
        sql = "SELECT * FROM runs"
        where: list[str] = []
        params: list[Any] = []
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params += [s.value for s in statuses]
        if roots_only:
            where.append("parent_id IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_run(r) for r in self.db.query(sql, params)]

    def recent(self, *, since: str, limit: int = 200) -> builtins.list[Run]:
        """What the Activity page shows: every ``running`` (or ``paused``) run, and the newest
        ``limit`` runs started at or after ``since`` (UTC ISO 8601), newest first.

        Raises:
            ValueError: ``limit`` is below 1.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        rows = self.db.query(
            "SELECT * FROM runs WHERE status IN (?, ?) OR id IN"
            " (SELECT id FROM runs WHERE started_at >= ? ORDER BY id DESC LIMIT ?)"
            " ORDER BY id DESC",
            [RunStatus.RUNNING.value, RunStatus.PAUSED.value, since, limit],
        )
        return [_run(r) for r in rows]

    def children(self, run_id: int) -> builtins.list[Run]:
        """The runs ``run_id`` started directly, oldest first."""
        return [
            _run(r)
            for r in self.db.query("SELECT * FROM runs WHERE parent_id = ? ORDER BY id", [run_id])
        ]

    def tree(self, run_id: int) -> builtins.list[Run]:
        """``run_id`` and every run below it (a recursive query), in id order.

        Raises:
            RunNotFound: no such run.
        """
        rows = list(
            self.db.query(
                "WITH RECURSIVE t(id) AS (SELECT id FROM runs WHERE id = ?"
                " UNION SELECT r.id FROM runs r JOIN t ON r.parent_id = t.id)"
                " SELECT runs.* FROM runs JOIN t USING (id) ORDER BY runs.id",
                [run_id],
            )
        )
        if not rows:
            raise RunNotFound(f"no run with id {run_id}")
        return [_run(r) for r in rows]

    def tree_usage(self, run_id: int) -> Usage:
        """Usage of ``run_id`` and all its descendants."""
        total = Usage()
        for run in self.tree(run_id):
            total = total + run.usage
        return total

    def calls(self, run_id: int) -> builtins.list[dict[str, Any]]:
        """The model calls of one run (not its children's), oldest first."""
        return list(
            self.db.query("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", [run_id])
        )

    def calls_usage(self, run_id: int) -> Usage:
        """Usage summed from ``llm_calls`` (what the run's usage columns must equal)."""
        row = self.db.execute(
            "SELECT count(*), COALESCE(sum(tokens_in), 0), COALESCE(sum(tokens_out), 0),"
            " sum(cost_usd) FROM llm_calls WHERE run_id = ?",
            [run_id],
        ).fetchone()
        return Usage(int(row[0]), int(row[1]), int(row[2]), row[3])

    def proposals(self, run_id: int) -> builtins.list[RunProposal]:
        """The proposals one run made (not its children's), oldest first."""
        return [
            RunProposal(int(r[0]), str(r[1]), str(r[2]), str(r[3]))
            for r in self.db.execute(
                "SELECT id, kind, status, summary FROM actions WHERE run_id = ? ORDER BY id",
                [run_id],
            ).fetchall()
        ]
