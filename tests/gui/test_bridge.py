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
    OutboxExecuted,
    Progress,
    RunFailed,
    RunFinished,
    RunStarted,
    RunUpdated,
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


def test_run_and_outbox_events_become_their_signals(qtbot: QtBot) -> None:
    """The Activity panel's seam: runs starting, their usage, their end; outbox outcomes."""
    bus = EventBus()
    bridge = EventBridge(bus)
    got: dict[str, list[object]] = {"started": [], "updated": [], "finished": [], "outbox": []}
    bridge.runStarted.connect(got["started"].append)
    bridge.runUpdated.connect(got["updated"].append)
    bridge.runFinished.connect(got["finished"].append)
    bridge.outboxExecuted.connect(got["outbox"].append)
    bridge.start()
    events = [
        RunStarted(2, 1, "support", "triage mail #1"),
        RunUpdated(2, "running", 1, 410, 9, None),
        RunFinished(2, "done"),
        OutboxExecuted(7, "executed", "accepted"),
    ]
    for event in events:
        bus.publish(event)
    assert got == {
        "started": [events[0]], "updated": [events[1]], "finished": [events[2]],
        "outbox": [events[3]],
    }
    bridge.close()
