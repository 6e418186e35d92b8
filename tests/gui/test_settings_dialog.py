"""The Settings dialog checks every value inline and saves nothing while one is not allowed
(issue 6); values in the settings file that are not allowed are shown and can be fixed."""

from __future__ import annotations

import json

import pytest
from pytestqt.qtbot import QtBot

from solodesk.services import Services
from solodesk.store.config import Config
from solodesk.ui.main_window import MainWindow
from solodesk.ui.settings_dialog import SettingsDialog
from tests.gui.support import show_window

pytestmark = pytest.mark.gui


def test_a_bad_value_is_shown_inline_and_nothing_is_saved(
    qtbot: QtBot, window: MainWindow, gui_services: Services
) -> None:
    dialog = window.open_settings()
    before = gui_services.config.path.read_text()
    dialog.fields["smtp.host"].setText("smtp.inkwell.example")  # valid
    dialog.spins["outbox.undo_seconds"].setValue(30)  # valid
    dialog.secret_fields["smtp.password"].setText("s3cret")
    dialog.fields["smtp.from"].setText("not an address")  # not allowed
    error = dialog.field_errors["smtp.from"]
    assert error.isVisibleTo(dialog)  # shown as typed, before Save
    assert error.text().startswith("This value is not one address") and "RFC 5322" in error.text()
    assert error.toolTip().startswith("smtp.from is not one address")
    assert error.toolTip().endswith("not 'not an address'")
    assert "b3261e" in dialog.fields["smtp.from"].styleSheet()

    dialog.accept()

    assert dialog.isVisible()  # stays open
    assert "Nothing was saved" in dialog.error_label.text()
    assert gui_services.config.path.read_text() == before  # not even the valid values
    assert Config(gui_services.config.path).get("smtp.host") == ""
    assert gui_services.secrets.get("smtp.password") is None
    qtbot.waitUntil(dialog.fields["smtp.from"].hasFocus, timeout=1000)  # the first bad field

    dialog.fields["smtp.from"].setText("Ada <ada@inkwell.example>\nBcc: eve@evil.example")
    assert "control characters (LF)" in error.text()
    dialog.fields["smtp.from"].setText("Ada <ada@inkwell.example>")
    assert not error.isVisibleTo(dialog)
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.accept()
    cfg = Config(gui_services.config.path)
    assert cfg.get("smtp.host") == "smtp.inkwell.example"
    assert cfg.get_int("outbox.undo_seconds") == 30
    assert cfg.get("smtp.from") == "Ada <ada@inkwell.example>"
    assert gui_services.secrets.get("smtp.password") == "s3cret"


def test_number_fields_are_bounded_by_the_setting_type(window: MainWindow) -> None:
    dialog = window.open_settings()
    assert (dialog.port.minimum(), dialog.port.maximum()) == (1, 65535)
    undo = dialog.spins["outbox.undo_seconds"]
    assert (undo.minimum(), undo.maximum()) == (0, 86400)
    assert dialog.spins["smtp.timeout"].minimum() == 1
    assert dialog.spins["llm.validation_retries"].maximum() == 5
    dialog.reject()


def test_hand_edited_bad_values_are_shown_and_saving_replaces_them(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    path = gui_services.config.path
    data = json.loads(path.read_text())
    data.update({"smtp.port": "587x", "smtp.from": "not an address"})
    path.write_text(json.dumps(data), encoding="utf-8")
    gui_services.config = Config(path)
    gui_services.runner.config = gui_services.config
    gui_services.runner.gates.config = gui_services.config

    window = show_window(qtbot, gui_services)
    # The window says so at once: status bar in red, every problem in the tooltip.
    assert window.message_label.fullText().startswith("Settings not allowed: smtp.from, smtp.port")
    assert "b3261e" in window.message_label.styleSheet()
    assert str(path) in window.message_label.toolTip()

    dialog = window.open_settings()
    assert isinstance(dialog, SettingsDialog)
    assert dialog.file_problems.isVisibleTo(dialog)
    assert "smtp.port = '587x'" in dialog.file_problems.text()
    assert dialog.port.value() == 587  # a number shows its default
    assert dialog.fields["smtp.from"].text() == "not an address"  # text shows what is there
    assert dialog.field_errors["smtp.from"].isVisibleTo(dialog)
    dialog.accept()
    assert dialog.isVisible()  # smtp.from still not allowed: nothing saved
    assert json.loads(path.read_text())["smtp.port"] == "587x"

    dialog.fields["smtp.from"].setText("ada@inkwell.example")
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.accept()
    assert gui_services.config.problems == []
    assert json.loads(path.read_text())["smtp.port"] == "587"
    assert window.message_label.fullText() == "Settings saved"
