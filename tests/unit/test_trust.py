"""Keyed trust with an injected key: approval and audit MACs, the chain head, the outbox's
refusals. (The real keyring: tests/integration/test_trust_keyring.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.actions import smtp
from solodesk.actions.outbox import Outbox
from solodesk.core import trust as T
from solodesk.core.actions import Action, ActionStatus, Provenance, payload_sha256
from solodesk.core.audit import GENESIS, chain_fields, entry_sha256
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.store.db import connect
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretError, SecretStore
from solodesk.store.trust import Trust, TrustUnavailable

KEY = bytes(range(32))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"),
              trust=Trust(key=KEY, head_path=tmp_path / "audit-head.json"))
    yield s
    s.close()


def propose(store: Store, n: int = 1, to: str = "marta@example.com") -> int:
    mid = f"<t{n}@solodesk.example>"
    return store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": [to], "cc": [], "subject": "Hello", "body": "Hi.\n", "message_id": mid},
        agent="manager", summary="Hello", provenance=Provenance("chat", 1), idempotency_key=mid,
    ).id


class FakeSender:
    """Records what the outbox would send (unit test: no SMTP)."""

    def __init__(self) -> None:
        self.sent: list[Action] = []

    async def __call__(self, action: Action) -> smtp.SendOutcome:
        self.sent.append(action)
        return smtp.SendOutcome("sent", "250 ok")


# -- core ------------------------------------------------------------------------------------
def test_key_encoding_and_id() -> None:
    assert T.decode_key(T.encode_key(KEY)) == KEY
    assert len(T.key_id(KEY)) == 16 and T.key_id(KEY) != T.key_id(T.new_key())
    with pytest.raises(T.KeyFormatError):
        T.decode_key("abcd")
    with pytest.raises(T.KeyFormatError):
        T.decode_key("zz" * 32)


def test_approval_mac_covers_every_field() -> None:
    a = T.Approval(7, "send_email", "a" * 64, "founder", "2026-11-21T10:00:00.000000Z")
    mac = T.approval_mac(KEY, a)
    assert T.verify_approval(KEY, a, mac)
    assert not T.verify_approval(KEY, a, None)
    assert not T.verify_approval(T.new_key(), a, mac)
    for changed in (
        T.Approval(8, a.kind, a.approved_sha256, a.decided_by, a.approved_at),
        T.Approval(a.action_id, "reply_email", a.approved_sha256, a.decided_by, a.approved_at),
        T.Approval(a.action_id, a.kind, "b" * 64, a.decided_by, a.approved_at),
        T.Approval(a.action_id, a.kind, a.approved_sha256, "policy rule #1", a.approved_at),
        T.Approval(a.action_id, a.kind, a.approved_sha256, a.decided_by, a.approved_at + "1"),
    ):
        assert not T.verify_approval(KEY, changed, mac)
    # Domain separation: an entry MAC over the same text is not an approval MAC.
    assert T.entry_mac(KEY, a.message()) != mac


def test_check_head() -> None:
    head = T.ChainHead(5, "s5", T.head_mac(KEY, 5, "s5"))
    assert T.check_head(head, 5, "s5", KEY) == []
    assert T.check_head(head, 9, "s5", KEY) == []  # entries appended since: fine
    assert "truncated" in T.check_head(head, 3, None, KEY)[0]
    assert "differs" in T.check_head(head, 5, "other", KEY)[0]
    forged = T.ChainHead(3, "s3", "0" * 64)
    assert "does not verify" in T.check_head(forged, 3, "s3", KEY)[0]
    assert T.check_head(T.ChainHead(3, "s3"), 3, "s3", None) == []  # unkeyed: unsigned head


# -- store -----------------------------------------------------------------------------------
def test_approvals_and_entries_carry_macs_and_verify(store: Store) -> None:
    action_id = propose(store)
    approved = store.actions.approve(action_id)
    approval = T.Approval(action_id, "send_email", approved.payload_sha256, "founder",
                          approved.approved_at or "")
    assert T.verify_approval(KEY, approval, approved.approval_mac)
    entries = store.audit.entries()
    assert all(e["mac"] == T.entry_mac(KEY, e["sha256"]) for e in entries)
    report = store.audit.verify_report()
    assert report.problems == [] and report.keyed
    head = json.loads(store.trust.head_path.read_text())  # type: ignore[union-attr]
    assert head["id"] == entries[-1]["id"] and head["sha256"] == entries[-1]["sha256"]


def test_a_chain_recomputed_without_the_key_is_detected(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    store.actions.reject(propose(store, 2))
    entries = store.audit.entries()
    # The forger rewrites entry 2 and recomputes every hash after it (and the head file).
    prev = GENESIS
    with store.db.conn:
        store.db.conn.execute("DROP TRIGGER audit_log_no_update")
        for e in entries:
            fields = chain_fields(e)
            if e["id"] == 2:
                fields["actor"] = "policy rule #99"
            sha = entry_sha256(prev, fields)
            store.db.conn.execute("UPDATE audit_log SET actor = ?, prev_sha256 = ?, sha256 = ?"
                                  " WHERE id = ?", [fields["actor"], prev, sha, e["id"]])
            prev = sha
    last = store.audit.entries()[-1]
    store.trust.head_path.write_text(json.dumps(  # type: ignore[union-attr]
        {"id": last["id"], "sha256": last["sha256"], "mac": ""}))
    problems = store.audit.verify()
    assert "entry 2: MAC does not verify (rewritten without this home's key)" in problems
    assert "the recorded chain head does not verify (its file was changed)" in problems


def test_deleting_the_last_entries_is_detected(store: Store) -> None:
    propose(store)
    propose(store, 2)
    with store.db.conn:
        store.db.conn.execute("DROP TRIGGER audit_log_no_delete")
        store.db.conn.execute("DELETE FROM audit_log WHERE id = 2")
    assert store.audit.verify() == [
        "audit trail truncated: the last recorded entry is 2, but the database ends at entry 1"
    ]


# -- the outbox ------------------------------------------------------------------------------
def run(coro):  # noqa: ANN001, ANN201 - a tiny runner for these unit tests
    import asyncio

    return asyncio.run(coro)


def test_outbox_refuses_an_approval_the_key_did_not_sign(store: Store) -> None:
    action_id = propose(store)
    with store.db.conn:  # inserted as if approved, by someone without the key
        store.db.conn.execute(
            "UPDATE actions SET status = 'approved', approved_sha256 = payload_sha256,"
            " approved_at = '2026-11-21T10:00:00.000000Z', decided_by = 'founder'"
            " WHERE id = ?", [action_id])
    sender = FakeSender()
    final = run(Outbox(store, sender).execute(action_id))
    assert sender.sent == []
    assert final.status is ActionStatus.FAILED
    assert "not signed with this home's key" in final.result["detail"]
    assert store.audit.entries(action_id=action_id)[-1]["event"] == "approval_not_verified"


def test_outbox_refuses_a_payload_changed_with_both_its_hashes(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    a = store.actions.get(action_id)
    forged = {**a.payload, "to": ["mallory@evil.example"]}
    sha = payload_sha256(forged)
    with store.db.conn:
        store.db.conn.execute(
            "UPDATE actions SET payload = ?, payload_sha256 = ?, approved_sha256 = ? WHERE id = ?",
            [json.dumps(forged), sha, sha, action_id])
    sender = FakeSender()
    final = run(Outbox(store, sender).execute(action_id))
    assert sender.sent == [] and final.status is ActionStatus.FAILED
    assert final.result["detail"].startswith("its approval is not signed")


def test_outbox_refuses_a_spent_approval_reset_in_the_database(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    sender = FakeSender()
    assert run(Outbox(store, sender).execute(action_id)).status is ActionStatus.EXECUTED
    with store.db.conn:
        store.db.conn.execute("UPDATE actions SET status = 'approved' WHERE id = ?", [action_id])
    final = run(Outbox(store, sender).execute(action_id))
    assert len(sender.sent) == 1
    assert final.status is ActionStatus.FAILED
    assert "already used" in final.result["detail"]


def test_a_genuine_approval_is_executed(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id, actor="policy rule #3", delay_s=0)
    sender = FakeSender()
    final = run(Outbox(store, sender).execute(action_id))
    assert final.status is ActionStatus.EXECUTED and len(sender.sent) == 1
    assert store.audit.verify() == []


# -- a keyed home whose keyring is locked ----------------------------------------------------
class LockedSecrets(SecretStore):
    @property
    def secure(self) -> bool:
        return True

    def read_keyring(self, name: str) -> str | None:
        raise SecretError("the keyring (test) is locked: unlock your keyring and try again",
                          locked=True)


def _keyed_home(tmp_path: Path) -> tuple[Path, Path]:
    marker, head = tmp_path / "config" / "trust.json", tmp_path / "audit-head.json"
    marker.parent.mkdir()
    marker.write_text(json.dumps({"key_id": T.key_id(KEY), "keyed_entry": 1}))
    return marker, head


def test_a_keyed_home_with_a_locked_keyring_refuses_to_approve_or_execute(
    tmp_path: Path,
) -> None:
    marker, head = _keyed_home(tmp_path)
    keyed = Store(connect(tmp_path / "solodesk.db"),
                  trust=Trust(key=KEY, head_path=head))
    action_id = propose(keyed)
    keyed.actions.approve(action_id)
    pending = propose(keyed, 2)
    keyed.close()

    store = Store(connect(tmp_path / "solodesk.db"),
                  trust=Trust(marker_path=marker, head_path=head, secrets=LockedSecrets()))
    try:
        with pytest.raises(TrustUnavailable, match="unlock your keyring"):
            store.actions.approve(pending)
        assert store.actions.get(pending).status is ActionStatus.PENDING
        sender = FakeSender()
        with pytest.raises(TrustUnavailable, match="unlock your keyring"):
            run(Outbox(store, sender).execute(action_id))
        assert sender.sent == []
        assert store.actions.get(action_id).status is ActionStatus.APPROVED  # nothing lost
        status = store.trust.status()
        assert status.keyed and not status.available
        assert "locked" in status.message
        assert any("cannot check the MACs" in p for p in store.audit.verify())
    finally:
        store.close()


def test_removing_mac_columns_cannot_downgrade_a_keyed_home(tmp_path: Path) -> None:
    marker, head = _keyed_home(tmp_path)
    keyed = Store(connect(tmp_path / "solodesk.db"), trust=Trust(key=KEY, head_path=head))
    action_id = propose(keyed)
    keyed.actions.approve(action_id)
    with keyed.db.conn:  # the attacker blanks every MAC in the database
        keyed.db.conn.execute("UPDATE actions SET approval_mac = NULL")
        keyed.db.conn.execute("DROP TRIGGER audit_log_no_update")
        keyed.db.conn.execute("UPDATE audit_log SET mac = NULL")
    keyed.close()

    class Secrets(SecretStore):
        @property
        def secure(self) -> bool:
            return True

        def read_keyring(self, name: str) -> str | None:
            return T.encode_key(KEY)

    store = Store(connect(tmp_path / "solodesk.db"),
                  trust=Trust(marker_path=marker, head_path=head, secrets=Secrets()))
    try:
        assert store.trust.keyed  # the marker outside the database decides
        assert "entry 1: no MAC (written without this home's key)" in store.audit.verify()
        final = run(Outbox(store, FakeSender()).execute(action_id))
        assert final.status is ActionStatus.FAILED
    finally:
        store.close()


def test_an_unkeyed_home_says_so(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "solodesk.db"),
                  trust=Trust(marker_path=tmp_path / "trust.json", head_path=tmp_path / "h.json",
                              secrets=None))
    try:
        action_id = propose(store)
        store.actions.approve(action_id)
        assert store.actions.get(action_id).approval_mac is None
        report = store.audit.verify_report()
        assert report.problems == [] and not report.keyed
        assert "NOT keyed" in report.note
        assert run(Outbox(store, FakeSender()).execute(action_id)).status is (
            ActionStatus.EXECUTED)
    finally:
        store.close()
