"""The store obeys ``core.actions.TRANSITIONS``, checked by driving every store operation from
every status (the table is read from the code, never retyped here).

A store operation that succeeds must make a move the table allows; one that the table allows
must not be refused for its status. The disagreement found in issue 8 (editing a ``failed``
action made it ``pending`` while the table had no ``failed -> pending``) fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from solodesk.core.actions import (
    EDITABLE,
    TRANSITIONS,
    ActionStatus,
    InvalidTransition,
    Provenance,
    utcnow,
)
from solodesk.core.kinds.mail import REPLY_EMAIL
from solodesk.store.db import connect
from solodesk.store.owner import Owner
from solodesk.store.repos import Store

S = ActionStatus
PAYLOAD = {
    "to": ["marta@example.com"],
    "cc": [],
    "subject": "Re: Refund",
    "body": "Hi Marta, Ada will follow up.",
    "message_id": "<p1@solodesk.example>",
    "in_reply_to": "<orig@example.com>",
    "references": ["<orig@example.com>"],
    "source_mail_id": 1,
}
OWNER = Owner.current()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def action_in(store: Store, status: ActionStatus) -> int:
    """A proposal forced into ``status`` (as if it had got there), due and owned by OWNER."""
    action = store.actions.propose(
        kind=REPLY_EMAIL, payload=dict(PAYLOAD), agent="support", summary="Re: Refund",
        provenance=Provenance("mail", 1, untrusted=True), idempotency_key=None,
    )
    store.db.execute(
        "UPDATE actions SET status = ?, send_at = ?, claim_owner = ? WHERE id = ?",
        [status.value, utcnow(-5), OWNER.to_json(), action.id],
    )
    return action.id


#: Each store operation and the status it moves an action to.
OPERATIONS: dict[str, tuple[ActionStatus, Callable[[Store, int], object]]] = {
    "approve": (S.APPROVED, lambda st, i: st.actions.approve(i)),
    "approve with undo window": (S.SCHEDULED, lambda st, i: st.actions.approve(i, delay_s=30)),
    # Two moves in one transaction: approved, then claimed.
    "approve and claim": (S.EXECUTING, lambda st, i: st.actions.approve(i, claim_owner=OWNER)),
    "edit": (S.PENDING, lambda st, i: st.actions.edit(i, {**PAYLOAD, "body": "edited"})),
    "cancel": (S.PENDING, lambda st, i: st.actions.cancel(i)),
    "reject": (S.REJECTED, lambda st, i: st.actions.reject(i)),
    "claim": (S.EXECUTING, lambda st, i: st.actions.claim(i, owner=OWNER)),
    "record executed": (S.EXECUTED, lambda st, i: st.actions.finish(
        i, S.EXECUTED, owner=OWNER, event="executed", result={"status": "sent"})),
    "record failed": (S.FAILED, lambda st, i: st.actions.finish(
        i, S.FAILED, owner=OWNER, event="execution_failed", result={"status": "failed"})),
    "record unknown": (S.UNKNOWN, lambda st, i: st.actions.finish(
        i, S.UNKNOWN, owner=OWNER, event="execution_unknown", result={"status": "unknown"})),
    "resolve not delivered": (S.FAILED, lambda st, i: st.actions.resolve_not_delivered(i)),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
@pytest.mark.parametrize("start", list(ActionStatus))
def test_every_store_move_is_in_the_table(store: Store, start: ActionStatus, name: str) -> None:
    target, operation = OPERATIONS[name]
    action_id = action_in(store, start)
    try:
        result = operation(store, action_id)
    except InvalidTransition:
        moved = False
    else:
        moved = result is not None
    after = store.actions.get(action_id).status
    if not moved:
        assert after is start, f"{name} refused from {start.value} but changed the status"
        return
    # Whatever the store did, the table allows it (an edit of a pending action stays pending).
    assert after is target
    path = [start, S.APPROVED, target] if name == "approve and claim" else [start, target]
    for a, b in zip(path, path[1:], strict=False):
        assert b in TRANSITIONS[a] or (a is b and name == "edit"), (
            f"the store moved {a.value} -> {b.value} ({name}); TRANSITIONS does not allow it"
        )


@pytest.mark.parametrize("start", list(ActionStatus))
@pytest.mark.parametrize("target", list(ActionStatus))
def test_generic_transition_follows_the_table(
    store: Store, start: ActionStatus, target: ActionStatus
) -> None:
    action_id = action_in(store, start)
    try:
        store.actions.transition(action_id, target, actor="test", event="moved")
    except InvalidTransition:
        assert target not in TRANSITIONS[start]
        assert store.actions.get(action_id).status is start
    else:
        assert target in TRANSITIONS[start]
        assert store.actions.get(action_id).status is target


@pytest.mark.parametrize("start", list(ActionStatus))
def test_the_table_allowed_moves_are_not_refused(store: Store, start: ActionStatus) -> None:
    """Approve, reject, claim and recording an outcome succeed from exactly the statuses the
    table allows (edit: the editable ones)."""
    for name in ("approve", "reject", "claim", "record executed", "edit"):
        target, operation = OPERATIONS[name]
        action_id = action_in(store, start)
        allowed = start in EDITABLE if name == "edit" else target in TRANSITIONS[start]
        try:
            result = operation(store, action_id)
        except InvalidTransition:
            result = None
        assert (result is not None) is allowed, (name, start.value)
