"""Store side of IMAP sync state and scheduled jobs (a real SQLite file, no network)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.connectors.mailimport import parse_message
from solodesk.store.db import connect
from solodesk.store.imapstate import StaleSyncState, SyncedMessage
from solodesk.store.jobs import JobExists, JobNotFound
from solodesk.store.owner import Owner
from solodesk.store.repos import Store
from tests.support.helpers import dead_owner
from tests.support.imap_server import sample_message

ACCOUNT = "ada@imap.example:993"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    try:
        yield s
    finally:
        s.close()


def message(uid: int, n: int | None = None) -> SyncedMessage:
    row, reason = parse_message(sample_message(n if n is not None else uid))
    assert row is not None, reason
    return SyncedMessage(uid=uid, message_id=str(row["message_id"]), flags="\\Seen", row=row)


def src(*uids: int) -> dict[int, str]:
    return {u: f"imap://ada@imap.example:993/INBOX;UIDVALIDITY=7/;UID={u}" for u in uids}


def test_migrations_ship_the_useful_jobs_disabled(store: Store) -> None:
    jobs = store.jobs.all()
    assert [(j.name, j.schedule, j.kind, j.enabled) for j in jobs] == [
        ("invoice-reminders", "0 9 * * *", "invoice_reminders", False),
        ("morning-mail", "0 7 * * *", "mail_triage", False),
        ("weekly-books", "0 8 * * 1", "bookkeeping", False),
    ]
    assert all(j.enabled_since is None for j in jobs)


def _undo_m010(path: Path) -> None:
    """Put a database back to before ``m010_jobs11_agent_jobs`` (as an older release left it)."""
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm010_jobs11_agent_jobs'")
        conn.execute("DROP TABLE budget_warnings")
        conn.execute("DELETE FROM jobs WHERE name IN ('weekly-books', 'invoice-reminders')")
        conn.execute("UPDATE jobs SET kind = 'mail_sync', note = 'Fetch new mail from the IMAP"
                     " folders every morning' WHERE name = 'morning-mail'")
    conn.close()


def test_the_upgrade_turns_the_untouched_morning_job_into_triage(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connect(path).close()
    _undo_m010(path)
    store = Store(connect(path))
    try:
        assert store.jobs.get("morning-mail").kind == "mail_triage"
        assert {j.name for j in store.jobs.all()} == {
            "morning-mail", "weekly-books", "invoice-reminders"}
    finally:
        store.close()


def test_the_upgrade_keeps_a_morning_job_the_founder_turned_on(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connect(path).close()
    _undo_m010(path)
    old = Store(connect(path))  # m010 runs here: undo it again, after the founder's change
    old.close()
    _undo_m010(path)
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:  # what 'solodesk jobs enable morning-mail' then 'disable' left
        conn.execute("UPDATE jobs SET enabled_since = '2026-11-01T07:00:00.000000Z',"
                     " updated_at = '2026-11-02T07:00:00.000000Z' WHERE name = 'morning-mail'")
        conn.execute("INSERT INTO jobs (name, schedule, kind, note, created_at, updated_at)"
                     " VALUES ('weekly-books', '@daily', 'mail_sync', 'mine', 'x', 'x')")
    conn.close()
    store = Store(connect(path))
    try:
        assert store.jobs.get("morning-mail").kind == "mail_sync"
        mine = store.jobs.get("weekly-books")  # the founder's own job of that name stays
        assert (mine.schedule, mine.kind, mine.note) == ("@daily", "mail_sync", "mine")
        assert store.jobs.get("invoice-reminders").kind == "invoice_reminders"
    finally:
        store.close()


def test_budget_warnings_are_recorded_once_per_scope_and_period(store: Store) -> None:
    first = store.budget_warnings.record("daily", "2026-11-16", limit_usd=1.0, spent_usd=0.8,
                                         message="80% of the daily budget")
    again = store.budget_warnings.record("daily", "2026-11-16", limit_usd=1.0, spent_usd=0.9,
                                         message="90% of the daily budget")
    next_day = store.budget_warnings.record("daily", "2026-11-17", limit_usd=1.0,
                                            spent_usd=0.85, message="85%")
    assert (first, again, next_day) == (True, False, True)
    given = store.budget_warnings.given("daily", "2026-11-16")
    assert given is not None and given.message == "80% of the daily budget"
    assert [w.period for w in store.budget_warnings.recent()] == ["2026-11-17", "2026-11-16"]


def test_a_job_budget_can_be_set_and_cleared(store: Store) -> None:
    assert store.jobs.set_budget("morning-mail", 0.25).budget_usd == 0.25
    assert store.jobs.set_budget("morning-mail", None).budget_usd is None
    with pytest.raises(ValueError, match="0 or more"):
        store.jobs.set_budget("morning-mail", -1)


def test_a_batch_stores_mail_and_advances_last_uid_together(store: Store) -> None:
    state = store.imap.start_folder(ACCOUNT, "INBOX", 7)
    assert (state.uidvalidity, state.last_uid, state.synced_at) == (7, 0, None)
    result = store.imap.commit_batch(
        ACCOUNT, "INBOX", 7, [message(1), message(2), message(4)], source=src(1, 2, 4)
    )
    assert len(result.new) == 3 and result.skipped == 0
    assert store.imap.folder(ACCOUNT, "INBOX").last_uid == 4
    mail = store.mail.get(result.new[2])
    assert mail.source == src(4)[4]
    assert mail.subject == "Question number 4"
    (loc,) = store.imap.locate(mail.message_id)
    assert (loc.folder, loc.uid, loc.mail_id, loc.flags) == ("INBOX", 4, mail.id, "\\Seen")


def test_nothing_is_stored_twice(store: Store) -> None:
    store.imap.start_folder(ACCOUNT, "INBOX", 7)
    store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(1), message(2)], source=src(1, 2))
    # Same UIDs again (a batch retried after a lost connection): skipped by UID.
    again = store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(1), message(2)],
                                    source=src(1, 2))
    assert (again.new, again.skipped) == ([], 2)
    # The same message under another UID (copied on the server): skipped by Message-ID, mapped.
    copy = store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(9, n=1)], source=src(9))
    assert (copy.new, copy.skipped) == ([], 1)
    assert store.mail.count() == 2
    assert [loc.uid for loc in store.imap.locate("<msg-1.inbox@customer.example>")] == [1, 9]


def test_messages_in_error_are_recorded_and_not_retried(store: Store) -> None:
    store.imap.start_folder(ACCOUNT, "INBOX", 7)
    bad = SyncedMessage(uid=3, message_id="", error="missing or invalid From header")
    result = store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(1), bad], source=src(1))
    assert (len(result.new), result.errors) == (1, 1)
    assert store.imap.folder(ACCOUNT, "INBOX").last_uid == 3
    assert store.imap.count(ACCOUNT, "INBOX") == 2


def test_uidvalidity_change_restarts_the_folder_and_forgets_old_uids(store: Store) -> None:
    store.imap.start_folder(ACCOUNT, "INBOX", 7)
    store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(1), message(2)], source=src(1, 2))
    store.imap.finish_folder(ACCOUNT, "INBOX", 7, highestmodseq=40, last_uid=2)
    state = store.imap.start_folder(ACCOUNT, "INBOX", 8)
    assert (state.uidvalidity, state.last_uid, state.highestmodseq) == (8, 0, None)
    assert store.imap.locate("<msg-1.inbox@customer.example>") == []
    # A batch under the old UIDVALIDITY is refused (nothing written).
    with pytest.raises(StaleSyncState, match="changed UIDVALIDITY"):
        store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(3)], source=src(3))
    assert store.mail.count() == 2
    # The resync maps the old mail under the new UIDs without storing it again.
    result = store.imap.commit_batch(ACCOUNT, "INBOX", 8, [message(5, n=1), message(6, n=2)],
                                     source=src(5, 6))
    assert (result.new, result.skipped) == ([], 2)
    assert [loc.uid for loc in store.imap.locate("<msg-1.inbox@customer.example>")] == [5]


def test_last_uid_never_moves_backwards(store: Store) -> None:
    store.imap.start_folder(ACCOUNT, "INBOX", 7)
    store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(10)], source=src(10))
    store.imap.commit_batch(ACCOUNT, "INBOX", 7, [message(4)], source=src(4))
    store.imap.finish_folder(ACCOUNT, "INBOX", 7, highestmodseq=None, last_uid=6)
    state = store.imap.folder(ACCOUNT, "INBOX")
    assert state.last_uid == 10 and state.synced_at is not None


def test_jobs_add_enable_and_errors(store: Store) -> None:
    job = store.jobs.add("hourly", schedule="every 1h", kind="mail_sync")
    assert job.enabled is False and job.enabled_since is None
    with pytest.raises(JobExists, match="'hourly' already exists"):
        store.jobs.add("hourly", schedule="@daily", kind="mail_sync")
    with pytest.raises(JobNotFound, match=r"no job called 'nope' \(jobs: hourly, "
                       r"invoice-reminders, morning-mail, weekly-books\)"):
        store.jobs.get("nope")
    on = store.jobs.set_enabled("hourly", True, now="2026-11-16T08:00:00.000000Z")
    assert on.enabled and on.enabled_since == "2026-11-16T08:00:00.000000Z"
    off = store.jobs.set_enabled("hourly", False, now="2026-11-16T09:00:00.000000Z")
    assert not off.enabled and off.enabled_since == "2026-11-16T08:00:00.000000Z"
    assert [j.name for j in store.jobs.all()] == [
        "hourly", "invoice-reminders", "morning-mail", "weekly-books"]


def test_the_insert_is_the_claim(store: Store) -> None:
    job = store.jobs.add("hourly", schedule="every 1h", kind="mail_sync", enabled=True)
    first = store.jobs.claim(job, "2026-11-16T08:00:00Z")
    assert first is not None and first.outcome == "running"
    owner = Owner.from_json(first.owner)  # this process, as store.owner records it
    assert owner is not None and owner.pid == os.getpid() and owner.host == socket.gethostname()
    assert store.jobs.claim(job, "2026-11-16T08:00:00Z") is None
    assert store.jobs.running(job)
    done = store.jobs.finish(first.id, outcome="done", detail="INBOX: new 1", proposals=2,
                             tokens_in=10, tokens_out=5, cost_usd=0.25)
    assert (done.outcome, done.proposals, done.tokens_in, done.cost_usd) == ("done", 2, 10, 0.25)
    assert done.ended_at is not None
    # finish only changes a running run.
    assert store.jobs.finish(first.id, outcome="failed").outcome == "done"
    manual = store.jobs.claim(job, "manual:2026-11-16T09:30:00.000000Z", trigger="manual")
    assert manual is not None
    assert store.jobs.last_slot(job) == "2026-11-16T08:00:00Z"  # manual runs do not count
    assert [r.id for r in store.jobs.history("hourly")] == [manual.id, first.id]
    assert store.jobs.last_run(job).id == manual.id


def test_reconcile_marks_runs_of_dead_processes_interrupted(store: Store) -> None:
    job = store.jobs.add("hourly", schedule="every 1h", kind="mail_sync", enabled=True)
    dead = store.jobs.claim(job, "2026-11-16T08:00:00Z")
    alive = store.jobs.claim(job, "2026-11-16T09:00:00Z")
    assert dead is not None and alive is not None
    store.db.execute(
        "UPDATE job_runs SET owner = ? WHERE id = ?", [dead_owner().to_json(), dead.id]
    )
    assert store.jobs.reconcile() == [dead.id]
    assert store.jobs.run(dead.id).outcome == "interrupted"
    assert "stopped while this job was running" in store.jobs.run(dead.id).detail
    assert store.jobs.run(alive.id).outcome == "running"


def test_reconcile_keeps_runs_of_live_processes(store: Store) -> None:
    job = store.jobs.add("hourly", schedule="every 1h", kind="mail_sync", enabled=True)
    mine = store.jobs.claim(job, "2026-11-16T08:00:00Z")
    assert mine is not None
    assert store.jobs.reconcile() == []  # this process is alive
    assert store.jobs.run(mine.id).outcome == "running"
    # Owned by this process's pid with another start time: a reused pid, the owner is gone.
    store.db.execute(
        "UPDATE job_runs SET owner = ? WHERE id = ?", [dead_owner().to_json(), mine.id]
    )
    assert store.jobs.reconcile() == [mine.id]
    assert store.jobs.run(mine.id).outcome == "interrupted"
    assert not store.jobs.running(job)


def test_a_running_job_of_another_machine_lives_by_its_lease(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine sharing the home: its run is alive while its lease is renewed
    (JobRepo.lease, the heartbeat of store.owner), and taken for abandoned once it expired."""
    import time
    from dataclasses import replace

    from solodesk.core.actions import utcnow
    from solodesk.store import owner as owner_mod

    job = store.jobs.add("hourly", schedule="every 1h", kind="mail_sync", enabled=True)
    elsewhere = replace(Owner.current(), host="laptop", lease_until=utcnow(-5))
    run = store.jobs.claim(job, "2026-11-16T08:00:00Z", owner=elsewhere)
    assert run is not None and not store.jobs.running(job)  # its lease has expired
    real = owner_mod.kept_alive
    monkeypatch.setattr("solodesk.store.jobs.kept_alive", lambda renew: real(renew, every_s=0.05))
    with store.jobs.lease(run.id, elsewhere):
        deadline = time.monotonic() + 30  # a deadline, not a measurement
        while not store.jobs.running(job):
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.02)
    assert store.jobs.reconcile() == []  # renewed: not abandoned
