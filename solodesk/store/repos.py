"""Repositories over the database: mail, conversations, actions, audit log and LLM calls.

Every status change of an action and its audit entry are written in one transaction.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlite_utils import Database

from solodesk.core import kinds as K
from solodesk.core import trust as T
from solodesk.core.actions import (
    APPROVABLE,
    EDITABLE,
    FINISHED,
    RECORDABLE,
    UNDOABLE,
    WAITING,
    Action,
    ActionStatus,
    InvalidTransition,
    JSONObject,
    Provenance,
    can_transition,
    canonical_json,
    payload_sha256,
    sources,
    utcnow,
)
from solodesk.core.audit import GENESIS, entry_sha256, verify_chain
from solodesk.core.llmtypes import LLMCallRecord
from solodesk.core.mail import addr_specs, all_recipients, first_mailbox
from solodesk.core.policy import (
    Condition,
    Outcome,
    PolicyRule,
    RuleError,
    conditions_from_json,
    fields_for,
)
from solodesk.store.budget_warnings import BudgetWarningRepo
from solodesk.store.correspondents import CorrespondentRepo, record_received, record_sent
from solodesk.store.costs import CostQuery
from solodesk.store.db import StoreDatabase, bookkeeping
from solodesk.store.imapstate import ImapStateRepo
from solodesk.store.jobs import JobRepo
from solodesk.store.owner import Owner, kept_alive, owner_alive, renewer
from solodesk.store.queries import ActionQuery
from solodesk.store.runs import RunRepo, add_call_usage
from solodesk.store.trust import Trust, TrustUnavailable

Row = dict[str, Any]

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """No row with that id."""


class StaleApproval(Exception):
    """The payload changed since the founder looked at it; nothing was approved."""


class TriageClaimLost(Exception):
    """The mail's triage claim is no longer this run's (released as stale and taken by another
    run); the proposal was not stored."""


def _status_in(statuses: Iterable[ActionStatus]) -> str:
    """``status IN ('a', 'b')`` for a set of statuses (enum values, safe to inline).

    Every status condition of the store's SQL is built with this from a set derived from
    ``core.actions.TRANSITIONS`` (or a single status), never typed as a literal list.
    """
    return "status IN (" + ", ".join(f"'{s.value}'" for s in sorted(statuses)) + ")"


def _is(status: ActionStatus) -> str:
    """``status = 'x'`` for one status (an enum value, safe to inline)."""
    return f"status = '{status.value}'"


#: Claimable for execution: the sources of ``executing`` in the state machine (a scheduled
#: action only once its undo window has ended).
_CLAIMABLE = _status_in(sources(ActionStatus.EXECUTING)) + (
    f" AND (status != '{ActionStatus.SCHEDULED.value}' OR send_at <= ?)"
)


def _row_to_action(row: Row) -> Action:
    return Action(
        id=int(row["id"]),
        kind=str(row["kind"]),
        payload=json.loads(row["payload"]),
        payload_sha256=row["payload_sha256"],
        agent=row["agent"],
        summary=row["summary"],
        provenance=Provenance.from_json(json.loads(row["provenance"])),
        status=ActionStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        approved_sha256=row["approved_sha256"],
        approved_at=row["approved_at"],
        executed_at=row["executed_at"],
        result=json.loads(row["result"]) if row["result"] else None,
        errors=list(json.loads(row["errors"] or "[]")),
        idempotency_key=row["idempotency_key"],
        risk=row.get("risk") or "low",
        risk_reasons=list(json.loads(row.get("risk_reasons") or "[]")),
        send_at=row.get("send_at"),
        decided_by=row.get("decided_by"),
        approval_mac=row.get("approval_mac"),
        draft_attempts=int(row.get("draft_attempts") or 1),
        run_id=row.get("run_id"),
        critique=json.loads(row["critique"]) if row.get("critique") else None,
    )


def approval_of(action: Action) -> T.Approval | None:
    """What the approval MAC of ``action`` covers (None if it was never approved)."""
    if action.approved_sha256 is None or action.approved_at is None:
        return None
    return T.Approval(
        action_id=action.id,
        kind=action.kind,
        approved_sha256=action.approved_sha256,
        decided_by=action.decided_by or "",
        approved_at=action.approved_at,
    )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :meth:`AuditLog.verify_report`.

    Attributes:
        entries: How many entries the trail has.
        problems: One line per problem; empty when the trail is intact.
        keyed: Whether the home is keyed (MACs and the signed chain head were checked).
        note: One line on keyed trust, for the founder.
    """

    entries: int
    problems: list[str]
    keyed: bool
    note: str


