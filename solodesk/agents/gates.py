"""The gates between a proposal and the outbox: risk assessment and the founder's policy rules.

Every proposal is assessed (``core.risk``) and run through the policy (``core.policy``); the
decision and the rule that fired are written to the audit log. ``auto_approve`` approves it in the
founder's name of that rule (through the same undo window as a manual approval), ``block``
rejects it, ``ask`` (the default) leaves it pending for the founder.
"""

from __future__ import annotations

from email.utils import getaddresses

from solodesk.core.actions import Action, ActionKind, ActionStatus, JSONObject, Provenance
from solodesk.core.policy import Decision, Outcome, evaluate, facts
from solodesk.core.risk import Risk, RiskAssessment, assess, recipients
from solodesk.store.config import Config
from solodesk.store.repos import NotFound, Store


class Gates:
    """Risk and policy for proposals in ``store`` with settings from ``config``."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def own_domain(self) -> str:
        pairs = getaddresses([self.config.get("smtp.from")])
        addr = pairs[0][1] if pairs else ""
        return addr.rsplit("@", 1)[1].lower() if "@" in addr else ""

    def undo_seconds(self) -> float:
        """The undo window for approved outgoing mail, in seconds (``outbox.undo_seconds``)."""
        return float(max(0, self.config.get_int("outbox.undo_seconds")))

    def source_participants(self, provenance: Provenance) -> set[str]:
        """Lower-cased addresses in the From/Reply-To/To/Cc of the mail a proposal came from."""
        if provenance.source != "mail" or provenance.ref is None:
            return set()
        try:
            mail = self.store.mail.get(provenance.ref)
        except NotFound:
            return set()
        fields = [mail.from_addr, mail.reply_to, mail.to_addrs, mail.cc_addrs]
        return {a.lower() for _n, a in getaddresses([f for f in fields if f]) if a}

    def known_addresses(self) -> set[str]:
        """Addresses the founder has corresponded with: senders of imported mail and
        recipients of mail SoloDesk has sent."""
        known = {
            a.lower()
            for (value,) in self.store.db.execute("SELECT from_addr FROM mail").fetchall()
            for _n, a in getaddresses([value])
            if a
        }
        for action in self.store.actions.list(statuses=[ActionStatus.EXECUTED]):
            known.update(recipients(action.payload))
        return known

    def assess(self, kind: ActionKind, payload: JSONObject, provenance: Provenance
               ) -> RiskAssessment:
        return assess(
            kind,
            payload,
            provenance,
            own_domain=self.own_domain(),
            source_participants=self.source_participants(provenance),
            known_addresses=self.known_addresses(),
        )

    def decide(self, action: Action) -> Decision:
        """Evaluate the policy rules for a pending action (does not change it)."""
        rcpts = recipients(action.payload)
        participants = self.source_participants(action.provenance)
        known = self.known_addresses() | participants
        amount = action.payload.get("amount_cents")
        return evaluate(
            self.store.policy.rules(),
            action.kind.value,
            facts(
                agent=action.agent,
                risk=Risk.parse(action.risk),
                untrusted=action.provenance.untrusted,
                recipients=rcpts,
                known=bool(rcpts) and all(r in known for r in rcpts),
                amount_cents=amount if isinstance(amount, int) else 0,
            ),
        )

    def apply(self, action: Action) -> tuple[Action, Decision]:
        """Decide and act on a new pending proposal; the decision is audited with its rule."""
        decision = self.decide(action)
        with self.store.db.atomic():
            self.store.audit.append(
                "policy_decision",
                action_id=action.id,
                actor="policy",
                detail={
                    "outcome": decision.outcome.value,
                    "rule_id": decision.rule_id,
                    "explanation": decision.explanation,
                },
            )
        actor = f"policy rule #{decision.rule_id}"
        if decision.outcome is Outcome.AUTO_APPROVE:
            action = self.store.actions.approve(
                action.id,
                expected_sha256=action.payload_sha256,
                actor=actor,
                delay_s=self.undo_seconds(),
                rule_id=decision.rule_id,
            )
        elif decision.outcome is Outcome.BLOCK:
            action = self.store.actions.reject(
                action.id, reason=f"blocked by {actor}", actor=actor
            )
        return action, decision
