"""The invoicing kinds: ``create_invoice`` (issue a numbered invoice with its Factur-X PDF) and
``mark_paid`` (record a bank line as payment of an invoice).

``create_invoice`` carries an :class:`~solodesk.core.invoice.InvoiceDraft` (EN 16931 fields:
seller, customer with address and VAT id, lines with quantity, unit price in minor units and
VAT rate, currency, due date, payment terms). On approval the store gives it the next number of
the gapless sequence in the transaction that stores it and the executor renders the PDF/A-3
(``actions.invoicing.execute_create_invoice``). Its idempotency key is fixed at proposal time
from the draft's content (the same draft is not proposed twice). Risk: ``medium`` (an issued
invoice is never deleted, only cancelled by a credit note), ``high`` for a credit note.

``mark_paid`` carries a :class:`~solodesk.core.matching.MarkPaidPayload` (the invoice number,
the bank line, its amount, currency and date, how the match was found). Its idempotency key is
``mark_paid:<bank line>:<invoice>`` (one proposal per line and invoice). Risk: ``low`` for a
full payment matched by reference, ``medium`` otherwise (matched by amount and name, partial or
overpaid).

Policy facts: ``customer``, ``amount_minor``, ``currency`` (both kinds; for ``mark_paid`` the
customer is not in the payload and the fact is absent), and for ``mark_paid`` ``confidence``
and ``payment``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from solodesk.core.actions import Provenance
from solodesk.core.invoice import (
    InvoiceDraft,
    VatCategory,
    compute_totals,
    draft_summary,
    seller_from_settings,
    validate_draft,
)
from solodesk.core.kinds import (
    CompletionError,
    FactField,
    KindSpec,
    ProposalContext,
    RiskContext,
    register,
    schema_errors,
)
from solodesk.core.matching import Confidence, MarkPaidPayload, PaymentKind
from solodesk.core.money import MoneyError, to_minor
from solodesk.core.risk import Risk, RiskAssessment

CREATE_INVOICE = "create_invoice"
MARK_PAID = "mark_paid"

_ORDERED = ("==", "!=", "<", "<=", ">", ">=")
_STR = ("==", "!=", "in", "not-in")


# -- create_invoice -----------------------------------------------------------------------------
#: The settings the seller (BG-4) is made from (``core.invoice.seller_from_settings``).
COMPANY_KEYS = (
    "company.name", "company.address_line1", "company.address_line2", "company.postcode",
    "company.city", "company.country", "company.vat_id", "company.tax_id", "company.legal_id",
    "company.iban", "company.bic", "company.email",
)


class AgentInvoiceLine(BaseModel):
    """One line as an agent writes it: amounts in major units of the invoice currency."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(description="What was delivered, e.g. 'Workshop, 1 day'")
    quantity: Decimal = Field(description="How many units, e.g. 1 or 2.5")
    unit_price: Decimal = Field(
        description="Net price of one unit in the invoice currency (major units, e.g. 1200 or "
        "'1200.50'), from the business profile's offering unless the founder gave another"
    )
    vat_rate: Decimal = Field(description="VAT rate in percent, e.g. 19 or 20; 0 if none")
    vat_category: VatCategory = Field(
        VatCategory.STANDARD,
        description="EN 16931 VAT category: S standard (default), Z zero-rated, E exempt, "
        "AE reverse charge, K intra-Community supply, G export, O outside the scope",
    )


