"""The gates between a proposal and the outbox: risk assessment and the founder's policy rules.

Every proposal is assessed (``core.risk``) and run through the policy (``core.policy``); the
decision and the rule that fired are written to the audit log. ``auto_approve`` approves it in the
founder's name of that rule (through the same undo window as a manual approval), ``block``
rejects it, ``ask`` (the default) leaves it pending for the founder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import getaddresses

from solodesk.core.actions import Action, ActionKind, ActionStatus, JSONObject, Provenance
from solodesk.core.drafts import find_promises
from solodesk.core.mail import mail_domain
from solodesk.core.policy import Decision, Outcome, evaluate, facts
from solodesk.core.risk import Risk, RiskAssessment, assess, recipients
from solodesk.store.config import Config
from solodesk.store.repos import NotFound, Store


@dataclass(frozen=True, slots=True)
class Correspondents:
    """Who a proposal's recipients are measured against (read once per proposal).

    Attributes:
        participants: Lower-cased addresses in the From/Reply-To/To/Cc of the mail the proposal
            came from (empty for chat).
        known: Lower-cased addresses the founder has corresponded with: senders of imported
            mail and recipients of mail SoloDesk has sent.
        thread: What the proposal answers, as text: the source mail's subject and body, or
            the founder's own messages in the chat it came from. A promise a reply makes must
            be found here or in the business profile (``core.drafts.find_promises``).
    """

    participants: frozenset[str]
    known: frozenset[str]
    thread: str = ""


class Gates:
    """Risk and policy for proposals in ``store`` with settings from ``config``."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def own_domain(self) -> str:
        return mail_domain(self.config.get("smtp.from"))

    def undo_seconds(self) -> float:
        """The undo window for approved outgoing mail, in seconds (``outbox.undo_seconds``)."""
        return float(max(0, self.config.get_int("outbox.undo_seconds")))

    def correspondents(self, provenance: Provenance) -> Correspondents:
        """Read the source mail's participants and the known addresses (one pass each)."""
        participants: set[str] = set()
        thread = ""
        if provenance.source == "mail" and provenance.ref is not None:
            try:
                mail = self.store.mail.get(provenance.ref)
            except NotFound:
                pass
            else:
                fields = [mail.from_addr, mail.reply_to, mail.to_addrs, mail.cc_addrs]
                participants = {
                    a.lower() for _n, a in getaddresses([f for f in fields if f]) if a
                }
                thread = f"{mail.subject}\n{mail.body_text}"
        elif provenance.source == "chat" and provenance.ref is not None:
            thread = "\n".join(
                str(m["content"])
                for m in self.store.chat.messages(provenance.ref)
                if m["role"] == "user"
            )
        db = self.store.db
        known = {
            a.lower()
            for (value,) in db.execute("SELECT from_addr FROM mail").fetchall()
            for _n, a in getaddresses([value])
            if a
        }
        for (payload,) in db.execute(
            "SELECT payload FROM actions WHERE status = ?", [ActionStatus.EXECUTED.value]
        ).fetchall():
            known.update(recipients(json.loads(payload)))
        return Correspondents(frozenset(participants), frozenset(known), thread)

    def profile_text(self) -> str:
        """What the founder's business allows, as text (refund policy, prices...).

        There is no business profile yet: the company settings stand in for it, so a reply
        may only promise what the mail thread itself holds.
        """
        return "\n".join(self.config.get(k) for k in ("company.name", "founder.name"))

    def assess(
        self,
        kind: ActionKind,
        payload: JSONObject,
        provenance: Provenance,
        who: Correspondents | None = None,
        *,
        draft_attempts: int = 1,
    ) -> RiskAssessment:
        """Assess a payload; ``who`` defaults to :meth:`correspondents` of ``provenance``.

        Besides ``core.risk``: a mail that promises something (a refund, a discount, a
        date...) the thread and the business profile do not hold is at least ``medium``; so
        is a draft the model needed more than one attempt for (``draft_attempts``).
        """
        who = who or self.correspondents(provenance)
        risk = assess(
            kind,
            payload,
            provenance,
            own_domain=self.own_domain(),
            source_participants=who.participants,
            known_addresses=who.known,
        )
        level, reasons = risk.level, list(risk.reasons)
        if kind in (ActionKind.SEND_EMAIL, ActionKind.REPLY_EMAIL):
            for promise in find_promises(
                str(payload.get("body", "")), thread=who.thread, profile=self.profile_text()
            ):
                level = max(level, Risk.MEDIUM)
                reasons.append(promise.reason)
        if draft_attempts > 1:
            level = max(level, Risk.MEDIUM)
            reasons.append(
                f"the model needed {draft_attempts} attempts: its earlier drafts were invalid"
            )
        return RiskAssessment(level, reasons)

    def decide(self, action: Action, who: Correspondents | None = None) -> Decision:
        """Evaluate the policy rules for a pending action (does not change it)."""
        who = who or self.correspondents(action.provenance)
        rcpts = recipients(action.payload)
        known = who.known | who.participants
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

    def apply(
        self, action: Action, who: Correspondents | None = None
    ) -> tuple[Action, Decision]:
        """Decide and act on a new pending proposal; the decision is audited with its rule."""
        decision = self.decide(action, who)
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
