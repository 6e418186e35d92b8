from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from solodesk.llm.local import free_port


@dataclass
class _Sink:
    port: int = 0
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    sink = _Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()
