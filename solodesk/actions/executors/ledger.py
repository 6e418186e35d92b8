"""The ``record_transaction`` executor: the approved transaction enters the ledger, once.

:meth:`~solodesk.store.ledger.LedgerRepo.record` books it in one SQL transaction (the database
refuses postings that do not balance per currency), idempotent per action id; a bank line
already booked by another transaction is ``failed`` with the transaction that holds it. For a
bank line, the categorisation (account, who decided, whether the founder edited the proposal)
is recorded for history and rule offers.
"""

from __future__ import annotations

from solodesk.actions.executors import ExecutionContext, ExecutionOutcome, register_executor
from solodesk.core.actions import Action
from solodesk.core.kinds.ledger import RECORD_TRANSACTION, RecordTransactionPayload
from solodesk.core.ledger import LedgerError
from solodesk.store.ledger import CategoryChoice
from solodesk.store.repos import NotFound


def was_edited(ctx: ExecutionContext, action_id: int) -> bool:
    """Whether the founder edited the proposal before approving it (an ``edited`` audit
    entry)."""
    return any(e["event"] == "edited" for e in ctx.store.audit.entries(action_id=action_id))


async def execute_record_transaction(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Book the payload in the ledger (``done`` with the transaction id; ``failed`` when the
    ledger refuses it: nothing booked)."""
    p = RecordTransactionPayload.model_validate(dict(action.payload))
    category = None
    if p.bank_line_id is not None:
        category = CategoryChoice(
            account=p.category(), decided_by=p.decided_by, edited=was_edited(ctx, action.id)
        )
    try:
        txn = ctx.store.ledger.record(
            p.transaction(), p.ledger_postings(), source_line_id=p.bank_line_id,
            action_id=action.id, category=category, actor="outbox",
        )
    except (LedgerError, NotFound) as exc:
        return ExecutionOutcome("failed", f"not booked: {exc}")
    return ExecutionOutcome(
        "done", f"ledger transaction #{txn.id}",
        {"status": "booked", "transaction_id": str(txn.id)},
    )


register_executor(RECORD_TRANSACTION, execute_record_transaction)
