"""Spend on model calls, from the ``llm_calls`` table: totals for budgets and reports.

Every figure is a sum over recorded calls (``llm_calls``), never a separate counter, so a report
always equals the calls it covers. Amounts are US dollars (litellm's price list; a call whose
price is unknown counts 0 USD and is counted in ``unpriced``). Times are aware datetimes; the
table stores UTC (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), and days are the founder's (``tz``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from sqlite_utils import Database

STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
NO_AGENT = "(no run)"


def stamp(at: datetime) -> str:
    """``at`` (aware) as the table's UTC timestamp text."""
    return at.astimezone(UTC).strftime(STAMP)


def start_of_day(day: date, tz: tzinfo) -> datetime:
    """Midnight of ``day`` in ``tz``, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=tz)


@dataclass(slots=True)
class Spend:
    """A sum over model calls: ``calls``, tokens, ``cost_usd`` (USD), ``unpriced`` calls."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0

    def add(self, row: CallRow) -> None:
        self.calls += 1
        self.tokens_in += row.tokens_in
        self.tokens_out += row.tokens_out
        self.cost_usd += row.cost_usd or 0.0
        self.unpriced += row.cost_usd is None

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "cost_usd": round(self.cost_usd, 10), "unpriced_calls": self.unpriced}


@dataclass(frozen=True, slots=True)
class CallRow:
    """One recorded call: UTC time, model, the agent of its run, tokens, cost (None: unknown)."""

    ts: datetime
    model: str
    agent: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


@dataclass(slots=True)
class CostReport:
    """Spend in total, per agent, per model and per day (the founder's days, ISO dates)."""

    total: Spend = field(default_factory=Spend)
    by_agent: dict[str, Spend] = field(default_factory=dict)
    by_model: dict[str, Spend] = field(default_factory=dict)
    by_day: dict[str, Spend] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def table(d: dict[str, Spend]) -> dict[str, Any]:
            return {k: v.to_json() for k, v in sorted(d.items())}

        return {"total": self.total.to_json(), "by_agent": table(self.by_agent),
                "by_model": table(self.by_model), "by_day": table(self.by_day)}


def report(calls: Iterable[CallRow], tz: tzinfo) -> CostReport:
    """Group ``calls`` per agent, model and day in ``tz``."""
    out = CostReport()
    for c in calls:
        out.total.add(c)
        out.by_agent.setdefault(c.agent, Spend()).add(c)
        out.by_model.setdefault(c.model, Spend()).add(c)
        out.by_day.setdefault(c.ts.astimezone(tz).date().isoformat(), Spend()).add(c)
    return out


class CostQuery:
    """Read-only queries over ``llm_calls`` (joined to ``runs`` for the agent and the job)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def calls(self, since: datetime, until: datetime | None = None) -> list[CallRow]:
        """Calls recorded from ``since`` (inclusive) to ``until`` (exclusive), oldest first."""
        sql = ("SELECT c.ts, c.model, r.agent, c.tokens_in, c.tokens_out, c.cost_usd"
               " FROM llm_calls c LEFT JOIN runs r ON r.id = c.run_id WHERE c.ts >= ?")
        params: list[Any] = [stamp(since)]
        if until is not None:
            sql += " AND c.ts < ?"
            params.append(stamp(until))
        rows = self.db.execute(sql + " ORDER BY c.id", params).fetchall()
        return [
            CallRow(
                ts=datetime.strptime(ts, STAMP).replace(tzinfo=UTC), model=model,
                agent=agent or NO_AGENT, tokens_in=tin or 0, tokens_out=tout or 0, cost_usd=cost,
            )
            for ts, model, agent, tin, tout, cost in rows
        ]

    def spent_usd(self, since: datetime, until: datetime | None = None, *,
                  agent: str | None = None) -> float:
        """USD spent from ``since`` (inclusive) to ``until`` (exclusive; None: no end), by all
        calls or by those of runs of ``agent``."""
        sql = ("SELECT coalesce(sum(c.cost_usd), 0) FROM llm_calls c"
               " LEFT JOIN runs r ON r.id = c.run_id WHERE c.ts >= ?")
        params: list[Any] = [stamp(since)]
        if until is not None:
            sql += " AND c.ts < ?"
            params.append(stamp(until))
        if agent is not None:
            sql += " AND r.agent = ?"
            params.append(agent)
        return float(self.db.execute(sql, params).fetchone()[0])

    def job_run_spent_usd(self, job_run_id: int) -> float:
        """USD spent by the runs of one job run (``runs.job_run_id``), descendants included."""
        row = self.db.execute(
            "WITH RECURSIVE tree(id) AS ("
            " SELECT id FROM runs WHERE job_run_id = ?"
            " UNION SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id)"
            " SELECT coalesce(sum(c.cost_usd), 0) FROM llm_calls c"
            " WHERE c.run_id IN (SELECT id FROM tree)",
            [job_run_id],
        ).fetchone()
        return float(row[0])

    def job_of_run(self, job_run_id: int) -> tuple[str, float | None] | None:
        """The name and ``budget_usd`` (per job run) of the job of ``job_run_id``, or None."""
        row = self.db.execute(
            "SELECT j.name, j.budget_usd FROM job_runs r JOIN jobs j ON j.id = r.job_id"
            " WHERE r.id = ?",
            [job_run_id],
        ).fetchone()
        if row is None:
            return None
        return str(row[0]), None if row[1] is None else float(row[1])

    def job_run_usage(self, job_run_id: int) -> tuple[Spend, int | None, int]:
        """What one job run's agent work used: the sum of the model calls of every run of its
        trees (``runs.job_run_id``, descendants included), its first root run, and the
        proposals those runs made (``invalid`` ones not counted).

        Returns:
            ``(spend, first run id or None, proposals)``; ``spend.cost_usd`` in USD.
        """
        tree = ("WITH RECURSIVE tree(id) AS ("
                " SELECT id FROM runs WHERE job_run_id = ?"
                " UNION SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id)")
        spend = Spend()
        rows = self.db.execute(
            tree + " SELECT c.tokens_in, c.tokens_out, c.cost_usd FROM llm_calls c"
            " WHERE c.run_id IN (SELECT id FROM tree) ORDER BY c.id",
            [job_run_id],
        ).fetchall()
        for tin, tout, cost in rows:
            spend.calls += 1
            spend.tokens_in += tin or 0
            spend.tokens_out += tout or 0
            spend.cost_usd += cost or 0.0
            spend.unpriced += cost is None
        first = self.db.execute(
            "SELECT min(id) FROM runs WHERE job_run_id = ?", [job_run_id]
        ).fetchone()[0]
        proposals = self.db.execute(
            tree + " SELECT count(*) FROM actions a WHERE a.run_id IN (SELECT id FROM tree)"
            " AND a.status != 'invalid'",
            [job_run_id],
        ).fetchone()[0]
        return spend, None if first is None else int(first), int(proposals)
