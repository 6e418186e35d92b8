"""Which open invoice a bank line pays, and when an unpaid invoice deserves a reminder.

Pure functions over :class:`InvoiceState` (an invoice's amounts and payment state) and
:class:`~solodesk.core.bank.BankLine`. The bookkeeper proposes ``mark_paid`` from a
:class:`Match`, and the invoicing agent a reminder from :func:`reminder_due`; the founder
approves both.

Matching, strongest evidence first:

1. ``reference``: the remittance text quotes the invoice's structured creditor reference
   (ISO 11649 ``RF..``, check digits verified), its number, or the buyer's reference
   (compared without spaces and dashes: ``2026 0001``, ``RE2026-0001`` and ``20260001`` all quote
   invoice ``2026-0001``). The amount must be the currency's and at most what is outstanding
   (less is reported as a partial payment) or it is reported as an overpayment.
2. ``amount+name``: no reference, but the exact outstanding amount and currency, and the payer's
   name matches the customer's (ignoring case, punctuation and legal forms such as GmbH, Ltd).
3. nothing: no candidate, or several equally good ones (``ambiguous``): the founder decides.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from solodesk.core.bank import BankLine
from solodesk.core.money import MoneyError, check_currency, format_money
from solodesk.core.references import compact, creditor_reference, find_creditor_references


class PaymentStatus(enum.StrEnum):
    """Where an invoice stands."""

    OPEN = "open"
    PARTLY_PAID = "partly paid"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class InvoiceState:
    """An issued invoice (type 380) as matching and reminders see it.

    Attributes:
        invoice_id: Row id.
        number: Invoice number (``2026-0001``).
        customer_name: The buyer's name.
        currency: ISO 4217 code.
        total: Amount due (BT-115) in minor units.
        paid: Sum of the payments recorded, minor units.
        issue_date: Invoice date.
        due_date: Payment due date (``None``: never overdue).
        buyer_reference: The buyer's reference (BT-10), ``""`` if none.
        cancelled_by: Number of the credit note cancelling it, ``""`` if none.
        reminders_sent: Dates reminders were sent, oldest first.
    """

    invoice_id: int
    number: str
    customer_name: str
    currency: str
    total: int
    paid: int
    issue_date: date
    due_date: date | None
    buyer_reference: str = ""
    cancelled_by: str = ""
    reminders_sent: tuple[date, ...] = ()

    @property
    def outstanding(self) -> int:
        """What is still to be paid (minor units; negative when overpaid)."""
        return self.total - self.paid

    @property
    def status(self) -> PaymentStatus:
        """Open, partly paid, paid or cancelled."""
        if self.cancelled_by:
            return PaymentStatus.CANCELLED
        if self.paid >= self.total:
            return PaymentStatus.PAID
        return PaymentStatus.PARTLY_PAID if self.paid > 0 else PaymentStatus.OPEN

    @property
    def is_open(self) -> bool:
        """Money is outstanding and the invoice is not cancelled."""
        return self.status in (PaymentStatus.OPEN, PaymentStatus.PARTLY_PAID)

    @property
    def creditor_reference(self) -> str:
        """The ISO 11649 reference printed on the invoice."""
        return creditor_reference(self.number)

    def is_overdue(self, today: date) -> bool:
        """Open and past its due date."""
        return self.is_open and self.due_date is not None and today > self.due_date


class Confidence(enum.StrEnum):
    """How strong the evidence for a match is, strongest first."""

    REFERENCE = "reference"
    AMOUNT_NAME = "amount+name"


class PaymentKind(enum.StrEnum):
    """How the amount compares with what is outstanding."""

    FULL = "full"
    PARTIAL = "partial"
    OVERPAID = "overpaid"


@dataclass(frozen=True, slots=True)
class Match:
    """A bank line paying an invoice, with the evidence.

    Attributes:
        invoice: The invoice paid.
        confidence: ``reference`` or ``amount+name``.
        payment: Full, partial or overpaid (relative to what is outstanding).
        amount: The line's amount (minor units).
        evidence: Why, in words, one item per fact (e.g. ``"remittance quotes RF31 2026 0001"``).
    """

    invoice: InvoiceState
    confidence: Confidence
    payment: PaymentKind
    amount: int
    evidence: tuple[str, ...]

    def describe(self) -> str:
        """One line for the founder."""
        what = {
            PaymentKind.FULL: "pays",
            PaymentKind.PARTIAL: "partly pays",
            PaymentKind.OVERPAID: "overpays",
        }[self.payment]
        rest = self.invoice.outstanding - self.amount
        extra = ""
        if self.payment is PaymentKind.PARTIAL:
            extra = f"; {format_money(rest, self.invoice.currency)} still outstanding"
        elif self.payment is PaymentKind.OVERPAID:
            extra = f"; {format_money(-rest, self.invoice.currency)} too much"
        return (
            f"{format_money(self.amount, self.invoice.currency)} {what} invoice "
            f"{self.invoice.number} ({self.confidence.value}: {', '.join(self.evidence)}){extra}"
        )


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome of :func:`match_payment`.

    Attributes:
        match: The invoice the line pays, or ``None``.
        candidates: Every invoice with some evidence, best first (for the founder when
            ``match`` is ``None``).
        ambiguous: Several invoices had equally strong evidence, so none was chosen.
        reason: Why there is no match, when there is none.
    """

    match: Match | None
    candidates: tuple[Match, ...] = field(default=())
    ambiguous: bool = False
    reason: str = ""


