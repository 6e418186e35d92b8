"""Closing the window while agents or the outbox are working, errors in async slots, and
dialogs that must not stall other tasks."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog
from pytestqt.qtbot import QtBot

from solodesk.actions.smtp import SendOutcome
from solodesk.app import run_gui
from solodesk.core.actions import Action, ActionStatus
from solodesk.core.llmtypes import Completion
from solodesk.services import Services
from solodesk.ui.main_window import MainWindow
from tests.gui.conftest import Drive
from tests.gui.support import FakeGateway, FakeMail, insert_mail, propose_send, show_window

pytestmark = pytest.mark.gui

LOOP_COMPLAINTS = (
    "Task was destroyed but it is pending",
    "Event loop stopped before Future completed",
    "Task exception was never retrieved",
    "coroutine was never awaited",
)


def _run_and_close_when(
    qapp: QApplication,
    services: Services,
    *,
    start: Callable[[MainWindow], None],
    ready: Callable[[MainWindow], bool],
) -> tuple[float, dict[str, Any]]:
    """Run the real app; once the window is shown call ``start``; when ``ready`` close the
    window. Returns the seconds from the close to ``run_gui`` returning, and what was seen."""
    seen: dict[str, Any] = {}

    def step() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows or not windows[0].is_attached:  # the frame shows before the back end
            QTimer.singleShot(10, step)
            return
        win = windows[0]
        if "started" not in seen:
            seen["started"] = True
            seen["loop"] = asyncio.get_event_loop()
            start(win)
        if not ready(win):
            QTimer.singleShot(10, step)
            return
        seen["running"] = win.tasks.running
        seen["closed_at"] = time.monotonic()
        win.close()

    QTimer.singleShot(0, step)
    assert run_gui(services) == 0
    elapsed = time.monotonic() - seen["closed_at"]
    # nothing was left pending when the loop closed (it would be "destroyed but pending")
    assert [t for t in asyncio.all_tasks(seen["loop"]) if not t.done()] == []
    gc.collect()
    return elapsed, seen


def _assert_quiet(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    for text in LOOP_COMPLAINTS:
        assert text not in caplog.text
        assert text not in out + err


def test_closing_during_triage_and_chat_cancels_them_quickly_and_cleanly(
    qapp: QApplication,
    gui_services: Services,
    gateway: FakeGateway,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    insert_mail(gui_services.store)
    never = asyncio.Event()

    async def thinking_forever(*_args: object, **_kwargs: object) -> Completion:
        gateway.calls += 1
        await never.wait()  # a model that never answers
        raise AssertionError("unreachable")

    gateway.complete = thinking_forever  # type: ignore[method-assign]
    gateway.chunks = ["word "]
    gateway.delay = 0.01
    gateway.until_stopped = True  # the chat streams until Stop

    def start(win: MainWindow) -> None:
        win.triage_action.trigger()
        win.chat.input.setText("Tell me a long story")
        win.chat.send_button.click()

    def ready(win: MainWindow) -> bool:
        return gateway.calls >= 2 and "word" in win.chat.transcript.toPlainText()

    elapsed, seen = _run_and_close_when(qapp, gui_services, start=start, ready=ready)
    assert sorted(seen["running"]) == ["Chat", "Triage"]
    # The model never answers: run_gui returned only because both were cancelled (no bound on
    # how fast: that is the machine's, see the benchmarks).
    print(f"close to return: {elapsed:.3f} s")
    _assert_quiet(caplog, capfd)
    assert "cancelled at shutdown: Triage" in caplog.text
    with sqlite3.connect(gui_services.paths.database) as conn:
        triage = conn.execute("SELECT triage_status FROM mail").fetchone()
        roles = [r[0] for r in conn.execute("SELECT role FROM messages ORDER BY id")]
    assert triage == ("new",)  # the mail is triaged next time
    assert roles[0] == "user"


class SlowMail(FakeMail):
    """A sender that takes ``seconds`` (None: never finishes)."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__()
        self.seconds = seconds
        self.started = 0

    async def send(self, action: Action) -> SendOutcome:
        self.started += 1
        if self.seconds is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.seconds or 0)
        return await super().send(action)


