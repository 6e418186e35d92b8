"""A scripted OpenAI-compatible chat completions server on 127.0.0.1.

Tests queue replies (:meth:`ScriptedOpenAIServer.reply_text`, :meth:`~.reply_tool`,
:meth:`~.hang`, :meth:`~.error`); each ``POST /v1/chat/completions`` takes the next one and
answers it as a JSON completion, or as server-sent events when the request has
``"stream": true`` (text deltas, then tool-call deltas with the arguments split across chunks,
then a final chunk with ``finish_reason`` and ``usage``, then ``data: [DONE]``). Every request
body is recorded so tests can check what the client sent (tools, the validation feedback...).

litellm reaches it as model ``openai/scripted`` with ``api_base`` = :attr:`base_url`, i.e.
through the real litellm -> openai client -> HTTP path.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "scripted"


@dataclass(frozen=True, slots=True)
class Text:
    """Reply with assistant text (streamed ``chunk_size`` characters per chunk)."""

    text: str
    chunk_size: int = 4


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """Reply with tool calls: ``(name, raw_arguments)`` pairs; arguments may be invalid JSON."""

    calls: tuple[tuple[str, str], ...]
    text: str = ""
    chunk_size: int = 7


@dataclass(frozen=True, slots=True)
class Hang:
    """Accept the request and answer nothing for ``seconds`` (then close the connection)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class HttpError:
    """Answer with an HTTP error status and an OpenAI-style error body."""

    status: int
    message: str = "scripted error"


Scripted = Text | ToolCalls | Hang | HttpError


@dataclass(slots=True)
class RecordedRequest:
    """One request the server received, and what it answered."""

    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    reply: Scripted | None = None
    usage: dict[str, int] | None = None
    size: int = 0  # bytes of the request body as received

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in (self.body or {}).get("tools", [])]

    def text(self) -> str:
        """All message contents of the request joined (for substring assertions)."""
        parts = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
        return "\n".join(parts)


def _words(text: str) -> int:
    return len(text.split())


def _usage(body: Mapping[str, Any], reply: Text | ToolCalls) -> dict[str, int]:
    """Deterministic token counts: words in the prompt and in the reply, at least 1."""
    prompt = 0
    for m in body.get("messages", []):
        content = m.get("content")
        prompt += _words(content) if isinstance(content, str) else 0
    out = _words(reply.text)
    if isinstance(reply, ToolCalls):
        out += sum(_words(args) + 1 for _name, args in reply.calls)
    prompt, out = max(prompt, 1), max(out, 1)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


