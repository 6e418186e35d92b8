"""A stand-in for the local model process that dies like llama.cpp did on an AMX Xeon (tests only).

Started by the real launcher (``LocalModelServer(entry=[python, THIS_FILE, --state, FILE])``) with
the arguments of ``solodesk.llm.local_server``; only ``--port`` is used. It answers
``GET /v1/models`` at once; on ``POST /v1/chat/completions`` it kills itself with SIGSEGV after
enabling :mod:`faulthandler` (as the real entry module does), so the model log holds the same
"Fatal Python error: Segmentation fault" trace a native crash leaves.

``--crash-once``: only the first process crashes (it creates the ``--state`` file); a process
started while that file exists answers every completion with a valid ``propose_reply`` call.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from solodesk.llm.local_server import no_core_dumps

REPLY_ARGUMENTS = {
    "body": "Hello,\n\nthank you for your message. I will look into it and get back to you.\n\n"
    "Ada Founder, Inkwell Notes",
}


def _completion() -> dict[str, object]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 0,
        "model": "local",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "propose_reply",
                                "arguments": json.dumps(REPLY_ARGUMENTS),
                            },
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def _segfault() -> None:
    """Die of a real SIGSEGV in this thread, before answering (like a crash in ``decode``)."""
    sigsegv = getattr(faulthandler, "_sigsegv", None)  # CPython's test helper: reads NULL
    if sigsegv is not None:
        sigsegv()
    signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)
    time.sleep(60)  # not reached: the signal ends the process


def main() -> None:
    faulthandler.enable(file=sys.stderr, all_threads=True)
    no_core_dumps()
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--crash-once", action="store_true")
    args, _llama_args = parser.parse_known_args()
    crash = not (args.crash_once and args.state.exists())
    print(f"stand-in model server on port {args.port}; crash={crash}", file=sys.stderr, flush=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: object) -> None:  # noqa: A002
            print(format % a, file=sys.stderr, flush=True)

        def _json(self, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._json({"object": "list", "data": [{"id": "local", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if crash:
                args.state.touch()
                _segfault()
            self._json(_completion())

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
