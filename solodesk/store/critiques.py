"""The devil's advocate's critiques, stored on their proposals (``actions.critique``, JSON) and
in the audit trail (event ``critiqued``).

A critique may raise the proposal's risk (``core.critique.raised_risk``), never lower it, and
never changes its status: it stays ``pending`` for the founder (or the policy) to decide.
"""

from __future__ import annotations

import json

from sqlite_utils import Database

from solodesk.core.actions import Action, ActionStatus, canonical_json, utcnow
from solodesk.core.critique import CRITIC_AGENT, Critique, raised_risk
from solodesk.core.risk import Risk
from solodesk.store.repos import ActionRepo, AuditLog

#: What ``actions.critique`` holds while the devil's advocate is working.
RUNNING = {"state": "running"}


class CritiqueRepo:
    """Critiques of proposals."""

    def __init__(self, db: Database, audit: AuditLog, actions: ActionRepo) -> None:
        self.db = db
        self.audit = audit
        self.actions = actions

    def mark_running(self, action_id: int) -> None:
        """Say the devil's advocate is critiquing the proposal (the editor shows it); only a
        proposal without a critique is marked."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE actions SET critique = ? WHERE id = ? AND critique IS NULL",
                [canonical_json(RUNNING), action_id],
            )

    def record(self, action_id: int, critique: Critique, *, actor: str = CRITIC_AGENT) -> Action:
        """Attach ``critique`` to the proposal and audit it (``critiqued``, with the risk
        before and after); a still ``pending`` proposal's risk is raised as the critique says
        (:func:`~solodesk.core.critique.raised_risk`), never lowered. A failed critique is
        recorded as a note and changes nothing else.

        Returns:
            The proposal as stored now.

        Raises:
            NotFound: no such action.
        """
        with self.db.atomic():
            current = self.actions.get(action_id)
            before = Risk.parse(current.risk)
            level, reasons = before, list(current.risk_reasons)
            if current.status is ActionStatus.PENDING:
                level, reasons = raised_risk(before, reasons, critique)
            data = critique.to_json()
            self.db.execute(
                "UPDATE actions SET critique = ?, risk = ?, risk_reasons = ?, updated_at = ?"
                " WHERE id = ?",
                [canonical_json(data), level.label, json.dumps(reasons), utcnow(), action_id],
            )
            self.audit.append(
                "critiqued" if critique.ok else "critique_failed",
                action_id=action_id,
                actor=actor,
                detail={
                    "verdict": critique.verdict,
                    "concerns": list(critique.concerns),
                    "why": critique.why,
                    "error": critique.error,
                    "run_id": critique.run_id,
                    "payload_sha256": critique.payload_sha256,
                    "risk_before": before.label,
                    "risk_after": level.label,
                },
            )
        return self.actions.get(action_id)
