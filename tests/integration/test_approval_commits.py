"""How many durable writes an approval sent at once costs (issue 9): counted through the
connection's statement trace and the chain-head writes, never timed.

Exactly-once needs two: the claim committed before SMTP (so a crash during the send is never
re-sent) and the outcome after it. The approval is committed in the claim's transaction."""

from __future__ import annotations

from typing import Any

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from solodesk.store import trust as trust_module
from tests.support.helpers import propose_email
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration


def test_an_approval_sent_now_commits_twice(
    services: Services, smtp_server: SmtpSink, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = propose_email(services.store, reply=False)
    events: list[str] = []
    conn = services.store.db.conn

    def trace(statement: str) -> None:
        word = statement.strip().split(None, 1)[0].upper() if statement.strip() else ""
        if word in ("BEGIN", "COMMIT"):
            # What the SMTP server had received when the transaction ended.
            events.append(f"{word} after {len(smtp_server.messages)} delivered")

    real_write = trust_module.write_json_atomic
    heads: list[int] = []

    def counting_write(path: Any, data: dict[str, Any]) -> None:
        heads.append(int(data["id"]))
        real_write(path, data)

    monkeypatch.setattr(trust_module, "write_json_atomic", counting_write)
    conn.set_trace_callback(trace)
    try:
        final = run(services.runner.approve(action.id))
    finally:
        conn.set_trace_callback(None)

    assert final.status is ActionStatus.EXECUTED and len(smtp_server.messages) == 1
    commits = [e for e in events if e.startswith("COMMIT")]
    print(f"commits per approval: {len(commits)}; chain-head writes: {len(heads)}; {events}")
    # One commit holds the approval and the claim (before DATA), one the outcome (after).
    assert commits == ["COMMIT after 0 delivered", "COMMIT after 1 delivered"]
    assert len(heads) == 2
    log = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert log == ["proposed", "approved", "claimed", "executed"]
    assert services.store.audit.verify() == []


def test_an_approval_with_an_undo_window_is_committed_on_its_own(
    services: Services, smtp_server: SmtpSink, run: Any
) -> None:
    action = propose_email(services.store, reply=False)
    scheduled = run(services.runner.approve(action.id, delay_s=60))
    assert scheduled.status is ActionStatus.SCHEDULED
    assert services.store.actions.owner(action.id) is None
    assert smtp_server.messages == []


def test_when_a_send_cannot_start_the_approval_stands_as_before(
    services: Services, smtp_server: SmtpSink, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks before a claim (here: no disk space) refuse the send; the approval is still
    recorded (approved, not claimed), to be sent once there is room, as before the merge."""
    from solodesk.store.reserve import DiskReserve, NoSpace

    def no_space(self: DiskReserve, what: str = "a send") -> None:
        raise NoSpace(f"no room for {what}")

    monkeypatch.setattr(DiskReserve, "check", no_space)
    action = propose_email(services.store, reply=False)
    with pytest.raises(NoSpace):
        run(services.runner.approve(action.id))
    stored = services.store.actions.get(action.id)
    assert stored.status is ActionStatus.APPROVED
    assert services.store.actions.owner(action.id) is None
    assert smtp_server.messages == []
    log = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert log == ["proposed", "approved"]

    monkeypatch.undo()
    final = run(services.runner.execute_approved(action.id))
    assert final.status is ActionStatus.EXECUTED and len(smtp_server.messages) == 1
