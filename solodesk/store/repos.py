"""Repositories over the database: mail, conversations, actions, audit log and LLM calls.

Every status change of an action and its audit entry are written in one transaction.
"""

from __future__ import annotations

import builtins
import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlite_utils import Database

from solodesk.core.actions import (
    APPROVABLE,
    EDITABLE,
    Action,
    ActionKind,
    ActionStatus,
    InvalidTransition,
    JSONObject,
    Provenance,
    can_transition,
    canonical_json,
    payload_sha256,
    utcnow,
)
from solodesk.core.audit import GENESIS, entry_sha256, verify_chain
from solodesk.core.llmtypes import LLMCallRecord
from solodesk.core.policy import (
    Condition,
    Outcome,
    PolicyRule,
    RuleError,
    conditions_from_json,
)

Row = dict[str, Any]


class NotFound(LookupError):
    """No row with that id."""


class StaleApproval(Exception):
    """The payload changed since the founder looked at it; nothing was approved."""


def _row_to_action(row: Row) -> Action:
    return Action(
        id=int(row["id"]),
        kind=ActionKind(row["kind"]),
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
    )


class AuditLog:
    """Append-only, hash-chained audit log (see ``core.audit``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self, event: str, *, action_id: int | None, actor: str, detail: Mapping[str, Any]
    ) -> int:
        """Append an entry; call inside the transaction that made the change.

        Returns:
            The new entry's id.
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
        cur = self.db.execute(
            "INSERT INTO audit_log (ts, event, action_id, actor, detail, prev_sha256, sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [fields["ts"], event, action_id, actor, fields["detail"], prev, sha],
        )
        return int(cast(int, cur.lastrowid))

    def entries(self, *, action_id: int | None = None) -> list[Row]:
        """All entries in order, optionally for one action."""
        if action_id is None:
            return list(self.db.query("SELECT * FROM audit_log ORDER BY id"))
        return list(
            self.db.query("SELECT * FROM audit_log WHERE action_id = ? ORDER BY id", [action_id])
        )

    def verify(self) -> list[str]:
        """Problems found in the chain; empty when intact."""
        return verify_chain(self.entries())


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
    ) -> list[Action]:
        """Actions, newest first, optionally only in ``statuses``."""
        sql = "SELECT * FROM actions"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' for _ in statuses)})"
            params += [s.value for s in statuses]
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
        kind: ActionKind,
        payload: JSONObject,
        agent: str,
        summary: str,
        provenance: Provenance,
        idempotency_key: str | None,
        validation: Sequence[str] = (),
        risk: str = "low",
        risk_reasons: Sequence[str] = (),
        cost: Mapping[str, Any] | None = None,
    ) -> Action:
        """Store a valid proposal as ``pending`` and audit it (with its risk and model cost)."""
        return self._insert(
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
        kind: ActionKind,
        payload: JSONObject,
        agent: str,
        summary: str,
        provenance: Provenance,
        errors: Sequence[str],
        cost: Mapping[str, Any] | None = None,
    ) -> Action:
        """Store a proposal that failed validation as ``invalid`` (visible, never executable)."""
        return self._insert(
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
        kind: ActionKind,
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
    ) -> Action:
        now = utcnow()
        sha = payload_sha256(payload)
        with self.db.atomic():
            cur = self.db.execute(
                "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance,"
                " status, created_at, updated_at, errors, idempotency_key, risk, risk_reasons)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    kind.value,
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
                ],
            )
            action_id = int(cast(int, cur.lastrowid))
            self.audit.append(
                "proposed" if status is ActionStatus.PENDING else "proposal_invalid",
                action_id=action_id,
                actor=agent,
                detail={
                    "kind": kind.value,
                    "payload_sha256": sha,
                    "provenance": provenance.to_json(),
                    "validation_errors": attempts,
                    "risk": risk,
                    "risk_reasons": risk_reasons,
                    "cost": dict(cost or {}),
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
            if current.status not in EDITABLE:
                raise InvalidTransition(action_id, current.status, ActionStatus.PENDING)
            new_sha = payload_sha256(payload)
            now = utcnow()
            cur = self.db.execute(
                "UPDATE actions SET payload = ?, payload_sha256 = ?, status = ?, updated_at = ?,"
                " approved_sha256 = NULL, approved_at = NULL, send_at = NULL,"
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

    def approve(
        self,
        action_id: int,
        *,
        expected_sha256: str | None = None,
        actor: str = "founder",
        delay_s: float = 0.0,
        rule_id: int | None = None,
    ) -> Action:
        """Approve the current payload, recording its sha256.

        A conditional update: approving twice, or concurrently, approves once.

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
        target = ActionStatus.SCHEDULED if delay_s > 0 else ActionStatus.APPROVED
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
            cur = self.db.execute(
                "UPDATE actions SET status = ?, approved_sha256 = payload_sha256,"
                " approved_at = ?, updated_at = ?, send_at = ?, decided_by = ?"
                " WHERE id = ? AND status = ? AND payload_sha256 = ?",
                [
                    target.value,
                    now,
                    now,
                    send_at,
                    actor,
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
        return self.get(action_id)

    def cancel(self, action_id: int, *, actor: str = "founder") -> Action:
        """Undo an approval still in its undo window (``scheduled -> pending``).

        Raises:
            NotFound: no such action.
            InvalidTransition: it is no longer scheduled (already sending or sent).
        """
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE actions SET status = 'pending', approved_sha256 = NULL,"
                " approved_at = NULL, send_at = NULL, decided_by = NULL, updated_at = ?"
                " WHERE id = ? AND status = 'scheduled'",
                [utcnow(), action_id],
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
            "SELECT id FROM actions WHERE status = 'approved'"
            " OR (status = 'scheduled' AND send_at <= ?) ORDER BY id",
            [stamp],
        ).fetchall()
        return [int(r[0]) for r in rows]

    def next_send_at(self) -> str | None:
        """The earliest ``send_at`` of a scheduled action, or None."""
        row = self.db.execute(
            "SELECT min(send_at) FROM actions WHERE status = 'scheduled'"
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

    def claim(self, action_id: int) -> Action | None:
        """Claim an action for execution: ``approved``, or ``scheduled`` whose undo window has
        ended, becomes ``executing`` in one conditional update.

        Returns:
            The claimed action, or None if it was not claimable (someone else claimed it,
            it was already executed, cancelled, never approved, or is not yet due).
        """
        with self.db.atomic():
            now = utcnow()
            cur = self.db.execute(
                "UPDATE actions SET status = 'executing', updated_at = ?"
                " WHERE id = ? AND (status = 'approved'"
                " OR (status = 'scheduled' AND send_at <= ?))",
                [now, action_id, now],
            )
            if cur.rowcount != 1:
                return None
            self.audit.append("claimed", action_id=action_id, actor="outbox", detail={})
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
            finished = target in (
                ActionStatus.EXECUTED,
                ActionStatus.FAILED,
                ActionStatus.UNKNOWN,
            )
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
            self.audit.append(event, action_id=action_id, actor=actor, detail=result or {})
        return self.get(action_id)

    def reconcile(self) -> builtins.list[int]:
        """Mark actions left ``executing`` by a crash as ``unknown`` (never re-sent).

        Returns:
            The ids marked unknown.
        """
        ids = [
            int(r[0])
            for r in self.db.execute(
                "SELECT id FROM actions WHERE status = 'executing'"
            ).fetchall()
        ]
        for action_id in ids:
            self.transition(
                action_id,
                ActionStatus.UNKNOWN,
                actor="outbox",
                event="reconciled_unknown",
                result={
                    "reason": "SoloDesk stopped while this was being sent; it may or may not "
                    "have been delivered. Check the recipient's copy or your Sent folder."
                },
            )
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


class MailRepo:
    """Imported mail."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def has_message_id(self, message_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM mail WHERE message_id = ?", [message_id]
        ).fetchone()
        return row is not None

    def insert(self, record: Mapping[str, Any]) -> int | None:
        """Insert one mail row; returns its id, or None if its Message-ID is already stored."""
        columns = [
            "message_id", "from_addr", "reply_to", "to_addrs", "cc_addrs", "subject", "date",
            "in_reply_to", "refs", "body_text", "raw", "source",
        ]
        if "automated" in record:
            columns.append("automated")
        with self.db.atomic():
            cur = self.db.execute(
                f"INSERT OR IGNORE INTO mail ({', '.join(columns)}, imported_at)"
                f" VALUES ({', '.join('?' for _ in columns)}, ?)",
                [record[c] for c in columns] + [utcnow()],
            )
            if cur.rowcount != 1:
                return None
            return int(cast(int, cur.lastrowid))

    def get(self, mail_id: int) -> MailRecord:
        """Raises NotFound if there is no such mail."""
        rows = list(
            self.db.query(
                "SELECT id, message_id, from_addr, reply_to, to_addrs, cc_addrs, subject, date,"
                " in_reply_to, refs, body_text, source, imported_at, triage_status, triage_note,"
                " automated"
                " FROM mail WHERE id = ?",
                [mail_id],
            )
        )
        if not rows:
            raise NotFound(f"no mail with id {mail_id}")
        return MailRecord(**rows[0])

    def untriaged(self, *, limit: int | None = None) -> list[MailRecord]:
        """Mail not yet triaged, oldest first."""
        sql = "SELECT id FROM mail WHERE triage_status = 'new' ORDER BY id"
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self.get(int(r[0])) for r in self.db.execute(sql, params).fetchall()]

    def set_triage(self, mail_id: int, status: str, note: str = "") -> None:
        """Record the triage outcome: ``proposed``, ``no_reply`` or ``failed``."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE mail SET triage_status = ?, triage_note = ? WHERE id = ?",
                [status, note, mail_id],
            )

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM mail").fetchone()[0])


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


class LLMCallRepo:
    """Usage and cost of every model call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, call: LLMCallRecord) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO llm_calls (ts, model, purpose, tokens_in, tokens_out, cost_usd,"
                " latency_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    utcnow(),
                    call.model,
                    call.purpose,
                    call.tokens_in,
                    call.tokens_out,
                    call.cost_usd,
                    call.latency_ms,
                    call.error,
                ],
            )

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
            RuleError: ``kind`` is not an action kind or ``*``.
        """
        if kind != "*" and kind not in {k.value for k in ActionKind}:
            kinds = ", ".join(k.value for k in ActionKind)
            raise RuleError(f"kind must be * or one of {kinds}, not {kind!r}")
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
    """All repositories over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)
        self.actions = ActionRepo(db, self.audit)
        self.mail = MailRepo(db)
        self.chat = ChatRepo(db)
        self.llm_calls = LLMCallRepo(db)
        self.policy = PolicyRepo(db, self.audit)
        from solodesk.store.books import books_repos  # (they import this module)

        self.bank, self.ledger = books_repos(db, self.audit)
        from solodesk.store.invoices import invoice_repos  # (it imports this module)

        self.blobs, self.customers, self.invoices = invoice_repos(db, self.audit)

    def close(self) -> None:
        self.db.close()