_LEGAL_FORMS = frozenset(
    """gmbh mbh ag kg ohg ug eg ev ltd limited llc llp lp inc corp corporation co company plc
    sarl sas sa sasu eurl sprl bv nv srl spa snc oy ab as aps kft sro zoo sp""".split()
)


@lru_cache(maxsize=4096)
def name_tokens(name: str) -> frozenset[str]:
    """The significant words of a company or person name: accents, case, punctuation and legal
    forms (GmbH, Ltd, SARL...) removed."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = re.findall(r"[0-9a-z]+", text.replace("&", " "))
    return frozenset(
        w for w in words if w not in _LEGAL_FORMS and (len(w) > 1 or w.isdigit())
    )


def names_match(customer: str, payer: str) -> bool:
    """Whether the payer's name is the customer's: every significant word of the shorter name
    is in the longer one."""
    a, b = name_tokens(customer), name_tokens(payer)
    if not a or not b:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return small <= large


_SEPARATORS = re.compile(r"[\s\-./]")


@dataclass(frozen=True, slots=True)
class _Remittance:
    """Remittance text prepared once for many :func:`_quoted` look-ups: upper-cased, and its
    separators (spaces, dashes, dots, slashes) removed with the original position of each kept
    character."""

    text: str
    compact: str
    where: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Remittance:
        upper = text.upper()
        kept = [(i, c) for i, c in enumerate(upper) if not _SEPARATORS.match(c)]
        return cls(upper, "".join(c for _, c in kept), tuple(i for i, _ in kept))


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _quoted(remittance: _Remittance, reference: str) -> bool:
    ref = _SEPARATORS.sub("", reference).upper()
    if len(ref) < 3:
        return False
    text = remittance.text
    start = remittance.compact.find(ref)
    while start != -1:
        first = remittance.where[start]
        last = remittance.where[start + len(ref) - 1]
        before = text[first - 1] if first > 0 else ""
        after = text[last + 1] if last + 1 < len(text) else ""
        # A number must not continue into more digits; a word into more letters or digits.
        lead_ok = not (before.isascii() and before.isdigit()) if ref[0].isdigit() else not (
            _alnum(before))
        tail_ok = not (after.isascii() and after.isdigit()) if ref[-1].isdigit() else not (
            _alnum(after))
        if lead_ok and tail_ok:
            return True
        start = remittance.compact.find(ref, start + 1)
    return False


def quotes(text: str, reference: str) -> bool:
    """Whether ``text`` quotes ``reference``, ignoring case and any spaces, dashes, dots or
    slashes in between, and not as part of a longer number (``2026-0001`` is not quoted by
    ``2026-00012``)."""
    return _quoted(_Remittance.of(text), reference)


def _payment_kind(amount: int, outstanding: int) -> PaymentKind:
    if amount == outstanding:
        return PaymentKind.FULL
    return PaymentKind.PARTIAL if amount < outstanding else PaymentKind.OVERPAID


def match_payment(line: BankLine, invoices: Sequence[InvoiceState]) -> MatchResult:
    """Find the open invoice ``line`` pays.

    Args:
        line: A bank line; only money in (a positive amount) can pay an invoice.
        invoices: Invoices to consider; those not open (paid, cancelled) are skipped.

    Returns:
        The match with its evidence, or none with the reason and the candidates.
    """
    if line.amount <= 0:
        return MatchResult(None, reason="money out cannot pay an invoice")
    text = " ".join(t for t in (line.description, line.reference, line.payee) if t)
    rf_refs = set(find_creditor_references(text))
    remittance = _Remittance.of(text)
    by_reference: list[Match] = []
    by_amount_name: list[Match] = []
    for inv in invoices:
        if not inv.is_open or inv.currency != line.currency:
            continue
        evidence: list[str] = []
        if rf_refs and inv.creditor_reference in rf_refs:
            evidence.append(f"remittance quotes creditor reference {inv.creditor_reference}")
        if _quoted(remittance, inv.number):
            evidence.append(f"remittance quotes invoice number {inv.number}")
        if inv.buyer_reference and _quoted(remittance, inv.buyer_reference):
            evidence.append(f"remittance quotes buyer reference {inv.buyer_reference}")
        kind = _payment_kind(line.amount, inv.outstanding)
        if evidence:
            if kind is PaymentKind.FULL:
                evidence.append("exact amount")
            by_reference.append(Match(inv, Confidence.REFERENCE, kind, line.amount,
                                      tuple(evidence)))
        elif kind is PaymentKind.FULL and names_match(inv.customer_name, line.payee):
            by_amount_name.append(
                Match(inv, Confidence.AMOUNT_NAME, kind, line.amount,
                      ("exact amount", f"payer {line.payee!r} is the customer"))
            )
    for group in (by_reference, by_amount_name):
        if not group:
            continue
        # Within a class, an exact amount beats a partial or overpayment.
        full = [m for m in group if m.payment is PaymentKind.FULL]
        best = full or group
        candidates = tuple(sorted(group, key=lambda m: (m.payment is not PaymentKind.FULL,
                                                        m.invoice.number)))
        if len(best) == 1:
            return MatchResult(best[0], candidates)
        numbers = ", ".join(m.invoice.number for m in best)
        return MatchResult(None, candidates, ambiguous=True,
                           reason=f"several invoices fit equally well ({numbers})")
    return MatchResult(None, reason="no open invoice is quoted, and none has this exact amount "
                       "from this payer")


@dataclass(frozen=True, slots=True)
class ReminderSchedule:
    """When reminders go out: the first ``first_after_days`` after the due date, then one every
    ``every_days`` after the previous one, at most ``max_reminders`` (0: no limit)."""

    first_after_days: int = 7
    every_days: int = 14
    max_reminders: int = 3

    def __post_init__(self) -> None:
        if self.first_after_days < 0 or self.every_days < 1 or self.max_reminders < 0:
            raise ValueError(
                "reminder schedule: first_after_days >= 0, every_days >= 1, max_reminders >= 0"
            )


@dataclass(frozen=True, slots=True)
class ReminderDue:
    """A reminder that should be proposed now.

    Attributes:
        invoice: The overdue invoice.
        ordinal: 1 for the first reminder, 2 for the second...
        due_since: The date this reminder became due.
        days_overdue: Days since the invoice's due date.
    """

    invoice: InvoiceState
    ordinal: int
    due_since: date
    days_overdue: int


def next_reminder_date(invoice: InvoiceState, schedule: ReminderSchedule) -> date | None:
    """When the next reminder for ``invoice`` is due, or ``None`` if none will be (paid,
    cancelled, no due date, or the maximum number sent)."""
    if not invoice.is_open or invoice.due_date is None:
        return None
    sent = sorted(invoice.reminders_sent)
    if schedule.max_reminders and len(sent) >= schedule.max_reminders:
        return None
    first = invoice.due_date + timedelta(days=schedule.first_after_days)
    if not sent:
        return first
    return max(first, sent[-1] + timedelta(days=schedule.every_days))


def reminder_due(
    invoice: InvoiceState, today: date, schedule: ReminderSchedule | None = None
) -> ReminderDue | None:
    """The reminder to propose for ``invoice`` today, if one is due.

    One reminder per invoice per interval: the first ``first_after_days`` after the due date,
    each next one ``every_days`` after the previous one was sent (so a reminder sent late
    pushes the next one back, and two are never due at once); never for a paid or cancelled
    invoice; at most ``max_reminders``.

    Args:
        invoice: The invoice with the reminders already sent (``reminders_sent``).
        today: The founder's current date.
        schedule: Defaults to 7 days after due, then every 14 days, at most 3.
    """
    schedule = schedule or ReminderSchedule()
    when = next_reminder_date(invoice, schedule)
    if when is None or today < when:
        return None
    assert invoice.due_date is not None
    return ReminderDue(
        invoice=invoice,
        ordinal=len(invoice.reminders_sent) + 1,
        due_since=when,
        days_overdue=(today - invoice.due_date).days,
    )


def reminders_due(
    invoices: Sequence[InvoiceState], today: date, schedule: ReminderSchedule | None = None
) -> list[ReminderDue]:
    """:func:`reminder_due` over several invoices, oldest due first."""
    out = [r for inv in invoices if (r := reminder_due(inv, today, schedule)) is not None]
    return sorted(out, key=lambda r: (r.due_since, r.invoice.number))


def reminder_message_id(number: str, ordinal: int, domain: str) -> str:
    """``<invoice-2026-0001-reminder-1@domain>``: the Message-ID (and so the idempotency key) of
    the ``ordinal``-th payment reminder of invoice ``number`` (RFC 5322 msg-id)."""
    return f"<invoice-{number}-reminder-{ordinal}@{domain}>"


def parse_reminder_message_id(message_id: str) -> tuple[str, int] | None:
    """``(invoice number, ordinal)`` of a reminder's Message-ID, or None for any other id."""
    local = message_id.strip("<>").rsplit("@", 1)[0]
    if not local.startswith("invoice-") or "-reminder-" not in local:
        return None
    number, _, ordinal = local[len("invoice-"):].rpartition("-reminder-")
    return (number, int(ordinal)) if ordinal.isdigit() else None


