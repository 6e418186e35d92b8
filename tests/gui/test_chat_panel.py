"""ChatPanel: streamed Markdown, Send and Stop."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
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


def _labels(doc: QTextDocument) -> list[str]:
    """The role labels of the transcript's messages, in order (first blocks marked as a
    message start, bold)."""
    from solodesk.ui.chat_panel import MESSAGE_START

    out = []
    block = doc.begin()
    while block.isValid():
        if block.userState() == MESSAGE_START:
            frag = block.begin().fragment()
            assert frag.charFormat().fontWeight() >= QFont.Weight.Bold, block.text()
            out.append(block.text())
        block = block.next()
    return out


def test_the_transcript_keeps_a_bounded_window_and_shows_earlier_messages(
    qtbot: QtBot, gui_services: Services, gateway: FakeGateway, drive: Drive[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solodesk.ui import chat_panel

    monkeypatch.setattr(chat_panel, "TRANSCRIPT_LIMIT", 10)
    panel, _ = _panel(qtbot, gui_services)
    expected: list[tuple[str, str]] = []
    cid = None
    for turn in range(1, 13):
        gateway.chunks = [f"reply **{turn}**"]
        cid = drive(panel.send(f"question {turn}"))
        assert cid is not None
        expected += [("user", f"question {turn}"), ("assistant", f"reply **{turn}**")]
        assert len(panel.shown_messages) == min(10, len(expected))
    assert isinstance(cid, int)
    # The latest 10 messages, in order, each with its bold label; the rest are in the store.
    assert panel.shown_messages == expected[-10:]
    assert _labels(panel.transcript.document()) == ["You", "Manager agent"] * 5
    text = panel.transcript.toPlainText()
    assert text.startswith("You\nquestion 8\nManager agent\nreply 8")
    assert "question 7" not in text and text.rstrip().endswith("reply 12")
    assert panel.hidden_messages == 14
    assert panel.earlier_button.isVisible()
    assert "14 more" in panel.earlier_button.text()
    stored = gui_services.store.chat.messages(cid)
    assert [(m["role"], m["content"]) for m in stored] == expected  # nothing lost

    # "Show earlier" brings the older ones back, in order, above the ones shown.
    assert panel.show_earlier(4) == 4
    assert panel.shown_messages == expected[-14:]
    assert panel.transcript.toPlainText().startswith("You\nquestion 6\nManager agent\nreply 6")
    assert "bold" not in text and "**" not in panel.transcript.toPlainText()  # Markdown
    assert panel.hidden_messages == 10
    assert panel.show_earlier(100) == 10
    assert panel.shown_messages == expected
    assert _labels(panel.transcript.document()) == ["You", "Manager agent"] * 12
    assert panel.hidden_messages == 0 and not panel.earlier_button.isVisible()
    assert panel.show_earlier() == 0

    # What the founder asked to see stays while the conversation goes on; older ones go
    # again only as new ones come.
    gateway.chunks = ["reply 13"]
    assert drive(panel.send("question 13")) == cid
    assert len(panel.shown_messages) == 24
    assert panel.shown_messages[-1] == ("assistant", "reply 13")
    assert panel.shown_messages[0] == ("user", "question 2")
    assert panel.hidden_messages == 2

    # A new conversation starts with an empty transcript and the normal window.
    panel.new_conversation()
    assert panel.shown_messages == [] and not panel.earlier_button.isVisible()


def test_errors_in_the_window_do_not_count_as_stored_messages(
    qtbot: QtBot, gui_services: Services, gateway: FakeGateway, drive: Drive[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solodesk.core.llmtypes import LLMError
    from solodesk.ui import chat_panel

    monkeypatch.setattr(chat_panel, "TRANSCRIPT_LIMIT", 4)
    panel, _ = _panel(qtbot, gui_services)
    gateway.chunks = ["reply 1"]
    cid = drive(panel.send("question 1"))
    working = gateway.stream

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise LLMError("the model server refused the connection")

    gateway.stream = broken  # type: ignore[method-assign]
    assert drive(panel.send("question 2")) is None  # stored; the error is only shown
    gateway.stream = working  # type: ignore[method-assign]
    for turn in (3, 4):
        gateway.chunks = [f"reply {turn}"]
        assert drive(panel.send(f"question {turn}")) == cid
    assert panel.shown_messages == [
        ("user", "question 3"), ("assistant", "reply 3"),
        ("user", "question 4"), ("assistant", "reply 4"),
    ]
    # question 1, reply 1, question 2 are stored above; the error was never stored
    assert panel.hidden_messages == 3
    assert panel.show_earlier() == 3
    assert [r for r, _ in panel.shown_messages] == ["user", "assistant", "user", "user",
                                                    "assistant", "user", "assistant"]
    assert panel.shown_messages[2] == ("user", "question 2")


def test_a_long_stored_conversation_opens_at_its_end(
    qtbot: QtBot, gui_services: Services,
) -> None:
    from solodesk.ui.chat_panel import EARLIER_PAGE, HISTORY_LIMIT

    chat = gui_services.store.chat
    cid = chat.new_conversation("long")
    expected = []
    for i in range(300):
        role = "user" if i % 2 == 0 else "assistant"
        chat.add_message(cid, role, f"message {i}")
        expected.append((role, f"message {i}"))
        if i % 50 == 0:
            chat.add_message(cid, "tool", "not shown")  # other roles are not shown
    panel, _ = _panel(qtbot, gui_services)
    panel.load_latest()
    assert panel.conversation_id == cid
    assert panel.shown_messages == expected[-HISTORY_LIMIT:]
    assert panel.hidden_messages == 300 - HISTORY_LIMIT
    assert panel.earlier_button.isVisible()
    panel.earlier_button.click()
    assert panel.shown_messages == expected[-HISTORY_LIMIT - EARLIER_PAGE:]
    assert panel.hidden_messages == 300 - HISTORY_LIMIT - EARLIER_PAGE
    # the message that was first stays in view
    bar = panel.transcript.verticalScrollBar()
    assert 0 < bar.value() < bar.maximum()
    # the keyboard does the same while the focus is in the chat
    with qtbot.waitActive(panel):
        panel.activateWindow()
    panel.input.setFocus()
    qtbot.keyClick(panel.input, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert len(panel.shown_messages) == HISTORY_LIMIT + 2 * EARLIER_PAGE
    panel.transcript.setFocus()
    qtbot.keyClick(panel.transcript, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert len(panel.shown_messages) == HISTORY_LIMIT + 3 * EARLIER_PAGE
    assert panel.shown_messages[0] == expected[-HISTORY_LIMIT - 3 * EARLIER_PAGE]