class AgentInvoice(BaseModel):
    """What an agent writes in ``propose_create_invoice``: the customer by name (from the
    customer list), the lines, the currency and the due date. SoloDesk fills the seller (the
    ``company.*`` settings), the issue date (today, UTC), the payment terms
    (``invoices.payment_terms``) and, when not given, the currency (``invoices.currency``)
    and due date (today + ``invoices.payment_days``)."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(description="The customer's name as in the customer list")
    lines: list[AgentInvoiceLine] = Field(description="At least one line")
    currency: str = Field("", description="ISO 4217 code, e.g. EUR; empty: the default")
    due_date: date | None = Field(
        None, description="Payment due date YYYY-MM-DD; empty: the usual payment term"
    )


def complete_invoice(args: dict[str, Any], ctx: ProposalContext) -> dict[str, Any]:
    """An agent's ``create_invoice`` arguments (:class:`AgentInvoice`) as the stored
    :class:`~solodesk.core.invoice.InvoiceDraft` payload (JSON): the customer from the customer
    list (``ctx.customer``), the seller from the ``company.*`` settings, issued today (UTC),
    prices converted to minor units (never rounded).

    Raises:
        CompletionError: the arguments do not match :class:`AgentInvoice`, the customer is not
            in the list, a price is finer than the currency's minor unit, or there are no
            settings or customer list here.
    """
    try:
        req = AgentInvoice.model_validate(args)
    except ValidationError as exc:
        raise CompletionError(schema_errors(exc)) from None
    if ctx.setting is None or ctx.customer is None:
        raise CompletionError(["create_invoice: no settings or customer list to complete it"])
    setting = ctx.setting
    try:
        customer = ctx.customer(req.customer)
    except LookupError as exc:
        raise CompletionError([f"customer: {exc.args[0] if exc.args else exc}"]) from None
    currency = (req.currency or setting("invoices.currency")).strip().upper()
    errors: list[str] = []
    lines: list[dict[str, Any]] = []
    for n, ln in enumerate(req.lines, start=1):
        try:
            price = to_minor(ln.unit_price, currency)
        except MoneyError as exc:
            errors.append(f"lines.{n}.unit_price: {exc}")
            continue
        lines.append({
            "description": ln.description, "quantity": str(ln.quantity), "unit_price": price,
            "vat_rate": str(ln.vat_rate), "vat_category": ln.vat_category.value,
        })
    if errors:
        raise CompletionError(errors)
    issue = ctx.today or datetime.now(UTC).date()
    try:
        days = int(setting("invoices.payment_days"))
    except ValueError:
        days = 30
    due = req.due_date or issue + timedelta(days=days)
    terms = setting("invoices.payment_terms").replace("{days}", str((due - issue).days))
    payload: dict[str, Any] = {
        "seller": seller_from_settings({k: setting(k) for k in COMPANY_KEYS}).model_dump(
            mode="json"
        ),
        "customer": dict(customer),
        "lines": lines,
        "currency": currency,
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "payment_terms": terms,
    }
    try:  # stored as the CLI stores a draft: every field, defaults included
        return InvoiceDraft.model_validate(payload).model_dump(mode="json")
    except ValidationError:
        return payload  # validation reports what is wrong (the seller's settings...)


def invoice_key(draft: InvoiceDraft) -> str:
    """``create_invoice:<sha256 of the draft's canonical JSON, 24 hex>``."""
    data = json.dumps(draft.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return f"{CREATE_INVOICE}:{hashlib.sha256(data.encode()).hexdigest()[:24]}"


def _grand_total(draft: InvoiceDraft) -> int | None:
    try:
        return compute_totals(draft).grand_total
    except (ArithmeticError, ValueError):
        return None


def assess_invoice(
    draft: InvoiceDraft, provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """Medium: an issued invoice is numbered for good; high for a credit note."""
    if draft.is_credit_note:
        return RiskAssessment(
            Risk.HIGH, [f"issues a credit note cancelling invoice {draft.preceding_invoice}"]
        )
    reasons = ["issues a numbered invoice (never deleted, only cancelled by a credit note)"]
    level = Risk.MEDIUM
    if provenance.untrusted:
        reasons.append("derived from untrusted content")
    return RiskAssessment(level, reasons)


def invoice_facts(draft: InvoiceDraft, _ctx: RiskContext) -> dict[str, Any]:
    """``customer``, ``amount_minor`` (the grand total) and ``currency``."""
    out: dict[str, Any] = {"customer": draft.customer.name, "currency": draft.currency}
    total = _grand_total(draft)
    if total is not None:
        out["amount_minor"] = total
    return out


INVOICE_FACTS: Mapping[str, FactField] = {
    "customer": FactField("str", _STR, "the customer's name"),
    "amount_minor": FactField("int", _ORDERED, "amount in minor units (absolute)"),
    "currency": FactField("str", _STR, "ISO 4217 currency code"),
}


def render_invoice(p: Mapping[str, Any]) -> list[str]:
    """A stored draft as ``inbox show`` lines: parties, lines, totals."""
    from pydantic import ValidationError

    from solodesk.core.bounds import escape_controls
    from solodesk.core.invoice import format_decimal
    from solodesk.core.kinds import render_fields
    from solodesk.core.money import format_money

    try:
        d = InvoiceDraft.model_validate(dict(p))
    except ValidationError:
        return render_fields(InvoiceDraft.model_json_schema().get("properties", {}), p)
    out = [
        f"  {'Credit note' if d.is_credit_note else 'Invoice'} dated {d.issue_date}"
        + (f", due {d.due_date}" if d.due_date else "") + f", {d.currency}",
        f"  from: {escape_controls(d.seller.name)}",
        f"  to:   {escape_controls(d.customer.name)}, "
        f"{escape_controls(', '.join(d.customer.address.lines()))}"
        + (f", VAT ID {d.customer.vat_id}" if d.customer.vat_id else "")
        + (f" <{escape_controls(d.customer.email)}>" if d.customer.email else ""),
    ]
    if d.buyer_reference:
        out.append(f"  buyer_reference: {escape_controls(d.buyer_reference)}")
    if d.payment_terms:
        out.append(f"  payment_terms: {escape_controls(d.payment_terms)}")
    for n, ln in enumerate(d.lines, start=1):
        try:
            price = format_money(ln.unit_price, d.currency)
        except ValueError:
            price = str(ln.unit_price)
        out.append(f"  {n:>2}. {escape_controls(ln.description)[:40]:<40} "
                   f"{format_decimal(ln.quantity)} x {price}  VAT {ln.vat_category.value} "
                   f"{format_decimal(ln.vat_rate)} %")
    total = _grand_total(d)
    if total is not None:
        out.append(f"  total: {format_money(total, d.currency)}")
    if d.note:
        out.append(f"  note: {escape_controls(d.note)}")
    return out


CREATE_INVOICE_SPEC = register(
    KindSpec(
        name=CREATE_INVOICE,
        title="Issue an invoice",
        label="Invoice",
        payload_model=InvoiceDraft,
        summary=draft_summary,
        idempotency_key=invoice_key,
        validate=validate_draft,
        assess=assess_invoice,
        facts=invoice_facts,
        fact_fields=INVOICE_FACTS,
        render_text=render_invoice,
        agent_model=AgentInvoice,
        complete=complete_invoice,
    )
)


# -- mark_paid ----------------------------------------------------------------------------------
def assess_paid(
    payload: MarkPaidPayload, provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """Low for a full payment quoting the invoice; medium otherwise."""
    reasons: list[str] = []
    level = Risk.LOW
    if payload.confidence is not Confidence.REFERENCE:
        level = Risk.MEDIUM
        reasons.append("matched by amount and payer name only (no reference quoted)")
    if payload.payment is not PaymentKind.FULL:
        level = Risk.MEDIUM
        reasons.append(f"{payload.payment.value} payment")
    return RiskAssessment(level, reasons)


def paid_facts(payload: MarkPaidPayload, _ctx: RiskContext) -> dict[str, Any]:
    """``amount_minor``, ``currency``, ``confidence`` and ``payment``."""
    return {
        "amount_minor": payload.amount,
        "currency": payload.currency,
        "confidence": payload.confidence.value,
        "payment": payload.payment.value,
    }


PAID_FACTS: Mapping[str, FactField] = {
    "amount_minor": INVOICE_FACTS["amount_minor"],
    "currency": INVOICE_FACTS["currency"],
    "confidence": FactField("str", _STR, "reference or amount+name"),
    "payment": FactField("str", _STR, "full, partial or overpaid"),
}


MARK_PAID_SPEC = register(
    KindSpec(
        name=MARK_PAID,
        title="Mark an invoice paid",
        label="Payment",
        payload_model=MarkPaidPayload,
        summary=MarkPaidPayload.summary,
        idempotency_key=MarkPaidPayload.idempotency_key,
        validate=MarkPaidPayload.errors,
        assess=assess_paid,
        facts=paid_facts,
        fact_fields=PAID_FACTS,
    )
)