class _QuietServer(ThreadingHTTPServer):
    """A client closing its keep-alive connection (reset, broken pipe) is not a server error:
    it is not printed as a traceback (a test that checks a subprocess's stderr would fail)."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class ScriptedOpenAIServer:
    """The server; use :meth:`start` / :meth:`close` or the ``openai_server`` fixture."""

    def __init__(self) -> None:
        self._queue: deque[Scripted] = deque()
        self._routed: list[tuple[str, Scripted]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self.unscripted = 0
        #: Seconds every chat completion waits before it is answered (0: at once).
        self.reply_delay_s = 0.0
        # False: a stream's last chunk carries no usage (llama-cpp-python's server ignores
        # OpenAI's stream_options.include_usage).
        self.stream_usage = True
        # Seconds between streamed chunks (a model that writes as it thinks).
        self.chunk_delay_s = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: Connections accepted so far (a client that reuses its connection opens one).
        self.connections = 0
        #: Whether each accepted connection's socket has TCP_NODELAY set, in order.
        self.nodelay: list[bool] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> ScriptedOpenAIServer:
        server = self

        class Handler(_Handler):
            scripted = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            name="scripted-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``api_base`` for litellm: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script --------------------------------------------------------------------------------
    def push(self, *items: Scripted) -> None:
        with self._lock:
            self._queue.extend(items)

    def reply_text(self, text: str, *, chunk_size: int = 4) -> None:
        self.push(Text(text, chunk_size=chunk_size))

    def reply_tool(
        self, name: str, arguments: str | Mapping[str, Any], *, text: str = ""
    ) -> None:
        """Queue one tool call; a mapping is JSON-encoded, a string is sent verbatim."""
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        self.push(ToolCalls(((name, raw),), text=text))

    def reply_tool_calls(self, calls: Sequence[tuple[str, str]], *, text: str = "") -> None:
        self.push(ToolCalls(tuple(calls), text=text))

    def push_when(self, needle: str, item: Scripted) -> None:
        """Queue ``item`` for the first request whose messages contain ``needle`` (routed
        replies are taken before the plain queue): concurrent callers each get their own."""
        with self._lock:
            self._routed.append((needle, item))

    def hang(self, seconds: float) -> None:
        self.push(Hang(seconds))

    def error(self, status: int, message: str = "scripted error") -> None:
        self.push(HttpError(status, message))

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._routed)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- used by the handler -------------------------------------------------------------------
    def _take(self, request: RecordedRequest) -> Scripted | None:
        with self._lock:
            self.requests.append(request)
            text = request.text()
            for i, (needle, routed) in enumerate(self._routed):
                if needle in text:
                    del self._routed[i]
                    request.reply = routed
                    return routed
            if not self._queue:
                self.unscripted += 1
                return None
            item = self._queue.popleft()
            request.reply = item
            return item

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _accepted(self, nodelay: bool) -> None:
        with self._lock:
            self.connections += 1
            self.nodelay.append(nodelay)

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _wait_closing(self, seconds: float) -> None:
        self._closing.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    """One connection (HTTP/1.1 keep-alive: many requests).

    Like the servers it stands for (uvicorn, llama.cpp's, OpenAI's), it sends without Nagle's
    algorithm (``TCP_NODELAY``), and a response's headers go out with its body (or, for a
    stream, with its first chunk) in one write. Without both, a response written as headers then
    body waits for the client's delayed ACK (about 40 ms on Linux) before its body leaves: every
    call measured against this server took ~8 ms or ~50 ms depending on the connection's ACK
    state, not on the client.
    """

    scripted: ScriptedOpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on each accepted socket (socketserver)
    wbufsize = 1 << 16  # headers and body leave in one write (flushed per response/chunk)

    def setup(self) -> None:
        super().setup()
        nodelay = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        self.scripted._accepted(bool(nodelay))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    # -- plumbing ------------------------------------------------------------------------------
    def _send_json(self, status: int, data: Mapping[str, Any]) -> None:
        raw = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {"_unparsed": raw.decode("utf-8", "replace")}
        return value if isinstance(value, dict) else {"_unparsed": value}

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.scripted._record(
            RecordedRequest("GET", self.path, None, dict(self.headers.items()))
        )
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"}
                    ],
                },
            )
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._read_body()
        request = RecordedRequest("POST", self.path, body, dict(self.headers.items()))
        request.size = int(self.headers.get("Content-Length") or 0)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.scripted._record(request)
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        item = self.scripted._take(request)
        if self.scripted.reply_delay_s:  # a model that takes its time (concurrency tests)
            self.scripted._wait_closing(self.scripted.reply_delay_s)
        if item is None:
            self._send_json(
                500,
                {"error": {"message": "scripted server: no reply queued", "type": "server_error"}},
            )
            return
        if isinstance(item, Hang):
            self.scripted._wait_closing(item.seconds)
            self.close_connection = True
            return
        if isinstance(item, HttpError):
            self._send_json(
                item.status,
                {"error": {"message": item.message, "type": "scripted", "code": item.status}},
            )
            return
        usage = _usage(body or {}, item)
        request.usage = usage
        completion_id = f"chatcmpl-scripted-{self.scripted._next_id()}"
        if (body or {}).get("stream"):
            self._stream(completion_id, item, usage)
        else:
            self._send_json(200, _completion(completion_id, item, usage))

    def _stream(self, completion_id: str, item: Text | ToolCalls, usage: dict[str, int]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in _stream_chunks(completion_id, item, usage):
            if not self.scripted.stream_usage:
                chunk.pop("usage", None)
            if self.scripted.chunk_delay_s:
                self.scripted._wait_closing(self.scripted.chunk_delay_s)
            self._chunk(b"data: " + json.dumps(chunk).encode("utf-8") + b"\n\n")
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")  # end of chunked body


def _tool_call_id(completion_id: str, index: int) -> str:
    return f"call_{completion_id.rsplit('-', 1)[-1]}_{index}"


def _completion(
    completion_id: str, item: Text | ToolCalls, usage: dict[str, int]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": item.text or None}
    finish = "stop"
    if isinstance(item, ToolCalls):
        message["tool_calls"] = [
            {
                "id": _tool_call_id(completion_id, i),
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for i, (name, args) in enumerate(item.calls)
        ]
        finish = "tool_calls"
    elif not item.text:
        message["content"] = ""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def _pieces(text: str, size: int) -> Iterator[str]:
    size = max(1, size)
    for i in range(0, len(text), size):
        yield text[i : i + size]


def _stream_chunks(
    completion_id: str, item: Text | ToolCalls, usage: dict[str, int]
) -> Iterator[dict[str, Any]]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(item.text, item.chunk_size):
        yield chunk({"content": piece})
    finish = "stop"
    if isinstance(item, ToolCalls):
        finish = "tool_calls"
        for index, (name, args) in enumerate(item.calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": _tool_call_id(completion_id, index),
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            for piece in _pieces(args, item.chunk_size):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    final = chunk({}, finish)
    final["usage"] = usage
    yield final

