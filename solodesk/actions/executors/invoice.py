"""The invoicing kinds' executors: ``create_invoice`` issues the invoice (next gapless number,
EN 16931 XML, PDF/A-3) and ``mark_paid`` records the payment, each exactly once per action
(``actions.invoicing``).

The invoice PDF needs the DejaVu fonts: the ``invoices`` transport, when wired, is a callable
returning the ``invoices.font_dir`` setting (None: the system font folders).
"""

from __future__ import annotations

from solodesk.actions.executors import ExecutionContext, ExecutionOutcome, register_executor
from solodesk.actions.invoice_pdf import EInvoiceInvalid, RenderError
from solodesk.actions.invoicing import execute_create_invoice, execute_mark_paid
from solodesk.core.actions import Action
from solodesk.core.invoice import InvoiceError
from solodesk.core.kinds.invoice import CREATE_INVOICE, MARK_PAID
from solodesk.store.blobs import BlobCorrupt
from solodesk.store.repos import NotFound

#: The transport name of the invoice settings (a ``() -> font_dir | None``).
INVOICES = "invoices"


async def execute_invoice(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Issue the approved draft: ``done`` with its number and PDF sha256; ``failed`` when it
    cannot be issued (nothing numbered). A PDF that cannot be rendered after the number was
    given is ``failed`` with the number: ``solodesk invoices pdf N`` renders it later."""
    font_dir = None
    settings = ctx.transports.get(INVOICES)
    if settings is not None:
        font_dir = settings()
    try:
        invoice = execute_create_invoice(
            ctx.store, action.payload, action_id=action.id, font_dir=font_dir, actor="outbox"
        )
    except InvoiceError as exc:
        return ExecutionOutcome("failed", str(exc))
    except (RenderError, EInvoiceInvalid, BlobCorrupt) as exc:
        found = [i for i in ctx.store.invoices.all() if i.action_id == action.id]
        number = f"invoice {found[0].number} was issued but " if found else ""
        return ExecutionOutcome(
            "failed", f"{number}its PDF could not be made: {exc}",
            {"number": found[0].number} if found else {},
        )
    return ExecutionOutcome(
        "done", f"{invoice.type_name.lower()} {invoice.number}",
        {"status": "issued", "number": invoice.number, "pdf_sha256": invoice.pdf_sha256 or ""},
    )


async def execute_paid(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Record the payment: ``done`` with the invoice's new status; ``failed`` when the invoice
    or line is unknown, or the line no longer says what was approved."""
    try:
        state = execute_mark_paid(ctx.store, action.payload, action_id=action.id, actor="outbox")
    except (InvoiceError, NotFound) as exc:
        return ExecutionOutcome("failed", f"payment not recorded: {exc}")
    return ExecutionOutcome(
        "done", f"invoice {state.number} is {state.status.value}",
        {"status": "recorded", "invoice": state.number, "invoice_status": state.status.value},
    )


register_executor(CREATE_INVOICE, execute_invoice)
register_executor(MARK_PAID, execute_paid)
