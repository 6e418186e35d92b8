"""The ledger kind: ``record_transaction`` (a double-entry transaction, usually one bank line).

The payload (:class:`RecordTransactionPayload`) carries the transaction's date, payee,
narration, its postings in integer minor units per ISO 4217 currency (they must sum to zero per
currency, :func:`~solodesk.core.ledger.check_transaction`), the bank line it books (if any), and
who chose the account: ``rule #N`` (the founder's rule), ``history`` (what the founder approved
before for this payee), ``model`` (the bookkeeper's model call) or ``founder``, with the reason.

Idempotency key: ``record_transaction:bank_line:<id>`` for a bank line (the bookkeeper never
proposes a line twice, whatever became of its proposal), ``...:<id>:<revision>`` when the founder
books a rejected line by hand (``solodesk books book``), else none. The store refuses a second
booking of a line anyway (``store.ledger.AlreadyBooked``).

Risk: ``low`` when a rule or the founder's history decided, ``medium`` when the model did (the
founder checks the account), ``medium`` for a transaction without a bank line. It never moves
money: it records what the bank already did.

Policy facts: ``account`` (the category account, the posting that is not the bank's),
``accounts`` (every account), ``amount_minor`` (the bank line's absolute amount, else the
largest posting), ``currency``, ``decided_by`` (``rule``/``history``/``model``/``founder``),
``payee``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from solodesk.core.actions import Provenance
from solodesk.core.kinds import FactField, KindSpec, RiskContext, register
from solodesk.core.ledger import LedgerError, Posting, Transaction, check_transaction
from solodesk.core.money import format_money
from solodesk.core.risk import Risk, RiskAssessment

RECORD_TRANSACTION = "record_transaction"

#: ``rule #N``, ``history``, ``model`` or ``founder``.
DECIDED_BY = re.compile(r"^(rule #[1-9][0-9]*|history|model|founder)$")

_ORDERED = ("==", "!=", "<", "<=", ">", ">=")
_STR = ("==", "!=", "in", "not-in")
_LIST = ("in", "not-in")


class PostingPayload(BaseModel):
    """One posting: ``amount_minor`` minor units of ``currency`` on ``account`` (debit
    positive, credit negative)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(min_length=1, description="e.g. Expenses:Software")
    amount_minor: StrictInt = Field(description="signed minor units (cents), never a float")
    currency: str = Field(description="ISO 4217 code, e.g. EUR")


