"""Mail triage by the support agent, through litellm, against the scripted OpenAI server."""

from __future__ import annotations

import json
import re

import pytest

from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.events import ActionProposed, RunFailed
from solodesk.core.kinds.mail import REPLY_EMAIL
from solodesk.core.llmtypes import LLMError
from solodesk.services import Services
from tests.support.helpers import MARTA_ID, collect, import_sample
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

MSG_ID = re.compile(r"^<[^<>\s@]+@solodesk\.example>$")
REPLY = {"body": "Hi Marta,\n\nAda will look at your refund request and follow up.\n\nAda"}


def test_valid_reply_is_a_pending_threaded_proposal(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    proposed = collect(services, ActionProposed)
    openai_server.reply_tool("propose_reply", REPLY)

    report = run(services.runner.triage(limit=1))

    assert [(o.mail_id, o.status) for o in report.outcomes] == [(1, "proposed")]
    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.kind == REPLY_EMAIL
    assert action.status is ActionStatus.PENDING
    assert action.agent == "support"
    assert action.provenance == Provenance("mail", 1, untrusted=True)
    p = action.payload
    assert p["to"] == ["Marta Kowalski <marta.kowalski@example.com>"]  # defaulted to sender
    assert p["subject"] == "Re: Refund for my annual Pro plan?"  # defaulted
    assert p["body"] == REPLY["body"]
    assert p["in_reply_to"] == MARTA_ID
    assert p["references"] == [MARTA_ID]
    assert MSG_ID.match(p["message_id"])
    assert action.idempotency_key == p["message_id"]  # fixed at proposal time
    assert p["source_mail_id"] == 1
    assert services.store.mail.get(1).triage_status == "proposed"
    assert [e.action_id for e in proposed] == [action.id]

    (request,) = openai_server.chat_requests
    body = request.body or {}
    assert body["model"] == "scripted"
    assert not body.get("stream")
    assert request.tool_names == ["propose_reply", "no_reply_needed"]
    assert body["tool_choice"] == "auto"
    system, user = request.messages[0], request.messages[-1]
    assert system["role"] == "system" and "Inkwell Notes" in system["content"]
    assert "untrusted data" in user["content"] and "order INK-2026-10482" in user["content"]


def test_a_reply_keeps_the_mails_subject_whatever_the_model_writes_there(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    """SmolLM2 put body text in the subject ("Invoice INV-2026-0117 - VAT number missing,
    refundable tax credit 's only can be processed by our company. The refund will..."): a
    reply's subject is the mail's (RFC 5322 3.6.5), and the tool does not offer one."""
    import_sample(services.store)
    openai_server.reply_tool(
        "propose_reply",
        {**REPLY, "subject": "Refund for my annual Pro plan? The refund will include 8% of VAT"},
    )

    report = run(services.runner.triage(limit=1))

    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.payload["subject"] == "Re: Refund for my annual Pro plan?"
    assert "subject" not in (openai_server.chat_requests[0].body or {})["tools"][0]["function"][
        "parameters"]["properties"]


def test_reply_in_a_thread_keeps_the_references(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    ids = import_sample(services.store)
    jonas = services.store.mail.get(ids[5])
    openai_server.reply_tool(
        "propose_reply",
        {
            "to": ["jonas.berg@example.org"],
            "cc": "support@inkwell.example",
            "subject": "Re: Sync fails on Android since update 3.2",
            "body": "Yes please, send the tablet logs.",
        },
    )
    gateway = run(services.runner.gateway())
    outcome = run(services.runner.triage_one(gateway, jonas))
    p = services.store.actions.get(outcome.action_id).payload
    assert p["to"] == ["jonas.berg@example.org"]
    assert p["cc"] == ["support@inkwell.example"]
    assert p["in_reply_to"] == "<5b7e20d4-jonas-reply-2@example.org>"
    assert p["references"] == [
        "<c41e9a07-5d2b-4f8e-9b61-android-sync@example.org>",
        "<20261118.ada.reply.7731@solodesk.example>",
        "<5b7e20d4-jonas-reply-2@example.org>",
    ]


def test_no_reply_needed_records_the_reason_and_no_action(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    ids = import_sample(services.store)
    openai_server.reply_tool("no_reply_needed", {"reason": "Answered by the FAQ page."})
    gateway = run(services.runner.gateway())
    outcome = run(services.runner.triage_one(gateway, services.store.mail.get(ids[2])))
    assert (outcome.status, outcome.action_id) == ("no_reply", None)
    mail = services.store.mail.get(ids[2])
    assert (mail.triage_status, mail.triage_note) == ("no_reply", "Answered by the FAQ page.")
    assert services.store.actions.list() == []
    assert len(openai_server.chat_requests) == 1


def test_automated_mail_needs_no_model_call(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    ids = import_sample(services.store)
    digest = services.store.mail.get(ids[4])  # a newsletter from noreply@example.net
    gateway = run(services.runner.gateway())
    outcome = run(services.runner.triage_one(gateway, digest))
    assert outcome.status == "no_reply"
    assert services.store.mail.get(ids[4]).triage_status == "no_reply"
    assert openai_server.chat_requests == []
    assert services.store.actions.list() == []


@pytest.mark.parametrize(("retries", "requests"), [(None, 3), ("0", 1), ("1", 2)])
def test_invalid_arguments_are_retried_with_the_error_then_recorded_invalid(
    services: Services,
    openai_server: ScriptedOpenAIServer,
    run,
    retries: str | None,
    requests: int,
) -> None:
    if retries is not None:
        services.config.set("llm.validation_retries", retries)
    import_sample(services.store)
    attempts = [
        '{"to": ["not-an-address"], "body": "Hi"}',
        '{"to": ["marta.kowalski@example.com"], "body": "Hi',  # not JSON
        '{"to": ["marta.kowalski@example.com"], "subject": "Re: Refund", "body": "  "}',
    ]
    for raw in attempts:
        openai_server.reply_tool("propose_reply", raw)

    report = run(services.runner.triage(limit=1))

    sent = openai_server.chat_requests
    assert len(sent) == requests
    assert openai_server.remaining == 3 - requests
    outcome = report.outcomes[0]
    assert outcome.status == "invalid"
    action = services.store.actions.get(outcome.action_id)
    assert action.status is ActionStatus.INVALID
    assert action.kind == REPLY_EMAIL
    expected = [
        "attempt 1: to: 'not-an-address' is not a valid email address",
        "attempt 2: the arguments of propose_reply are not valid JSON",
        "attempt 3: body: must not be empty",
    ][:requests]
    assert len(action.errors) == requests
    for error, start in zip(action.errors, expected, strict=True):
        assert error.startswith(start)
    assert action.payload["tool"] == "propose_reply"
    assert action.payload["arguments"] == attempts[requests - 1]  # what the model last said
    assert services.store.mail.get(1).triage_status == "invalid"
    entry = services.store.audit.entries(action_id=action.id)[0]
    assert entry["event"] == "proposal_invalid"
    assert json.loads(entry["detail"])["validation_errors"] == action.errors
    # Each retry sends the previous error back to the model.
    if requests >= 2:
        assert "'not-an-address' is not a valid email address" in sent[1].text()
        assert "'not-an-address' is not a valid email address" not in sent[0].text()
    if requests >= 3:
        assert "not valid JSON" in sent[2].text()
    with pytest.raises(Exception, match="cannot become approved"):
        run(services.runner.approve(action.id))


def test_text_only_replies_count_as_invalid(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    for _ in range(3):
        openai_server.reply_text("Dear Marta, sure, here is your refund!")
    report = run(services.runner.triage(limit=1))
    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.status is ActionStatus.INVALID
    assert [e.split(": ", 1)[1] for e in action.errors] == [
        "no tool was called: call propose_reply or no_reply_needed"
    ] * 3
    assert action.payload == {"tool": None, "text": "Dear Marta, sure, here is your refund!"}
    assert "no tool was called" in openai_server.chat_requests[1].text()


def test_a_corrected_retry_is_proposed_with_the_failed_attempt_audited(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.reply_text("I think we should refund.")
    openai_server.reply_tool("propose_reply", REPLY)
    report = run(services.runner.triage(limit=1))
    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.status is ActionStatus.PENDING
    assert len(openai_server.chat_requests) == 2
    detail = json.loads(services.store.audit.entries(action_id=action.id)[0]["detail"])
    assert detail["validation_errors"] == [
        "attempt 1: no tool was called: call propose_reply or no_reply_needed"
    ]


def test_llm_calls_are_recorded_with_tokens_and_latency(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.reply_tool("propose_reply", '{"to": ["bad"], "body": "x"}')
    openai_server.reply_tool("propose_reply", REPLY)
    run(services.runner.triage(limit=1))
    rows = services.store.llm_calls.all()
    requests = openai_server.chat_requests
    assert len(rows) == len(requests) == 2
    for row, request in zip(rows, requests, strict=True):
        assert request.usage is not None
        assert row["model"] == "openai/scripted"
        assert row["purpose"] == "triage"
        assert row["tokens_in"] == request.usage["prompt_tokens"]
        assert row["tokens_out"] == request.usage["completion_tokens"]
        assert isinstance(row["latency_ms"], int) and row["latency_ms"] >= 0
        assert row["error"] is None
    # The retry carries the whole conversation so far, so it is longer.
    assert rows[1]["tokens_in"] > rows[0]["tokens_in"]


def test_hanging_model_times_out_clearly_and_loses_nothing(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("llm.timeout", "1")
    ids = import_sample(services.store)
    failures = collect(services, RunFailed)
    gateway = run(services.runner.gateway())

    openai_server.hang(60)
    with pytest.raises(LLMError, match=r"did not answer within 1 s.*llm\.timeout"):
        run(services.runner.triage_one(gateway, services.store.mail.get(ids[0])))

    openai_server.hang(60)
    report = run(services.runner.triage())
    # Unreachable model: the run stops at the first mail instead of failing every mail.
    assert [(o.mail_id, o.status) for o in report.outcomes] == [(ids[0], "failed")]
    assert "did not answer within 1 s" in report.outcomes[0].note
    assert len(failures) == 1 and "llm.timeout" in failures[0].message
    assert services.store.actions.list() == []
    assert services.store.mail.get(ids[0]).triage_status == "new"
    assert [m.id for m in services.store.mail.untriaged()][:1] == [ids[0]]
    errors = [r["error"] for r in services.store.llm_calls.all()]
    assert len(errors) == 2 and all("did not answer" in (e or "") for e in errors)

    # The model is back: the same mail is triaged on the next run.
    openai_server.reply_tool("propose_reply", REPLY)
    report = run(services.runner.triage(limit=1))
    assert [(o.mail_id, o.status) for o in report.outcomes] == [(ids[0], "proposed")]


def test_server_error_on_one_mail_does_not_stop_the_others(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    ids = import_sample(services.store)
    openai_server.error(500, "model overloaded")
    openai_server.reply_tool("propose_reply", {"body": "Thanks Jonas, looking into it."})
    report = run(services.runner.triage(limit=2))
    assert [(o.mail_id, o.status) for o in report.outcomes] == [
        (ids[0], "failed"),
        (ids[1], "proposed"),
    ]
    assert "model overloaded" in report.outcomes[0].note
    assert services.store.mail.get(ids[0]).triage_status == "new"  # retried next run