@pytest.mark.parametrize("seconds", [0.4, None], ids=["finishes", "hangs"])
def test_closing_during_a_send_finishes_it_or_parks_it_as_unknown(
    qapp: QApplication,
    gui_services: Services,
    seconds: float | None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = SlowMail(seconds)
    gui_services.outbox.send_mail = slow.send
    monkeypatch.setattr(MainWindow, "shutdown_grace_s", 0.5)
    action = propose_send(gui_services.store, n=1)

    def start(win: MainWindow) -> None:
        win.inbox.approve_button.click()

    elapsed, seen = _run_and_close_when(
        qapp, gui_services, start=start, ready=lambda _w: slow.started == 1
    )
    assert seen["running"] == ["Approving"]
    with sqlite3.connect(gui_services.paths.database) as conn:
        status = conn.execute("SELECT status FROM actions WHERE id = ?", [action.id]).fetchone()
    print(f"close to return: {elapsed:.3f} s")
    if seconds is not None:  # the send in progress was allowed to finish: no "unknown"
        assert status == ("executed",) and len(slow.sent) == 1
    else:  # it did not finish within the grace period: cancelled, never re-sent
        assert status == ("unknown",) and slow.sent == []
        # It waited out the grace period first (a lower bound: a slow machine only adds to it;
        # Qt timers may fire ~5% early).
        assert elapsed >= 0.4
    _assert_quiet(caplog, capfd)


def test_an_error_in_an_async_slot_is_shown_logged_and_the_app_keeps_working(
    qtbot: QtBot,
    gui_services: Services,
    aloop: asyncio.AbstractEventLoop,
    mailer: FakeMail,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    action = propose_send(gui_services.store)
    win = show_window(qtbot, gui_services, focus_list=True)

    async def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(win.inbox, "approve_selected", broken)
    qtbot.keyClick(win.inbox.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "boom" in win.message_label.fullText())
    assert win.message_label.fullText() == "Approving failed: RuntimeError: boom"
    assert "b3261e" in win.message_label.styleSheet()
    [record] = [r for r in caplog.records if r.getMessage() == "Approving failed"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    # the window still works: the real approval goes through
    monkeypatch.undo()
    qtbot.keyClick(win.inbox.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: gui_services.store.actions.get(action.id).status is ActionStatus.EXECUTED
    )
    assert len(mailer.sent) == 1 and win.isVisible()


def test_the_reason_dialog_does_not_stall_other_tasks(
    qtbot: QtBot,
    gui_services: Services,
    aloop: asyncio.AbstractEventLoop,
    mailer: FakeMail,
    drive: Drive[object],
) -> None:
    store = gui_services.store
    to_reject = propose_send(store, n=1)
    due = propose_send(store, n=2)
    win = show_window(qtbot, gui_services, active=False)
    win.inbox.select_action(to_reject.id)
    win.inbox.reject_button.click()
    qtbot.waitUntil(lambda: win.inbox.findChild(QInputDialog, "rejectReasonDialog") is not None)
    dialog = win.inbox.findChild(QInputDialog, "rejectReasonDialog")
    assert dialog is not None and dialog.isVisible()
    # while the founder types the reason, the outbox still sends what is due
    store.actions.approve(due.id)
    done = drive(win.run_due())
    assert [a.status for a in done] == [ActionStatus.EXECUTED]  # type: ignore[union-attr]
    assert len(mailer.sent) == 1
    dialog.setTextValue("wrong customer")
    dialog.accept()
    qtbot.waitUntil(lambda: store.actions.get(to_reject.id).status is ActionStatus.REJECTED)
