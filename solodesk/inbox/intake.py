"""The one way a proposal enters the inbox: validated, assessed, stored, announced, then passed
through the gates (``inbox.gates``: risk and the founder's policy rules).

Every agent proposes through :class:`Intake` (the support agent's triage, the manager's chat,
later the specialists): a payload that fails its kind's validation is recorded as an ``invalid``
proposal (visible, never executable) rather than lost, and so is an attempt the agent could not
turn into a payload at all (:meth:`Intake.record_invalid`).

The devil's advocate: an agent run proposes with :meth:`Intake.submit`, which, for a high-risk
proposal (or one of a kind named in the ``critique.kinds`` setting; ``critique.enabled``
switches it off), awaits the :attr:`Intake.critic` after the proposal is stored and before it
is announced and passed through the gates: the critique is attached (``store.critiques``), may
raise the risk the policy then sees, never lowers it and never approves. A critique that fails
(the model, the budget, a cancelled run) leaves the proposal as it was, with a note.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from solodesk.core import kinds as K
from solodesk.core.actions import Action, ActionStatus, JSONObject, Provenance
from solodesk.core.critique import CRITIC_AGENT, Critique
from solodesk.core.events import ActionProposed, ActionResolved, EventBus
from solodesk.core.kinds import validate_payload
from solodesk.inbox.gates import Correspondents, Gates
from solodesk.store.owner import Owner
from solodesk.store.repos import NotFound, Store

log = logging.getLogger(__name__)

MailClaim = tuple[int, Owner | None]
"""(mail id, the triage run's claim on it): the mail's triage state is written in the same
transaction as the proposal, and only while the claim holds (one proposal per mail)."""

Critic = Callable[[Action], Awaitable[Critique]]
"""Critiques a stored proposal (the devil's advocate's run, ``agents.critique``); failures come
back as :meth:`Critique.failed`, not as exceptions (one raised is recorded as a failure too)."""


class Intake:
    """Stores agents' proposals and passes them through the gates.

    Args:
        store: The database.
        gates: Risk assessment and policy (``inbox.gates``).
        bus: Where :class:`ActionProposed` (every stored proposal) and :class:`ActionResolved`
            (a policy rule approved or blocked it) are published.
        critic: The devil's advocate (None: no critiques; see :meth:`submit`).
    """

    def __init__(
        self, store: Store, gates: Gates, bus: EventBus, *, critic: Critic | None = None
    ) -> None:
        self.store = store
        self.gates = gates
        self.bus = bus
        self.critic = critic

    def _cost(self, run_id: int | None) -> dict[str, Any] | None:
        """The run's own model usage so far: the proposal's audited cost."""
        if run_id is None:
            return None
        try:
            return self.store.runs.get(run_id).usage.to_json()
        except NotFound:
            return None

    def propose(
        self,
        kind: str,
        payload: JSONObject,
        *,
        agent: str,
        provenance: Provenance,
        run_id: int | None,
        attempts: Sequence[str] = (),
        draft_attempts: int = 1,
        mail_claim: MailClaim | None = None,
    ) -> Action:
        """Store a proposal with its risk, announce it, then pass it through the gates.

        A payload its kind rejects (``core.kinds.validate_payload``) is recorded ``invalid``
        with the errors instead (nothing is lost; it can never be executed).

        Args:
            kind: A registered action kind (``core.kinds``).
            payload: The stored payload (the kind's ``payload_model`` as JSON).
            agent: The agent that proposes it (``support``, ``manager``...).
            provenance: Where it came from (an untrusted mail, the founder's chat...).
            run_id: The run that made it: its usage so far is the proposal's audited cost.
            attempts: The errors of the agent's earlier attempts (``attempt N: ...``), audited.
            draft_attempts: How many model attempts the payload took (1: the first passed).
            mail_claim: For a proposal answering a mail: the mail is marked ``proposed`` (or
                ``invalid``) in the same transaction.

        Returns:
            The stored action: ``pending`` (the founder decides), ``scheduled``/``approved``
            (a policy rule approved it) or ``rejected`` (a rule blocked it); or ``invalid``.

        Raises:
            KeyError: ``kind`` is not registered.
            TriageClaimLost: the mail's claim was lost meanwhile; nothing was stored.
        """
        action, who = self._store_valid(
            kind, payload, agent=agent, provenance=provenance, run_id=run_id,
            attempts=attempts, draft_attempts=draft_attempts, mail_claim=mail_claim,
        )
        if who is None:  # recorded invalid
            return action
        return self._release(action, who)

    async def submit(
        self,
        kind: str,
        payload: JSONObject,
        *,
        agent: str,
        provenance: Provenance,
        run_id: int | None,
        attempts: Sequence[str] = (),
        draft_attempts: int = 1,
        mail_claim: MailClaim | None = None,
    ) -> Action:
        """:meth:`propose` from an agent run, with the devil's advocate: a proposal that
        :meth:`needs_critique` is critiqued after it is stored (status ``pending``, shown as
        being critiqued) and before it is announced and passed through the gates, so the
        policy sees the risk the critique raised. Arguments, result and errors as
        :meth:`propose`.

        Raises:
            asyncio.CancelledError: the run was cancelled during the critique (the proposal is
                kept, announced and gated, with a note).
        """
        action, who = self._store_valid(
            kind, payload, agent=agent, provenance=provenance, run_id=run_id,
            attempts=attempts, draft_attempts=draft_attempts, mail_claim=mail_claim,
        )
        if who is None:  # recorded invalid
            return action
        if self._wants_critique(action):
            try:
                action = await self.critique(action)
            except asyncio.CancelledError:
                self._record_failure(action, "the run was cancelled during the critique")
                self._release(self.store.actions.get(action.id), who)
                raise
            except Exception:  # storing the critique failed: the proposal still goes on
                log.warning("the critique of #%s could not be stored", action.id, exc_info=True)
                action = self.store.actions.get(action.id)
        return self._release(action, who)

    def _wants_critique(self, action: Action) -> bool:
        """:meth:`needs_critique` when there is a critic; unreadable settings are a note on
        the proposal (it goes on without a critique)."""
        if self.critic is None:
            return False
        try:
            return self.needs_critique(action)
        except Exception as exc:  # a bad critique.* value in the settings file
            self._record_failure(action, f"the critique settings cannot be read: {exc}")
            return False

    def needs_critique(self, action: Action) -> bool:
        """Whether the devil's advocate critiques ``action``: ``critique.enabled``, a pending
        proposal not made by the devil's advocate itself, high risk or of a kind listed in
        ``critique.kinds``."""
        config = self.gates.config
        if not config.get_bool("critique.enabled"):
            return False
        if action.status is not ActionStatus.PENDING or action.agent == CRITIC_AGENT:
            return False
        kinds = {k.strip() for k in config.get("critique.kinds").split(",") if k.strip()}
        return action.risk == "high" or action.kind in kinds

    async def critique(self, action: Action) -> Action:
        """Run the :attr:`critic` on a stored proposal and attach what it says (a failure as a
        note); returns the proposal as stored now.

        Raises:
            asyncio.CancelledError: the caller was cancelled (nothing is attached).
            RuntimeError: there is no critic.
        """
        if self.critic is None:
            raise RuntimeError("this intake has no critic")
        self.store.critiques.mark_running(action.id)
        try:
            result = await self.critic(action)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the critic reports failures itself; this is a last guard
            log.warning("the critique of #%s failed", action.id, exc_info=True)
            result = Critique.failed(
                f"the devil's advocate failed: {exc}", payload_sha256=action.payload_sha256
            )
        return self.store.critiques.record(action.id, result)

    def _record_failure(self, action: Action, why: str) -> None:
        try:
            self.store.critiques.record(
                action.id, Critique.failed(why, payload_sha256=action.payload_sha256)
            )
        except Exception:  # the proposal itself is stored; the note is best effort
            log.warning("could not record the critique note of #%s", action.id, exc_info=True)

    def _store_valid(
        self,
        kind: str,
        payload: JSONObject,
        *,
        agent: str,
        provenance: Provenance,
        run_id: int | None,
        attempts: Sequence[str],
        draft_attempts: int,
        mail_claim: MailClaim | None,
    ) -> tuple[Action, Correspondents | None]:
        """Assess and store (``pending``, not yet announced) a payload its kind accepts; one it
        rejects is recorded ``invalid`` with the errors instead (``who`` is then None: nothing
        to announce or gate)."""
        errors = validate_payload(kind, payload)
        if errors:
            return self.record_invalid(
                kind, payload, agent=agent, provenance=provenance, run_id=run_id,
                errors=[*attempts, *errors], draft_attempts=draft_attempts,
                summary=f"Invalid {kind} proposal", mail_claim=mail_claim,
            ), None
        spec = K.get(kind)
        who: Correspondents = self.gates.correspondents(provenance)
        risk = self.gates.assess(kind, payload, provenance, who, draft_attempts=draft_attempts)
        with self.store.db.atomic():
            action = self.store.actions.propose(
                kind=kind,
                payload=payload,
                agent=agent,
                summary=K.summary(kind, payload),
                provenance=provenance,
                idempotency_key=spec.idempotency_key(spec.parse(payload)),
                validation=list(attempts),
                cost=self._cost(run_id),
                run_id=run_id,
                risk=risk.level.label,
                risk_reasons=risk.reasons,
                draft_attempts=draft_attempts,
            )
            if mail_claim is not None:
                mail_id, claim = mail_claim
                self.store.mail.set_triage(
                    mail_id, "proposed", f"action {action.id}", claim=claim
                )
        return action, who

    def _release(self, action: Action, who: Correspondents) -> Action:
        """Announce a stored proposal and pass it through the gates (one the founder already
        decided on meanwhile is only announced)."""
        self.announce(action)
        if action.status is not ActionStatus.PENDING:
            return action
        decided, decision = self.gates.apply(action, who)
        if decided.status is not action.status:
            self.bus.publish(
                ActionResolved(decided.id, decided.status.value, "; ".join(decision.explanation))
            )
        return decided

    def record_invalid(
        self,
        kind: str,
        payload: JSONObject,
        *,
        agent: str,
        provenance: Provenance,
        run_id: int | None,
        errors: Sequence[str],
        summary: str,
        draft_attempts: int = 1,
        mail_claim: MailClaim | None = None,
    ) -> Action:
        """Record what an agent proposed that is not a valid payload, as ``invalid`` (risk
        high, visible in the inbox, never executable), and announce it.

        Args:
            payload: What the agent produced (its raw tool call, or the rejected payload).
            errors: Why it is invalid, one line each (``attempt N: ...``).
            summary: The inbox line (at most 200 characters are kept).
            mail_claim: The mail it answered is marked ``invalid`` in the same transaction.

        Raises:
            TriageClaimLost: the mail's claim was lost meanwhile; nothing was stored.
        """
        with self.store.db.atomic():
            action = self.store.actions.record_invalid(
                cost=self._cost(run_id),
                run_id=run_id,
                draft_attempts=draft_attempts,
                kind=kind,
                payload=payload,
                agent=agent,
                summary=summary[:200],
                provenance=provenance,
                errors=list(errors),
            )
            if mail_claim is not None:
                mail_id, claim = mail_claim
                self.store.mail.set_triage(
                    mail_id, "invalid", "; ".join(errors)[:1000], claim=claim
                )
        self.announce(action)
        return action

    def announce(self, action: Action) -> None:
        """Publish :class:`ActionProposed` for a stored proposal (the inbox shows it)."""
        self.bus.publish(
            ActionProposed(action.id, action.kind, action.status.value, action.summary)
        )
