"""Fifty rapid clicks on Approve: one execution (the issue's double-click test)."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from solodesk.ui.inbox_view import InboxView
from tests.gui.conftest import Drive
from tests.gui.support import FakeMail, insert_mail, propose_reply

pytestmark = pytest.mark.gui


def test_fifty_rapid_clicks_on_approve_send_once(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    gui_services.config.set("outbox.undo_seconds", "0")
    store = gui_services.store
    reply = propose_reply(store, insert_mail(store))
    view = InboxView(store, gui_services.runner)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    assert view.editor.action is not None and view.editor.action.id == reply.id

    for _ in range(50):  # as fast as Qt delivers them, no event processing in between
        qtbot.mouseClick(view.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.actions.get(reply.id).status is ActionStatus.EXECUTED)
    drive(asyncio.sleep(0.3))  # let every click's task finish

    assert len(mailer.sent) == 1
    events = [e["event"] for e in store.audit.entries(action_id=reply.id)]
    assert events.count("approved") == 1 and events.count("executed") == 1