class AuditLog:
    """Append-only, hash-chained audit log (see ``core.audit``), keyed when the home is
    (``core.trust``): each entry then carries a MAC, and the chain head is kept outside the
    database after every commit."""

    def __init__(self, db: Database, trust: Trust | None = None) -> None:
        self.db = db
        self.trust = trust or Trust()

    def append(
        self, event: str, *, action_id: int | None, actor: str, detail: Mapping[str, Any]
    ) -> int:
        """Append an entry; call inside the transaction that made the change.

        Returns:
            The new entry's id.

        Raises:
            TrustUnavailable: the home is keyed and its key cannot be used (the caller's
                transaction is rolled back: nothing changes unaudited).
        """
        last = self.db.execute("SELECT sha256 FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        fields = {
            "ts": utcnow(),
            "event": event,
            "action_id": action_id,
            "actor": actor,
            "detail": canonical_json(detail),
        }
        sha = entry_sha256(prev, fields)
        mac = self.trust.entry_mac(sha)
        cur = self.db.execute(
            "INSERT INTO audit_log (ts, event, action_id, actor, detail, prev_sha256, sha256, mac)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [fields["ts"], event, action_id, actor, fields["detail"], prev, sha, mac],
        )
        if isinstance(self.db, StoreDatabase) and self.trust.head_path is not None:
            self.db.after_commit(self._write_head)
        return int(cast(int, cur.lastrowid))

    def _last(self) -> tuple[int, str] | None:
        row = self.db.execute(
            "SELECT id, sha256 FROM audit_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def _write_head(self) -> None:
        self.trust.write_head(self._last)

    def entries(self, *, action_id: int | None = None) -> list[Row]:
        """All entries in order, optionally for one action."""
        if action_id is None:
            return list(self.db.query("SELECT * FROM audit_log ORDER BY id"))
        return list(
            self.db.query("SELECT * FROM audit_log WHERE action_id = ? ORDER BY id", [action_id])
        )

    def verify(self) -> list[str]:
        """Problems found in the chain, its MACs and its recorded head; empty when intact."""
        return self.verify_report().problems

    def verify_report(self) -> VerifyReport:
        """Check the trail: the hash chain always; in a keyed home every MAC since the home
        was keyed and the signed chain head kept outside the database (so a trail recomputed
        without the key, or cut short, is detected); in an unkeyed home the unsigned head."""
        entries = self.entries()
        problems = verify_chain(entries)
        status = self.trust.status()
        key: bytes | None = None
        if status.keyed:
            try:
                key = self.trust.key()
            except TrustUnavailable as exc:
                problems.append(f"cannot check the MACs: {exc}")
        marker = self.trust.marker()
        if key is not None and marker is not None:
            if not marker.readable:
                problems.append("the trust marker (trust.json) is unreadable")
            keyed = next((e for e in entries if int(e["id"]) == marker.keyed_entry), None)
            if keyed is None or (keyed["event"] != "trust_keyed" and marker.keyed_entry != 1):
                problems.append(
                    f"entry {marker.keyed_entry}: the entry that keyed this home is missing"
                )
            problems += T.check_entries(entries, key, keyed_from=marker.keyed_entry)
        try:
            head = self.trust.read_head()
        except ValueError as exc:
            head = None
            problems.append(f"the chain head file is unreadable: {exc}")
        else:
            if head is None and status.keyed and self.trust.head_path is not None:
                problems.append("the chain head file is missing (audit-head.json)")
        if head is not None:
            last_id = int(entries[-1]["id"]) if entries else 0
            at_head = next((str(e["sha256"]) for e in entries if int(e["id"]) == head.id), None)
            problems += T.check_head(head, last_id, at_head, key)
        return VerifyReport(
            entries=len(entries), problems=problems, keyed=status.keyed, note=status.message
        )


class ActionRepo:
    """Proposed actions and their state machine."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    # -- reading -------------------------------------------------------------------------------
    def get(self, action_id: int) -> Action:
        """The action with ``action_id``.

        Raises:
            NotFound: no such action.
        """
        row = self._row(action_id)
        return _row_to_action(row)

    def _row(self, action_id: int) -> Row:
        rows = list(self.db.query("SELECT * FROM actions WHERE id = ?", [action_id]))
        if not rows:
            raise NotFound(f"no action with id {action_id}")
        return rows[0]

    def list(
        self,
        *,
        statuses: Sequence[ActionStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        kind: str | None = None,
    ) -> list[Action]:
        """Actions, newest first, optionally only in ``statuses`` and of ``kind``."""
        sql = "SELECT * FROM actions"
        params: list[Any] = []
        where: list[str] = []
        if statuses:
            where.append(f"status IN ({','.join('?' for _ in statuses)})")
            params += [s.value for s in statuses]
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [_row_to_action(r) for r in self.db.query(sql, params)]

    def ids(self, *, statuses: Sequence[ActionStatus] | None = None) -> builtins.list[int]:
        """Ids of actions, newest first (cheap: for list models over many rows)."""
        sql = "SELECT id FROM actions"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' for _ in statuses)})"
            params += [s.value for s in statuses]
        sql += " ORDER BY id DESC"
        return [int(r[0]) for r in self.db.execute(sql, params).fetchall()]

    def query_ids(
        self,
        query: ActionQuery,
        *,
        status: ActionStatus | None = None,
        risk: str | None = None,
        first_draft: bool = False,
    ) -> builtins.list[int]:
        """Ids of the actions ``query`` lists, in its order (``status``/``risk``/
        ``first_draft`` narrow it further: see :meth:`ActionQuery.where`)."""
        sql, params = query.select_ids(status=status, risk=risk, first_draft=first_draft)
        # One JSON array built by SQLite and decoded in C: a tuple per row from the cursor
        # costs more than the query itself at 100,000 ids.
        row = self.db.execute(f"SELECT json_group_array(id) FROM ({sql})", params).fetchone()
        return list(json.loads(row[0])) if row and row[0] else []

    def agents(self) -> builtins.list[str]:
        """Every agent that has proposed something, sorted (for the agent filter)."""
        rows = self.db.execute("SELECT DISTINCT agent FROM actions").fetchall()
        return sorted(str(r[0]) for r in rows)

    def latest_scheduled(self) -> int | None:
        """The most recently approved action still in its undo window (None if none)."""
        row = self.db.execute(
            f"SELECT id FROM actions WHERE {_status_in(UNDOABLE)}"
            " ORDER BY approved_at DESC, id DESC LIMIT 1"
        ).fetchone()
        return int(row[0]) if row else None

    def count(self, status: ActionStatus) -> int:
        """Number of actions in ``status``."""
        row = self.db.execute(
            "SELECT count(*) FROM actions WHERE status = ?", [status.value]
        ).fetchone()
        return int(row[0])

    # -- writing -------------------------------------------------------------------------------
    def propose(
        self,
        *,
        kind: str,
        payload: JSONObject,
        agent: str,
        summary: str,
        provenance: Provenance,
        idempotency_key: str | None,
        validation: Sequence[str] = (),
        risk: str = "low",
        risk_reasons: Sequence[str] = (),
        cost: Mapping[str, Any] | None = None,
        draft_attempts: int = 1,
        run_id: int | None = None,
    ) -> Action:
        """Store a valid proposal as ``pending`` and audit it (with its risk and model cost).

        Args:
            draft_attempts: How many model attempts the draft took (1: the first passed).
            run_id: The agent run that made it (``core.runs``).
        """
        return self._insert(
            run_id=run_id,
            draft_attempts=draft_attempts,
            risk=risk,
            risk_reasons=list(risk_reasons),
            cost=cost,
            kind=kind,
            payload=payload,
            agent=agent,
            summary=summary,
            provenance=provenance,
            status=ActionStatus.PENDING,
            errors=[],
            idempotency_key=idempotency_key,
            attempts=list(validation),
        )

    def record_invalid(
        self,
        *,
        kind: str,
        payload: JSONObject,
        agent: str,
        summary: str,
        provenance: Provenance,
        errors: Sequence[str],
        cost: Mapping[str, Any] | None = None,
        draft_attempts: int = 1,
        run_id: int | None = None,
    ) -> Action:
        """Store a proposal that failed validation as ``invalid`` (visible, never executable)."""
        return self._insert(
            run_id=run_id,
            draft_attempts=draft_attempts,
            risk="high",
            risk_reasons=["failed validation"],
            cost=cost,
            kind=kind,
            payload=payload,
            agent=agent,
            summary=summary,
            provenance=provenance,
            status=ActionStatus.INVALID,
            errors=list(errors),
            idempotency_key=None,
            attempts=list(errors),
        )

    def _insert(
        self,
        *,
        kind: str,
        payload: JSONObject,
        agent: str,
        summary: str,
        provenance: Provenance,
        status: ActionStatus,
        errors: builtins.list[str],
        idempotency_key: str | None,
        attempts: builtins.list[str],
        risk: str,
        risk_reasons: builtins.list[str],
        cost: Mapping[str, Any] | None,
        draft_attempts: int,
        run_id: int | None = None,
    ) -> Action:
        if not K.is_kind(kind):
            raise K.UnknownKind(f"unknown action kind {kind!r}; kinds: {', '.join(K.names())}")
        now = utcnow()
        sha = payload_sha256(payload)
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance,"
                " status, created_at, updated_at, errors, idempotency_key, risk, risk_reasons,"
                " draft_attempts, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    kind,
                    canonical_json(payload),
                    sha,
                    agent,
                    summary,
                    canonical_json(provenance.to_json()),
                    status.value,
                    now,
                    now,
                    json.dumps(errors),
                    idempotency_key,
                    risk,
                    json.dumps(risk_reasons),
                    max(1, draft_attempts),
                    run_id,
                ],
            )
            action_id = int(cast(int, cur.lastrowid))
            self.audit.append(
                "proposed" if status is ActionStatus.PENDING else "proposal_invalid",
                action_id=action_id,
                actor=agent,
                detail={
                    "kind": kind,
                    "payload_sha256": sha,
                    "provenance": provenance.to_json(),
                    "validation_errors": attempts,
                    "risk": risk,
                    "risk_reasons": risk_reasons,
                    "cost": dict(cost or {}),
                    "draft_attempts": max(1, draft_attempts),
                    **({"run_id": run_id} if run_id is not None else {}),
                },
            )
        return self.get(action_id)

    def edit(
        self,
        action_id: int,
        payload: JSONObject,
        *,
        actor: str = "founder",
        risk: str | None = None,
        risk_reasons: Sequence[str] = (),
        summary: str | None = None,
    ) -> Action:
        """Replace the payload of an editable action (new payload, new hash; audited with diff).

        The action returns to ``pending``: an edited payload always needs a new approval.

        Raises:
            NotFound: no such action.
            InvalidTransition: the action is no longer editable.
            StaleApproval: it changed while being edited.
        """
        with self.db.atomic():
            current = self.get(action_id)
            if current.status not in EDITABLE or not (
                current.status is ActionStatus.PENDING
                or can_transition(current.status, ActionStatus.PENDING)
            ):
                raise InvalidTransition(action_id, current.status, ActionStatus.PENDING)
            new_sha = payload_sha256(payload)
            now = utcnow()
            cur = self.db.execute(
                "UPDATE actions SET payload = ?, payload_sha256 = ?, status = ?, updated_at = ?,"
                " approved_sha256 = NULL, approved_at = NULL, send_at = NULL, approval_mac = NULL,"
                " risk = COALESCE(?, risk), risk_reasons = CASE WHEN ? IS NULL THEN risk_reasons"
                " ELSE ? END, summary = COALESCE(?, summary)"
                " WHERE id = ? AND payload_sha256 = ? AND status = ?",
                [
                    canonical_json(payload),
                    new_sha,
                    ActionStatus.PENDING.value,
                    now,
                    risk,
                    risk,
                    json.dumps(list(risk_reasons)),
                    summary,
                    action_id,
                    current.payload_sha256,
                    current.status.value,
                ],
            )
            if cur.rowcount != 1:
                raise StaleApproval(f"action {action_id} changed while it was being edited")
            self.audit.append(
                "edited",
                action_id=action_id,
                actor=actor,
                detail={
                    "old_sha256": current.payload_sha256,
                    "new_sha256": new_sha,
                    "diff": payload_diff(current.payload, payload),
                    "risk": risk or current.risk,
                },
            )
        return self.get(action_id)

    def reissue_message_id(
        self,
        action_id: int,
        payload: JSONObject,
        *,
        expected_sha256: str,
        actor: str = "solodesk",
    ) -> Action:
        """Replace a placeholder Message-ID (and the idempotency key) just before approval.

        Audited as ``message_id_reissued`` with the old and new hashes; the status is kept, so
        the approval that follows covers the new payload.

        Raises:
            StaleApproval: the payload is no longer ``expected_sha256``.
        """
        new_sha = payload_sha256(payload)
        with self.db.atomic():
            current = self.get(action_id)
            cur = self.db.execute(
                "UPDATE actions SET payload = ?, payload_sha256 = ?, idempotency_key = ?,"
                " updated_at = ? WHERE id = ? AND payload_sha256 = ?",
                [
                    canonical_json(payload),
                    new_sha,
                    payload["message_id"],
                    utcnow(),
                    action_id,
                    expected_sha256,
                ],
            )
            if cur.rowcount != 1:
                raise StaleApproval(f"action {action_id} changed since you viewed it")
            self.audit.append(
                "message_id_reissued",
                action_id=action_id,
                actor=actor,
                detail={
                    "old_sha256": current.payload_sha256,
                    "new_sha256": new_sha,
                    "old_message_id": current.payload.get("message_id"),
                    "new_message_id": payload["message_id"],
                    "reason": "the placeholder Message-ID (made before smtp.from was set) is "
                    "replaced by one on the founder's domain before approval",
                },
            )
        return self.get(action_id)

    def approve(
        self,
        action_id: int,
        *,
        expected_sha256: str | None = None,
        actor: str = "founder",
        delay_s: float = 0.0,
        rule_id: int | None = None,
        claim_owner: Owner | None = None,
    ) -> Action:
        """Approve the current payload, recording its sha256.

        A conditional update: approving twice, or concurrently, approves once.

        With ``claim_owner`` (an approval executed now, ``delay_s`` 0) the approval and the
        outbox's claim are one transaction: the action goes straight to ``executing`` owned by
        ``claim_owner``, audited ``approved`` then ``claimed`` (as :meth:`claim` would), with one
        durable commit instead of two before the mail is sent.

        Args:
            expected_sha256: The hash of the payload the founder saw; if the stored payload
                differs, nothing is approved.
            delay_s: The undo window in seconds: with ``delay_s > 0`` the action becomes
                ``scheduled`` until ``send_at``; otherwise ``approved`` (due at once).
            rule_id: The policy rule that approved it, if any (recorded in the audit log).

        Raises:
            NotFound: no such action.
            StaleApproval: the payload is not the one the founder saw.
            InvalidTransition: the action cannot be approved in its status (e.g. already sent).
        """
        if claim_owner is not None and delay_s > 0:
            raise ValueError("an approval with an undo window is claimed when it is due")
        target = ActionStatus.SCHEDULED if delay_s > 0 else ActionStatus.APPROVED
        status = ActionStatus.EXECUTING if claim_owner is not None else target
        with self.db.atomic():
            current = self.get(action_id)
            if expected_sha256 is not None and current.payload_sha256 != expected_sha256:
                raise StaleApproval(
                    f"action {action_id} changed since you viewed it; review it again"
                )
            if current.status not in APPROVABLE:
                raise InvalidTransition(action_id, current.status, ActionStatus.APPROVED)
            now = utcnow()
            send_at = utcnow(delay_s) if delay_s > 0 else None
            mac = self.audit.trust.approval_mac(
                T.Approval(
                    action_id=action_id,
                    kind=current.kind,
                    approved_sha256=current.payload_sha256,
                    decided_by=actor,
                    approved_at=now,
                )
            )
            cur = self.db.execute(
                "UPDATE actions SET status = ?, approved_sha256 = payload_sha256,"
                " approved_at = ?, updated_at = ?, send_at = ?, decided_by = ?, approval_mac = ?,"
                " claim_owner = COALESCE(?, claim_owner)"
                " WHERE id = ? AND status = ? AND payload_sha256 = ?",
                [
                    status.value,
                    now,
                    now,
                    send_at,
                    actor,
                    mac,
                    claim_owner.to_json() if claim_owner is not None else None,
                    action_id,
                    current.status.value,
                    current.payload_sha256,
                ],
            )
            if cur.rowcount != 1:
                raise InvalidTransition(action_id, current.status, ActionStatus.APPROVED)
            detail: dict[str, Any] = {"approved_sha256": current.payload_sha256}
            if send_at:
                detail["send_at"] = send_at
            if rule_id is not None:
                detail["rule_id"] = rule_id
            self.audit.append("approved", action_id=action_id, actor=actor, detail=detail)
            if claim_owner is not None:
                self.audit.append(
                    "claimed",
                    action_id=action_id,
                    actor="outbox",
                    detail={"by": claim_owner.describe(), "approved_at": now},
                )
        return self.get(action_id)

    def cancel(self, action_id: int, *, actor: str = "founder") -> Action:
        """Undo an approval still in its undo window (``scheduled -> pending``).

        Raises:
            NotFound: no such action.
            InvalidTransition: it is no longer scheduled (already sending or sent).
        """
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE actions SET status = ?, approved_sha256 = NULL,"
                " approved_at = NULL, send_at = NULL, decided_by = NULL, approval_mac = NULL,"
                f" updated_at = ? WHERE id = ? AND {_status_in(UNDOABLE)}",
                [ActionStatus.PENDING.value, utcnow(), action_id],
            )
            if cur.rowcount != 1:
                current = self.get(action_id)
                raise InvalidTransition(action_id, current.status, ActionStatus.PENDING)
            self.audit.append("approval_cancelled", action_id=action_id, actor=actor, detail={})
        return self.get(action_id)

    def due(self, *, now: str | None = None) -> builtins.list[int]:
        """Ids of actions ready to execute: ``approved``, or ``scheduled`` past ``send_at``."""
        stamp = now or utcnow()
        rows = self.db.execute(
            f"SELECT id FROM actions WHERE {_CLAIMABLE} ORDER BY id", [stamp]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def next_send_at(self) -> str | None:
        """The earliest ``send_at`` of a scheduled action, or None."""
        row = self.db.execute(
            f"SELECT min(send_at) FROM actions WHERE {_is(ActionStatus.SCHEDULED)}"
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def reject(self, action_id: int, *, reason: str = "", actor: str = "founder") -> Action:
        """Reject (or dismiss) an action.

        Raises:
            NotFound: no such action.
            InvalidTransition: the action is already executed, executing or rejected.
        """
        return self.transition(
            action_id,
            ActionStatus.REJECTED,
            actor=actor,
            event="rejected",
            result={"reason": reason} if reason else None,
        )

    def claim(self, action_id: int, *, owner: Owner | None = None) -> Action | None:
        """Claim an action for execution: ``approved``, or ``scheduled`` whose undo window has
        ended, becomes ``executing`` in one conditional update that records its owner.

        Args:
            owner: Who executes it (default: this process, with a new token). Only this owner
                may :meth:`finish` the claim; :meth:`reconcile` in another process leaves it
                alone while the owner is alive.

        Returns:
            The claimed action, or None if it was not claimable (someone else claimed it,
            it was already executed, cancelled, never approved, or is not yet due).
        """
        owner = owner or Owner.current()
        with self.db.atomic():
            now = utcnow()
            cur = self.db.execute(
                "UPDATE actions SET status = ?, updated_at = ?, claim_owner = ?"
                f" WHERE id = ? AND {_CLAIMABLE}",
                [ActionStatus.EXECUTING.value, now, owner.to_json(), action_id, now],
            )
            if cur.rowcount != 1:
                return None
            row = self.db.execute(
                "SELECT approved_at FROM actions WHERE id = ?", [action_id]
            ).fetchone()
            self.audit.append(
                "claimed",
                action_id=action_id,
                actor="outbox",
                detail={"by": owner.describe(), "approved_at": row[0]},
            )
        return self.get(action_id)

    def owner(self, action_id: int) -> Owner | None:
        """The recorded owner of an action's claim (None if never claimed or unreadable)."""
        row = self.db.execute(
            "SELECT claim_owner FROM actions WHERE id = ?", [action_id]
        ).fetchone()
        return Owner.from_json(row[0]) if row else None

    def renew_claim(self, action_id: int, owner: Owner) -> Owner:
        """Extend the lease of a claim this owner still holds (a heartbeat while sending).

        Returns:
            The owner with its new lease (unchanged in the database if the claim is gone).
        """
        renewed = owner.renewed()
        with self.db.atomic():
            self.db.execute(
                "UPDATE actions SET claim_owner = ? WHERE id = ? AND "
                f"{_is(ActionStatus.EXECUTING)}"
                " AND json_extract(claim_owner, '$.token') = ?",
                [renewed.to_json(), action_id, owner.token],
            )
        return renewed

    def lease(self, action_id: int, owner: Owner) -> contextlib.AbstractContextManager[None]:
        """Keep a claim's lease renewed while the block runs (a heartbeat thread with its own
        connection; see ``store.owner``)."""
        return kept_alive(
            renewer(
                getattr(self.db, "path", ""),
                "UPDATE actions SET claim_owner = ? WHERE id = ? AND "
                f"{_is(ActionStatus.EXECUTING)}"
                " AND json_extract(claim_owner, '$.token') = ?",
                lambda: [owner.renewed().to_json(), action_id, owner.token],
            )
        )

    def used_approvals(self, action: Action) -> int:
        """How many claims the audit log records for this action's current approval (a spent
        approval reset to ``approved`` in the database would show more than one)."""
        if action.approved_at is None:
            return 0
        key = self.audit.trust.key()
        count = 0
        for e in self.audit.entries(action_id=action.id):
            if e["event"] != "claimed":
                continue
            try:
                detail = json.loads(e["detail"])
            except ValueError:
                continue
            if not isinstance(detail, dict) or detail.get("approved_at") != action.approved_at:
                continue
            if key is not None and e.get("mac") != T.entry_mac(key, str(e["sha256"])):
                continue  # an entry the key did not sign proves nothing
            count += 1
        return count

    def finish(
        self,
        action_id: int,
        target: ActionStatus,
        *,
        owner: Owner,
        event: str,
        result: JSONObject,
    ) -> Action:
        """Record the outcome of an execution this owner claimed (audited).

        The row is normally ``executing``; if another process meanwhile reported it
        ``unknown`` (it believed the owner gone), the real outcome is recorded all the same.

        Raises:
            NotFound: no such action.
            InvalidTransition: the claim is not this owner's, or the row is neither
                ``executing`` nor ``unknown``.
        """
        if target not in FINISHED:
            raise ValueError(f"{target.value} is not an outcome")
        with self.db.atomic():
            current = self.get(action_id)
            held = self.owner(action_id)
            if (
                current.status not in RECORDABLE
                or held is None
                or held.token != owner.token
                or not can_transition(current.status, target)
            ):
                raise InvalidTransition(action_id, current.status, target)
            if current.status is ActionStatus.UNKNOWN:
                result = {**result, "was_reported_unknown": True}
            now = utcnow()
            cur = self.db.execute(
                "UPDATE actions SET status = ?, updated_at = ?, executed_at = ?, result = ?"
                " WHERE id = ? AND status = ?",
                [target.value, now, now, canonical_json(result), action_id,
                 current.status.value],
            )
            if cur.rowcount != 1:
                raise InvalidTransition(action_id, current.status, target)
            if target is ActionStatus.EXECUTED:
                record_sent(self.db, all_recipients(current.payload), when=now)
            self.audit.append(event, action_id=action_id, actor="outbox", detail=result)
        return self.get(action_id)

    def transition(
        self,
        action_id: int,
        target: ActionStatus,
        *,
        actor: str,
        event: str,
        result: JSONObject | None = None,
        expect: Iterable[ActionStatus] | None = None,
    ) -> Action:
        """Move an action to ``target`` if the state machine allows it (audited).

        Raises:
            NotFound: no such action.
            InvalidTransition: the move is not allowed from the current status.
        """
        with self.db.atomic():
            current = self.get(action_id)
            allowed = set(expect) if expect is not None else None
            if not can_transition(current.status, target) or (
                allowed is not None and current.status not in allowed
            ):
                raise InvalidTransition(action_id, current.status, target)
            now = utcnow()
            finished = target in FINISHED
            cur = self.db.execute(
                "UPDATE actions SET status = ?, updated_at = ?,"
                " executed_at = CASE WHEN ? THEN ? ELSE executed_at END,"
                " decided_by = CASE WHEN ? THEN ? ELSE decided_by END,"
                " result = COALESCE(?, result) WHERE id = ? AND status = ?",
                [
                    target.value,
                    now,
                    finished,
                    now,
                    target is ActionStatus.REJECTED,
                    actor,
                    canonical_json(result) if result is not None else None,
                    action_id,
                    current.status.value,
                ],
            )
            if cur.rowcount != 1:
                raise InvalidTransition(action_id, current.status, target)
            if target is ActionStatus.EXECUTED:
                record_sent(self.db, all_recipients(current.payload), when=now)
            self.audit.append(event, action_id=action_id, actor=actor, detail=result or {})
        return self.get(action_id)

    def reconcile(self) -> builtins.list[int]:
        """Mark as ``unknown`` the actions left ``executing`` by a process that is gone (never
        re-sent). A claim whose owner is alive (another window or command sending right now)
        is left alone: its owner records the outcome.

        Returns:
            The ids marked unknown.
        """
        rows = self.db.execute(
            f"SELECT id, claim_owner FROM actions WHERE {_is(ActionStatus.EXECUTING)}"
        ).fetchall()
        gone: builtins.list[int] = []
        for action_id, owner_json in rows:
            owner = Owner.from_json(owner_json)
            if owner_alive(owner):
                continue
            who = f" ({owner.describe()})" if owner is not None else ""
            try:
                with self.db.atomic():
                    # Re-check inside the write lock: the owner may have finished meanwhile.
                    cur = self.db.execute(
                        "SELECT claim_owner FROM actions WHERE id = ? AND "
                        f"{_is(ActionStatus.EXECUTING)}",
                        [action_id],
                    ).fetchone()
                    if cur is None or cur[0] != owner_json:
                        continue
                    self.transition(
                        int(action_id),
                        ActionStatus.UNKNOWN,
                        actor="outbox",
                        event="reconciled_unknown",
                        result={
                            "status": "unknown",
                            "detail": f"SoloDesk stopped while this was being sent{who}; it "
                            "may or may not have been delivered",
                            "reason": "SoloDesk stopped while this was being sent; it may or "
                            "may not have been delivered. Check the recipient's copy or your "
                            "Sent folder.",
                        },
                    )
            except InvalidTransition:
                continue
            gone.append(int(action_id))
        return gone

    def resolve_not_delivered(self, action_id: int, *, actor: str = "founder") -> Action:
        """The founder checked an ``unknown`` send and it did not arrive: it becomes ``failed``
        (nothing was delivered), from where it can be approved again.

        Raises:
            NotFound: no such action.
            InvalidTransition: the action is not ``unknown``.
        """
        return self.transition(
            action_id,
            ActionStatus.FAILED,
            actor=actor,
            event="confirmed_not_delivered",
            result={
                "status": "failed",
                "detail": f"not delivered (checked by {actor}); approve it again to send it",
            },
            expect=[ActionStatus.UNKNOWN],
        )

    def sign_waiting_approvals(self) -> builtins.list[int]:
        """Sign the approvals still waiting to be executed (``approved``/``scheduled``) that
        carry no MAC: called once, in the transaction that keys the home.

        Returns:
            Their ids.
        """
        ids: builtins.list[int] = []
        waiting = self.db.execute(
            f"SELECT id FROM actions WHERE {_status_in(WAITING)}"
            " AND approval_mac IS NULL"
        ).fetchall()
        for (action_id,) in waiting:
            approval = approval_of(self.get(int(action_id)))
            if approval is None:
                continue
            self.db.execute(
                "UPDATE actions SET approval_mac = ? WHERE id = ?",
                [self.audit.trust.approval_mac(approval), action_id],
            )
            ids.append(int(action_id))
        return ids


def payload_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A unified diff of two payloads as indented JSON (for the audit log)."""
    a = json.dumps(old, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(new, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "before", "after", lineterm=""))


@dataclass(frozen=True, slots=True)
class MailRecord:
    """An imported email (RFC 5322 headers decoded to text)."""

    id: int
    message_id: str
    from_addr: str
    reply_to: str
    to_addrs: str
    cc_addrs: str
    subject: str
    date: str | None
    in_reply_to: str
    refs: str
    body_text: str
    source: str
    imported_at: str
    triage_status: str
    triage_note: str
    automated: str = ""
    fingerprint: str = ""
    header_message_id: str = ""
    from_email: str = ""
    reply_to_email: str = ""
    body_html: str | None = None

    @property
    def reply_message_id(self) -> str:
        """The Message-ID a reply refers to (In-Reply-To, RFC 5322 3.6.4): the message's own,
        also when it is stored under another key because of a Message-ID conflict."""
        return self.header_message_id or self.message_id

    @property
    def reply_address(self) -> str:
        """Where a reply goes: every Reply-To addr-spec, else the From addr-spec (RFC 5322
        3.6.2), comma-separated; never a display name."""
        return self.reply_to_email or self.from_email


@dataclass(frozen=True, slots=True)
class StoredMessageId:
    """A stored mail holding a Message-ID (as its key or as its own header)."""

    id: int
    fingerprint: str
    source: str


class MailRepo:
    """Imported mail."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def has_message_id(self, message_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM mail WHERE message_id = ?", [message_id]
        ).fetchone()
        return row is not None

    def holding(self, message_id: str) -> list[StoredMessageId]:
        """Stored mail whose key or own Message-ID header is ``message_id``, oldest first."""
        rows = self.db.execute(
            "SELECT id, fingerprint, source FROM mail WHERE message_id = ?"
            " UNION SELECT id, fingerprint, source FROM mail"
            " WHERE header_message_id = ? AND header_message_id != ''"  # the partial index
            " ORDER BY id",
            [message_id, message_id],
        ).fetchall()
        return [StoredMessageId(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def raw(self, mail_id: int) -> bytes:
        """The message as imported (RFC 5322 bytes).

        Raises:
            NotFound: no such mail.
        """
        row = self.db.execute("SELECT raw FROM mail WHERE id = ?", [mail_id]).fetchone()
        if row is None:
            raise NotFound(f"no mail with id {mail_id}")
        return bytes(row[0])

    def set_fingerprint(self, mail_id: int, fingerprint: str) -> None:
        """Record the content fingerprint of a mail imported before fingerprints existed."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE mail SET fingerprint = ? WHERE id = ?", [fingerprint, mail_id]
            )

    def insert(self, record: Mapping[str, Any]) -> int | None:
        """Insert one mail row; returns its id, or None if its Message-ID is already stored.

        ``from_email``/``reply_to_email`` are derived from ``from_addr``/``reply_to`` when the
        row does not carry them.
        """
        record = dict(record)
        if "from_email" not in record:
            record["from_email"] = first_mailbox(str(record.get("from_addr", ""))).addr
        if "reply_to_email" not in record:
            record["reply_to_email"] = ", ".join(addr_specs(str(record.get("reply_to", ""))))
        columns = [
            "message_id", "from_addr", "reply_to", "to_addrs", "cc_addrs", "subject", "date",
            "in_reply_to", "refs", "body_text", "raw", "source",
        ]
        columns += [
            c
            for c in (
                "automated", "fingerprint", "header_message_id", "from_email",
                "reply_to_email", "body_html",
            )
            if c in record
        ]
        now = utcnow()
        with self.db.atomic():
            cur = self.db.execute(
                f"INSERT OR IGNORE INTO mail ({', '.join(columns)}, imported_at)"
                f" VALUES ({', '.join('?' for _ in columns)}, ?)",
                [record[c] for c in columns] + [now],
            )
            if cur.rowcount != 1:
                return None
            mail_id = int(cast(int, cur.lastrowid))
            record_received(self.db, str(record["from_email"]), mail_id=mail_id, when=now)
            return mail_id

    def get(self, mail_id: int) -> MailRecord:
        """Raises NotFound if there is no such mail."""
        rows = list(
            self.db.query(
                "SELECT id, message_id, from_addr, reply_to, to_addrs, cc_addrs, subject, date,"
                " in_reply_to, refs, body_text, source, imported_at, triage_status, triage_note,"
                " automated, fingerprint, header_message_id, from_email, reply_to_email, body_html"
                " FROM mail WHERE id = ?",
                [mail_id],
            )
        )
        if not rows:
            raise NotFound(f"no mail with id {mail_id}")
        return MailRecord(**rows[0])

    def search(self, text: str, *, limit: int = 10) -> list[MailRecord]:
        """Mail whose subject, sender or body holds ``text`` (case-insensitive for ASCII),
        newest first; empty ``text`` lists the newest mail.

        Args:
            limit: At most this many (1..100).
        """
        limit = max(1, min(int(limit), 100))
        sql = "SELECT id FROM mail"
        params: list[Any] = []
        words = text.split()
        if words:
            clauses = []
            for word in words[:8]:
                like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace(
                    "_", "\\_") + "%"
                clauses.append(
                    "(subject LIKE ? ESCAPE '\\' OR from_addr LIKE ? ESCAPE '\\'"
                    " OR body_text LIKE ? ESCAPE '\\')"
                )
                params += [like, like, like]
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [self.get(int(r[0])) for r in self.db.execute(sql, params).fetchall()]

    def untriaged(self, *, limit: int | None = None) -> list[MailRecord]:
        """Mail not yet triaged, oldest first."""
        sql = "SELECT id FROM mail WHERE triage_status = 'new' ORDER BY id"
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self.get(int(r[0])) for r in self.db.execute(sql, params).fetchall()]

    def set_triage(
        self, mail_id: int, status: str, note: str = "", *, claim: Owner | None = None
    ) -> None:
        """Record the triage outcome: ``proposed``, ``no_reply``, ``invalid`` or ``failed``.

        Args:
            claim: The triage claim this run holds (:meth:`claim_for_triage`); the outcome is
                then recorded only while the claim is still this run's, and releases it.

        Raises:
            TriageClaimLost: ``claim`` is no longer held.
        """
        with self.db.atomic():
            if claim is None:
                self.db.execute(
                    "UPDATE mail SET triage_status = ?, triage_note = ?, triage_claim = NULL"
                    " WHERE id = ?",
                    [status, note, mail_id],
                )
                return
            cur = self.db.execute(
                "UPDATE mail SET triage_status = ?, triage_note = ?, triage_claim = NULL"
                " WHERE id = ? AND triage_status = 'triaging'"
                " AND json_extract(triage_claim, '$.token') = ?",
                [status, note, mail_id, claim.token],
            )
            if cur.rowcount != 1:
                raise TriageClaimLost(f"mail {mail_id} is no longer claimed by this triage run")

    def claim_for_triage(self, mail_id: int, *, owner: Owner | None = None) -> Owner | None:
        """Claim an untriaged mail for one triage run, before any model call: of two runs at
        once, one gets each mail and the other skips it, so a mail is never drafted twice.

        Returns:
            The claim (its owner), or None if the mail is not ``new`` (another run has it,
            or it was triaged meanwhile).
        """
        owner = owner or Owner.current()
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE mail SET triage_status = 'triaging', triage_claim = ?"
                " WHERE id = ? AND triage_status = 'new'",
                [owner.to_json(), mail_id],
            )
        return owner if cur.rowcount == 1 else None

    def renew_triage_claim(self, mail_id: int, owner: Owner) -> Owner:
        """Extend the lease of a triage claim this run holds (a heartbeat during model calls)."""
        renewed = owner.renewed()
        with self.db.atomic():
            self.db.execute(
                "UPDATE mail SET triage_claim = ? WHERE id = ? AND triage_status = 'triaging'"
                " AND json_extract(triage_claim, '$.token') = ?",
                [renewed.to_json(), mail_id, owner.token],
            )
        return renewed

    def lease(self, mail_id: int, owner: Owner) -> contextlib.AbstractContextManager[None]:
        """Keep a triage claim's lease renewed while the block runs (model calls take long)."""
        return kept_alive(
            renewer(
                getattr(self.db, "path", ""),
                "UPDATE mail SET triage_claim = ? WHERE id = ? AND triage_status = 'triaging'"
                " AND json_extract(triage_claim, '$.token') = ?",
                lambda: [owner.renewed().to_json(), mail_id, owner.token],
            )
        )

    def release_triage(self, mail_id: int, owner: Owner) -> None:
        """Give a claimed mail back untriaged (``new``): the model failed, try again later."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE mail SET triage_status = 'new', triage_claim = NULL"
                " WHERE id = ? AND triage_status = 'triaging'"
                " AND json_extract(triage_claim, '$.token') = ?",
                [mail_id, owner.token],
            )

    def release_stale_triage(self) -> list[int]:
        """Give back (``new``) mail claimed by triage runs whose process is gone.

        Returns:
            The released mail ids.
        """
        released: list[int] = []
        rows = self.db.execute(
            "SELECT id, triage_claim FROM mail WHERE triage_status = 'triaging'"
        ).fetchall()
        for mail_id, claim in rows:
            if owner_alive(Owner.from_json(claim)):
                continue
            with self.db.atomic():
                cur = self.db.execute(
                    "UPDATE mail SET triage_status = 'new', triage_claim = NULL"
                    " WHERE id = ? AND triage_status = 'triaging' AND triage_claim IS ?",
                    [mail_id, claim],
                )
            if cur.rowcount == 1:
                released.append(int(mail_id))
        return released

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM mail").fetchone()[0])

    def legacy_body_ids(self) -> list[int]:
        """Mail imported before HTML was kept whose text is empty (to be re-read from raw)."""
        rows = self.db.execute("SELECT id FROM mail WHERE body_html IS NULL ORDER BY id")
        return [int(r[0]) for r in rows.fetchall()]

    def set_body(self, mail_id: int, *, text: str, html: str) -> None:
        """Replace a mail's text and HTML (re-derived from its raw bytes)."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE mail SET body_text = ?, body_html = ? WHERE id = ?",
                [text, html, mail_id],
            )


class ChatRepo:
    """Conversations with the manager agent and their messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def new_conversation(self, title: str) -> int:
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO conversations (title, created_at) VALUES (?, ?)", [title, utcnow()]
            )
            return int(cast(int, cur.lastrowid))

    def latest_conversation(self) -> int | None:
        row = self.db.execute("SELECT max(id) FROM conversations").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def add_message(self, conversation_id: int, role: str, content: str) -> int:
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO messages (conversation_id, role, content, created_at)"
                " VALUES (?, ?, ?, ?)",
                [conversation_id, role, content, utcnow()],
            )
            return int(cast(int, cur.lastrowid))

    def messages(self, conversation_id: int) -> list[Row]:
        return list(
            self.db.query(
                "SELECT id, role, content, created_at FROM messages"
                " WHERE conversation_id = ? ORDER BY id",
                [conversation_id],
            )
        )

    def latest_messages(
        self,
        conversation_id: int,
        limit: int,
        *,
        skip: int = 0,
        roles: Sequence[str] = ("user", "assistant"),
    ) -> list[Row]:
        """A page of a conversation, newest end first: the ``limit`` non-empty messages of
        ``roles`` before its newest ``skip`` ones, returned oldest first (what a chat
        transcript shows when it loads earlier messages)."""
        marks = ", ".join("?" for _ in roles)
        rows = list(
            self.db.query(
                "SELECT id, role, content, created_at FROM messages"
                f" WHERE conversation_id = ? AND role IN ({marks}) AND content != ''"
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                [conversation_id, *roles, max(0, limit), max(0, skip)],
            )
        )
        rows.reverse()
        return rows

    def count_messages(
        self, conversation_id: int, *, roles: Sequence[str] = ("user", "assistant")
    ) -> int:
        """How many non-empty messages of ``roles`` a conversation has."""
        marks = ", ".join("?" for _ in roles)
        row = self.db.execute(
            "SELECT count(*) FROM messages"
            f" WHERE conversation_id = ? AND role IN ({marks}) AND content != ''",
            [conversation_id, *roles],
        ).fetchone()
        return int(row[0])


class LLMCallRepo:
    """Usage and cost of every model call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, call: LLMCallRecord) -> None:
        """Store one call and add its usage to its run (one transaction).

        Bookkeeping (:func:`~solodesk.store.db.bookkeeping`): the run's end, a durable commit,
        follows every call it makes; a power loss in the middle of a run may lose the usage of
        that run's calls so far, never anything else.
        """
        with bookkeeping(self.db):
            self.db.execute(
                "INSERT INTO llm_calls (ts, model, purpose, tokens_in, tokens_out, cost_usd,"
                " latency_ms, error, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    utcnow(),
                    call.model,
                    call.purpose,
                    call.tokens_in,
                    call.tokens_out,
                    call.cost_usd,
                    call.latency_ms,
                    call.error,
                    call.run_id,
                ],
            )
            add_call_usage(self.db, call)

    def all(self) -> list[Row]:
        return list(self.db.query("SELECT * FROM llm_calls ORDER BY id"))


