"""Chat with the manager agent: streamed text and streamed tool calls through litellm."""

from __future__ import annotations

import json

import pytest

from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.events import ChatDelta, ChatFinished, Event
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.services import Services
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

TEXT = "Good morning Ada! You have 3 mails waiting; the refund request looks most urgent."
DRAFT = {
    "to": ["Lukas Meier <lukas.meier@example.com>"],
    "cc": ["books@inkwell.example"],
    "subject": "Corrected invoice INV-2026-0117",
    "body": "Hi Lukas,\n\nplease find the corrected invoice with our VAT number.\n\nAda",
}


def collect(services: Services) -> list[Event]:
    seen: list[Event] = []
    services.bus.subscribe(ChatDelta, seen.append)
    services.bus.subscribe(ChatFinished, seen.append)
    return seen


def deltas(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, ChatDelta)]


def test_streamed_text_arrives_as_deltas(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    events = collect(services)
    # Chunks 50 ms apart: pieces that arrive together are delivered as one delta (the gateway
    # batches per loop turn), so without a gap between them they may all arrive at once.
    openai_server.chunk_delay_s = 0.05
    openai_server.reply_text(TEXT, chunk_size=5)

    cid, completion, proposed = run(services.runner.chat("What should I do first today?"))

    pieces = deltas(events)
    assert len(pieces) > 1  # really streamed, not one block
    assert "".join(pieces) == TEXT == completion.text
    assert proposed == []
    finished = [e for e in events if isinstance(e, ChatFinished)]
    assert finished == [ChatFinished(cid, TEXT, stopped=False)]
    assert all(e.conversation_id == cid for e in events)  # type: ignore[attr-defined]
    (request,) = openai_server.chat_requests
    assert request.body is not None and request.body["stream"] is True
    # The manager card's tools (resources/agents/manager.toml), no longer only the email tool.
    assert request.tool_names == ["delegate", "list_proposals", "search_mail", "search_memory",
                                  "propose_send_email", "propose_remember_fact"]
    assert request.messages[-1] == {"role": "user", "content": "What should I do first today?"}
    stored = services.store.chat.messages(cid)
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "What should I do first today?"),
        ("assistant", TEXT),
    ]
    assert services.store.llm_calls.all()[0]["purpose"] == "chat"


def test_a_second_turn_sends_the_history(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    openai_server.reply_text("First answer.")
    openai_server.reply_text("Second answer.")
    cid, _, _ = run(services.runner.chat("first question"))
    run(services.runner.chat("second question", conversation_id=cid))
    second = openai_server.chat_requests[1]
    assert [(m["role"], m["content"]) for m in second.messages[1:]] == [
        ("user", "first question"),
        ("assistant", "First answer."),
        ("user", "second question"),
    ]


def test_streamed_tool_call_creates_a_pending_send_email(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    events = collect(services)
    openai_server.reply_tool("propose_send_email", DRAFT, text="I drafted the email for you.")

    cid, completion, proposed = run(services.runner.chat("Send Lukas the corrected invoice"))

    assert len(completion.tool_calls) == 1
    assert json.loads(completion.tool_calls[0].arguments) == DRAFT  # reassembled from deltas
    (action,) = proposed
    stored = services.store.actions.get(action.id)
    assert stored.kind == SEND_EMAIL
    assert stored.status is ActionStatus.PENDING
    assert stored.agent == "manager"
    assert stored.provenance == Provenance("chat", cid, untrusted=False)
    assert {k: stored.payload[k] for k in DRAFT} == DRAFT
    assert stored.payload["message_id"].endswith("@solodesk.example>")
    assert stored.idempotency_key == stored.payload["message_id"]
    text = "".join(deltas(events))
    assert text.startswith("I drafted the email for you.")
    assert f"#{action.id}" in text and "waiting in your inbox" in text
    assert openai_server.chat_requests[0].body["stream"] is True  # type: ignore[index]


def test_invalid_streamed_tool_call_is_retried_with_the_error(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    openai_server.reply_tool("propose_send_email", {**DRAFT, "to": ["lukas at example"]})
    openai_server.reply_tool("propose_send_email", DRAFT)

    _, _, proposed = run(services.runner.chat("Send Lukas the corrected invoice"))

    (action,) = proposed
    assert action.status is ActionStatus.PENDING
    assert action.payload["to"] == DRAFT["to"]
    first, retry = openai_server.chat_requests
    assert first.body["stream"] is True  # type: ignore[index]
    assert "'lukas at example' is not a valid email address" in retry.text()


def test_chat_tool_call_invalid_every_time_is_recorded(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    for _ in range(3):
        openai_server.reply_tool("propose_send_email", '{"to": "lukas@example.com"')
    _, _, proposed = run(services.runner.chat("Email Lukas"))
    (action,) = proposed
    assert action.status is ActionStatus.INVALID
    assert len(action.errors) == 3
    assert all("not valid JSON" in e for e in action.errors)
    assert len(openai_server.chat_requests) == 3
