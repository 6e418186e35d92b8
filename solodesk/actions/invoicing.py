"""Issuing an invoice: the body of the future ``create_invoice`` executor.

:func:`issue_invoice` is what the outbox will run for an approved ``create_invoice`` proposal:
the store allocates the number and stores the invoice and its XML in one transaction (exactly
once per action id), then the PDF/A-3 is rendered and its sha256 recorded. A crash between the
two leaves an issued invoice without PDF; running the same action again finds the invoice and
renders the missing PDF, nothing is numbered twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from solodesk.actions.invoice_pdf import render_invoice_pdf
from solodesk.core.actions import ActionStatus, InvalidTransition
from solodesk.core.invoice import InvoiceDraft, InvoiceError, IssuedInvoice, parse_draft
from solodesk.core.matching import (
    InvoiceState,
    MarkPaidPayload,
    PaymentStatus,
    parse_reminder_message_id,
)
from solodesk.store.repos import NotFound, Store


def ensure_pdf(
    store: Store, invoice: IssuedInvoice, *, font_dir: str | Path | None = None,
    actor: str = "founder",
) -> tuple[IssuedInvoice, bytes]:
    """The invoice's recorded PDF, rendering and recording it first if it has none.

    Returns:
        The invoice (with ``pdf_sha256`` set) and the PDF bytes (hash-verified).

    Raises:
        RenderError, EInvoiceInvalid: the PDF cannot be made (see
            :func:`~solodesk.actions.invoice_pdf.render_invoice_pdf`).
        BlobCorrupt: the stored PDF or XML no longer matches its sha256.
    """
    existing = store.invoices.pdf(invoice)
    if existing is not None:
        return invoice, existing
    pdf = render_invoice_pdf(invoice, store.invoices.xml(invoice), font_dir=font_dir)
    sha = store.invoices.record_pdf(invoice.id, pdf, actor=actor)
    invoice = replace(invoice, pdf_sha256=sha)
    return invoice, store.blobs.get(sha).data


def issue_invoice(
    store: Store,
    draft: InvoiceDraft,
    *,
    action_id: int | None,
    font_dir: str | Path | None = None,
    actor: str = "founder",
) -> IssuedInvoice:
    """Issue ``draft`` (next gapless number) and record its Factur-X PDF, exactly once per
    ``action_id``.

    Returns:
        The issued invoice with ``pdf_sha256`` set.

    Raises:
        InvoiceError: the draft cannot be issued (the message lists why).
        RenderError, EInvoiceInvalid: the PDF cannot be made; the invoice stays issued and a
            retry renders it.
    """
    invoice = store.invoices.issue(draft, action_id=action_id, actor=actor)
    invoice, _pdf = ensure_pdf(store, invoice, font_dir=font_dir, actor=actor)
    return invoice


def execute_create_invoice(
    store: Store, payload: Mapping[str, Any], *, action_id: int | None,
    font_dir: str | Path | None = None, actor: str = "founder",
) -> IssuedInvoice:
    """The ``create_invoice`` executor's body: the payload is an
    :class:`~solodesk.core.invoice.InvoiceDraft` in JSON form.

    Raises:
        InvoiceError: the payload is not a valid draft (every error with its field).
    """
    draft, errors = parse_draft(payload)
    if errors or draft is None:
        raise InvoiceError("invoice not issued: " + "; ".join(errors))
    return issue_invoice(store, draft, action_id=action_id, font_dir=font_dir, actor=actor)


def execute_mark_paid(
    store: Store, payload: Mapping[str, Any], *, action_id: int | None, actor: str = "founder"
) -> InvoiceState:
    """The ``mark_paid`` executor's body: record the bank line as payment of the invoice,
    exactly once per action, after checking the line still says what was approved.

    Raises:
        NotFound: the invoice or the bank line is unknown.
        InvoiceError: the line's amount, currency or date differ from the payload, or the
            payment cannot be recorded (cancelled invoice, line already used...).
    """
    p = MarkPaidPayload.model_validate(dict(payload))
    invoice = store.invoices.by_number(p.invoice_number)
    line = next((ln for ln in store.bank.lines() if ln.id == p.bank_line_id), None)
    if line is None:
        raise NotFound(f"no bank line #{p.bank_line_id}")
    if (line.amount, line.currency, line.booking_date) != (p.amount, p.currency, p.paid_on):
        raise InvoiceError(
            f"bank line #{line.id} is {line.money} on {line.booking_date}, not what was "
            "approved; nothing recorded"
        )
    state = store.invoices.record_payment(
        invoice.id, amount=p.amount, currency=p.currency, paid_on=p.paid_on,
        bank_line_id=p.bank_line_id, action_id=action_id, evidence="; ".join(p.evidence),
        actor=actor,
    )
    if state.status is PaymentStatus.PAID:
        withdraw_reminders(store, state.number, reason=f"invoice {state.number} was paid on "
                           f"{p.paid_on.isoformat()}: the reminder is no longer needed")
    return state


#: Where a reminder may still be waiting to go out (the founder has not settled it).
_WAITING = (ActionStatus.INVALID, ActionStatus.PENDING, ActionStatus.SCHEDULED,
            ActionStatus.APPROVED, ActionStatus.FAILED)


def withdraw_reminders(store: Store, number: str, *, reason: str) -> list[int]:
    """Reject every payment reminder of invoice ``number`` that has not gone out yet (pending,
    in its undo window, approved, failed or invalid), with ``reason`` in the audit, actor
    ``invoicing``. A reminder being sent, sent, or of unknown outcome is left alone.

    Returns:
        The ids of the reminders withdrawn.
    """
    withdrawn: list[int] = []
    for action in store.actions.list(statuses=list(_WAITING)):
        parsed = parse_reminder_message_id(action.idempotency_key or "")
        if parsed is None or parsed[0] != number:  # the key names the reminder and invoice
            continue
        try:
            store.actions.reject(action.id, reason=reason, actor="invoicing")
        except InvalidTransition:  # claimed for sending meanwhile: it goes out
            continue
        withdrawn.append(action.id)
    return withdrawn
