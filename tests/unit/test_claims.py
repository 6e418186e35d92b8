"""Claims with an owner, write transactions that take the lock up front, triage claims.

Several processes share one home (the window, the command line). These tests use several
connections, threads and child processes on one database file.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from solodesk.core.actions import ActionStatus, InvalidTransition, Provenance, utcnow
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.runs import RunStatus
from solodesk.store import db as dbmod
from solodesk.store.db import StoreBusy, connect
from solodesk.store.owner import Owner, owner_alive, process_start
from solodesk.store.repos import Store, TriageClaimLost

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="owner checks by /proc are Linux-only"
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "solodesk.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(connect(db_path))
    yield s
    s.close()


def propose(store: Store, n: int = 1) -> int:
    mid = f"<claim-{n}@solodesk.example>"
    return store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": ["c@example.com"], "cc": [], "subject": f"S {n}", "body": "Hi.\n",
                 "message_id": mid},
        agent="manager",
        summary=f"S {n}",
        provenance=Provenance("chat", 1),
        idempotency_key=mid,
    ).id


def exited_child_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- who is alive ------------------------------------------------------------------------------
def test_this_process_is_alive_with_its_start_time() -> None:
    me = Owner.current()
    assert me.start and me.start == process_start(me.pid)
    assert owner_alive(me)
    assert owner_alive(Owner.from_json(me.to_json()))


def test_same_pid_with_another_start_time_is_gone() -> None:
    me = Owner.current()
    assert not owner_alive(replace(me, start=str(int(me.start) + 1)))


def test_a_pid_that_no_longer_exists_is_gone() -> None:
    me = Owner.current()
    gone = replace(me, pid=exited_child_pid(), start="1")
    assert process_start(gone.pid) is None
    assert not owner_alive(gone)


def test_another_boot_is_gone() -> None:
    me = Owner.current()
    if not me.boot:
        pytest.skip("no boot id on this system")
    assert not owner_alive(replace(me, boot="0" * 36))


def test_other_host_or_no_proc_falls_back_to_the_lease() -> None:
    me = Owner.current()
    elsewhere = replace(me, host=me.host + "-elsewhere", lease_until=utcnow(60))
    assert owner_alive(elsewhere)
    assert not owner_alive(replace(elsewhere, lease_until=utcnow(-1)))
    no_proc = replace(me, start="", lease_until=utcnow(-1))  # e.g. macOS: the lease decides
    assert not owner_alive(no_proc)
    assert owner_alive(replace(no_proc, lease_until=utcnow(60)))


def test_missing_or_malformed_owner_is_gone() -> None:
    assert not owner_alive(None)
    assert Owner.from_json("{not json") is None
    assert Owner.from_json('{"pid": 1}') is None


# -- reconcile ---------------------------------------------------------------------------------
def test_reconcile_leaves_a_live_send_alone_and_its_outcome_is_recorded(
    db_path: Path, store: Store
) -> None:
    """The issue's case: another process starts (and reconciles) while this one is sending;
    the server then answers 550. Before owners, reconcile marked the live send unknown and
    recording the 550 crashed ("action 1 is unknown; it cannot become failed")."""
    action_id = propose(store)
    store.actions.approve(action_id)
    sender = Owner.current()
    assert store.actions.claim(action_id, owner=sender) is not None

    other = Store(connect(db_path))  # the second process (the GUI, or another command)
    try:
        assert other.actions.reconcile() == []
        assert other.actions.get(action_id).status is ActionStatus.EXECUTING
    finally:
        other.close()

    final = store.actions.finish(
        action_id, ActionStatus.FAILED, owner=sender, event="execution_failed",
        result={"status": "failed", "detail": "550 mailbox unavailable; nothing was sent"},
    )
    assert final.status is ActionStatus.FAILED
    assert final.result == {"status": "failed",
                            "detail": "550 mailbox unavailable; nothing was sent"}


def test_reconcile_takes_a_claim_whose_owner_is_gone(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    me = Owner.current()
    dead = replace(me, pid=exited_child_pid(), start="1")
    store.actions.claim(action_id, owner=dead)
    assert store.actions.reconcile() == [action_id]
    a = store.actions.get(action_id)
    assert a.status is ActionStatus.UNKNOWN
    assert f"process {dead.pid}" in a.result["detail"]
    assert store.actions.reconcile() == []


def test_only_the_claims_owner_can_finish_it(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    owner = Owner.current()
    store.actions.claim(action_id, owner=owner)
    with pytest.raises(InvalidTransition):
        store.actions.finish(action_id, ActionStatus.EXECUTED, owner=Owner.current(),
                             event="executed", result={"status": "sent", "detail": ""})
    assert store.actions.get(action_id).status is ActionStatus.EXECUTING


def test_an_owner_records_its_outcome_even_after_being_reported_unknown(store: Store) -> None:
    # E.g. a frozen laptop: another host's process saw the lease expire and reported it.
    action_id = propose(store)
    store.actions.approve(action_id)
    owner = replace(Owner.current(), host="laptop", lease_until=utcnow(-5))
    store.actions.claim(action_id, owner=owner)
    assert store.actions.reconcile() == [action_id]
    final = store.actions.finish(action_id, ActionStatus.EXECUTED, owner=owner,
                                 event="executed", result={"status": "sent", "detail": "250"})
    assert final.status is ActionStatus.EXECUTED
    assert final.result["was_reported_unknown"] is True


def test_renewing_the_lease_keeps_the_claim(store: Store) -> None:
    action_id = propose(store)
    store.actions.approve(action_id)
    owner = replace(Owner.current(), host="laptop", lease_until=utcnow(-5))
    store.actions.claim(action_id, owner=owner)
    renewed = store.actions.renew_claim(action_id, owner)
    assert renewed.lease_until > owner.lease_until
    assert store.actions.owner(action_id) == renewed
    assert store.actions.reconcile() == []


def test_the_heartbeat_renews_the_lease_from_its_own_thread_and_connection(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from solodesk.store import owner as owner_mod

    action_id = propose(store)
    store.actions.approve(action_id)
    owner = replace(Owner.current(), host="laptop", lease_until=utcnow(-5))
    store.actions.claim(action_id, owner=owner)
    real = owner_mod.kept_alive
    monkeypatch.setattr(
        "solodesk.store.repos.kept_alive", lambda renew: real(renew, every_s=0.05)
    )
    with store.actions.lease(action_id, owner):
        deadline = time.monotonic() + 30  # a deadline, not a measurement
        while not owner_alive(store.actions.owner(action_id)):
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.02)
    assert store.actions.owner(action_id).token == owner.token  # type: ignore[union-attr]
    assert store.actions.reconcile() == []


# -- write transactions ------------------------------------------------------------------------
def test_every_write_transaction_begins_immediate(store: Store) -> None:
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        action_id = propose(store, 2)
        store.actions.approve(action_id)
        store.actions.claim(action_id)
        store.mail.set_triage(1, "no_reply", "x")
    finally:
        store.db.conn.set_trace_callback(None)
    begins = [s for s in statements if s.upper().startswith("BEGIN")]
    assert begins and all(s.upper() == "BEGIN IMMEDIATE" for s in begins), begins


def test_books_blobs_and_runs_write_through_the_same_immediate_transactions(store: Store) -> None:
    """The ledger, blob store and runs use ``StoreDatabase.write()`` like the inbox (one lock
    discipline, no second helper)."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        store.ledger.add_account("Expenses:Tools", description="tools")
        store.blobs.put(b"%PDF-1.7 test", media_type="application/pdf")
        run = store.runs.start(agent="support", task="t")
        store.runs.finish(run.id, RunStatus.DONE)
    finally:
        store.db.conn.set_trace_callback(None)
    begins = [s for s in statements if s.upper().startswith("BEGIN")]
    assert len(begins) >= 4 and all(s.upper() == "BEGIN IMMEDIATE" for s in begins), begins


