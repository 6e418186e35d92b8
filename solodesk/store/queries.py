"""Queries over the actions the front ends list: :class:`ActionQuery` (the inbox's filters and
grouping) and the SQL it becomes. The UI never builds SQL: it hands an :class:`ActionQuery` to
``ActionRepo.query_ids`` and reads rows through the repository.

A query is one ``SELECT id`` with a ``WHERE`` and an ``ORDER BY group key, id DESC`` (newest first
over several statuses: one index read per status merged by ``UNION ALL``); the status
part uses the ``(status, risk|agent|kind, id)`` indexes (``m008_inbox_filter_indexes``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from solodesk.core import kinds as K
from solodesk.core.actions import ActionStatus

#: Status filter values besides a single status: ``open`` (the default: what needs the founder
#: or is about to happen — pending proposals, approvals still in their undo window, and sends
#: that failed or were interrupted) and ``all``.
FILTER_PENDING = ActionStatus.PENDING.value
FILTER_OPEN = "open"
FILTER_ALL = "all"
OPEN_STATUSES = (
    ActionStatus.PENDING,
    ActionStatus.SCHEDULED,
    ActionStatus.FAILED,
    ActionStatus.UNKNOWN,
)

RISK_LEVELS = ("low", "medium", "high")

#: The order of statuses when grouped by status: what needs the founder first.
STATUS_URGENCY = (
    ActionStatus.UNKNOWN,
    ActionStatus.FAILED,
    ActionStatus.PENDING,
    ActionStatus.INVALID,
    ActionStatus.SCHEDULED,
    ActionStatus.APPROVED,
    ActionStatus.EXECUTING,
    ActionStatus.EXECUTED,
)


def _case(column: str, values: tuple[str, ...]) -> str:
    """``CASE column WHEN 'a' THEN 0 ... ELSE n END, `` (values are fixed names, safe to
    inline)."""
    whens = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values))
    return f"CASE {column} {whens} ELSE {len(values)} END, "


#: Group-by keys and the SQL that orders rows so each group is contiguous (most urgent first).
GROUP_ORDER: dict[str, str] = {
    "": "",
    "agent": "agent, ",
    "kind": "kind, ",
    "risk": _case("risk", tuple(reversed(RISK_LEVELS))),
    "status": _case("status", tuple(s.value for s in STATUS_URGENCY)),
}


@dataclass(frozen=True, slots=True)
class ActionQuery:
    """Which actions to list and how to order them.

    Attributes:
        status: ``open`` (pending, scheduled, failed, unknown), ``all`` or one
            :class:`ActionStatus` value.
        agent: Only this agent's proposals (None: every agent).
        kind: Only this registered action kind (None: every kind).
        risk: Only this level, ``low``/``medium``/``high`` (None: every level).
        group_by: ``""`` (newest first), ``agent``, ``kind``, ``risk`` or ``status``: rows are
            sorted by that key (most urgent first for risk and status), then newest first.
    """

    status: str = FILTER_OPEN
    agent: str | None = None
    kind: str | None = None
    risk: str | None = None
    group_by: str = ""

    def checked(self) -> ActionQuery:
        """This query, validated.

        Raises:
            ValueError: a value is not a status, kind, risk level or group key.
        """
        if self.status not in (FILTER_ALL, FILTER_OPEN):
            try:
                ActionStatus(self.status)
            except ValueError:
                valid = ", ".join(s.value for s in ActionStatus)
                raise ValueError(
                    f"unknown inbox filter {self.status!r}; use open, all, {valid}"
                ) from None
        if self.kind is not None and not K.is_kind(self.kind):
            raise ValueError(f"unknown action kind {self.kind!r}")
        if self.risk is not None and self.risk not in RISK_LEVELS:
            raise ValueError(f"risk must be low, medium or high, not {self.risk!r}")
        if self.group_by not in GROUP_ORDER:
            raise ValueError(f"cannot group by {self.group_by!r}; use {', '.join(GROUP_ORDER)}")
        return self

    def statuses(self) -> tuple[ActionStatus, ...] | None:
        """The statuses listed (None: every status)."""
        if self.status == FILTER_ALL:
            return None
        if self.status == FILTER_OPEN:
            return OPEN_STATUSES
        return (ActionStatus(self.status),)

    def where(
        self,
        *,
        status: ActionStatus | None = None,
        risk: str | None = None,
        first_draft: bool = False,
    ) -> tuple[str, list[Any]]:
        """The SQL ``WHERE`` clause (possibly empty) and its parameters; ``status`` and
        ``risk`` narrow the query further (e.g. the pending low-risk rows in view), and
        ``first_draft`` keeps only proposals whose first draft passed every check."""
        clauses: list[str] = []
        params: list[Any] = []
        statuses = self._listed_statuses(risk)
        if statuses is not None:
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params += [s.value for s in statuses]
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        more, more_params = self._narrowing(risk=risk, first_draft=first_draft)
        clauses += more
        params += more_params
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def select_ids(
        self,
        *,
        status: ActionStatus | None = None,
        risk: str | None = None,
        first_draft: bool = False,
    ) -> tuple[str, list[Any]]:
        """The SQL listing the ids of this query in its order, and its parameters (the
        narrowing arguments are :meth:`where`'s).

        Newest first over several statuses (the inbox's default ``open`` view), it is one
        ``SELECT`` per status joined by ``UNION ALL``: each reads the ``(status[, risk|agent|
        kind], id)`` index in id order and SQLite merges them, instead of sorting every
        matching row in a temporary B-tree (at 100,000 open actions the sort was most of the
        inbox's open time).
        """
        statuses = self._listed_statuses(risk)
        if self.group_by or status is not None or statuses is None or len(statuses) < 2:
            where, where_params = self.where(status=status, risk=risk, first_draft=first_draft)
            return f"SELECT id FROM actions{where} ORDER BY {self.order_by()}", where_params
        more, more_params = self._narrowing(risk=risk, first_draft=first_draft)
        branch = " AND ".join(["SELECT id FROM actions WHERE status = ?", *more])
        params: list[Any] = []
        for s in statuses:
            params += [s.value, *more_params]
        return " UNION ALL ".join([branch] * len(statuses)) + " ORDER BY id DESC", params

    def _listed_statuses(self, risk: str | None) -> tuple[ActionStatus, ...] | None:
        """The statuses named in the SQL (None: no status clause)."""
        statuses = self.statuses()
        if statuses is None and (self.agent or self.kind or self.risk or risk):
            # Every status, named: the (status, risk|agent|kind, id) indexes then seek each
            # status instead of scanning the table (m008_inbox_filter_indexes).
            statuses = tuple(ActionStatus)
        return statuses

    def _narrowing(self, *, risk: str | None, first_draft: bool) -> tuple[list[str], list[Any]]:
        """The clauses after the status part, and their parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("agent", self.agent), ("kind", self.kind), ("risk", self.risk)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if risk is not None:
            clauses.append("risk = ?")
            params.append(risk)
        if first_draft:
            clauses.append("draft_attempts <= 1")
        return clauses, params

    def order_by(self) -> str:
        """The SQL ``ORDER BY`` terms: the group key, then newest first."""
        return f"{GROUP_ORDER[self.group_by]}id DESC"

    def describe(self) -> str:
        """A short text of the narrowing filters, e.g. ``agent support, risk high``."""
        parts = [
            f"{f.name} {getattr(self, f.name)}"
            for f in fields(self)
            if f.name in ("agent", "kind", "risk") and getattr(self, f.name) is not None
        ]
        return ", ".join(parts)
