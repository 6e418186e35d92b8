"""Earned autonomy's store query: the founder's decisions on proposals, read from the audit
trail (``core.autonomy`` turns them into approval rates and rule offers).

A proposal counts once it is decided: its last ``approved`` or ``rejected`` entry (an
``approval_cancelled`` in the undo window takes the approval back). Approved by ``founder``
after an ``edited`` entry is ``edited``, without one ``approved``; rejected by the founder is
``rejected``; approved or blocked by a policy rule is ``rule``. ``invalid`` proposals were never
decidable and are left out.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from solodesk.core.autonomy import Decided, Offer, Rate, Verdict, offers, pattern_of, rates
from solodesk.core.policy import PolicyRule

FOUNDER = "founder"
_EVENTS = ("edited", "approved", "rejected", "approval_cancelled")


class AutonomyQuery:
    """The founder's decisions, per proposal, from the audit trail."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def decided(self) -> list[Decided]:
        """Every decided proposal (see the module docstring), in decision order."""
        marks = ", ".join(f"'{e}'" for e in _EVENTS)
        state: dict[int, dict[str, Any]] = {}
        for entry_id, action_id, event, actor in self.db.execute(
            f"SELECT id, action_id, event, actor FROM audit_log WHERE action_id IS NOT NULL"
            f" AND event IN ({marks}) ORDER BY id"
        ).fetchall():
            s = state.setdefault(int(action_id), {"edited": False, "decision": None})
            if event == "edited" and actor == FOUNDER:
                s["edited"] = True
            elif event == "approval_cancelled":
                s["decision"] = None
            elif event in ("approved", "rejected"):
                s["decision"] = (event, str(actor), int(entry_id))
        decided = {i: s for i, s in state.items() if s["decision"] is not None}
        if not decided:
            return []
        out: list[Decided] = []
        ids = sorted(decided)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self.db.execute(
                "SELECT id, agent, kind, payload, risk, provenance FROM actions"
                f" WHERE status != 'invalid' AND id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            ).fetchall()
            for action_id, agent, kind, payload, risk, provenance in rows:
                s = decided[int(action_id)]
                event, actor, order = s["decision"]
                outcome: Verdict
                if actor != FOUNDER:
                    outcome = "rule"
                elif event == "rejected":
                    outcome = "rejected"
                else:
                    outcome = "edited" if s["edited"] else "approved"
                try:
                    body = json.loads(payload)
                    untrusted = bool(json.loads(provenance or "{}").get("untrusted"))
                except ValueError:
                    continue
                out.append(Decided(
                    int(action_id), str(agent), str(kind), outcome, str(risk or "low"),
                    untrusted, pattern_of(str(kind), body), order,
                ))
        out.sort(key=lambda d: d.order)
        return out

    def rates(self) -> list[Rate]:
        """Approval rates per agent and kind (``core.autonomy.rates``)."""
        return rates(self.decided())

    def offers(self, *, after: int, rules: list[PolicyRule]) -> list[Offer]:
        """Rule offers after ``after`` unedited approvals in a row (``core.autonomy.offers``)."""
        return offers(self.decided(), after=after, rules=rules)
