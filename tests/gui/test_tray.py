"""The tray: pending count, menu, close-to-tray, notifications (batched, Do Not Disturb).

Offscreen Qt (like Xvfb without a tray host) reports no system tray, so each test says whether
there is one (``TrayController(available=...)``, ``run_gui(tray=...)``). With ``available=True``
a real :class:`QSystemTrayIcon` is built and its icon and tooltip are checked; the bubbles
themselves go to a recorder (``show_notice``) since no notification service is running.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus
from solodesk.core.events import (
    ActionProposed,
    ActionResolved,
    ModelCrashed,
    OutboxExecuted,
    RunFailed,
)
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
from solodesk.store.secrets import SecretStore
from solodesk.ui.main_window import MainWindow
from solodesk.ui.notify import Notice
from solodesk.ui.tray import HIDDEN_NOTE, TrayController, badge_icon, pending_text
from tests.conftest import configure
from tests.gui.support import propose_send, show_window
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.gui


@pytest.fixture
def win(qtbot: QtBot, gui_services: Services, aloop: object) -> Iterator[MainWindow]:
    """The main window; quit for good at the end (closing would only hide it in the tray)."""
    window = show_window(qtbot, gui_services)
    yield window
    window.request_quit()


def _tray(window: MainWindow, *, available: bool) -> tuple[TrayController, list[Notice]]:
    shown: list[Notice] = []
    tray = TrayController(window, window.services, available=available,
                          show_notice=shown.append)
    return tray, shown


def _propose(services: Services, n: int) -> int:
    action = propose_send(services.store, n=n)
    services.bus.publish(ActionProposed(action.id, "send_email", "pending", action.summary))
    return action.id


def test_pending_text_and_badge_icon(qapp: QApplication) -> None:
    assert pending_text(0) == "SoloDesk — no proposal waiting"
    assert pending_text(1) == "SoloDesk — 1 proposal waiting"
    assert pending_text(12) == "SoloDesk — 12 proposals waiting"
    base = QPixmap(64, 64)
    base.fill(QColor("#ffffff"))
    icon = QIcon(base)
    assert badge_icon(icon, 0) is icon
    image = badge_icon(icon, 3).pixmap(64, 64).toImage()
    corner = image.pixelColor(52, 52)  # inside the red disc
    assert (corner.red(), corner.green() < 80, corner.blue() < 80) == (0xC6, True, True)
    assert image.pixelColor(4, 4) == QColor("#ffffff")  # the app icon is still there
    assert not badge_icon(icon, 250).isNull()  # "99+"


def test_without_a_tray_closing_quits_as_before(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    tray, shown = _tray(win, available=False)
    assert tray.icon is None
    assert not tray.keeps_running()
    with qtbot.waitSignal(win.closed, timeout=1000):
        win.close()
    assert win.closing
    assert shown == []


def test_tray_count_tooltip_menu_and_open(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    propose_send(gui_services.store, n=1)
    tray, _shown = _tray(win, available=True)
    assert tray.icon is not None and tray.icon.isVisible()
    assert tray.icon.toolTip() == "SoloDesk — 1 proposal waiting"
    assert [a.text() for a in tray.menu.actions() if not a.isSeparator()] == [
        "&Open SoloDesk", "&Do Not Disturb", "&Quit SoloDesk"]
    assert tray.icon.contextMenu() is tray.menu
    second = _propose(gui_services, 2)
    qtbot.waitUntil(lambda: tray.pending == 2)
    assert tray.icon.toolTip() == "SoloDesk — 2 proposals waiting"
    gui_services.store.actions.reject(second, reason="no")
    gui_services.bus.publish(ActionResolved(second, "rejected"))
    qtbot.waitUntil(lambda: tray.pending == 1)
    assert tray.icon.toolTip() == "SoloDesk — 1 proposal waiting"

    # Closing hides the window; SoloDesk keeps running (the outbox was not stopped).
    win.close()
    assert not win.isVisible()
    assert not win.closing
    assert not win._outbox_stop.is_set()
    # A click on the icon opens it again.
    from PySide6.QtWidgets import QSystemTrayIcon

    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    qtbot.waitUntil(win.isVisible)
    win.close()
    tray.open_action.trigger()
    qtbot.waitUntil(win.isVisible)
    # With ui.close_to_tray off, closing quits even with a tray.
    gui_services.config.set("ui.close_to_tray", "false")
    with qtbot.waitSignal(win.closed, timeout=1000):
        win.close()
    assert win.closing


def test_the_first_hide_says_once_where_soloDesk_went(  # noqa: N802
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    tray, shown = _tray(win, available=True)
    win.close()
    assert shown == [HIDDEN_NOTE]
    tray.open_window()
    win.close()
    assert shown == [HIDDEN_NOTE]  # once (remembered in window.ini)
    # The Quit menu entry ends it for good.
    with qtbot.waitSignal(win.closed, timeout=1000):
        tray.quit_action.trigger()
    assert win.closing


def test_new_proposals_are_batched_while_the_window_is_hidden(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    tray, shown = _tray(win, available=True)
    # While the founder looks at the window, nothing pops up.
    _propose(gui_services, 1)
    qtbot.waitUntil(lambda: tray.pending == 1)
    assert tray.notifier.waiting == 0
    win.close()  # to the tray
    shown.clear()
    ids = [_propose(gui_services, n) for n in range(2, 6)]
    qtbot.waitUntil(lambda: tray.pending == 5)
    assert tray.notifier.waiting == 4
    assert shown == []  # not one bubble per proposal
    with qtbot.waitSignal(tray.notifier.shown, timeout=10_000) as got:
        pass  # the batch timer fires
    notice = got.args[0]
    print("batched notice:", notice)
    assert shown == [notice]
    assert notice.title == "4 new proposals"
    assert notice.text.splitlines()[-1] == "and 1 more"
    assert notice.target == f"action:{ids[0]}"
    # Clicking it opens the window on that proposal.
    tray._notice_clicked()
    qtbot.waitUntil(win.isVisible)
    assert win.current_page() == "inbox"
    qtbot.waitUntil(lambda: win.inbox.selected_action_id() == ids[0])

    # One proposal: its summary.
    win.close()
    shown.clear()
    one = _propose(gui_services, 9)
    qtbot.waitUntil(lambda: tray.notifier.waiting == 1)
    assert tray.notifier.flush() == Notice(
        "New proposal waiting for you", "Invoice 9 attached → bob@partner.example",
        f"action:{one}")
    # Back at the window before the batch is shown: no bubble.
    _propose(gui_services, 10)
    qtbot.waitUntil(lambda: tray.notifier.waiting == 1)
    tray.open_window()
    qtbot.waitUntil(tray.attentive)
    assert tray.notifier.flush() is None


def test_do_not_disturb_shows_only_the_count(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    tray, shown = _tray(win, available=True)
    tray.dnd_action.trigger()  # the menu's toggle
    assert tray.do_not_disturb
    assert gui_services.config.get_bool("ui.do_not_disturb")
    win.close()
    assert shown == []  # not even the note on where SoloDesk went
    suppressed: list[Notice] = []
    tray.notifier.suppressed.connect(suppressed.append)
    _propose(gui_services, 1)
    qtbot.waitUntil(lambda: tray.pending == 1)  # the count still changes
    assert tray.icon is not None and tray.icon.toolTip() == "SoloDesk — 1 proposal waiting"
    assert tray.notifier.flush() is None
    gui_services.bus.publish(RunFailed("job:morning-mail", "IMAP login refused"))
    qtbot.waitUntil(lambda: len(suppressed) == 2)
    assert shown == []
    # ...and the failure is still in the status bar.
    assert "job:morning-mail failed: IMAP login refused" in win.message_label.fullText()
    # Turned off (here in Settings): bubbles again.
    gui_services.config.set("ui.do_not_disturb", "false")
    assert not tray.do_not_disturb
    tray.menu.aboutToShow.emit()
    assert not tray.dnd_action.isChecked()
    gui_services.bus.publish(RunFailed("job:morning-mail", "IMAP login refused"))
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert shown[0] == Notice("Job morning-mail failed", "IMAP login refused",
                              "job:morning-mail", True)
    # A job paused at its budget says so (the scheduler's message names the budget).
    gui_services.bus.publish(RunFailed(
        "job:morning-mail", "job morning-mail paused: the job morning-mail budget of $0.10 "
        "would be crossed"))
    qtbot.waitUntil(lambda: len(shown) == 2)
    assert shown[1] == Notice("Job morning-mail paused",
                              "the job morning-mail budget of $0.10 would be crossed",
                              "job:morning-mail", True)


def test_failures_notify_while_the_window_is_hidden(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    assert gui_services.store.jobs.get("morning-mail")  # shipped, disabled
    tray, shown = _tray(win, available=True)
    # In front of the founder, a failure is only in the status bar.
    gui_services.bus.publish(RunFailed("job:morning-mail", "the server did not answer"))
    qtbot.waitUntil(lambda: "did not answer" in win.message_label.fullText())
    assert shown == []
    win.close()
    shown.clear()
    bus = gui_services.bus
    bus.publish(RunFailed("job:morning-mail", "the server did not answer"))
    bus.publish(RunFailed("triage", "a founder's own triage failed"))  # shown where started
    bus.publish(OutboxExecuted(7, "failed", "550 mailbox unavailable"))
    bus.publish(OutboxExecuted(8, "unknown", "the connection dropped after DATA"))
    bus.publish(OutboxExecuted(9, "executed", "accepted by 127.0.0.1"))  # not news
    bus.publish(ModelCrashed("the model server died (SIGSEGV); see local-model.log", True))
    qtbot.waitUntil(lambda: len(shown) == 4)
    assert [(n.title, n.target, n.error) for n in shown] == [
        ("Job morning-mail failed", "job:morning-mail", True),
        ("Sending #7 failed", "action:7", True),
        ("#8 may not have been sent", "action:8", True),
        ("The local model crashed — restarting", "inbox", True),
    ]
    # Clicking the job's notice opens the Jobs page on that job.
    tray.open_window(shown[0].target)
    assert win.current_page() == "jobs"
    assert win.jobs.selected_job() == "morning-mail"


def test_closed_to_the_tray_the_outbox_still_sends_and_quit_ends_cleanly(
    qapp: QApplication, tmp_path: Path
) -> None:
    """The real app (run_gui) with a tray: an approval made while the window is closed to the
    tray reaches a real SMTP server; Quit then shuts down as closing did (status 0, no task
    left, the services closed)."""
    from solodesk.app import run_gui

    sink = SmtpSink().start()
    services = build_services(home_paths(tmp_path / "home"), secrets=SecretStore())
    configure(services, api_base="http://127.0.0.1:9/v1", smtp_port=sink.port)
    services.config.set("outbox.undo_seconds", "1")
    action = propose_send(services.store, n=1)
    seen: dict[str, object] = {}

    started: list[MainWindow] = []

    async def on_start(window: MainWindow) -> None:
        started.append(window)  # (windows of earlier tests may still exist)

    def step() -> None:
        if not started:
            QTimer.singleShot(10, step)
            return
        win = started[0]
        if "hidden" not in seen:
            seen["hidden"] = True
            seen["loop"] = asyncio.get_event_loop()
            win.close()  # to the tray
            seen["visible_after_close"] = win.isVisible()
            # Approved while hidden (e.g. by a policy rule during a job): the undo window
            # runs, then the outbox sends.
            asyncio.ensure_future(services.runner.approve(action.id, delay_s=0.5))
        if not sink.messages:
            QTimer.singleShot(20, step)
            return
        seen["status_while_hidden"] = services.store.actions.get(action.id).status
        seen["visible_when_sent"] = win.isVisible()
        tray = win.findChild(TrayController)
        assert tray is not None
        tray.quit_action.trigger()

    QTimer.singleShot(0, step)
    try:
        assert run_gui(services, tray=True, first_run=False, on_start=on_start) == 0
    finally:
        sink.stop()
    assert seen["visible_after_close"] is False
    assert seen["visible_when_sent"] is False
    assert seen["status_while_hidden"] is ActionStatus.EXECUTED
    assert len(sink.messages) == 1
    assert sink.messages[0].message["Subject"] == "Invoice 1 attached"
    assert [t for t in asyncio.all_tasks(seen["loop"]) if not t.done()] == []  # type: ignore[arg-type]
    with pytest.raises(sqlite3.ProgrammingError):  # the services were closed
        services.store.db.execute("SELECT 1")
    gc.collect()


def test_settings_dialog_has_the_tray_settings(
    qtbot: QtBot, gui_services: Services, win: MainWindow
) -> None:
    dialog = win.open_settings()
    close, dnd = dialog.checks["ui.close_to_tray"], dialog.checks["ui.do_not_disturb"]
    assert (close.isChecked(), dnd.isChecked()) == (True, False)  # the defaults
    assert "tray" in close.toolTip()
    close.setChecked(False)
    dnd.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.accept()
    assert not gui_services.config.get_bool("ui.close_to_tray")
    assert gui_services.config.get_bool("ui.do_not_disturb")
    tray, _shown = _tray(win, available=True)
    assert tray.do_not_disturb and tray.dnd_action.isChecked()
    assert not tray.keeps_running()


def test_scheduled_jobs_run_in_the_app_and_keep_running_in_the_tray(
    qapp: QApplication, gui_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose slot was missed while SoloDesk was closed runs once at start; one in
    progress when the window is closed to the tray goes on and finishes."""
    from solodesk.app import run_gui
    from solodesk.scheduler import JOB_KINDS, JobContext, JobKind, JobResult

    hidden = asyncio.Event()
    ran: list[tuple[str, bool]] = []

    async def wait_for_hide(ctx: JobContext) -> JobResult:
        await hidden.wait()  # still running when the window goes to the tray
        ran.append((ctx.slot, started[0].isVisible()))
        return JobResult(ok=True, detail="ran while hidden")

    monkeypatch.setitem(JOB_KINDS, "wait_for_hide", JobKind("wait_for_hide", "test", wait_for_hide))
    store = gui_services.store
    store.jobs.add("nightly", schedule="0 3 * * *", kind="wait_for_hide", enabled=True)
    store.db.execute("UPDATE jobs SET enabled_since = '2026-01-01T00:00:00.000000Z',"
                     " created_at = '2026-01-01T00:00:00.000000Z' WHERE name = 'nightly'")
    seen: dict[str, object] = {}

    started: list[MainWindow] = []

    async def on_start(window: MainWindow) -> None:
        started.append(window)  # (windows of earlier tests may still exist)

    def step() -> None:
        seen["looks"] = int(seen.get("looks", 0)) + 1  # type: ignore[call-overload]
        if started and int(seen["looks"]) > 30_000:  # a hang guard only (minutes)
            started[0].request_quit()
            return
        if not started or not (hidden.is_set()
                               or store.jobs.running(store.jobs.get("nightly"))):
            QTimer.singleShot(10, step)
            return
        win = started[0]
        if not hidden.is_set():
            win.close()  # to the tray, while the job runs
            hidden.set()
        last = store.jobs.last_run(store.jobs.get("nightly"))
        if last is None or last.outcome == "running":
            QTimer.singleShot(20, step)
            return
        seen["outcome"] = (last.outcome, last.detail)
        seen["runs"] = len(store.jobs.history("nightly"))
        win.request_quit()

    QTimer.singleShot(0, step)
    assert run_gui(gui_services, tray=True, first_run=False, on_start=on_start) == 0
    assert seen["outcome"] == ("done", "ran while hidden")
    assert len(ran) == 1 and ran[0][1] is False  # once (missed slots catch up once), hidden
    assert seen["runs"] == 1