class PolicyRepo:
    """The founder's policy rules. Every change is an audited event.

    Only front ends (CLI, settings page) hold this repository's write methods; no agent tool
    exposes them.
    """

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def rules(self) -> builtins.list[PolicyRule]:
        """All rules in evaluation order."""
        return [
            PolicyRule(
                id=int(r["id"]),
                position=int(r["position"]),
                kind=r["kind"],
                conditions=conditions_from_json(r["conditions"]),
                outcome=Outcome(r["outcome"]),
                note=r["note"],
            )
            for r in self.db.query("SELECT * FROM policy_rules ORDER BY position, id")
        ]

    def add(
        self,
        *,
        kind: str,
        conditions: Sequence[Condition],
        outcome: Outcome,
        note: str = "",
        position: int | None = None,
        actor: str = "founder",
    ) -> PolicyRule:
        """Add a rule (at the end unless ``position`` is given).

        Raises:
            RuleError: ``kind`` is not an action kind or ``*``, or a condition tests a fact
                that kind does not have.
        """
        allowed = fields_for(kind)  # RuleError: not * or a registered kind
        for c in conditions:
            if c.field not in allowed:
                raise RuleError(
                    f"{kind} actions have no fact {c.field!r}; fields: {', '.join(allowed)}"
                )
        with self.db.atomic():
            if position is None:
                row = self.db.execute("SELECT max(position) FROM policy_rules").fetchone()
                position = (int(row[0]) + 10) if row and row[0] is not None else 10
            cur = self.db.execute(
                "INSERT INTO policy_rules (position, kind, conditions, outcome, note, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    position,
                    kind,
                    json.dumps([c.to_json() for c in conditions]),
                    outcome.value,
                    note,
                    utcnow(),
                ],
            )
            rule_id = int(cast(int, cur.lastrowid))
            rule = next(r for r in self.rules() if r.id == rule_id)
            self.audit.append(
                "policy_rule_added", action_id=None, actor=actor, detail=rule.to_json()
            )
        return rule

    def remove(self, rule_id: int, *, actor: str = "founder") -> PolicyRule:
        """Remove a rule.

        Raises:
            NotFound: no such rule.
        """
        with self.db.atomic():
            rule = next((r for r in self.rules() if r.id == rule_id), None)
            if rule is None:
                raise NotFound(f"no policy rule with id {rule_id}")
            self.db.execute("DELETE FROM policy_rules WHERE id = ?", [rule_id])
            self.audit.append(
                "policy_rule_removed", action_id=None, actor=actor, detail=rule.to_json()
            )
        return rule