class RecordTransactionPayload(BaseModel):
    """What a ``record_transaction`` proposal carries.

    Attributes:
        date: Booking date.
        payee: Counterparty.
        narration: What it was for.
        postings: At least two, summing to zero per currency.
        bank_line_id: The stored bank line it books (None: a manual transaction).
        decided_by: ``rule #N``, ``history``, ``model`` or ``founder``.
        reason: Why that account (the rule, the past approvals, the model's reason).
        revision: 0 for a line's first proposal; the founder booking a line by hand after
            rejecting its proposal(s) makes revision N (its own idempotency key).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    payee: str = ""
    narration: str = ""
    postings: list[PostingPayload] = Field(min_length=2, json_schema_extra={"x-multiline": True})
    bank_line_id: StrictInt | None = None
    decided_by: str = "founder"
    reason: str = ""
    revision: StrictInt = Field(default=0, ge=0)

    def ledger_postings(self) -> list[Posting]:
        """The postings as :class:`~solodesk.core.ledger.Posting`."""
        return [Posting(p.account, p.amount_minor, p.currency) for p in self.postings]

    def transaction(self) -> Transaction:
        """The ledger transaction (date, payee, narration)."""
        return Transaction(self.date, self.payee, self.narration)

    def bank_posting(self) -> PostingPayload | None:
        """The posting on an asset or liability account (the bank side), if any."""
        return next(
            (p for p in self.postings if p.account.startswith(("Assets:", "Liabilities:"))),
            None,
        )

    def category(self) -> str:
        """The account the line was categorised on: the first posting that is not the bank
        side (for a transfer between two bank accounts, the second posting)."""
        bank = self.bank_posting()
        others = [p for p in self.postings if p is not bank]
        return (others or list(self.postings))[0].account


def errors(payload: RecordTransactionPayload) -> list[str]:
    """Semantic errors: unbalanced postings, bad account names or currencies, a bad
    ``decided_by``."""
    out: list[str] = []
    try:
        check_transaction(payload.transaction(), payload.ledger_postings())
    except LedgerError as exc:
        out.append(f"postings: {exc}")
    if not DECIDED_BY.match(payload.decided_by):
        out.append(
            f"decided_by: must be 'rule #N', 'history', 'model' or 'founder', not "
            f"{payload.decided_by!r}"
        )
    return out


def summary(payload: RecordTransactionPayload) -> str:
    """``Book 12.00 EUR MAILBOX.ORG -> Expenses:Software (by rule #2)``."""
    bank = payload.bank_posting() or payload.postings[0]
    amount = format_money(bank.amount_minor, bank.currency)
    who = payload.payee or payload.narration or "transaction"
    line = f" [bank line #{payload.bank_line_id}]" if payload.bank_line_id is not None else ""
    return f"Book {amount} {who} → {payload.category()} (by {payload.decided_by}){line}"[:200]


def idempotency_key(payload: RecordTransactionPayload) -> str | None:
    """One proposal per bank line (``record_transaction:bank_line:<id>``), and one per later
    revision the founder makes by hand after a rejection (``...:<id>:<revision>``)."""
    if payload.bank_line_id is None:
        return None
    base = f"{RECORD_TRANSACTION}:bank_line:{payload.bank_line_id}"
    return f"{base}:{payload.revision}" if payload.revision else base


def assess(
    payload: RecordTransactionPayload, provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """Low when a rule or the founder's history decided; medium when the model chose the
    account or no bank line backs the transaction."""
    level = Risk.LOW
    reasons: list[str] = []
    kind = payload.decided_by.split(" ", 1)[0]
    if kind == "model":
        level = Risk.MEDIUM
        reasons.append(f"the model chose {payload.category()}: check the account")
    if payload.bank_line_id is None:
        level = Risk.MEDIUM
        reasons.append("no bank line backs this transaction")
    if provenance.untrusted:
        level = max(level, Risk.MEDIUM)
        reasons.append("derived from untrusted content")
    return RiskAssessment(level, reasons)


FACT_FIELDS: Mapping[str, FactField] = {
    "account": FactField("str", _STR, "the category account (the side that is not the bank)"),
    "accounts": FactField("list", _LIST, "every account posted to"),
    "amount_minor": FactField("int", _ORDERED, "amount in minor units (absolute)"),
    "currency": FactField("str", _STR, "ISO 4217 currency code"),
    "decided_by": FactField("str", _STR, "rule, history, model or founder"),
    "payee": FactField("str", _STR, "the counterparty as the bank wrote it"),
}


def facts(payload: RecordTransactionPayload, _ctx: RiskContext) -> dict[str, Any]:
    """The policy facts of :data:`FACT_FIELDS`."""
    bank = payload.bank_posting()
    amount = abs(bank.amount_minor) if bank else max(abs(p.amount_minor) for p in payload.postings)
    currency = (bank or payload.postings[0]).currency
    return {
        "account": payload.category(),
        "accounts": sorted({p.account.lower() for p in payload.postings}),
        "amount_minor": amount,
        "currency": currency,
        "decided_by": payload.decided_by.split(" ", 1)[0],
        "payee": payload.payee,
    }


def render(p: Mapping[str, Any]) -> list[str]:
    """A stored payload as ``inbox show`` lines: the transaction, its postings as a table, who
    decided and why."""
    from solodesk.core.bounds import escape_controls

    lines = [
        f"  date: {p.get('date', '')}",
        f"  payee: {escape_controls(str(p.get('payee', '')))}",
        f"  narration: {escape_controls(str(p.get('narration', '')))}",
    ]
    if p.get("bank_line_id") is not None:
        lines.append(f"  bank_line_id: {p['bank_line_id']}")
    lines.append("  postings:")
    for post in p.get("postings") or []:
        if not isinstance(post, Mapping):
            lines.append(f"    {escape_controls(str(post))}")
            continue
        amount = post.get("amount_minor")
        cur = str(post.get("currency", ""))
        try:
            shown = format_money(amount, cur) if isinstance(amount, int) else repr(amount)
        except ValueError:
            shown = f"{amount} {cur}"
        lines.append(f"    {escape_controls(str(post.get('account', ''))):<32} {shown:>18}")
    lines.append(f"  decided_by: {escape_controls(str(p.get('decided_by', '')))}")
    if p.get("reason"):
        lines.append(f"  reason: {escape_controls(str(p['reason']))}")
    return lines


RECORD_TRANSACTION_SPEC = register(
    KindSpec(
        name=RECORD_TRANSACTION,
        title="Record a ledger transaction",
        label="Posting",
        payload_model=RecordTransactionPayload,
        summary=summary,
        idempotency_key=idempotency_key,
        validate=errors,
        assess=assess,
        facts=facts,
        fact_fields=FACT_FIELDS,
        render_text=render,
        edit_fields=("date", "payee", "narration", "postings", "reason"),
    )
)
