"""run_gui: the composition root starts the window, reconciles the outbox and shuts down."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.app import run_gui
from solodesk.services import Services
from solodesk.ui.main_window import MainWindow
from tests.gui.support import propose_send
from tests.support.helpers import dead_owner

pytestmark = pytest.mark.gui


def test_run_gui_reconciles_shows_the_window_and_closes_cleanly(
    qtbot: QtBot, qapp: QApplication, gui_services: Services
) -> None:
    store = gui_services.store
    crashed = propose_send(store, n=1)
    store.actions.approve(crashed.id)
    # Left "executing" by a process that crashed mid-send (its owner is gone).
    store.actions.claim(crashed.id, owner=dead_owner())
    database = gui_services.paths.database
    seen: dict[str, object] = {}

    def close_when_shown() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows or not windows[0].is_attached:  # the frame shows before the back end
            QTimer.singleShot(20, close_when_shown)
            return
        win = windows[0]
        seen["title"] = win.windowTitle()
        seen["message"] = win.message_label.fullText()
        seen["loop_running"] = asyncio.get_event_loop().is_running()
        win.close()

    QTimer.singleShot(0, close_when_shown)
    assert run_gui(gui_services) == 0
    assert seen["title"] == "SoloDesk"
    assert seen["loop_running"] is True
    assert "interrupted" in str(seen["message"])
    assert QApplication.applicationName() == "SoloDesk"
    assert QGuiApplication.desktopFileName() == "io.github.solodesk.SoloDesk"
    assert not qapp.windowIcon().isNull()
    # services were closed: the store's connection is gone
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("SELECT 1")
    with sqlite3.connect(database) as conn:
        status = conn.execute("SELECT status FROM actions WHERE id = ?", [crashed.id]).fetchone()
    assert status == ("unknown",)
    assert qapp.quitOnLastWindowClosed()
