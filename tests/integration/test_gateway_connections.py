"""The gateway's calls share litellm's cached HTTP client: one connection serves them all."""

from __future__ import annotations

import pytest

from solodesk.core.llmtypes import ToolSpec
from solodesk.llm.gateway import Gateway, ModelTarget
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

TOOL_ARGS = {"body": "Thanks, done."}


def test_one_connection_serves_many_calls(run, openai_server: ScriptedOpenAIServer) -> None:
    tool = ToolSpec("propose_reply", "Propose a reply.",
                    {"type": "object", "properties": {"body": {"type": "string"}}})
    gateway = Gateway(ModelTarget("openai/scripted", api_base=openai_server.base_url,
                                  timeout=30))
    calls = 6
    for i in range(calls):
        openai_server.reply_tool("propose_reply", TOOL_ARGS)
        completion = run(gateway.complete([{"role": "user", "content": f"mail {i}"}],
                                          tools=[tool], tool_choice="auto"))
        assert [c.name for c in completion.tool_calls] == ["propose_reply"]
    for i in range(3):
        openai_server.reply_text(f"chunked answer {i}")
        pieces: list[str] = []
        streamed = run(gateway.stream([{"role": "user", "content": f"chat {i}"}],
                                      on_delta=pieces.append))
        assert streamed.text == "".join(pieces) == f"chunked answer {i}"
    assert len(openai_server.chat_requests) == calls + 3
    print(f"{calls + 3} calls over {openai_server.connections} connection(s)")
    # Reused, not one per call. Usually one; a second can open when a call starts before the
    # previous stream's connection is back in the pool (seen once in a whole integration run
    # under load: "9 calls over 2 connection(s)").
    assert 1 <= openai_server.connections <= 2
    assert openai_server.nodelay == [True] * openai_server.connections
