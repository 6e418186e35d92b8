"""The ``remember_fact`` executor: stores the approved fact in the shared memory, once.

The fact's source is ``mail`` when the proposal came from a mail, else ``agent``; it is
untrusted when the proposal is (``store.facts``). A second execution of the same approved
proposal (a retry after a crash) stores nothing and reports the fact stored the first time.
"""

from __future__ import annotations

from solodesk.actions.executors import ExecutionContext, ExecutionOutcome, register_executor
from solodesk.core.actions import Action
from solodesk.core.kinds.memory import REMEMBER_FACT, RememberFactPayload
from solodesk.core.memory import FactError


async def execute_remember_fact(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Insert the fact (``done``, with its id), or ``failed`` with why."""
    p = RememberFactPayload.model_validate(dict(action.payload))
    source = "mail" if action.provenance.source == "mail" else "agent"
    ref = p.ref or (f"mail #{action.provenance.ref}" if source == "mail"
                    and action.provenance.ref is not None else f"proposal #{action.id}")
    try:
        fact = ctx.store.facts.add(
            p.text, source=source, ref=ref, untrusted=action.provenance.untrusted,
            action_id=action.id, actor=action.agent or "agent",
        )
    except FactError as exc:
        return ExecutionOutcome("failed", f"the fact was not stored: {exc}")
    mark = " (untrusted)" if fact.untrusted else ""
    return ExecutionOutcome(
        "done", f"fact #{fact.id}{mark}",
        {"status": "remembered", "fact_id": str(fact.id)},
    )


register_executor(REMEMBER_FACT, execute_remember_fact)
