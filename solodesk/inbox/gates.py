"""The gates between a proposal and the outbox: risk assessment and the founder's policy rules.

Every proposal is assessed (``core.risk``) and run through the policy (``core.policy``); the
decision and the rule that fired are written to the audit log. ``auto_approve`` approves it in the
founder's name of that rule (through the same undo window as a manual approval), ``block``
rejects it, ``ask`` (the default) leaves it pending for the founder. When the policy floor
turns a rule's ``auto_approve`` into ``ask`` (a high-risk proposal derived from untrusted
content), the audited decision records the floor and the rule that would have fired
(``rule_id``, ``rule_outcome``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from solodesk.core import kinds as K
from solodesk.core.actions import Action, JSONObject, Provenance
from solodesk.core.mail import addr_specs, mail_domain
from solodesk.core.phishing import SenderFacts, Signal, sender_signals
from solodesk.core.policy import Decision, Outcome, common_facts, evaluate
from solodesk.core.risk import Risk, RiskAssessment
from solodesk.store.config import Config
from solodesk.store.correspondents import CorrespondentRepo
from solodesk.store.repos import MailRecord, NotFound, Store


class KnownAddresses(Collection[str]):
    """The addresses the founder has corresponded with, looked up in the store's indexed
    ``correspondents`` table (``store.correspondents``) instead of read whole.

    Membership (``in``) is one indexed lookup per address, cached; iteration and ``len`` read
    every known address (for display; the gates never need them).

    Args:
        repo: The store's correspondents.
        before: For a proposal derived from mail N: N (only mail stored before it counts as
            received; sent mail always counts). None: all stored mail counts.
    """

    def __init__(self, repo: CorrespondentRepo, *, before: int | None = None) -> None:
        self._repo = repo
        self._before = before
        self._cache: dict[str, bool] = {}
        self._domains: frozenset[str] | None = None

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        if address not in self._cache:
            self._cache[address] = bool(self._repo.known([address], before=self._before))
        return self._cache[address]

    def lookup(self, addresses: Iterable[str]) -> set[str]:
        """The known subset of ``addresses`` (lower-cased addr-specs) in one query."""
        wanted = list(addresses)
        missing = [a for a in wanted if a not in self._cache]
        if missing:
            found = self._repo.known(missing, before=self._before)
            self._cache.update((a, a in found) for a in missing)
        return {a for a in wanted if self._cache.get(a, False)}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._repo.all(before=self._before)))

    def __len__(self) -> int:
        return len(self._repo.all(before=self._before))

    def domains(self) -> frozenset[str]:
        """Lower-cased domains of the known addresses (read once)."""
        if self._domains is None:
            self._domains = frozenset(self._repo.domains(before=self._before))
        return self._domains


@dataclass(frozen=True, slots=True)
class Correspondents:
    """Who a proposal's recipients are measured against (read once per proposal).

    Attributes:
        participants: Lower-cased addr-specs in the From/Reply-To/To/Cc of the mail the proposal
            came from (empty for chat); display names are never addresses.
        known: Lower-cased addresses the founder has corresponded with: senders of imported
            mail (for a proposal from a mail: of mail imported before it) and recipients of mail
            SoloDesk has sent (an indexed lookup, :class:`KnownAddresses`).
        thread: What the proposal answers, as text: the source mail's subject and body, or
            the founder's own messages in the chat it came from. A promise a reply makes must
            be found here or in the business profile (``core.drafts.find_promises``).
    """

    participants: frozenset[str]
    known: KnownAddresses
    thread: str = ""


class Gates:
    """Risk and policy for proposals in ``store`` with settings from ``config``."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self._own_domain: tuple[str, str] | None = None  # (raw smtp.from, its domain)

    def own_domain(self) -> str:
        """The domain of ``smtp.from`` (lower case; empty if unset). Parsed once per value:
        checking and parsing the address (``email.headerregistry``) cost ~1 ms, and every
        proposal asks several times.

        Raises:
            ConfigError: the stored ``smtp.from`` is not an address.
        """
        raw = self.config.raw("smtp.from")
        cached = self._own_domain
        if cached is not None and cached[0] == raw:
            return cached[1]
        domain = mail_domain(self.config.get("smtp.from"))
        self._own_domain = (raw, domain)
        return domain

    def undo_seconds(self, kind: str | None = None) -> float:
        """The undo window of an approval, in seconds (``outbox.undo_seconds``); 0 for a kind
        declared without one (``KindSpec.undo_window``)."""
        spec = K.find(kind) if kind is not None else None
        if spec is not None and not spec.undo_window:
            return 0.0
        return float(self.config.get_int("outbox.undo_seconds"))

    def correspondents(self, provenance: Provenance) -> Correspondents:
        """Read the source mail's participants; the known addresses are looked up on demand.

        For a proposal derived from a mail, ``known`` holds the senders of *earlier* mail (and
        everyone the founder has mailed), so the mail's own sender is known only if seen before.
        """
        participants: set[str] = set()
        before: int | None = None
        thread = ""
        if provenance.source == "mail" and provenance.ref is not None:
            before = provenance.ref
            try:
                mail = self.store.mail.get(provenance.ref)
            except NotFound:
                pass
            else:
                participants = {mail.from_email.lower()} | {
                    a.lower()
                    for field in (mail.reply_to_email, mail.to_addrs, mail.cc_addrs)
                    for a in addr_specs(field)
                }
                participants.discard("")
                thread = f"{mail.subject}\n{mail.body_text}"
        elif provenance.source == "chat" and provenance.ref is not None:
            thread = "\n".join(
                str(m["content"])
                for m in self.store.chat.messages(provenance.ref)
                if m["role"] == "user"
            )
        elif provenance.source == "invoice" and provenance.ref is not None:
            # A mail about an issued invoice (sending it, a payment reminder): the invoice is
            # what it answers to. Its customer is a participant, and its own facts (number,
            # dates, amounts) are no promise when the mail repeats them.
            try:
                invoice = self.store.invoices.get(provenance.ref)
            except NotFound:
                pass
            else:
                d = invoice.draft
                if d.customer.email:
                    participants = {d.customer.email.lower()}
                thread = "\n".join([
                    f"Invoice {invoice.number} to {d.customer.name}",
                    f"issued {d.issue_date.isoformat()}"
                    + (f", due {d.due_date.isoformat()}" if d.due_date else ""),
                    f"payment terms: {d.payment_terms}",
                ])
        known = KnownAddresses(self.store.correspondents, before=before)
        return Correspondents(frozenset(participants), known, thread)

    def profile_text(self) -> str:
        """What the founder's business allows, as text (refund policy, prices...).

        The company settings and the business profile's company, offering and customer
        notes (``core.profile.allowance_text``): a reply may promise what they or the mail
        thread hold.
        """
        from solodesk.core.profile import allowance_text

        base = [self.config.get(k) for k in ("company.name", "founder.name")]
        return "\n".join([*base, allowance_text(self.store.profile.get())]).strip()

    def sender_facts(self, mail: MailRecord, who: Correspondents) -> SenderFacts:
        """What ``core.phishing`` needs about ``mail``'s sender (``who`` from
        :meth:`correspondents` of a proposal derived from it)."""
        known_domains = set(who.known.domains()) | {self.own_domain()}
        known_domains.discard("")
        return SenderFacts(
            from_header=mail.from_addr,
            reply_to_header=mail.reply_to,
            subject=mail.subject,
            body=mail.body_text,
            first_contact=bool(mail.from_email) and mail.from_email.lower() not in who.known,
            known_domains=frozenset(known_domains),
        )

    def sender_signals(self, mail: MailRecord) -> list[Signal]:
        """The phishing signals of a received mail's sender, for display (GUI, CLI)."""
        who = self.correspondents(Provenance("mail", mail.id, untrusted=True))
        return sender_signals(self.sender_facts(mail, who))

    def _source_mail(self, provenance: Provenance) -> MailRecord | None:
        if provenance.source != "mail" or provenance.ref is None:
            return None
        try:
            return self.store.mail.get(provenance.ref)
        except NotFound:
            return None

    def context(
        self, provenance: Provenance, who: Correspondents | None = None, *, sender: bool = True
    ) -> K.RiskContext:
        """What a kind's risk assessor and policy facts know beyond the payload
        (``core.kinds.RiskContext``); ``who`` defaults to :meth:`correspondents`; ``sender``:
        read the source mail's sender facts (the policy facts do not need them)."""
        who = who or self.correspondents(provenance)
        mail = self._source_mail(provenance) if sender else None
        return K.RiskContext(
            own_domain=self.own_domain(),
            source_participants=who.participants,
            known_addresses=who.known,
            lookup_known=who.known.lookup,
            sender=self.sender_facts(mail, who) if mail is not None else None,
            thread=who.thread,
            profile=self.profile_text(),
        )

    def assess(
        self,
        kind: str,
        payload: JSONObject,
        provenance: Provenance,
        who: Correspondents | None = None,
        *,
        draft_attempts: int = 1,
    ) -> RiskAssessment:
        """Assess a payload with its kind's assessor (``core.kinds``); ``who`` defaults to
        :meth:`correspondents` of ``provenance``.

        A proposal derived from a mail also carries that mail's phishing signals; a mail that
        promises something (a refund, a discount, a date...) the thread and the business
        profile do not hold is at least ``medium`` (the mail kinds' assessor). Whatever the
        kind, a draft the model needed more than one attempt for (``draft_attempts``) is at
        least ``medium``.
        """
        risk = K.assess(kind, payload, provenance, self.context(provenance, who))
        level, reasons = risk.level, list(risk.reasons)
        if draft_attempts > 1:
            level = max(level, Risk.MEDIUM)
            reasons.append(
                f"the model needed {draft_attempts} attempts: its earlier drafts were invalid"
            )
        return RiskAssessment(level, reasons)

    def decide(self, action: Action, who: Correspondents | None = None) -> Decision:
        """Evaluate the policy rules for a pending action (does not change it)."""
        ctx = self.context(action.provenance, who, sender=False)
        amount = action.payload.get("amount_cents")
        return evaluate(
            self.store.policy.rules(),
            action.kind,
            {
                **common_facts(
                    agent=action.agent,
                    kind=action.kind,
                    risk=Risk.parse(action.risk),
                    untrusted=action.provenance.untrusted,
                    amount_cents=amount if isinstance(amount, int) else 0,
                ),
                **K.facts(action.kind, action.payload, ctx),
            },
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
                    **(
                        {"floor": decision.floor, "rule_outcome": Outcome.AUTO_APPROVE.value}
                        if decision.floor
                        else {}
                    ),
                },
            )
        actor = f"policy rule #{decision.rule_id}"
        if decision.outcome is Outcome.AUTO_APPROVE:
            action = self.store.actions.approve(
                action.id,
                expected_sha256=action.payload_sha256,
                actor=actor,
                delay_s=self.undo_seconds(action.kind),
                rule_id=decision.rule_id,
            )
        elif decision.outcome is Outcome.BLOCK:
            action = self.store.actions.reject(
                action.id, reason=f"blocked by {actor}", actor=actor
            )
        return action, decision
