"""Proposed actions, their payload hash and their state machine.

An agent never performs an external effect: it proposes an action, a typed payload that waits in
the inbox. Approval records the sha256 of exactly the payload that will be executed; the outbox
executes an approved action at most once.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

JSONObject = dict[str, Any]


class ActionStatus(enum.StrEnum):
    """Where a proposed action stands.

    ``invalid`` is a proposal that failed validation (kept so the founder can see it, never
    executable). ``scheduled`` is approved and waiting out the undo window (``send_at``); it can
    still be cancelled back to ``pending``. ``unknown`` is a send interrupted mid-flight: it may
    or may not have reached the server, and it is never retried automatically.
    """

    INVALID = "invalid"
    PENDING = "pending"
    SCHEDULED = "scheduled"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"


#: Allowed transitions of the action state machine.
TRANSITIONS: Mapping[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.INVALID: frozenset({ActionStatus.REJECTED}),
    ActionStatus.PENDING: frozenset(
        {ActionStatus.APPROVED, ActionStatus.SCHEDULED, ActionStatus.REJECTED}
    ),
    # The undo window: cancel back to pending, or claim for execution once due.
    ActionStatus.SCHEDULED: frozenset(
        {ActionStatus.PENDING, ActionStatus.EXECUTING, ActionStatus.REJECTED}
    ),
    ActionStatus.APPROVED: frozenset({ActionStatus.EXECUTING, ActionStatus.REJECTED}),
    ActionStatus.EXECUTING: frozenset(
        {ActionStatus.EXECUTED, ActionStatus.FAILED, ActionStatus.UNKNOWN}
    ),
    # A definite failure (nothing was sent) may be approved again by the founder, or edited
    # (an edit makes a new payload that needs a new approval: back to pending).
    ActionStatus.FAILED: frozenset(
        {
            ActionStatus.APPROVED,
            ActionStatus.SCHEDULED,
            ActionStatus.PENDING,
            ActionStatus.REJECTED,
        }
    ),
    # Only the founder resolves an unknown send: confirm it arrived, say it did not arrive
    # (back to failed, from where it may be approved again), or dismiss it. The process that
    # was really sending also records its outcome here if another process had given up on it.
    ActionStatus.UNKNOWN: frozenset(
        {ActionStatus.EXECUTED, ActionStatus.FAILED, ActionStatus.REJECTED}
    ),
    ActionStatus.EXECUTED: frozenset(),
    ActionStatus.REJECTED: frozenset(),
}


def sources(target: ActionStatus) -> frozenset[ActionStatus]:
    """Every status from which :data:`TRANSITIONS` allows moving to ``target``.

    The store builds the status conditions of its SQL updates from this, so the database and
    the state machine cannot disagree.
    """
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


# Every status set below is derived from TRANSITIONS (tests/unit/test_actions.py checks the
# store against TRANSITIONS, not against a second copy of the table).

#: Statuses whose outcome is settled by execution (``executed_at`` is set on entering them):
#: where an execution can end.
FINISHED = TRANSITIONS[ActionStatus.EXECUTING]

#: Statuses an approval can start from.
APPROVABLE = sources(ActionStatus.APPROVED)

#: Statuses in which the payload may still be edited: ``pending`` itself, and every status an
#: edit may move back to ``pending`` from that is not an approval waiting to execute (undoing
#: that is :data:`UNDOABLE`).
EDITABLE = frozenset(
    {ActionStatus.PENDING}
    | (sources(ActionStatus.PENDING) - sources(ActionStatus.EXECUTING))
)

#: Approvals waiting to be executed (claimable once due): ``approved`` and ``scheduled``.
WAITING = sources(ActionStatus.EXECUTING)

#: Approvals that can still be undone back to ``pending`` (the undo window).
UNDOABLE = sources(ActionStatus.PENDING) & WAITING

#: Statuses an execution outcome can be recorded from (the claim's owner, also after another
#: process reported the send ``unknown``).
RECORDABLE = sources(ActionStatus.EXECUTED)

#: Statuses with no way out.
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class InvalidTransition(Exception):
    """Raised when an action is asked to move to a status its current status does not allow."""

    def __init__(self, action_id: int, current: ActionStatus, target: ActionStatus) -> None:
        super().__init__(
            f"action {action_id} is {current.value}; it cannot become {target.value}"
        )
        self.action_id = action_id
        self.current = current
        self.target = target


def can_transition(current: ActionStatus, target: ActionStatus) -> bool:
    """Return whether ``current -> target`` is allowed by :data:`TRANSITIONS`."""
    return target in TRANSITIONS[current]


def canonical_json(payload: Mapping[str, Any]) -> str:
    """Serialise a payload deterministically (sorted keys, no whitespace, UTF-8 kept)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """Hex sha256 of :func:`canonical_json` of ``payload`` encoded as UTF-8."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def utcnow(offset_s: float = 0.0) -> str:
    """The current time (plus ``offset_s`` seconds) as an ISO 8601 UTC timestamp with
    microseconds (``2026-11-21T22:41:37.000000Z``); such strings sort chronologically."""
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(stamp: str) -> datetime:
    """Parse a timestamp made by :func:`utcnow`."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Provenance:
    """What a proposal was derived from.

    Attributes:
        source: ``"mail"`` for an imported email, ``"chat"`` for a founder's chat message.
        ref: The id of that input in the store (mail id or chat message id), if any.
        untrusted: True when the proposal was derived from content the founder did not write.
    """

    source: str
    ref: int | None = None
    untrusted: bool = False

    def to_json(self) -> JSONObject:
        return {"source": self.source, "ref": self.ref, "untrusted": self.untrusted}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provenance:
        ref = data.get("ref")
        return cls(
            source=str(data.get("source", "")),
            ref=int(ref) if ref is not None else None,
            untrusted=bool(data.get("untrusted", False)),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One proposed action as stored in the inbox.

    Attributes:
        id: Row id.
        kind: What the action does: a kind registered in ``core.kinds`` (e.g.
            ``reply_email``).
        payload: The JSON payload that will be executed (for mail: see ``core.mail``).
        payload_sha256: Hex sha256 of ``canonical_json(payload)``.
        agent: Name of the agent that proposed it.
        summary: One line for the inbox list.
        provenance: The input it came from.
        status: Current status.
        created_at: UTC ISO 8601 timestamp of the proposal.
        updated_at: UTC ISO 8601 timestamp of the last change.
        approved_sha256: The payload hash recorded at approval (None until approved).
        approved_at: When it was approved.
        executed_at: When execution finished (success or not).
        result: Execution result or failure reason (JSON).
        errors: Validation errors for ``invalid`` proposals.
        idempotency_key: Key fixed at proposal time (the Message-ID for mail).
        risk: ``low``, ``medium`` or ``high`` (see ``core.risk``).
        risk_reasons: Why the risk is what it is.
        send_at: For ``scheduled`` actions, when the undo window ends (UTC ISO 8601).
        decided_by: Who approved or rejected it: ``founder`` or ``policy rule #N``.
        approval_mac: HMAC-SHA256 (hex) of the approval under the home's trust key (see
            ``core.trust``), or None in a home without a key or before approval.
        draft_attempts: How many model attempts it took (1: the first draft passed every
            check; more: earlier drafts were sent back to the model as invalid).
        run_id: The agent run that proposed it (``core.runs``), None for older proposals.
        critique: The devil's advocate's critique (``core.critique.Critique`` as JSON), None
            when the proposal was not critiqued; ``{"state": "running"}`` while it is.
    """

    id: int
    kind: str
    payload: JSONObject
    payload_sha256: str
    agent: str
    summary: str
    provenance: Provenance
    status: ActionStatus
    created_at: str
    updated_at: str
    approved_sha256: str | None = None
    approved_at: str | None = None
    executed_at: str | None = None
    result: JSONObject | None = None
    errors: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    risk: str = "low"
    risk_reasons: list[str] = field(default_factory=list)
    send_at: str | None = None
    decided_by: str | None = None
    approval_mac: str | None = None
    draft_attempts: int = 1
    run_id: int | None = None
    critique: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class ApproveNow:
    """An approval the outbox records in the same transaction as its claim (sent at once, no
    undo window): one durable commit before SMTP instead of two.

    Attributes:
        expected_sha256: The hash of the payload the founder saw (None: the current one).
        actor: Who approved (``founder``).
        on_approved: Called with the action once the approval is committed.
    """

    expected_sha256: str | None = None
    actor: str = "founder"
    on_approved: Callable[[Action], None] | None = None

