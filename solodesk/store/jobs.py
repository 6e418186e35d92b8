"""Scheduled jobs and their runs.

A run is claimed by inserting its row: ``job_runs`` has a UNIQUE ``(job_id, slot)`` key, so of two
processes on one home that reach the same slot, exactly one insert succeeds and only that one runs
the job. Each run records its start, end, outcome, and the proposals, tokens and cost it produced.

The claiming process is recorded as a ``store.owner`` :class:`~solodesk.store.owner.Owner` (the
same record and liveness check as the outbox's and triage's claims): a run is still going while
its owner is alive (on this machine: its process, by pid and start time; elsewhere: its lease,
renewed by :meth:`JobRepo.lease` while the job runs).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlite_utils import Database

from solodesk.core.actions import utcnow
from solodesk.core.schedule import slot_time
from solodesk.store.owner import Owner, kept_alive, owner_alive, renewer

Outcome = Literal["running", "done", "failed", "paused", "interrupted"]
Trigger = Literal["schedule", "manual"]


class JobNotFound(LookupError):
    """No job with that name; the message lists the known names."""


class JobExists(Exception):
    """A job with that name already exists."""


@dataclass(frozen=True, slots=True)
class JobRow:
    """A stored job.

    Attributes:
        name: Unique name (``morning-mail``).
        schedule: A cron expression (``0 7 * * 1-5``) or an interval (``every 30m``), in the
            founder's time zone (see ``core.schedule``).
        kind: What it does: a registered job kind (``mail_sync``).
        agent: The agent it runs (agent-running kinds), or ``""``.
        task: The task given to the agent, or ``""``.
        enabled: Whether its schedule is active.
        enabled_since: UTC timestamp of the last enabling (slots before it never run), or None.
        budget_usd: Spending limit per run in USD, or None.
        note: What it is for.
    """

    id: int
    name: str
    schedule: str
    kind: str
    agent: str
    task: str
    enabled: bool
    enabled_since: str | None
    budget_usd: float | None
    note: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a job: its slot (a UTC timestamp key, or ``manual:...``) and its outcome.

    Attributes:
        started_at: UTC timestamp. ``ended_at``: UTC timestamp, None while running.
        outcome: ``running``, ``done``, ``failed``, ``paused`` (a model call would have crossed
            a budget: ``detail`` names it; raise it and the next run goes on), or
            ``interrupted`` (its process stopped).
        detail: One line: what it did, or what went wrong and what to do.
        proposals: Proposals it made. ``tokens_in``/``tokens_out``: model tokens.
        cost_usd: Model cost in USD. ``run_id``: the agent run it started, if any.
    """

    id: int
    job_id: int
    job: str
    slot: str
    trigger: str
    owner: str
    started_at: str
    ended_at: str | None
    outcome: str
    detail: str
    proposals: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    run_id: int | None


