"""Issuing an invoice: the body of the future ``create_invoice`` executor.

:func:`issue_invoice` is what the outbox will run for an approved ``create_invoice`` proposal:
the store allocates the number and stores the invoice and its XML in one transaction (exactly
once per action id), then the PDF/A-3 is rendered and its sha256 recorded. A crash between the
two leaves an issued invoice without PDF; running the same action again finds the invoice and
renders the missing PDF, nothing is numbered twice.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from solodesk.actions.invoice_pdf import render_invoice_pdf
from solodesk.core.invoice import InvoiceDraft, IssuedInvoice
from solodesk.store.repos import Store


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
