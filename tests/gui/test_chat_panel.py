"""ChatPanel: streamed Markdown, Send and Stop."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtGui import QFont, QTextDocument
from pytestqt.qtbot import QtBot

from solodesk.core.events import ChatDelta, ChatFinished
from solodesk.services import Services
from solodesk.ui.bridge import EventBridge
from solodesk.ui.chat_panel import ChatPanel
from tests.gui.conftest import Drive
from tests.gui.support import FakeGateway

pytestmark = pytest.mark.gui


def _bold_fragments(doc: QTextDocument) -> list[str]:
    out = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.isValid() and frag.charFormat().fontWeight() >= QFont.Weight.Bold:
                out.append(frag.text())
            it += 1
        block = block.next()
    return out


def _panel(qtbot: QtBot, services: Services) -> tuple[ChatPanel, EventBridge]:
    panel = ChatPanel(services.runner, services.store)
    qtbot.addWidget(panel)
    bridge = EventBridge(services.bus, panel)
    bridge.chatDelta.connect(panel.on_delta)
    bridge.chatFinished.connect(panel.on_finished)
    bridge.start()
    panel.resize(420, 500)
    panel.show()
    qtbot.waitExposed(panel)
    return panel, bridge


def test_streamed_deltas_render_as_markdown(qtbot: QtBot, gui_services: Services) -> None:
    panel, _ = _panel(qtbot, gui_services)
    bus = gui_services.bus
    pieces = ["Here is ", "a **bo", "ld** idea", ":\n\n- one\n", "- two\n"]
    for piece in pieces:
        bus.publish(ChatDelta(7, piece))
    # throttled: nothing re-rendered per delta; the timer renders the accumulated text once
    assert panel.renders == 0
    qtbot.waitUntil(lambda: panel.renders >= 1, timeout=1000)
    assert "bold idea" in panel.transcript.toPlainText()
    assert "bold" in _bold_fragments(panel.transcript.document())
    assert "**" not in panel.transcript.toPlainText()

    bus.publish(ChatFinished(7, "".join(pieces) + "\nDone."))
    text = panel.transcript.toPlainText()
    assert text.count("Manager agent") == 1  # one reply block, re-rendered in place
    assert "Done." in text and "two" in text
    assert panel.conversation_id == 7
    # another conversation's stream is not mixed in
    bus.publish(ChatDelta(8, "elsewhere"))
    panel.flush()
    assert "elsewhere" not in panel.transcript.toPlainText()


def test_send_streams_the_reply_from_the_runner(
    qtbot: QtBot, gui_services: Services, gateway: FakeGateway, drive: Drive[object]
) -> None:
    gateway.chunks = ["Sure — ", "*drafted*", " it."]
    panel, _ = _panel(qtbot, gui_services)
    panel.input.setText("Email Bob about the invoice")
    assert panel.send_button.isEnabled()
    cid = drive(panel.send())
    assert isinstance(cid, int) and panel.conversation_id == cid
    text = panel.transcript.toPlainText()
    assert "Email Bob about the invoice" in text and "Sure — drafted it." in text
    assert panel.input.text() == "" and not panel.busy
    stored = gui_services.store.chat.messages(cid)
    assert [m["role"] for m in stored] == ["user", "assistant"]


def test_stop_ends_a_streaming_reply(
    qtbot: QtBot,
    gui_services: Services,
    gateway: FakeGateway,
    aloop: asyncio.AbstractEventLoop,
) -> None:
    gateway.chunks = ["word "]
    gateway.delay = 0.01
    gateway.until_stopped = True
    panel, _ = _panel(qtbot, gui_services)
    task = aloop.create_task(panel.send("Tell me a long story"))
    qtbot.waitUntil(lambda: panel.busy and "word" in panel.transcript.toPlainText(), timeout=2000)
    assert panel.stop_button.isEnabled() and not panel.send_button.isEnabled()
    panel.stop_button.click()
    qtbot.waitUntil(task.done, timeout=2000)
    assert "(stopped)" in panel.transcript.toPlainText()
    assert not panel.busy and not panel.stop_button.isEnabled()


def test_a_failing_model_is_shown_not_raised(
    qtbot: QtBot, gui_services: Services, gateway: FakeGateway, drive: Drive[object]
) -> None:
    from solodesk.core.llmtypes import LLMError

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise LLMError("the model server at http://127.0.0.1:9 refused the connection")

    gateway.stream = broken  # type: ignore[method-assign]
    panel, _ = _panel(qtbot, gui_services)
    messages: list[str] = []
    panel.message.connect(messages.append)
    assert drive(panel.send("hello")) is None
    assert "refused the connection" in panel.transcript.toPlainText()
    assert messages[-1].startswith("Chat failed")
