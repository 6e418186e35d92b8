"""The scripted OpenAI-compatible server speaks the wire format the other tests rely on."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    s = ScriptedOpenAIServer().start()
    yield s
    s.close()


def post(server: ScriptedOpenAIServer, body: dict[str, Any]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def sse_events(raw: bytes) -> list[str]:
    assert raw.endswith(b"\n\n")
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e[len("data: "):] for e in events]


def test_models_endpoint(server: ScriptedOpenAIServer) -> None:
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=10) as response:
        data = json.loads(response.read())
    assert [m["id"] for m in data["data"]] == ["scripted"]


def test_json_reply_with_invalid_tool_arguments_kept_verbatim(
    server: ScriptedOpenAIServer,
) -> None:
    server.reply_tool("propose_reply", '{"to": [')
    status, ctype, raw = post(server, {"model": "scripted", "messages": [
        {"role": "user", "content": "one two three"}]})
    assert (status, ctype) == (200, "application/json")
    data = json.loads(raw)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "propose_reply", "arguments": '{"to": ['
    }
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert server.chat_requests[0].usage == data["usage"]


def test_streamed_text_and_tool_call_deltas(server: ScriptedOpenAIServer) -> None:
    server.reply_tool("propose_send_email", '{"to": ["a@example.com"]}', text="Hello there")
    status, ctype, raw = post(server, {"model": "scripted", "stream": True, "messages": []})
    assert (status, ctype) == (200, "text/event-stream")
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Hello there"
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "propose_send_email" and calls[0]["id"]
    assert len(calls) > 2  # the arguments arrive in pieces
    assert "".join(tc["function"]["arguments"] for tc in calls) == '{"to": ["a@example.com"]}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_error_status_and_unscripted_requests(server: ScriptedOpenAIServer) -> None:
    server.error(429, "slow down")
    status, _, raw = post(server, {"messages": []})
    assert status == 429 and json.loads(raw)["error"]["message"] == "slow down"
    assert server.unscripted == 0
    status, _, _ = post(server, {"messages": []})
    assert status == 500 and server.unscripted == 1
    assert len(server.chat_requests) == 2


def test_keep_alive_connection_without_nagle(server: ScriptedOpenAIServer) -> None:
    """Several requests on one HTTP/1.1 connection, each answered whole; the server's socket
    sends without Nagle's algorithm (with it, a response's body waited for the client's
    delayed ACK: ~40 ms stalls that made every benchmark against this server bimodal)."""
    server.reply_text("one")
    server.reply_tool("propose_reply", {"body": "two"})
    server.reply_text("three")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        replies = []
        for stream in (False, False, True):
            body = {"model": "scripted", "stream": stream,
                    "messages": [{"role": "user", "content": "hi"}]}
            connection.request("POST", "/v1/chat/completions", json.dumps(body),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200
            replies.append(response.read())
    finally:
        connection.close()
    assert json.loads(replies[0])["choices"][0]["message"]["content"] == "one"
    call = json.loads(replies[1])["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"body": "two"}
    assert sse_events(replies[2])[-1] == "[DONE]"
    assert server.connections == 1
    assert server.nodelay == [True]
