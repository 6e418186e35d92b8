"""The 80% budget warnings given: one per budget scope and period, kept in the store.

A warning is given once per budget scope (``daily``, ``monthly``, ``agent support``,
``job morning-mail``) and period (``2026-03-10``, ``2026-03``, ``job run 4``): the UNIQUE
``(scope, period)`` insert decides, so a second process on the same home (the window beside
``solodesk serve``) or a restart does not warn again. Amounts are US dollars; times UTC.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from solodesk.core.actions import utcnow


@dataclass(frozen=True, slots=True)
class BudgetWarningRow:
    """A warning given: its scope and period, the budget and the spend then (USD), the
    message shown, the run and job run of the call that reached 80%, and when (UTC)."""

    id: int
    scope: str
    period: str
    limit_usd: float
    spent_usd: float
    message: str
    run_id: int | None
    job_run_id: int | None
    created_at: str


def _row(r: Mapping[str, Any]) -> BudgetWarningRow:
    return BudgetWarningRow(
        id=int(r["id"]), scope=r["scope"], period=r["period"], limit_usd=float(r["limit_usd"]),
        spent_usd=float(r["spent_usd"]), message=r["message"], run_id=r["run_id"],
        job_run_id=r["job_run_id"], created_at=r["created_at"],
    )


class BudgetWarningRepo:
    """The ``budget_warnings`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, scope: str, period: str, *, limit_usd: float, spent_usd: float, message: str,
        run_id: int | None = None, job_run_id: int | None = None, now: str | None = None,
    ) -> bool:
        """Record the warning of ``scope`` for ``period`` unless it was given already.

        Returns:
            True when this call recorded it (then warn), False when it was given before.
        """
        try:
            with self.db.atomic():
                self.db.execute(
                    "INSERT INTO budget_warnings (scope, period, limit_usd, spent_usd, message,"
                    " run_id, job_run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [scope, period, limit_usd, spent_usd, message, run_id, job_run_id,
                     now or utcnow()],
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def given(self, scope: str, period: str) -> BudgetWarningRow | None:
        """The warning of ``scope`` for ``period``, if it was given."""
        rows = list(self.db.query(
            "SELECT * FROM budget_warnings WHERE scope = ? AND period = ?", [scope, period]))
        return _row(rows[0]) if rows else None

    def for_job_run(self, job_run_id: int) -> list[BudgetWarningRow]:
        """The warnings given during one job run, oldest first."""
        return [_row(r) for r in self.db.query(
            "SELECT * FROM budget_warnings WHERE job_run_id = ? ORDER BY id", [job_run_id])]

    def recent(self, limit: int = 20) -> list[BudgetWarningRow]:
        """The latest warnings, newest first."""
        return [_row(r) for r in self.db.query(
            "SELECT * FROM budget_warnings ORDER BY id DESC LIMIT ?", [limit])]
