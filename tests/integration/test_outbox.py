"""Approval to SMTP: a real aiosmtpd server receives exactly the approved mail, exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from solodesk.actions.outbox import NotClaimed
from solodesk.agents.runner import ApprovalRefused
from solodesk.core.actions import Action, ActionStatus, InvalidTransition, payload_sha256
from solodesk.core.events import ActionResolved
from solodesk.services import Services
from tests.support.helpers import MARTA_ID, collect, dead_owner, import_sample, propose_email
from tests.support.net import free_port
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.smtp_server import ReceivedMail, SmtpSink

pytestmark = pytest.mark.integration


def assert_mail_equals_payload(mail: ReceivedMail, payload: Mapping[str, Any]) -> None:
    msg = mail.message
    assert msg["From"] == "Ada Founder <ada@solodesk.example>"
    assert msg["To"] == ", ".join(payload["to"])
    assert (msg["Cc"] or "") == ", ".join(payload.get("cc", []))
    assert msg["Subject"] == payload["subject"]
    assert msg["Message-ID"] == payload["message_id"]
    if "in_reply_to" in payload:
        assert msg["In-Reply-To"] == payload["in_reply_to"]
        assert msg["References"] == " ".join(payload["references"])
    else:
        assert msg["In-Reply-To"] is None and msg["References"] is None
    # On the wire every line ends in CRLF (RFC 5322 section 2.1).
    body = msg.get_content().replace("\r\n", "\n")
    assert body.rstrip("\n") == payload["body"].rstrip("\n")
    assert mail.mail_from == "ada@solodesk.example"
    expected_rcpts = [a.split("<")[-1].rstrip(">") for a in payload["to"] + payload["cc"]]
    assert list(mail.rcpt_tos) == expected_rcpts


def test_approve_sends_exactly_the_payload_once(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    resolved = collect(services, ActionResolved)

    final = run(services.runner.approve(action.id))

    assert final.status is ActionStatus.EXECUTED
    assert final.result is not None and final.result["status"] == "sent"
    assert final.executed_at is not None
    (mail,) = smtp_server.messages
    assert_mail_equals_payload(mail, action.payload)
    assert [(e.action_id, e.status) for e in resolved] == [
        (action.id, "approved"),
        (action.id, "executed"),
    ]
    log = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert log == ["proposed", "approved", "claimed", "executed"]
    assert services.store.audit.verify() == []

    with pytest.raises(InvalidTransition):
        run(services.runner.approve(action.id))
    with pytest.raises(NotClaimed):
        run(services.outbox.execute(action.id))
    assert len(smtp_server.messages) == 1


def test_new_email_from_chat_has_no_thread_headers(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store, reply=False, cc=[])
    assert run(services.runner.approve(action.id)).status is ActionStatus.EXECUTED
    (mail,) = smtp_server.messages
    assert_mail_equals_payload(mail, action.payload)


def test_triaged_then_edited_reply_sends_the_edited_payload(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run
) -> None:
    import_sample(services.store)
    openai_server.reply_tool(
        "propose_reply", {"body": "Hi Marta, of course, full refund today!", "cc": []}
    )
    report = run(services.runner.triage(limit=1))
    original = services.store.actions.get(report.outcomes[0].action_id)

    edited_payload = {
        **original.payload,
        "cc": ["Bookkeeping <books@inkwell.example>"],
        "body": "Hi Marta,\n\nI will check your order INK-2026-10482 and follow up.\n\nAda",
    }
    edited = run(services.runner.edit(original.id, edited_payload))
    assert edited.payload_sha256 == payload_sha256(edited_payload) != original.payload_sha256

    final = run(services.runner.approve(original.id, expected_sha256=edited.payload_sha256))

    assert final.status is ActionStatus.EXECUTED
    (mail,) = smtp_server.messages
    assert_mail_equals_payload(mail, edited_payload)
    assert "full refund" not in mail.raw.decode()
    assert mail.message["In-Reply-To"] == MARTA_ID
    entries = {e["event"]: json.loads(e["detail"]) for e in services.store.audit.entries(
        action_id=original.id)}
    assert entries["edited"]["old_sha256"] == original.payload_sha256
    assert entries["edited"]["new_sha256"] == edited.payload_sha256
    assert "+ \"body\": \"Hi Marta,\\n\\nI will check" in entries["edited"]["diff"]
    assert entries["approved"]["approved_sha256"] == payload_sha256(edited_payload)


def test_invalid_edit_is_refused_and_nothing_changes(services: Services, run) -> None:
    action = propose_email(services.store)
    with pytest.raises(ValueError, match="to: 'marta' is not a valid email address"):
        run(services.runner.edit(action.id, {**action.payload, "to": ["marta"]}))
    assert services.store.actions.get(action.id).payload == action.payload


def test_concurrent_approvals_send_once(services: Services, smtp_server: SmtpSink, run) -> None:
    action = propose_email(services.store)

    async def both() -> list[Action | BaseException]:
        return await asyncio.gather(
            services.runner.approve(action.id),
            services.runner.approve(action.id),
            return_exceptions=True,
        )

    results = run(both())
    executed = [r for r in results if isinstance(r, Action)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(executed) == 1 and executed[0].status is ActionStatus.EXECUTED
    assert len(refused) == 1 and isinstance(refused[0], InvalidTransition)
    assert len(smtp_server.messages) == 1


def test_concurrent_executes_send_once(services: Services, smtp_server: SmtpSink, run) -> None:
    action = propose_email(services.store)
    services.store.actions.approve(action.id)

    async def both() -> list[Action | BaseException]:
        return await asyncio.gather(
            services.outbox.execute(action.id),
            services.outbox.execute(action.id),
            return_exceptions=True,
        )

    results = run(both())
    assert sum(isinstance(r, Action) for r in results) == 1
    assert sum(isinstance(r, NotClaimed) for r in results) == 1
    assert len(smtp_server.messages) == 1


def test_payload_changed_after_approval_is_not_sent(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    approved = services.store.actions.approve(action.id)
    tampered = {**action.payload, "to": ["Mallory <mallory@evil.example>"]}
    with services.store.db.conn:
        services.store.db.execute(
            "UPDATE actions SET payload = ? WHERE id = ?", [json.dumps(tampered), action.id]
        )

    final = run(services.outbox.execute(action.id))

    assert final.status is ActionStatus.FAILED
    assert final.result is not None
    assert "differs from what was approved" in final.result["detail"]
    assert final.result["approved_sha256"] == approved.approved_sha256
    assert final.result["actual_sha256"] == payload_sha256(tampered)
    assert smtp_server.messages == []
    events_logged = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert events_logged[-1] == "hash_mismatch"


def test_smtp_down_fails_definitely_then_reapproval_sends_once(
    services: Services, run
) -> None:
    port = free_port()  # nothing listens here
    services.config.set("smtp.port", str(port))
    action = propose_email(services.store)

    failed = run(services.runner.approve(action.id))

    assert failed.status is ActionStatus.FAILED  # definitely not sent, may be approved again
    assert failed.result is not None and "cannot connect to 127.0.0.1" in failed.result["detail"]

    sink = SmtpSink(port=port).start()
    try:
        final = run(services.runner.approve(action.id))
        assert final.status is ActionStatus.EXECUTED
        (mail,) = sink.messages
        assert_mail_equals_payload(mail, action.payload)
        with pytest.raises(InvalidTransition):
            run(services.runner.approve(action.id))
        assert len(sink.messages) == 1
    finally:
        sink.stop()
    log = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert log == [
        "proposed", "approved", "claimed", "execution_failed", "approved", "claimed", "executed",
    ]


def test_smtp_not_configured_refuses_the_approval_and_keeps_it_pending(
    services: Services, run
) -> None:
    # Issue 7: approval is refused up front when sending cannot work (it used to be accepted
    # and then fail).
    services.config.set("smtp.host", "")
    action = propose_email(services.store)
    with pytest.raises(ApprovalRefused, match="smtp.host"):
        run(services.runner.approve(action.id))
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING
    events = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert "approved" not in events


def test_smtp_not_configured_fails_without_sending_when_approved_by_a_rule(
    services: Services, run
) -> None:
    # A policy rule approves through the store, not the founder's approval path: the outbox
    # still refuses to send and says which setting is missing.
    services.config.set("smtp.host", "")
    action = propose_email(services.store)
    services.store.actions.approve(action.id, actor="policy rule #1")
    final = run(services.runner.execute_approved(action.id))
    assert final.status is ActionStatus.FAILED
    assert "smtp.host" in (final.result or {}).get("detail", "")


def test_rejected_proposal_is_never_sent(services: Services, smtp_server: SmtpSink, run) -> None:
    action = propose_email(services.store)
    rejected = run(services.runner.reject(action.id, reason="I will call her instead"))
    assert rejected.status is ActionStatus.REJECTED
    with pytest.raises(InvalidTransition):
        run(services.runner.approve(action.id))
    assert smtp_server.messages == []


def test_restart_after_crash_mid_send_marks_unknown_and_never_resends(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    services.store.actions.approve(action.id)
    # Claimed by a process that then died (its owner record no longer matches a live process).
    assert services.store.actions.claim(action.id, owner=dead_owner()) is not None
    assert services.outbox.reconcile() == [action.id]
    assert services.store.actions.get(action.id).status is ActionStatus.UNKNOWN
    with pytest.raises(InvalidTransition):
        run(services.runner.approve(action.id))
    with pytest.raises(NotClaimed):
        run(services.outbox.execute(action.id))
    assert smtp_server.messages == []


def test_undo_window_cancel_sends_nothing_then_approval_sends_once(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)

    scheduled = run(services.runner.approve(action.id, delay_s=3600))

    assert scheduled.status is ActionStatus.SCHEDULED
    assert scheduled.send_at is not None
    assert scheduled.approved_sha256 == action.payload_sha256
    assert run(services.runner.run_due()) == []  # not due for an hour
    with pytest.raises(NotClaimed):
        run(services.outbox.execute(action.id))  # the outbox will not jump the window
    assert services.store.actions.get(action.id).status is ActionStatus.SCHEDULED
    assert services.store.actions.due(now=scheduled.send_at) == [action.id]

    cancelled = run(services.runner.cancel(action.id))
    assert cancelled.status is ActionStatus.PENDING
    assert cancelled.approved_sha256 is None and cancelled.send_at is None
    assert services.store.actions.due(now="9999-12-31T00:00:00.000000Z") == []
    assert smtp_server.messages == []

    final = run(services.runner.approve(action.id))
    assert final.status is ActionStatus.EXECUTED
    assert len(smtp_server.messages) == 1
    with pytest.raises(InvalidTransition):
        run(services.runner.cancel(action.id))
    log = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert log[:3] == ["proposed", "approved", "approval_cancelled"]
    assert log[-1] == "executed" and log.count("executed") == 1


def test_approved_action_is_sent_by_run_due_exactly_once(
    services: Services, smtp_server: SmtpSink, run
) -> None:
    action = propose_email(services.store)
    services.store.actions.approve(action.id)  # e.g. approved just before a restart

    async def twice() -> list[list[Action]]:
        return list(await asyncio.gather(services.runner.run_due(), services.runner.run_due()))

    first, second = run(twice())
    assert [a.id for a in first + second] == [action.id]
    assert len(smtp_server.messages) == 1
    assert run(services.runner.run_due()) == []