class Store:
    """All repositories over one database.

    Args:
        db: The database (from :func:`solodesk.store.db.connect`: its write transactions begin
            with ``BEGIN IMMEDIATE``).
        trust: The home's keyed trust (default: none, an unkeyed store with no files).
    """

    def __init__(self, db: StoreDatabase, *, trust: Trust | None = None) -> None:
        self.db = db
        self.trust = trust or Trust()
        self.audit = AuditLog(db, self.trust)
        self.actions = ActionRepo(db, self.audit)
        self.mail = MailRepo(db)
        self.correspondents = CorrespondentRepo(db)
        self.chat = ChatRepo(db)
        self.llm_calls = LLMCallRepo(db)
        self.runs = RunRepo(db)
        self.costs = CostQuery(db)
        self.budget_warnings = BudgetWarningRepo(db)
        self.policy = PolicyRepo(db, self.audit)
        from solodesk.store.books import books_repos  # (they import this module)

        self.bank, self.ledger = books_repos(db, self.audit)
        self.imap = ImapStateRepo(db, self.mail)
        self.jobs = JobRepo(db)
        from solodesk.store.invoices import invoice_repos  # (it imports this module)

        self.blobs, self.customers, self.invoices = invoice_repos(db, self.audit)
        from solodesk.store.critiques import CritiqueRepo  # (it imports this module)

        self.critiques = CritiqueRepo(db, self.audit, self.actions)
        from solodesk.store.autonomy import AutonomyQuery

        self.autonomy = AutonomyQuery(db)
        from solodesk.store.facts import FactRepo  # (they import this module)
        from solodesk.store.profile import ProfileRepo

        self.profile = ProfileRepo(db, self.audit)
        self.facts = FactRepo(db, self.audit)

    def key_home(self) -> bool:
        """Key this home if it is not yet keyed and a secure keyring exists (first run).

        In one write transaction: the key is taken from the keyring (created there if it has
        none), the approvals waiting to be sent are signed, a ``trust_keyed`` audit entry seals
        the trail so far, and the marker is written outside the database.

        Returns:
            True if the home was keyed now. False if it already was, or cannot be (no secure
            keyring, or it is locked: the home stays unkeyed and says so).
        """
        from solodesk.store.secrets import SecretError

        trust = self.trust
        if not trust.can_key():
            return False
        try:
            with self.db.atomic():
                if trust.keyed:  # another process keyed it while we waited for the lock
                    return False
                key = trust.obtain_key()
                trust.begin_keying(key)
                signed = self.actions.sign_waiting_approvals()
                entry = self.audit.append(
                    "trust_keyed",
                    action_id=None,
                    actor="solodesk",
                    detail={"key_id": T.key_id(key), "signed_approvals": signed},
                )
                trust.write_marker(key, entry)
        except (SecretError, OSError) as exc:
            trust.abort_keying()
            log.warning("home not keyed: %s", exc)
            return False
        except BaseException:
            trust.abort_keying()
            raise
        return True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a late GUI timer must not read it then)."""
        return getattr(self, "_closed", False)

    def close(self) -> None:
        self._closed = True
        self.db.close()
