"""The founder's chat with the manager card: delegation to a specialist within a chat turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.core.events import ChatDelta, ChatFinished, Event
from solodesk.core.kinds.invoice import CREATE_INVOICE
from solodesk.services import Services
from tests.support.invoices import ACME
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

COMPANY = {
    "company.name": "Inkwell Notes GmbH", "company.address_line1": "Hauptstraße 1",
    "company.postcode": "10115", "company.city": "Berlin", "company.country": "DE",
    "company.vat_id": "DE123456789", "company.iban": "DE89 3704 0044 0532 0130 00",
    "company.email": "ada@inkwell.example",
}
TASK = "Invoice Acme SARL for the one-day workshop: 1 x 'Workshop, 1 day' at 1200 EUR, VAT 19 %."
INVOICE = {
    "customer": "acme sarl",
    "lines": [{"description": "Workshop, 1 day", "quantity": 1, "unit_price": "1200.00",
               "vat_rate": 19}],
    "currency": "EUR",
    "due_date": "2026-12-31",
}
FINAL = "I asked invoicing: the invoice to Acme SARL is waiting in your inbox."


def collect(services: Services) -> list[Event]:
    seen: list[Event] = []
    services.bus.subscribe(ChatDelta, seen.append)
    services.bus.subscribe(ChatFinished, seen.append)
    return seen


def setup(services: Services) -> None:
    for key, value in COMPANY.items():
        services.config.set(key, value)
    services.store.customers.add(ACME)


def test_chat_delegates_an_invoice_to_the_invoicing_card(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    setup(services)
    events = collect(services)
    openai_server.reply_tool("delegate", {"agent": "invoicing", "task": TASK},
                             text="I'll ask invoicing.")
    openai_server.reply_tool("propose_create_invoice", INVOICE)
    openai_server.reply_text("Proposed the invoice to Acme SARL.")
    openai_server.reply_text(FINAL)

    cid, completion, proposed = run(services.runner.chat("please invoice Acme for the workshop"))

    # The proposal: a pending create_invoice by invoicing, completed from the settings.
    (action,) = proposed
    stored = services.store.actions.get(action.id)
    assert stored.kind == CREATE_INVOICE
    assert stored.status is ActionStatus.PENDING
    assert stored.agent == "invoicing"
    p = stored.payload
    assert p["customer"] == ACME.model_dump(mode="json")
    assert p["seller"]["name"] == "Inkwell Notes GmbH"
    assert p["seller"]["iban"] == "DE89370400440532013000"
    assert p["lines"] == [{"description": "Workshop, 1 day", "quantity": "1",
                           "unit_price": 120000, "vat_rate": "19", "vat_category": "S",
                           "unit": "C62"}]
    assert p["currency"] == "EUR" and p["due_date"] == "2026-12-31"
    assert p["payment_terms"]  # from invoices.payment_terms

    # The runs: the chat turn (manager, linked to the conversation) and its child.
    child = services.store.runs.get(stored.run_id)
    assert child.agent == "invoicing" and child.status == "done"
    assert child.parent_id is not None
    turn = services.store.runs.get(child.parent_id)
    assert turn.agent == "manager" and turn.conversation_id == cid and turn.status == "done"
    assert [r.id for r in services.store.runs.children(turn.id)] == [child.id]

    # The requests: the manager with its card's tools, the child with its own, the report back.
    manager, first, second, final = openai_server.chat_requests
    assert manager.tool_names == ["delegate", "list_proposals", "search_mail",
                                  "search_memory", "propose_send_email",
                                  "propose_remember_fact"]
    assert manager.body is not None and manager.body["stream"] is True
    assert "Manager of Inkwell Notes GmbH" in manager.messages[0]["content"]
    assert first.tool_names == ["list_customers", "list_proposals", "propose_create_invoice",
                                "propose_send_email"]
    schema = first.body["tools"][2]["function"]["parameters"]  # type: ignore[index]
    assert set(schema["properties"]) == {"customer", "lines", "currency", "due_date"}
    assert TASK in first.messages[0]["content"]
    assert f"proposal #{action.id}" in second.messages[-1]["content"]
    tool_result = final.messages[-1]
    assert tool_result["role"] == "tool"
    assert f"invoicing (run #{child.id}) done" in tool_result["content"]
    assert f"#{action.id} create_invoice (pending, by invoicing)" in tool_result["content"]
    assert final.body is not None and final.body["stream"] is True

    # The founder sees both texts streamed, then a note naming the proposal.
    text = "".join(e.text for e in events if isinstance(e, ChatDelta))
    assert text.startswith("I'll ask invoicing.\n\n" + FINAL)
    assert f"Proposal #{action.id} (Issue an invoice: " in text
    (finished,) = [e for e in events if isinstance(e, ChatFinished)]
    assert finished.text == text
    assert completion.text == "I'll ask invoicing.\n\n" + FINAL  # every step's text
    stored_reply = services.store.chat.messages(cid)[-1]
    assert stored_reply["role"] == "assistant" and stored_reply["content"] == text


def test_an_unknown_customer_goes_back_to_the_child_with_the_list(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    setup(services)
    openai_server.reply_tool("delegate", {"agent": "invoicing", "task": TASK})
    openai_server.reply_tool("propose_create_invoice", {**INVOICE, "customer": "Initech"})
    openai_server.reply_text("Initech is not a customer; the founder must add it.")
    openai_server.reply_text("Invoicing could not find Initech in your customer list.")

    _cid, _completion, proposed = run(services.runner.chat("invoice Initech"))

    # Nothing valid was proposed: the refused attempt is recorded as invalid, not lost.
    (action,) = proposed
    assert action.status is ActionStatus.INVALID and action.agent == "invoicing"
    assert json.loads(json.dumps(action.payload))["customer"] == "Initech"
    retry = openai_server.chat_requests[2]
    assert "no customer 'Initech'" in retry.messages[-1]["content"]
    assert "customers: Acme SARL" in retry.messages[-1]["content"]


def test_a_delegation_to_an_unknown_agent_is_reported_to_the_model(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    openai_server.reply_tool("delegate", {"agent": "accountant", "task": "do the taxes"})
    openai_server.reply_text("There is no accountant on the team.")

    _cid, completion, proposed = run(services.runner.chat("do my taxes"))

    assert proposed == [] and completion.text == "There is no accountant on the team."
    result = openai_server.chat_requests[1].messages[-1]
    assert result["role"] == "tool"
    assert "refused: there is no agent named 'accountant'" in result["content"]
    assert len(services.store.runs.children(services.store.runs.list()[0].id)) == 0


def test_cancelling_the_chat_turn_cancels_the_delegation(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import asyncio

    from solodesk.agents.runs import RunCancelled
    from solodesk.core.runs import RunStatus
    from tests.support.openai_server import Hang

    setup(services)
    openai_server.reply_tool("delegate", {"agent": "invoicing", "task": TASK})
    openai_server.push_when("You prepare invoices", Hang(60))  # the child never gets an answer
    runs = services.runner.runs

    async def until(check: Any) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), 120)  # a hang guard only

    async def scenario() -> None:
        task = asyncio.ensure_future(services.runner.chat("please invoice Acme"))
        await until(lambda: len(openai_server.chat_requests) == 2)
        turn = next(r.id for r in services.store.runs.list() if r.agent == "manager")
        assert len(runs.cancel(turn)) == 2  # the turn and its child
        with pytest.raises(RunCancelled):
            await task

    run(scenario())

    statuses = {r.agent: r.status for r in services.store.runs.list()}
    assert statuses == {"manager": RunStatus.CANCELLED, "invoicing": RunStatus.CANCELLED}
    assert services.store.actions.ids() == []  # nothing proposed
    assert runs.live() == []
    # The founder's message is kept.
    cid = services.store.chat.latest_conversation()
    assert cid is not None
    assert [m["role"] for m in services.store.chat.messages(cid)] == ["user"]


def test_a_turn_reads_the_cards_once_and_an_edited_card_applies_to_the_next_turn(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    setup(services)
    runner = services.runner
    reads: list[int] = []
    read = runner._cards
    assert read is not None

    def counting() -> Any:
        reads.append(1)
        return read()

    runner._cards = counting
    openai_server.reply_tool("delegate", {"agent": "invoicing", "task": TASK},
                             text="I'll ask invoicing.")
    openai_server.reply_tool("propose_create_invoice", INVOICE)
    openai_server.reply_text("Proposed the invoice to Acme SARL.")
    openai_server.reply_text(FINAL)
    run(runner.chat("please invoice Acme for the workshop"))
    # The manager's two steps and the invoicing run it delegated to: one read (was one per use).
    assert len(reads) == 1

    # The founder edits the manager's card between turns: the next turn uses it.
    from solodesk.core.resources import resources_dir

    own = services.paths.data_dir / "agents"
    own.mkdir(parents=True, exist_ok=True)
    card = (resources_dir() / "agents" / "manager.toml").read_text(encoding="utf-8")
    edited = card.replace("# Manager of {company}", "# Manager of {company} (EDITED CARD)", 1)
    assert edited != card
    (own / "manager.toml").write_text(edited, encoding="utf-8")
    openai_server.reply_text("Hello again.")
    run(runner.chat("hello"))
    assert len(reads) == 2
    assert "(EDITED CARD)" in openai_server.chat_requests[-1].text()
    assert "(EDITED CARD)" not in openai_server.chat_requests[0].text()
    assert runner.card_set().get("manager").origin == "override"  # outside a turn: read afresh
    assert len(reads) == 3