def _job(row: Mapping[str, Any]) -> JobRow:
    return JobRow(
        id=int(row["id"]),
        name=row["name"],
        schedule=row["schedule"],
        kind=row["kind"],
        agent=row["agent"],
        task=row["task"],
        enabled=bool(row["enabled"]),
        enabled_since=row["enabled_since"],
        budget_usd=None if row["budget_usd"] is None else float(row["budget_usd"]),
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _run(row: Mapping[str, Any]) -> JobRun:
    return JobRun(
        id=int(row["id"]),
        job_id=int(row["job_id"]),
        job=row["job"],
        slot=row["slot"],
        trigger=row["trigger"],
        owner=row["owner"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=row["outcome"],
        detail=row["detail"],
        proposals=int(row["proposals"]),
        tokens_in=int(row["tokens_in"]),
        tokens_out=int(row["tokens_out"]),
        cost_usd=float(row["cost_usd"]),
        run_id=None if row["run_id"] is None else int(row["run_id"]),
    )


_RUN_SELECT = "SELECT r.*, j.name AS job FROM job_runs r JOIN jobs j ON j.id = r.job_id"


class JobRepo:
    """Jobs (name, schedule, kind, enabled...) and their runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- jobs ----------------------------------------------------------------------------------
    def all(self) -> list[JobRow]:
        """Every job, by name."""
        return [_job(r) for r in self.db.query("SELECT * FROM jobs ORDER BY name")]

    def get(self, name: str) -> JobRow:
        """The job called ``name``.

        Raises:
            JobNotFound: no such job (the message lists the known ones).
        """
        rows = list(self.db.query("SELECT * FROM jobs WHERE name = ?", [name]))
        if not rows:
            known = ", ".join(j.name for j in self.all()) or "none"
            raise JobNotFound(f"no job called {name!r} (jobs: {known})")
        return _job(rows[0])

    def add(
        self,
        name: str,
        *,
        schedule: str,
        kind: str,
        enabled: bool = False,
        agent: str = "",
        task: str = "",
        budget_usd: float | None = None,
        note: str = "",
    ) -> JobRow:
        """Store a new job. Validate ``schedule`` and ``kind`` before calling this.

        Raises:
            JobExists: a job called ``name`` already exists.
        """
        now = utcnow()
        try:
            with self.db.atomic():
                self.db.execute(
                    "INSERT INTO jobs (name, schedule, kind, agent, task, enabled, enabled_since,"
                    " budget_usd, note, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        name,
                        schedule,
                        kind,
                        agent,
                        task,
                        int(enabled),
                        now if enabled else None,
                        budget_usd,
                        note,
                        now,
                        now,
                    ],
                )
        except sqlite3.IntegrityError:
            raise JobExists(f"a job called {name!r} already exists") from None
        return self.get(name)

    def set_enabled(self, name: str, enabled: bool, *, now: str | None = None) -> JobRow:
        """Turn a job's schedule on or off. Enabling starts from now: slots missed while it was
        disabled never run.

        Raises:
            JobNotFound: no such job.
        """
        job = self.get(name)
        if job.enabled == enabled:
            return job
        stamp = now or utcnow()
        with self.db.atomic():
            self.db.execute(
                "UPDATE jobs SET enabled = ?, enabled_since = ?, updated_at = ? WHERE id = ?",
                [int(enabled), stamp if enabled else job.enabled_since, stamp, job.id],
            )
        return self.get(name)

    def set_schedule(self, name: str, schedule: str, *, now: str | None = None) -> JobRow:
        """Change when a job runs (validate ``schedule`` first: ``scheduler.check_job``). A
        slot of the new schedule that passed since the job was enabled (and after its last
        run) is caught up once, like any missed slot.

        Raises:
            JobNotFound: no such job.
        """
        job = self.get(name)
        with self.db.atomic():
            self.db.execute(
                "UPDATE jobs SET schedule = ?, updated_at = ? WHERE id = ?",
                [schedule.strip(), now or utcnow(), job.id],
            )
        return self.get(name)

    def set_budget(self, name: str, budget_usd: float | None, *, now: str | None = None
                   ) -> JobRow:
        """Set (or with None, clear) a job's budget: most US dollars one run may spend.

        Raises:
            JobNotFound: no such job.
            ValueError: a negative budget.
        """
        if budget_usd is not None and not budget_usd >= 0:
            raise ValueError(f"a budget is 0 or more US dollars, not {budget_usd}")
        job = self.get(name)
        with self.db.atomic():
            self.db.execute(
                "UPDATE jobs SET budget_usd = ?, updated_at = ? WHERE id = ?",
                [budget_usd, now or utcnow(), job.id],
            )
        return self.get(name)

    # -- runs ----------------------------------------------------------------------------------
    def claim(
        self,
        job: JobRow,
        slot: str,
        *,
        trigger: Trigger = "schedule",
        now: str | None = None,
        owner: Owner | None = None,
    ) -> JobRun | None:
        """Claim ``slot`` of ``job`` by inserting its run (``running``), owned by ``owner``
        (default: this process, :meth:`Owner.current`).

        Returns:
            The new run, or None when the slot was already claimed (by this or another
            process): then the caller must not run the job.

        Raises:
            ValueError: a scheduled run whose slot is not a slot key (``core.schedule``).
        """
        if trigger == "schedule":
            slot_time(slot)  # the ordering of last_slot() relies on it
        try:
            with self.db.atomic():
                cur = self.db.execute(
                    "INSERT INTO job_runs (job_id, slot, trigger, owner, started_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [job.id, slot, trigger, (owner or Owner.current()).to_json(), now or utcnow()],
                )
        except sqlite3.IntegrityError:
            return None
        return self.run(int(cast(int, cur.lastrowid)))

    def finish(
        self,
        run_id: int,
        *,
        outcome: Outcome,
        detail: str = "",
        proposals: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float = 0.0,
        agent_run_id: int | None = None,
        now: str | None = None,
    ) -> JobRun:
        """Record the end of a run (only a ``running`` run is changed)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE job_runs SET ended_at = ?, outcome = ?, detail = ?, proposals = ?,"
                " tokens_in = ?, tokens_out = ?, cost_usd = ?, run_id = COALESCE(?, run_id)"
                " WHERE id = ? AND outcome = 'running'",
                [
                    now or utcnow(),
                    outcome,
                    detail,
                    proposals,
                    tokens_in,
                    tokens_out,
                    cost_usd,
                    agent_run_id,
                    run_id,
                ],
            )
        return self.run(run_id)

    def run(self, run_id: int) -> JobRun:
        """One run by id.

        Raises:
            LookupError: no such run.
        """
        rows = list(self.db.query(_RUN_SELECT + " WHERE r.id = ?", [run_id]))
        if not rows:
            raise LookupError(f"no job run with id {run_id}")
        return _run(rows[0])

    def history(self, name: str, *, limit: int | None = None) -> list[JobRun]:
        """Runs of the job ``name``, newest first.

        Raises:
            JobNotFound: no such job.
        """
        job = self.get(name)
        sql = _RUN_SELECT + " WHERE r.job_id = ? ORDER BY r.id DESC"
        params: list[Any] = [job.id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_run(r) for r in self.db.query(sql, params)]

    def last_slot(self, job: JobRow) -> str | None:
        """The latest scheduled slot claimed for ``job`` (manual runs do not count), or None."""
        row = self.db.execute(
            "SELECT max(slot) FROM job_runs WHERE job_id = ? AND trigger = 'schedule'", [job.id]
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def last_run(self, job: JobRow) -> JobRun | None:
        """The most recent run of ``job`` (scheduled or manual), or None."""
        rows = list(
            self.db.query(_RUN_SELECT + " WHERE r.job_id = ? ORDER BY r.id DESC LIMIT 1", [job.id])
        )
        return _run(rows[0]) if rows else None

    def running(self, job: JobRow) -> bool:
        """Whether a run of ``job`` is still going in a live process (``store.owner``)."""
        rows = self.db.execute(
            "SELECT owner FROM job_runs WHERE job_id = ? AND outcome = 'running'", [job.id]
        ).fetchall()
        return any(owner_alive(Owner.from_json(r[0])) for r in rows)

    def lease(self, run_id: int, owner: Owner) -> contextlib.AbstractContextManager[None]:
        """Keep a running run's lease renewed while the block runs (a heartbeat thread with
        its own connection; see ``store.owner``), so another machine sharing the home does not
        take a long job for abandoned."""
        return kept_alive(
            renewer(
                getattr(self.db, "path", ""),
                "UPDATE job_runs SET owner = ? WHERE id = ? AND outcome = 'running'"
                " AND json_extract(owner, '$.token') = ?",
                lambda: [owner.renewed().to_json(), run_id, owner.token],
            )
        )

    def reconcile(self) -> list[int]:
        """Mark runs left ``running`` by a process that is gone as ``interrupted``
        (``store.owner.owner_alive``: a record that is not an owner, e.g. ``host:pid`` of an
        older release, counts as gone).

        The slot stays claimed (it is not run again); the next slot runs as usual.

        Returns:
            The ids of the runs marked interrupted.
        """
        rows = self.db.execute("SELECT id, owner FROM job_runs WHERE outcome = 'running'")
        gone = [
            int(r[0]) for r in rows.fetchall() if not owner_alive(Owner.from_json(r[1]))
        ]
        for run_id in gone:
            self.finish(
                run_id,
                outcome="interrupted",
                detail="SoloDesk stopped while this job was running; it runs again at its "
                "next time (or: solodesk jobs run NAME)",
            )
        return gone
