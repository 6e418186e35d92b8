"""The benchmarks' model server: ``tests/support/openai_server.py`` answering by rule.

Run as its own process (``python -m tests.bench.serve``) so that its threads never compete with
the process being measured for the GIL. It prints its ``api_base`` on one line, then serves
until its standard input closes.

Replies (always at full speed, no delay):

- a request offering the ``propose_reply`` tool: one valid ``propose_reply`` call;
- a chat whose last user message is ``stream N``: N text chunks of 4 characters (tokens);
- any other chat: a short text reply (``SHORT_REPLY_TOKENS`` chunks).

Only the last request body is kept (``GET /v1/last_request`` returns it), so the server's own
memory does not grow with the number of requests.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from tests.support.openai_server import (
    RecordedRequest,
    Scripted,
    ScriptedOpenAIServer,
    Text,
    ToolCalls,
    _Handler,
)

SHORT_REPLY_TOKENS = 40
DRAFT = {
    "body": (
        "Hi,\n\nthank you for your message about your plan. I have looked into it and "
        "refunded the annual plan today; you will see the money within five days.\n\nAda\n"
    ),
}
_STREAM = re.compile(r"^stream (\d+)$")


def tokens(n: int) -> str:
    """``n`` four-character tokens (``tk0 tk1 …``, wrapped to 4 characters each)."""
    return "".join(f"w{i % 100:02d} " for i in range(n))


class _QuietServer(ThreadingHTTPServer):
    """A client that goes away (a measured child process exits at once) is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BenchServer(ScriptedOpenAIServer):
    """A scripted server that never runs dry: each reply follows from the request."""

    def __init__(self) -> None:
        super().__init__()
        self.last_body: dict[str, Any] | None = None
        self.served = 0

    def start(self) -> BenchServer:
        server = self

        class Handler(_Handler):
            scripted = server

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                if self.path.rstrip("/").endswith("/last_request"):
                    self._send_json(200, server.last_body or {})
                else:
                    super().do_GET()

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
            name="bench-openai", daemon=True,
        )
        self._thread.start()
        return self

    def _take(self, request: RecordedRequest) -> Scripted | None:
        body = request.body or {}
        with self._lock:
            self.last_body = body
            self.served += 1
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        if "propose_reply" in tools:
            return ToolCalls((("propose_reply", json.dumps(DRAFT)),))
        last = ""
        for m in body.get("messages") or []:
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                last = m["content"]
        match = _STREAM.match(last.strip())
        n = int(match.group(1)) if match else SHORT_REPLY_TOKENS
        return Text(tokens(n), chunk_size=4)

    def _record(self, request: RecordedRequest) -> None:
        pass  # keep nothing: memory stays flat however many requests come


def main() -> None:
    server = BenchServer().start()
    print(server.base_url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.close()


if __name__ == "__main__":
    main()
