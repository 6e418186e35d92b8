"""The SQLite store: migrations, pragmas, the action repository and the audit chain."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from solodesk.core.actions import (
    ActionStatus,
    InvalidTransition,
    Provenance,
    payload_sha256,
)
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.store.db import connect, migrations
from solodesk.store.owner import Owner
from solodesk.store.repos import NotFound, StaleApproval, Store

PAYLOAD = {
    "to": ["Marta <marta@example.com>"],
    "cc": [],
    "subject": "Re: Refund",
    "body": "Hi Marta, Ada will follow up.",
    "message_id": "<p1@solodesk.example>",
    "in_reply_to": "<orig@example.com>",
    "references": ["<orig@example.com>"],
    "source_mail_id": 1,
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "solodesk.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(connect(db_path))
    yield s
    s.close()


def propose(store: Store, **changes: object) -> int:
    payload = {**PAYLOAD, **changes}
    action = store.actions.propose(
        kind=REPLY_EMAIL,
        payload=payload,
        agent="support",
        summary="Re: Refund → marta",
        provenance=Provenance("mail", 1, untrusted=True),
        idempotency_key=str(payload["message_id"]),
    )
    return action.id


def audit_events(store: Store, action_id: int) -> list[str]:
    return [e["event"] for e in store.audit.entries(action_id=action_id)]


# -- database ----------------------------------------------------------------------------------
def test_migrations_apply_once_and_are_recorded(db_path: Path) -> None:
    db = connect(db_path)
    rows = list(db.query("SELECT migration_set, name, applied_at FROM _sqlite_migrations"))
    names = [r["name"] for r in rows]
    assert names == [m.name for m in migrations._migrations]
    assert names[0] == "m001_initial"
    assert {r["migration_set"] for r in rows} == {"solodesk"}
    db.execute("INSERT INTO conversations (title, created_at) VALUES ('keep me', 'now')")
    db.conn.commit()
    db.close()

    db2 = connect(db_path)  # re-open the same file: nothing re-applied, data kept
    rows2 = list(db2.query("SELECT migration_set, name, applied_at FROM _sqlite_migrations"))
    assert rows2 == rows
    assert [r["title"] for r in db2.query("SELECT title FROM conversations")] == ["keep me"]
    db2.close()


def test_pragmas_wal_and_synchronous_full(db_path: Path) -> None:
    db = connect(db_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    db.close()
    # WAL is a property of the file: a plain connection sees it too.
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_not_a_database_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        connect(bad)


# -- actions -----------------------------------------------------------------------------------
def test_propose_stores_pending_with_hash_and_audit(store: Store) -> None:
    action_id = propose(store)
    a = store.actions.get(action_id)
    assert a.status is ActionStatus.PENDING
    assert a.payload == PAYLOAD
    assert a.payload_sha256 == payload_sha256(PAYLOAD)
    assert a.idempotency_key == "<p1@solodesk.example>"
    assert a.provenance == Provenance("mail", 1, untrusted=True)
    assert a.approved_sha256 is None
    assert audit_events(store, action_id) == ["proposed"]
    detail = json.loads(store.audit.entries(action_id=action_id)[0]["detail"])
    assert detail["payload_sha256"] == a.payload_sha256


def test_idempotency_key_is_unique(store: Store) -> None:
    propose(store)
    with pytest.raises(sqlite3.IntegrityError):
        propose(store)  # same Message-ID


def test_record_invalid_is_never_approvable(store: Store) -> None:
    a = store.actions.record_invalid(
        kind=SEND_EMAIL,
        payload={"tool": "propose_send_email", "arguments": "{bad"},
        agent="manager",
        summary="Invalid",
        provenance=Provenance("chat", 1),
        errors=["attempt 1: arguments are not valid JSON"],
    )
    assert a.status is ActionStatus.INVALID
    assert a.errors == ["attempt 1: arguments are not valid JSON"]
    with pytest.raises(InvalidTransition):
        store.actions.approve(a.id)
    assert store.actions.reject(a.id).status is ActionStatus.REJECTED


def test_edit_sets_new_payload_and_hash_and_audits_a_diff(store: Store) -> None:
    action_id = propose(store)
    old = store.actions.get(action_id)
    new_payload = {**PAYLOAD, "subject": "Re: Refund (edited)"}
    edited = store.actions.edit(action_id, new_payload)
    assert edited.payload == new_payload
    assert edited.payload_sha256 == payload_sha256(new_payload) != old.payload_sha256
    assert edited.status is ActionStatus.PENDING
    entry = store.audit.entries(action_id=action_id)[-1]
    assert entry["event"] == "edited" and entry["actor"] == "founder"
    detail = json.loads(entry["detail"])
    assert detail["old_sha256"] == old.payload_sha256
    assert detail["new_sha256"] == edited.payload_sha256
    assert '- "subject": "Re: Refund",' in detail["diff"]
    assert '+ "subject": "Re: Refund (edited)",' in detail["diff"]


def test_approve_records_the_hash_and_is_conditional(store: Store) -> None:
    action_id = propose(store)
    a = store.actions.approve(action_id)
    assert a.status is ActionStatus.APPROVED
    assert a.approved_sha256 == a.payload_sha256 == payload_sha256(PAYLOAD)
    assert a.approved_at is not None
    with pytest.raises(InvalidTransition):
        store.actions.approve(action_id)
    assert audit_events(store, action_id) == ["proposed", "approved"]
    entry = store.audit.entries(action_id=action_id)[-1]
    assert json.loads(entry["detail"]) == {"approved_sha256": a.payload_sha256}


def test_approve_with_stale_hash_approves_nothing(store: Store) -> None:
    action_id = propose(store)
    seen = store.actions.get(action_id).payload_sha256
    store.actions.edit(action_id, {**PAYLOAD, "body": "changed meanwhile"})
    with pytest.raises(StaleApproval):
        store.actions.approve(action_id, expected_sha256=seen)
    assert store.actions.get(action_id).status is ActionStatus.PENDING
    assert "approved" not in audit_events(store, action_id)


def test_edit_after_approval_is_refused(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    with pytest.raises(InvalidTransition):
        store.actions.edit(action_id, {**PAYLOAD, "body": "sneaky"})
    assert store.actions.get(action_id).payload == PAYLOAD


def test_edit_of_failed_action_clears_the_approval(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    store.actions.claim(action_id)
    store.actions.transition(action_id, ActionStatus.FAILED, actor="outbox", event="failed")
    edited = store.actions.edit(action_id, {**PAYLOAD, "body": "second try"})
    assert edited.status is ActionStatus.PENDING
    assert edited.approved_sha256 is None and edited.approved_at is None


def test_claim_only_once(store: Store) -> None:
    action_id = propose(store)
    assert store.actions.claim(action_id) is None  # not approved yet
    store.actions.approve(action_id)
    claimed = store.actions.claim(action_id)
    assert claimed is not None and claimed.status is ActionStatus.EXECUTING
    assert store.actions.claim(action_id) is None
    assert audit_events(store, action_id).count("claimed") == 1


def test_claim_is_exclusive_across_connections(db_path: Path) -> None:
    one, two = Store(connect(db_path)), Store(connect(db_path))
    try:
        action_id = propose(one)
        one.actions.approve(action_id)
        results = [two.actions.claim(action_id), one.actions.claim(action_id)]
        assert sum(r is not None for r in results) == 1
    finally:
        one.close()
        two.close()


def dead_owner() -> Owner:
    """This process's pid with another start time: a claim of a process that is gone (its pid
    since reused by us)."""
    me = Owner.current()
    return replace(me, start=str(int(me.start or "0") + 1))


def test_reconcile_marks_executing_unknown(store: Store) -> None:
    # The claims' owner is gone (it crashed): reconcile takes them. (Before owners were
    # recorded, reconcile took every executing row, also the live sends of other processes.)
    a1, a2, a3 = propose(store), propose(store, message_id="<p2@x.example>"), propose(
        store, message_id="<p3@x.example>"
    )
    for a in (a1, a2):
        store.actions.approve(a)
        store.actions.claim(a, owner=dead_owner())
    store.actions.transition(a2, ActionStatus.EXECUTED, actor="outbox", event="executed")
    assert store.actions.reconcile() == [a1]
    assert store.actions.get(a1).status is ActionStatus.UNKNOWN
    assert store.actions.get(a2).status is ActionStatus.EXECUTED
    assert store.actions.get(a3).status is ActionStatus.PENDING
    assert audit_events(store, a1)[-1] == "reconciled_unknown"
    assert store.actions.reconcile() == []
    # An unknown send is never re-approved (that could send twice).
    with pytest.raises(InvalidTransition):
        store.actions.approve(a1)


def test_disallowed_transition_raises_and_changes_nothing(store: Store) -> None:
    action_id = propose(store)
    with pytest.raises(InvalidTransition):
        store.actions.transition(action_id, ActionStatus.EXECUTED, actor="x", event="x")
    assert store.actions.get(action_id).status is ActionStatus.PENDING
    assert audit_events(store, action_id) == ["proposed"]


def test_reject_and_not_found(store: Store) -> None:
    action_id = propose(store)
    a = store.actions.reject(action_id, reason="not now")
    assert a.status is ActionStatus.REJECTED and a.result == {"reason": "not now"}
    with pytest.raises(InvalidTransition):
        store.actions.reject(action_id)
    with pytest.raises(NotFound):
        store.actions.get(999)
    with pytest.raises(NotFound):
        store.actions.approve(999)


def test_list_and_count(store: Store) -> None:
    ids = [propose(store, message_id=f"<p{i}@x.example>") for i in range(3)]
    store.actions.reject(ids[0])
    assert [a.id for a in store.actions.list()] == ids[::-1]
    assert [a.id for a in store.actions.list(statuses=[ActionStatus.PENDING])] == ids[:0:-1]
    assert store.actions.count(ActionStatus.PENDING) == 2
    assert store.actions.ids(statuses=[ActionStatus.REJECTED]) == [ids[0]]


# -- audit chain -------------------------------------------------------------------------------
def _some_history(store: Store) -> int:
    action_id = propose(store)
    store.actions.edit(action_id, {**PAYLOAD, "body": "edited"})
    store.actions.approve(action_id)
    store.actions.claim(action_id)
    return action_id


def test_audit_chain_verifies(store: Store) -> None:
    _some_history(store)
    entries = store.audit.entries()
    assert len(entries) == 4
    assert store.audit.verify() == []
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev_sha256"] == before["sha256"]


def test_audit_log_is_append_only(store: Store) -> None:
    _some_history(store)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.db.execute("DELETE FROM audit_log WHERE id = 2")


def test_audit_chain_detects_a_changed_entry(store: Store) -> None:
    _some_history(store)
    with store.db.conn:
        store.db.execute("DROP TRIGGER audit_log_no_update")
        store.db.execute(
            "UPDATE audit_log SET detail = ? WHERE id = 3",
            [json.dumps({"approved_sha256": "0" * 64})],
        )
    problems = store.audit.verify()
    assert problems == ["entry 3: content does not match its hash"]


def test_audit_chain_detects_a_removed_entry(store: Store) -> None:
    _some_history(store)
    with store.db.conn:
        store.db.execute("DROP TRIGGER audit_log_no_delete")
        store.db.execute("DELETE FROM audit_log WHERE id = 2")
    assert store.audit.verify() == ["entry 3: previous hash does not match entry before it"]


def test_audit_chain_detects_a_rehashed_entry(store: Store) -> None:
    # A forger who recomputes the changed entry's own hash still breaks the next link.
    from solodesk.core.audit import chain_fields, entry_sha256

    _some_history(store)
    entry = store.audit.entries()[1]
    forged = {**chain_fields(entry), "actor": "mallory"}
    with store.db.conn:
        store.db.execute("DROP TRIGGER audit_log_no_update")
        store.db.execute(
            "UPDATE audit_log SET actor = 'mallory', sha256 = ? WHERE id = ?",
            [entry_sha256(entry["prev_sha256"], forged), entry["id"]],
        )
    assert store.audit.verify() == [
        f"entry {entry['id'] + 1}: previous hash does not match entry before it"
    ]


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    s = Store(connect(tmp_path / "closed.db"))
    assert not s.closed
    s.close()
    assert s.closed  # GUI timers that fire late check this instead of reading a closed database


def test_chat_pages_count_back_from_the_newest_message(store: Store) -> None:
    chat = store.chat
    cid = chat.new_conversation("long")
    other = chat.new_conversation("other")
    for i in range(10):
        chat.add_message(cid, "user" if i % 2 == 0 else "assistant", f"m{i}")
        chat.add_message(other, "user", f"other {i}")
    chat.add_message(cid, "tool", "a tool result")
    chat.add_message(cid, "assistant", "")  # an empty reply is not shown
    page = chat.latest_messages(cid, 3)
    assert [m["content"] for m in page] == ["m7", "m8", "m9"]  # oldest first
    assert [m["content"] for m in chat.latest_messages(cid, 3, skip=3)] == ["m4", "m5", "m6"]
    assert [m["content"] for m in chat.latest_messages(cid, 5, skip=8)] == ["m0", "m1"]
    assert chat.latest_messages(cid, 5, skip=10) == []
    assert [m["content"] for m in chat.latest_messages(cid, 1, roles=("tool",))] == [
        "a tool result"
    ]
    assert chat.count_messages(cid) == 10
    assert chat.count_messages(cid, roles=("user",)) == 5
    assert chat.count_messages(other) == 10
