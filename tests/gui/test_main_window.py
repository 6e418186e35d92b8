"""MainWindow: the real window offscreen (screenshot), import, triage, settings, status bar."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus
from solodesk.core.events import ModelCrashed, Progress, RunFailed
from solodesk.core.llmtypes import ToolCall
from solodesk.services import Services
from solodesk.ui.inbox_model import COL_STATUS
from solodesk.ui.main_window import MainWindow, keyring_text
from solodesk.ui.settings_dialog import SettingsDialog
from tests.gui.conftest import Drive
from tests.gui.support import (
    FakeGateway,
    FakeMail,
    fill_showcase,
    insert_mail,
    propose_send,
    show_window,
)

pytestmark = pytest.mark.gui

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_main_window_screenshot(qtbot: QtBot, gui_services: Services, aloop: object) -> None:
    """The real window with a realistic inbox: mixed risks, untrusted replies, a scheduled
    approval counting down, and a high-risk proposal whose editor shows every warning."""
    showcase = fill_showcase(gui_services.store)
    scheduled, risky = showcase["scheduled"], showcase["risky"]

    win = show_window(qtbot, gui_services, active=False)
    assert win.windowTitle() == "SoloDesk"
    assert win.inbox.select_action(risky)
    view = win.inbox
    row = view.model.row_of(scheduled)
    assert row is not None
    assert view.model.index(row, COL_STATUS).data().startswith("sending in 2")
    assert not view.editor.hidden_banner.isHidden()
    assert "DISGUISED" in view.editor.review_text()
    qtbot.wait(100)  # let layouts settle and paint
    image = win.grab()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "main_window.png"
    assert image.save(str(path))
    assert path.exists() and path.stat().st_size > 20_000
    assert image.width() >= 1000 and image.height() >= 600
    assert win.model_label.text() == "model: openai/gui-test"
    assert win.keyring_label.text() == "keyring: NOT secure — secrets kept in memory only"
    # (that the window shows before litellm is imported is checked in its own process:
    # test_startup.py — other tests in this session may have imported it already)

    # the dialogs, for the record (offscreen renderings)
    policy = win.open_policy()
    policy.conditions_edit.setPlainText("risk <= medium\nsize > 3")
    qtbot.waitExposed(policy)
    qtbot.wait(50)
    assert policy.grab().save(str(ARTIFACTS / "policy_dialog.png"))
    policy.reject()
    audit = win.open_audit()
    qtbot.waitExposed(audit)
    audit.verify()
    qtbot.wait(50)
    assert audit.grab().save(str(ARTIFACTS / "audit_dialog.png"))
    audit.reject()


def test_keyring_text() -> None:
    from solodesk.store.secrets import BackendInfo

    info = BackendInfo("keyring.backends.SecretService.Keyring", secure=True)
    assert keyring_text(info) == "keyring: secure (SecretService)"
    insecure = BackendInfo("keyring.backends.fail.Keyring", secure=False)
    assert keyring_text(insecure) == "keyring: NOT secure — secrets kept in memory only"


def _write_mbox(path: Path, count: int) -> Path:
    box = mailbox.mbox(str(path))
    for i in range(count):
        box.add(
            f"From: Customer {i} <c{i}@customer.example>\n"
            f"To: support@inkwell.example\n"
            f"Subject: Question {i}\n"
            f"Message-ID: <import-{i}@customer.example>\n"
            f"Date: Mon, 16 Nov 2026 08:12:33 +0100\n\n"
            f"Hello, question number {i}?\n"
        )
    box.flush()
    box.close()
    return path


def test_import_mail_in_a_worker_thread(
    window: MainWindow, gui_services: Services, tmp_path: Path, drive: Drive[object]
) -> None:
    mbox = _write_mbox(tmp_path / "in.mbox", 3)
    report = drive(window.import_mail(mbox))
    assert report is not None and len(report.imported) == 3
    assert gui_services.store.mail.count() == 3
    assert window.message_label.fullText().startswith("Imported 3 mail, skipped 0")
    again = drive(window.import_mail(mbox))
    assert again is not None and again.duplicates == 3
    assert drive(window.import_mail(tmp_path / "missing.mbox")) is None
    assert "does not exist" in window.message_label.fullText()
    assert window.progress_bar.isHidden()


def test_triage_proposes_replies_and_shows_progress(
    qtbot: QtBot,
    window: MainWindow,
    gui_services: Services,
    gateway: FakeGateway,
    drive: Drive[object],
) -> None:
    assert drive(window.triage_mail()) is None
    assert window.message_label.fullText().startswith("No untriaged mail")
    insert_mail(gui_services.store)
    args = {"to": [], "subject": "", "body": "Hi Marta,\n\nrefunded.\n\nAda"}
    gateway.tool_calls = [ToolCall("call-1", "propose_reply", json.dumps(args))]
    progress: list[Progress] = []
    window.bridge.progress.connect(progress.append)
    report = drive(window.triage_mail())
    assert report is not None and report.count("proposed") == 1
    assert window.message_label.fullText().startswith("Triaged 1 mail: 1 replies proposed")
    assert [p.task for p in progress] == ["triage", "triage"]
    assert window.progress_bar.isHidden()
    qtbot.waitUntil(lambda: window.inbox.model.rowCount() == 1, timeout=1000)
    action = window.inbox.editor.action
    assert action is not None and action.status is ActionStatus.PENDING
    assert window.inbox.editor.subject_edit.text() == "Re: Refund for my annual plan?"


def test_run_failures_and_progress_show_in_the_status_bar(window: MainWindow) -> None:
    bus = window.services.bus
    bus.publish(Progress("model", 0, 0, "starting the local model…"))
    assert window.progress_bar.isVisible() and window.progress_bar.maximum() == 0
    assert window.message_label.fullText() == "starting the local model…"
    bus.publish(RunFailed("triage", "the model server did not start: see local-model.log"))
    assert window.message_label.fullText().startswith("triage failed: the model server")
    assert "b3261e" in window.message_label.styleSheet()


def test_the_source_mail_has_room_and_the_layout_is_remembered(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    fill_showcase(gui_services.store)
    win = show_window(qtbot, gui_services, active=False)
    view = win.inbox
    assert win.size().width() == 1280 and win.size().height() == 800  # the default
    qtbot.waitUntil(lambda: view.source.body_view.isVisible())
    # The source mail has the whole height of the detail area, beside the proposal.
    line = view.source.body_view.fontMetrics().lineSpacing()
    lines = view.source.body_view.viewport().height() // line
    print(f"\nsource mail: {lines} lines visible at 1280x800")
    assert lines >= 15
    assert view.source.height() >= view.detail_splitter.height() - 2
    left, right = view.detail_splitter.sizes()
    assert 0.35 <= right / (left + right) <= 0.55  # a sensible default share
    # The founder drags the splitters; they are kept across restarts.
    view.detail_splitter.setSizes([500, 345])
    view.splitter.setSizes([150, 500])
    wanted = (view.detail_splitter.sizes(), view.splitter.sizes())
    assert wanted[0] != [left, right]
    win.close()
    settings = win.layout_settings()
    assert settings.fileName() == str(gui_services.paths.config_dir / "window.ini")
    assert not settings.value("window/geometry").isEmpty()
    # (the window's size is restored too, fitted to the screen: the offscreen test screen is
    # smaller than the default window, so the splitters are compared at the same size)
    settings.remove("window/geometry")
    settings.sync()
    again = show_window(qtbot, gui_services, active=False)
    assert (again.inbox.detail_splitter.sizes(), again.inbox.splitter.sizes()) == wanted


def test_a_crashed_local_model_shows_in_the_status_bar(window: MainWindow) -> None:
    bus = window.services.bus
    crash = "the local model process crashed (signal 11, SIGSEGV); see /x/local-model.log"
    bus.publish(ModelCrashed(f"{crash}; restarting it", True))
    assert window.message_label.fullText() == f"{crash}; restarting it"
    assert "b3261e" in window.message_label.styleSheet()
    assert window.model_label.text().endswith("— restarting after a crash")
    bus.publish(ModelCrashed(crash, False))
    assert window.model_label.text() == "model: openai/gui-test — crashed"
    assert window.model_label.toolTip() == crash  # kept after later messages
    window.show_message("Ready")
    assert window.model_label.text() == "model: openai/gui-test — crashed"
    window.update_status_labels()  # e.g. settings saved, or a triage that went through
    assert window.model_label.text() == "model: openai/gui-test"


def test_settings_dialog_saves_settings_and_secrets(
    qtbot: QtBot, window: MainWindow, gui_services: Services
) -> None:
    dialog = window.open_settings()
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    assert dialog.secret_state["smtp.password"].text() == "not set"
    assert not dialog.keyring_warning.isHidden()  # the test keyring is not secure
    assert "NOT secure" in dialog.keyring_label.text()
    dialog.fields["llm.model"].setText("ollama_chat/llama3.2")
    dialog.fields["smtp.host"].setText("smtp.inkwell.example")
    dialog.port.setValue(465)
    dialog.security.setCurrentText("ssl")
    dialog.fields["company.name"].setText("Inkwell Notes Ltd")
    dialog.secret_fields["smtp.password"].setText("s3cret")
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.accept()
    cfg = gui_services.config
    assert cfg.get("llm.model") == "ollama_chat/llama3.2"
    assert (cfg.get("smtp.host"), cfg.get("smtp.port"), cfg.get("smtp.security")) == (
        "smtp.inkwell.example",
        "465",
        "ssl",
    )
    assert cfg.get("company.name") == "Inkwell Notes Ltd"
    assert gui_services.secrets.get("smtp.password") == "s3cret"
    assert gui_services.secrets.get("llm.api_key") is None  # empty field: left alone
    assert "s3cret" not in cfg.path.read_text()
    assert window.model_label.text() == "model: ollama_chat/llama3.2"
    assert "memory for this session" in window.message_label.fullText()

    again = window.open_settings()
    assert again.secret_state["smtp.password"].text() == "set"
    assert again.secret_fields["smtp.password"].text() == ""  # never displayed
    again.reject()


def test_closing_the_window_emits_closed(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.closed, timeout=1000):
        window.quit_action.trigger()
    assert not window.isVisible()
    assert QApplication.instance() is not None


def test_undo_window_cancel_and_the_outbox_sends_when_due(
    qtbot: QtBot,
    window: MainWindow,
    gui_services: Services,
    mailer: FakeMail,
    drive: Drive[object],
) -> None:
    store = gui_services.store
    gui_services.config.set("outbox.undo_seconds", "30")
    action = propose_send(store)
    view = window.inbox
    view.refresh()
    assert not view.undo_button.isEnabled()

    scheduled = drive(view.approve_selected())
    assert scheduled is not None and scheduled.status is ActionStatus.SCHEDULED
    assert "Undo send" in window.message_label.fullText()
    assert "sending soon" in view.count_label.text()
    assert view.undo_button.isEnabled()
    assert drive(window.run_due()) == []  # not due yet
    assert mailer.sent == []

    # Ctrl+Z in the inbox cancels it: pending again, selected, nothing sent
    view.table.setFocus()
    window.activateWindow()
    qtbot.waitUntil(view.table.hasFocus)
    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: store.actions.get(action.id).status is ActionStatus.PENDING)
    assert view.selected_action_id() == action.id
    assert "pending again" in window.message_label.fullText()

    again = drive(view.approve_selected())
    assert again is not None and again.status is ActionStatus.SCHEDULED
    with store.db.conn:  # the undo window has passed
        store.db.conn.execute(
            "UPDATE actions SET send_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?",
            [action.id],
        )
    done = drive(window.run_due())
    assert [a.status for a in done] == [ActionStatus.EXECUTED]  # type: ignore[union-attr]
    assert len(mailer.sent) == 1
    assert window.message_label.fullText().startswith(f"#{action.id} sent")
    assert drive(view.undo_send()) is None  # too late: nothing to undo
    assert len(mailer.sent) == 1


def test_the_outbox_scheduler_sends_by_itself_when_the_undo_window_ends(
    qtbot: QtBot,
    window: MainWindow,
    gui_services: Services,
    mailer: FakeMail,
    drive: Drive[object],
) -> None:
    """No timer and no explicit run_due: the window's outbox scheduler (a headless asyncio
    task, woken by the approval) sends the mail once its undo window ends."""
    gui_services.config.set("outbox.undo_seconds", "1")
    action = propose_send(gui_services.store)
    window.inbox.refresh()
    qtbot.waitUntil(lambda: window.outbox_scheduler.running, timeout=60_000)
    scheduled = drive(window.inbox.approve_selected())
    assert scheduled is not None and scheduled.status is ActionStatus.SCHEDULED  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: len(mailer.sent) == 1, timeout=60_000)  # a hang guard only
    qtbot.waitUntil(lambda: window.message_label.fullText().startswith(f"#{action.id} sent"))
    assert gui_services.store.actions.get(action.id).status is ActionStatus.EXECUTED
    print("outbox passes:", window.outbox_scheduler.passes)
    drive(window.finish_work())
    assert not window.outbox_scheduler.running
    assert len(mailer.sent) == 1


def test_import_problems_are_listed_in_the_status_tooltip(
    window: MainWindow, gui_services: Services, tmp_path: Path, drive: Drive[object]
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "ok.eml").write_bytes(
        b"From: sam@example.com\r\nMessage-ID: <ok@example.com>\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    (folder / "empty.eml").write_bytes(b"")
    (folder / "gone.eml").symlink_to(tmp_path / "nowhere")
    report = drive(window.import_mail(folder))
    assert report is not None and len(report.imported) == 1
    text = window.message_label.fullText()
    assert text == (
        "Imported 1 mail, skipped 0 already imported, 1 malformed, 1 not read (hover for "
        "details) — press Triage mail (Ctrl+T) to draft replies"
    )
    tooltip = window.message_label.toolTip()
    assert f"malformed: {folder / 'empty.eml'}: empty file" in tooltip
    assert f"not read: {folder / 'gone.eml'}: dangling symbolic link" in tooltip


def test_import_runs_in_its_own_thread_of_lower_priority(
    window: MainWindow, tmp_path: Path, drive: Drive[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GUI thread gets a CPU before the import when both want one (Linux niceness)."""
    import os
    import threading

    from solodesk.ui import main_window as mw

    seen: dict[str, object] = {}
    original = mw._import_on_own_connection

    def watched(database: Path, path: Path) -> object:
        seen["thread"] = threading.current_thread().name
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return original(database, path)

    monkeypatch.setattr(mw, "_import_on_own_connection", watched)
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    report = drive(window.import_mail(_write_mbox(tmp_path / "in.mbox", 2)))
    assert report is not None and len(report.imported) == 2
    assert seen["thread"] == "mail-import"
    assert seen["nice"] == min(base + mw.IMPORT_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # GUI unchanged