def normalise_reference(text: str) -> str:
    """A reference without spaces and dashes, upper-cased (how references are compared)."""
    return compact(text)


class MarkPaidPayload(BaseModel):
    """What a ``mark_paid`` proposal carries: a bank line recorded as payment of an invoice.

    Attributes:
        invoice_number: The invoice paid (``2026-0001``).
        bank_line_id: The stored bank line that pays it (a line pays at most one invoice).
        amount: The line's amount in minor units (> 0).
        currency: ISO 4217 code.
        paid_on: The line's booking date.
        confidence: ``reference`` or ``amount+name`` (how the match was found).
        payment: ``full``, ``partial`` or ``overpaid``.
        evidence: Why, one item per fact.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_number: str = Field(min_length=1)
    bank_line_id: int
    amount: int = Field(gt=0)
    currency: str
    paid_on: date
    confidence: Confidence
    payment: PaymentKind
    evidence: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the inbox."""
        what = {"full": "Paid", "partial": "Partly paid", "overpaid": "Overpaid"}[
            self.payment.value]
        return (f"{what}: invoice {self.invoice_number}, {format_money(self.amount, self.currency)}"
                f" on {self.paid_on.isoformat()} (bank line #{self.bank_line_id}, "
                f"{self.confidence.value})")

    def idempotency_key(self) -> str:
        """One proposal per bank line and invoice."""
        return f"mark_paid:{self.bank_line_id}:{self.invoice_number}"

    def errors(self) -> list[str]:
        """Semantic problems beyond the schema; empty when fine."""
        try:
            check_currency(self.currency)
        except MoneyError as exc:
            return [f"currency: {exc}"]
        return []


def mark_paid_payload(match: Match, line: BankLine) -> MarkPaidPayload:
    """The ``mark_paid`` proposal for ``match`` of the stored bank ``line``.

    Raises:
        ValueError: the line is not stored (no id).
    """
    if line.id is None:
        raise ValueError("the bank line must be stored (it has no id)")
    return MarkPaidPayload(
        invoice_number=match.invoice.number, bank_line_id=line.id, amount=line.amount,
        currency=line.currency, paid_on=line.booking_date, confidence=match.confidence,
        payment=match.payment, evidence=match.evidence,
    )
