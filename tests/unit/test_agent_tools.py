"""The tools registry (``agents.tools``) and the kinds' agent side (``KindSpec.agent_schema``,
``KindSpec.from_agent``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk.agents.tools import (
    Tool,
    ToolResult,
    first_tool_choice,
    mail_thread,
    propose_tool,
    register_tool,
    specs_for,
    tool_names,
    tools_for,
)
from solodesk.core import kinds as K
from solodesk.core.cards import AgentCard
from solodesk.core.kinds import ProposalContext
from solodesk.store.db import connect
from solodesk.store.repos import Store
from tests.support.helpers import import_sample


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(connect(tmp_path / "t.db"))
    yield s
    s.close()


def test_the_proposal_tools_offer_what_an_agent_writes() -> None:
    send = K.get("send_email")
    schema = send.agent_schema()
    assert set(schema["properties"]) == {"to", "cc", "subject", "body"}
    assert set(schema["required"]) == {"to", "subject", "body"}
    payload = send.from_agent(
        {"to": ["a@x.example"], "subject": "Hi", "body": "Hello", "message_id": "<evil@x>"},
        ProposalContext(own_domain="inkwell.example"),
    )
    assert payload["message_id"].endswith("@inkwell.example>")  # the agent's is dropped
    assert K.validate_payload("send_email", payload) == []
    reply = K.get("reply_email").agent_schema()
    assert set(reply["properties"]) == {"source_mail_id", "to", "cc", "body"}
    tool = propose_tool("reply_email")
    assert tool.name == "propose_reply_email" and not tool.read_only
    assert "NOT carried out" in tool.description


def test_a_reply_is_threaded_on_the_mail_it_answers(store: Store) -> None:
    import_sample(store)
    marta = store.mail.get(1)
    spec = K.get("reply_email")
    payload = spec.from_agent(
        {"source_mail_id": 1, "body": "Hi Marta"},
        ProposalContext(own_domain="inkwell.example", mail=lambda i: mail_thread(store, i)),
    )
    assert payload["subject"] == "Re: " + marta.subject
    assert payload["in_reply_to"] == marta.reply_message_id
    assert payload["references"][-1] == marta.reply_message_id
    assert payload["to"] == [marta.reply_address]
    assert K.validate_payload("reply_email", payload) == []
    # An unknown mail: validation says what is missing, nothing is invented.
    lost = spec.from_agent({"source_mail_id": 999, "body": "x", "to": ["a@b.example"]},
                           ProposalContext(mail=lambda i: mail_thread(store, i)))
    assert any(e.startswith("subject") for e in K.validate_payload("reply_email", lost))


def test_mail_search_matches_words_and_escapes_like(store: Store) -> None:
    import_sample(store)
    found = store.mail.search("refund annual")
    assert [m.id for m in found] == [1]
    every = [store.mail.get(i) for i in range(1, 7)]
    for wildcard in ("%", "_"):  # LIKE wildcards are searched as themselves
        expected = [m.id for m in reversed(every)
                    if wildcard in (m.subject + m.from_addr + m.body_text)]
        assert [m.id for m in store.mail.search(wildcard)] == expected
        assert len(expected) < 6
    assert len(store.mail.search("", limit=3)) == 3
    assert [m.id for m in store.mail.search("", limit=2)] == [6, 5]


def test_registry_refuses_propose_names_and_card_tools_resolve() -> None:
    async def fn(_ctx: object, _args: dict[str, object]) -> ToolResult:
        return ToolResult("x")

    with pytest.raises(ValueError, match="made from the kinds registry"):
        register_tool(Tool("propose_money", "d", {"type": "object"}, fn))
    assert {"search_mail", "read_mail", "list_proposals", "delegate"} <= set(tool_names())
    card = AgentCard("a", "r", "p", tools=("read_mail", "delegate"), kinds=("send_email",))
    assert [t.name for t in tools_for(card)] == ["read_mail", "delegate", "propose_send_email"]


def test_tool_results_as_tool_messages_or_as_text_for_the_local_model() -> None:
    from solodesk.agents.loop import assistant_message, result_messages
    from solodesk.core.llmtypes import ToolCall

    calls = [ToolCall("c1", "read_mail", '{"mail_id": 1}'), ToolCall("c2", "delegate", "{}")]
    assert assistant_message("", calls)["content"] == ""  # a string: templates need the key
    standard = result_messages(calls, ["mail text", "report"], as_text=False)
    assert [(m["role"], m["tool_call_id"], m["content"]) for m in standard] == [
        ("tool", "c1", "mail text"), ("tool", "c2", "report")
    ]
    (local,) = result_messages(calls, ["mail text", "report"], as_text=True)
    assert local["role"] == "user"
    assert local["content"] == (
        "Result of read_mail (call 1):\nmail text\n\nResult of delegate (call 2):\nreport"
    )


def test_the_delegate_tool_names_only_the_team_and_the_local_model_starts_with_first_tool(
) -> None:
    card = AgentCard(name="boss", role="r", prompt="p", tools=("delegate", "search_mail"),
                     first_tool="delegate")
    specs = {s.name: s for s in specs_for(card, ["support", "invoicing"])}
    assert specs["delegate"].parameters["properties"]["agent"]["enum"] == ["support", "invoicing"]
    assert "enum" not in tools_for(card)[0].spec().parameters["properties"]["agent"]
    assert first_tool_choice(card, local=True) == {
        "type": "function", "function": {"name": "delegate"}}
    assert first_tool_choice(card, local=False) is None
    plain = AgentCard(name="w", role="r", prompt="p", tools=("search_mail",))
    assert first_tool_choice(plain, local=True) is None
