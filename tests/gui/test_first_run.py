"""The first-run dialog: asked once (names never set), by the demo prefilled, keyboard-only,
skippable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.app import run_gui
from solodesk.services import Services
from solodesk.store.config import Config
from solodesk.ui.first_run import FirstRunDialog, sender_address
from solodesk.ui.main_window import MainWindow
from tests.gui.support import FakeGateway, FakeMail, make_services, show_window

pytestmark = pytest.mark.gui


@pytest.fixture
def fresh(tmp_path: Path, gateway: FakeGateway, mailer: FakeMail):
    """Services on a home where the founder never set the names (a first run)."""
    services = make_services(tmp_path / "fresh", send_mail=mailer.send, gateway=gateway)
    values = services.config._values
    for key in ("company.name", "founder.name"):
        values.pop(key, None)
    services.config.save()
    assert services.config.first_run()
    try:
        yield services
    finally:
        services.store.close()


def _dialog(qtbot: QtBot) -> FirstRunDialog:
    qtbot.waitUntil(
        lambda: isinstance(QApplication.activeModalWidget(), FirstRunDialog), timeout=3000
    )
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, FirstRunDialog)
    return dialog


def test_first_run_is_detected_from_the_names_ever_being_set(tmp_path: Path) -> None:
    config = Config(tmp_path / "config.json")
    assert config.first_run()
    config.set("llm.model", "local")
    assert config.first_run()  # other settings do not count
    config.set("founder.name", config.get("founder.name"))  # even set to its default
    assert not config.first_run()
    assert not Config(tmp_path / "config.json").first_run()  # and it is remembered


def test_answers_typed_with_the_keyboard_are_saved(
    qtbot: QtBot, fresh: Services, aloop: asyncio.AbstractEventLoop
) -> None:
    win = show_window(qtbot, fresh)
    task = asyncio.ensure_future(win.first_run())
    dialog = _dialog(qtbot)
    assert dialog.name_edit.hasFocus() or QApplication.focusWidget() is dialog.name_edit
    assert dialog.name_edit.text() == "" and dialog.company_edit.text() == ""  # no defaults
    qtbot.keyClicks(dialog.name_edit, "Ada Lovelace")
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Tab)
    qtbot.keyClicks(QApplication.focusWidget(), "Analytical Engines")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    qtbot.keyClicks(QApplication.focusWidget(), "ada@engines.example")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(task.done, timeout=3000)
    assert task.result() is True
    cfg = fresh.config
    assert cfg.get("founder.name") == "Ada Lovelace"
    assert cfg.get("company.name") == "Analytical Engines"
    assert cfg.get("smtp.from") == "Ada Lovelace <ada@engines.example>"
    assert cfg.get("llm.model") == "openai/gui-test"  # the model as it was set
    assert not cfg.first_run()
    assert "signed by Ada Lovelace, Analytical Engines" in win.message_label.fullText()


def test_a_bad_sender_address_keeps_the_dialog_open(qtbot: QtBot, fresh: Services) -> None:
    dialog = FirstRunDialog(fresh.config)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("Ada")
    dialog.sender_edit.setText("ada at engines")
    dialog.accept()
    assert dialog.result() != FirstRunDialog.DialogCode.Accepted.value
    assert dialog.error_label.isVisibleTo(dialog)
    assert "Sender address: 'ada at engines' is not a valid email address" in (
        dialog.error_label.text()
    )
    assert fresh.config.first_run()  # nothing was saved


def test_escape_skips_keeps_the_defaults_and_is_not_asked_again(
    qtbot: QtBot, fresh: Services, aloop: asyncio.AbstractEventLoop
) -> None:
    win = show_window(qtbot, fresh)
    task = asyncio.ensure_future(win.first_run())
    dialog = _dialog(qtbot)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(task.done, timeout=3000)
    assert task.result() is False
    assert not fresh.config.first_run()
    assert fresh.config.get("founder.name") == "the founder"
    assert "until you set your names in Settings" in win.message_label.fullText()


def test_sender_address_gets_the_founders_name() -> None:
    assert sender_address("Ada", "ada@x.example") == "Ada <ada@x.example>"
    assert sender_address("Ada", "Boss <ada@x.example>") == "Boss <ada@x.example>"
    assert sender_address("", "ada@x.example") == "ada@x.example"
    assert sender_address("Ada", "") == ""


def _run_gui_and_look(qapp: QApplication, services: Services, **kwargs: object) -> dict:
    """Run the app; once the first-run dialog shows, note its fields and close the window."""
    seen: dict[str, object] = {}

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        windows = [
            w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        ]
        if not windows or not isinstance(dialog, FirstRunDialog):
            QTimer.singleShot(20, look)
            return
        seen["dialog"] = {
            "name": dialog.name_edit.text(),
            "company": dialog.company_edit.text(),
            "sender": dialog.sender_edit.text(),
        }
        windows[0].close()

    QTimer.singleShot(0, look)
    assert run_gui(services, **kwargs) == 0  # type: ignore[arg-type]
    return seen


def test_the_app_asks_on_a_first_run_only(qapp: QApplication, fresh: Services) -> None:
    seen = _run_gui_and_look(qapp, fresh)
    assert seen["dialog"] == {
        "name": "", "company": "", "sender": "Ada Founder <ada@inkwell.example>"
    }
    # Closing the window while it asked answered nothing: it is asked again next time.
    assert Config(fresh.paths.config_file).first_run()


def test_the_app_does_not_ask_once_set_up(
    qapp: QApplication, gui_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[MainWindow] = []

    async def first_run(self: MainWindow) -> bool:
        asked.append(self)
        return False

    monkeypatch.setattr(MainWindow, "first_run", first_run)

    def close_when_shown() -> None:
        windows = [
            w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        ]
        if not windows or not windows[0].is_attached:  # the frame shows before the back end
            QTimer.singleShot(20, close_when_shown)
            return
        windows[0].close()

    QTimer.singleShot(0, close_when_shown)
    assert not gui_services.config.first_run()
    assert run_gui(gui_services) == 0
    assert asked == []


def test_the_demo_asks_prefilled_with_its_names(qapp: QApplication, tmp_path: Path) -> None:
    from solodesk.demo import DEMO_SETTINGS, prepare_home
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths
    from tests.gui.support import MemorySecrets

    prepare_home(tmp_path / "demo")
    services = build_services(home_paths(tmp_path / "demo"), secrets=MemorySecrets())
    seen = _run_gui_and_look(qapp, services, first_run=True)
    assert seen["dialog"] == {
        "name": DEMO_SETTINGS["founder.name"],
        "company": DEMO_SETTINGS["company.name"],
        "sender": DEMO_SETTINGS["smtp.from"],
    }