def test_concurrent_read_then_write_transactions_never_hit_a_locked_database(
    db_path: Path,
) -> None:
    """Two connections each approve, claim and finish many actions (read, then write, in one
    transaction). With a deferred BEGIN, a transaction whose read snapshot is stale cannot
    upgrade to a writer and fails at once with "database is locked"."""
    setup = Store(connect(db_path))
    ids = [propose(setup, n) for n in range(200)]
    setup.close()
    errors: list[BaseException] = []
    done: list[int] = []

    def work(mine: list[int]) -> None:
        s = Store(connect(db_path))
        try:
            owner = Owner.current()
            for action_id in mine:
                s.actions.approve(action_id)
                if s.actions.claim(action_id, owner=owner) is not None:
                    s.actions.finish(action_id, ActionStatus.EXECUTED, owner=owner,
                                     event="executed", result={"status": "sent", "detail": ""})
                    done.append(action_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(ids[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nconcurrent transactions: {len(done)} finished, errors={errors[:1]}")
    assert errors == []
    assert sorted(done) == ids


def test_a_lock_held_past_the_busy_timeout_is_a_one_line_store_busy(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)
    holder = Store(connect(db_path))
    waiter = Store(connect(db_path))
    try:
        action_id = propose(holder)
        holder.db.conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreBusy) as caught:
            waiter.actions.approve(action_id)
        message = str(caught.value)
        assert "\n" not in message and "another SoloDesk process" in message
        assert "try" in message or "again" in message
        assert not isinstance(caught.value, sqlite3.OperationalError)
        holder.db.conn.execute("ROLLBACK")
        assert waiter.actions.approve(action_id).status is ActionStatus.APPROVED
    finally:
        holder.close()
        waiter.close()


# -- triage claims -----------------------------------------------------------------------------
def _mail(store: Store) -> int:
    mail_id = store.mail.insert({
        "message_id": "<m1@example.com>", "from_addr": "a@example.com", "reply_to": "",
        "to_addrs": "ada@solodesk.example", "cc_addrs": "", "subject": "Hi", "date": None,
        "in_reply_to": "", "refs": "", "body_text": "Hello", "raw": b"x", "source": "t",
    })
    assert mail_id is not None
    return mail_id


def test_a_mail_is_claimed_for_triage_by_one_run_only(db_path: Path, store: Store) -> None:
    mail_id = _mail(store)
    other = Store(connect(db_path))
    try:
        first = store.mail.claim_for_triage(mail_id)
        assert first is not None
        assert other.mail.claim_for_triage(mail_id) is None
        assert other.mail.untriaged() == []
        assert other.mail.release_stale_triage() == []  # the claimer is alive
        store.mail.set_triage(mail_id, "proposed", "action 1", claim=first)
        assert store.mail.get(mail_id).triage_status == "proposed"
    finally:
        other.close()


def test_a_stale_triage_claim_is_released_and_its_late_result_refused(store: Store) -> None:
    mail_id = _mail(store)
    dead = replace(Owner.current(), pid=exited_child_pid(), start="1")
    assert store.mail.claim_for_triage(mail_id, owner=dead) is not None
    assert store.mail.release_stale_triage() == [mail_id]
    assert [m.id for m in store.mail.untriaged()] == [mail_id]
    fresh = store.mail.claim_for_triage(mail_id)
    assert fresh is not None
    with pytest.raises(TriageClaimLost):
        store.mail.set_triage(mail_id, "proposed", "late", claim=dead)
    store.mail.release_triage(mail_id, fresh)
    assert store.mail.get(mail_id).triage_status == "new"
