"""EventBridge: bus events become Qt signals, buffered until the UI connects."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.core.events import (
    ActionProposed,
    ActionResolved,
    ChatDelta,
    ChatFinished,
    EventBus,
    MailImported,
    Progress,
    RunFailed,
)
from solodesk.ui.bridge import EventBridge

pytestmark = pytest.mark.gui


def test_events_published_before_start_are_delivered_in_order(qtbot: QtBot) -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    bus.publish(ActionProposed(1, "reply_email", "pending", "Re: hi"))
    bus.publish(ChatDelta(3, "Hel"))
    assert bridge.buffered == 2

    got: list[object] = []
    for signal in (
        bridge.actionProposed,
        bridge.actionResolved,
        bridge.chatDelta,
        bridge.chatFinished,
        bridge.progress,
        bridge.runFailed,
        bridge.mailImported,
    ):
        signal.connect(got.append)
    bridge.start()
    assert bridge.buffered == 0
    later = [
        ActionResolved(1, "executed", "250 OK"),
        ChatFinished(3, "Hello"),
        Progress("triage", 1, 2, "triaging"),
        RunFailed("chat", "no model"),
        MailImported(2, 0, 1),
    ]
    for event in later:
        bus.publish(event)
    assert (
        got == [ActionProposed(1, "reply_email", "pending", "Re: hi"), ChatDelta(3, "Hel")] + later
    )

    bridge.close()
    bus.publish(ChatDelta(3, "ignored"))
    assert len(got) == 2 + len(later)


def test_events_from_a_worker_thread_reach_the_gui_thread(qtbot: QtBot, qapp: QApplication) -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    seen: list[tuple[object, bool]] = []
    bridge.progress.connect(lambda e: seen.append((e, QThread.currentThread() is qapp.thread())))
    bridge.start()
    worker = threading.Thread(target=bus.publish, args=(Progress("import", 1, 1, "done"),))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=2000)
    assert seen == [(Progress("import", 1, 1, "done"), True)]
    bridge.close()
