"""Triage at speed: the founder works through the inbox with the keyboard only, selects several
proposals, approves all low-risk ones, undoes a send in its window, and settles interrupted
sends."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from solodesk.ui.inbox_model import COL_STATUS
from solodesk.ui.main_window import MainWindow
from solodesk.ui.shortcuts import ShortcutsDialog, native
from tests.gui.support import FakeMail, insert_mail, propose_reply, propose_send, show_window
from tests.support.helpers import dead_owner

pytestmark = pytest.mark.gui

Key = Qt.Key
Mod = Qt.KeyboardModifier


class Keyboard:
    """Sends key events to whatever has keyboard focus, as a real keyboard would."""

    def __init__(self, qtbot: QtBot, window: MainWindow) -> None:
        self.qtbot = qtbot
        self.window = window

    def focus(self) -> QWidget:
        widget = QApplication.focusWidget()
        assert widget is not None, "nothing has keyboard focus"
        return widget

    def press(self, key: Key, modifier: Mod = Mod.NoModifier) -> None:
        self.qtbot.keyClick(self.focus(), key, modifier)

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(self.focus(), text)

    def dialog(self, kind: type[QWidget]) -> QWidget:
        self.qtbot.waitUntil(lambda: isinstance(QApplication.activeWindow(), kind), timeout=2000)
        active = QApplication.activeWindow()
        assert active is not None
        return active

    def back_in_window(self) -> None:
        self.qtbot.waitUntil(lambda: QApplication.activeWindow() is self.window, timeout=2000)


@pytest.fixture
def window(qtbot: QtBot, gui_services: Services, aloop: asyncio.AbstractEventLoop) -> MainWindow:
    """The shown, active main window with keyboard focus on the inbox list."""
    return show_window(qtbot, gui_services, focus_list=True)


def _wait_status(qtbot: QtBot, services: Services, action_id: int, status: ActionStatus) -> None:
    qtbot.waitUntil(
        lambda: services.store.actions.get(action_id).status is status, timeout=3000
    )


def test_keyboard_only_triage_of_fifty_proposals(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, aloop: asyncio.AbstractEventLoop
) -> None:
    store = gui_services.store
    mail_id = insert_mail(store)
    for n in range(1, 51):
        if n % 2:
            propose_send(store, n=n, risk="low", risk_reasons=[])
        else:
            propose_reply(store, mail_id, n=n)
    win = show_window(qtbot, gui_services, focus_list=True)
    view = win.inbox
    # The half-second guard against approving an auto-selected proposal unseen has its own
    # test; here the founder reads fast.
    view.min_review_seconds = 0
    kb = Keyboard(qtbot, win)
    config = gui_services.config

    approved: list[int] = []
    rejected: dict[int, str] = {}
    edited: dict[int, str] = {}
    for expected in range(50, 0, -1):  # newest first; after each decision the next is selected
        assert view.selected_action_id() == expected
        assert view.table.hasFocus()
        if expected % 10 == 0:  # reject with a reason: Ctrl+Delete, type it, Enter
            kb.press(Key.Key_Delete, Mod.ControlModifier)
            kb.dialog(QInputDialog)
            kb.type(f"not needed {expected}")
            kb.press(Key.Key_Return)
            _wait_status(qtbot, gui_services, expected, ActionStatus.REJECTED)
            kb.back_in_window()
            rejected[expected] = f"not needed {expected}"
            continue
        if expected % 10 == 3:  # E edits the body, Esc returns to the list, Ctrl+Return sends
            kb.press(Key.Key_E)
            assert view.editor.body_edit.hasFocus()
            kb.press(Key.Key_End, Mod.ControlModifier)
            kb.type(f"PS {expected}")
            kb.press(Key.Key_Escape)
            assert view.table.hasFocus() and view.editor.is_dirty()
            edited[expected] = f"PS {expected}"
        elif expected % 10 == 5:  # look around first: J / K and Down / Up
            kb.press(Key.Key_J)
            assert view.selected_action_id() == expected - 1
            kb.press(Key.Key_K)
            assert view.selected_action_id() == expected
            kb.press(Key.Key_Down)
            assert view.selected_action_id() == expected - 1
            kb.press(Key.Key_Up)
            assert view.selected_action_id() == expected
        elif expected % 10 == 7:  # approve in an undo window, then Ctrl+Z takes it back
            config.set("outbox.undo_seconds", "30")
            kb.press(Key.Key_Return, Mod.ControlModifier)
            _wait_status(qtbot, gui_services, expected, ActionStatus.SCHEDULED)
            assert view.selected_action_id() == expected - 1  # moved on to the next pending
            kb.press(Key.Key_Z, Mod.ControlModifier)
            _wait_status(qtbot, gui_services, expected, ActionStatus.PENDING)
            assert view.selected_action_id() == expected  # back on the undone one
            config.set("outbox.undo_seconds", "0")
        kb.press(Key.Key_Return, Mod.ControlModifier)
        _wait_status(qtbot, gui_services, expected, ActionStatus.EXECUTED)
        approved.append(expected)

    assert view.model.rowCount() == 0 and view.selected_action_id() is None
    assert view.count_label.text() == "0 pending proposals"
    for action_id in range(1, 51):
        action = store.actions.get(action_id)
        if action_id in rejected:
            assert action.status is ActionStatus.REJECTED
            assert action.result == {"reason": rejected[action_id]}
        else:
            assert action.status is ActionStatus.EXECUTED
    # the fake sender was called exactly once per approved proposal, with what was shown
    sent_ids = [m["message_id"] for m in mailer.sent]
    assert len(sent_ids) == len(set(sent_ids)) == len(approved) == 45
    by_id = {m["message_id"]: m for m in mailer.sent}
    for action_id, ps in edited.items():
        action = store.actions.get(action_id)
        assert by_id[action.payload["message_id"]]["body"].endswith(ps)
        assert action.approved_sha256 == action.payload_sha256
    events = [e["event"] for e in store.audit.entries(action_id=17)]
    assert events == [
        "proposed", "approved", "approval_cancelled", "approved", "claimed", "executed",
    ]


def test_shift_select_then_bulk_approve_and_bulk_reject_with_one_reason(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    for n in range(1, 7):
        propose_send(store, n=n)
    view = window.inbox
    view.refresh()
    view.focus_list()
    kb = Keyboard(qtbot, window)
    assert view.selected_action_id() == 6
    kb.press(Key.Key_Down, Mod.ShiftModifier)
    kb.press(Key.Key_Down, Mod.ShiftModifier)
    assert view.selected_ids() == [6, 5, 4]
    assert view.approve_button.text().startswith("&Approve 3 selected")
    kb.press(Key.Key_Return, Mod.ControlModifier)
    box = kb.dialog(QMessageBox)
    assert isinstance(box, QMessageBox) and box.text() == "Approve 3 selected proposals?"
    kb.press(Key.Key_Return)
    for action_id in (6, 5, 4):
        _wait_status(qtbot, gui_services, action_id, ActionStatus.EXECUTED)
    kb.back_in_window()
    assert len(mailer.sent) == 3
    assert window.message_label.fullText().startswith("Approved 3 of 3 selected: 3 executed")
    assert view.selected_action_id() == 3  # the next pending one

    kb.press(Key.Key_Down, Mod.ShiftModifier)
    assert view.selected_ids() == [3, 2]
    kb.press(Key.Key_Delete, Mod.ControlModifier)
    dialog = kb.dialog(QInputDialog)
    assert "these 2 proposals" in dialog.labelText()  # type: ignore[attr-defined]
    kb.type("duplicates")
    kb.press(Key.Key_Return)
    for action_id in (3, 2):
        _wait_status(qtbot, gui_services, action_id, ActionStatus.REJECTED)
        assert store.actions.get(action_id).result == {"reason": "duplicates"}
    assert store.actions.get(1).status is ActionStatus.PENDING
    assert len(mailer.sent) == 3
    kb.back_in_window()
    assert view.selected_action_id() == 1


def test_approve_all_visible_low_risk_leaves_medium_and_high_pending(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    mail_id = insert_mail(store)
    low_support = [propose_reply(store, mail_id, n=n).id for n in (1, 2)]
    low_billing = propose_send(store, n=3, risk="low", risk_reasons=[], agent="billing").id
    medium = propose_send(store, n=4).id
    high = propose_reply(store, mail_id, n=5, risk="high", risk_reasons=["hidden characters"]).id
    view = window.inbox
    view.refresh()
    kb = Keyboard(qtbot, window)

    # only what is visible: with the agent filter on "support", billing's stays pending
    view.set_filters(agent="support")
    view.focus_list()
    kb.press(Key.Key_Return, Mod.ControlModifier | Mod.ShiftModifier)
    box = kb.dialog(QMessageBox)
    assert isinstance(box, QMessageBox)
    assert box.text() == "Approve 2 low-risk proposals?"
    assert "sent at once" in box.informativeText()
    kb.press(Key.Key_Return)
    for action_id in low_support:
        _wait_status(qtbot, gui_services, action_id, ActionStatus.EXECUTED)
    kb.back_in_window()
    assert store.actions.get(low_billing).status is ActionStatus.PENDING

    view.clear_filters()
    gui_services.config.set("outbox.undo_seconds", "30")
    kb.press(Key.Key_Return, Mod.ControlModifier | Mod.ShiftModifier)
    box = kb.dialog(QMessageBox)
    assert box.text() == "Approve 1 low-risk proposal?"  # type: ignore[attr-defined]
    assert "30 s undo window" in box.informativeText()  # type: ignore[attr-defined]
    kb.press(Key.Key_Return)
    _wait_status(qtbot, gui_services, low_billing, ActionStatus.SCHEDULED)
    kb.back_in_window()
    assert store.actions.get(medium).status is ActionStatus.PENDING
    assert store.actions.get(high).status is ActionStatus.PENDING
    assert len(mailer.sent) == 2
    kb.press(Key.Key_Return, Mod.ControlModifier | Mod.ShiftModifier)
    qtbot.waitUntil(
        lambda: window.message_label.fullText() == "No low-risk proposals to approve"
    )
    # Ctrl+A selects every visible row; the scheduled one is not counted; Esc approves nothing
    view.focus_list()
    kb.press(Key.Key_A, Mod.ControlModifier)
    assert view.selected_ids() == [high, medium, low_billing]
    kb.press(Key.Key_Return, Mod.ControlModifier)
    box = kb.dialog(QMessageBox)
    assert box.text() == "Approve 2 selected proposals?"  # type: ignore[attr-defined]
    kb.press(Key.Key_Escape)
    kb.back_in_window()
    assert store.actions.get(medium).status is ActionStatus.PENDING
    assert store.actions.get(high).status is ActionStatus.PENDING
    assert "cancelled" in window.message_label.fullText()


def test_approve_low_risk_never_offers_a_retried_draft(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    clean = propose_send(store, n=1, risk="low", risk_reasons=[]).id
    # Rated low (e.g. by an older SoloDesk), but drafted at the model's third attempt.
    retried = propose_send(store, n=2, risk="low", risk_reasons=[], draft_attempts=3).id
    window.inbox.refresh()
    kb = Keyboard(qtbot, window)
    kb.press(Key.Key_Return, Mod.ControlModifier | Mod.ShiftModifier)
    box = kb.dialog(QMessageBox)
    assert box.text() == "Approve 1 low-risk proposal?"  # type: ignore[attr-defined]
    kb.press(Key.Key_Return)
    _wait_status(qtbot, gui_services, clean, ActionStatus.EXECUTED)
    kb.back_in_window()
    assert store.actions.get(retried).status is ActionStatus.PENDING
    assert [m["subject"] for m in mailer.sent] == ["Invoice 1 attached"]


def test_bulk_approval_refuses_a_proposal_changed_after_confirmation(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    first = propose_send(store, n=1, risk="low", risk_reasons=[])
    second = propose_send(store, n=2, risk="low", risk_reasons=[])
    view = window.inbox
    view.refresh()
    kb = Keyboard(qtbot, window)
    kb.press(Key.Key_Return, Mod.ControlModifier | Mod.ShiftModifier)
    kb.dialog(QMessageBox)
    # an agent (or anything) changes #1 while the founder reads the confirmation
    store.actions.edit(first.id, {**first.payload, "to": ["mallory@evil.example"]})
    kb.press(Key.Key_Return)
    _wait_status(qtbot, gui_services, second.id, ActionStatus.EXECUTED)
    qtbot.waitUntil(lambda: "1 not approved" in window.message_label.fullText())
    assert store.actions.get(first.id).status is ActionStatus.PENDING
    assert [m["to"] for m in mailer.sent] == [["bob@partner.example"]]
    assert "b3261e" in window.message_label.styleSheet()


def test_countdown_in_the_list_and_ctrl_z_cancels_the_send(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    gui_services.config.set("outbox.undo_seconds", "30")
    older = propose_send(store, n=1)
    action = propose_send(store, n=2)
    view = window.inbox
    view.refresh()
    view.countdown_timer.setInterval(50)
    kb = Keyboard(qtbot, window)
    assert view.selected_action_id() == action.id
    kb.press(Key.Key_Return, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.SCHEDULED)
    row = view.model.row_of(action.id)
    assert row == 0  # still listed (open), counting down
    assert view.selected_action_id() == older.id
    cell = view.model.index(0, COL_STATUS)
    assert cell.data() in ("sending in 30 s", "sending in 29 s")
    with qtbot.waitSignal(view.model.dataChanged, timeout=1000) as changed:
        pass
    top_left, bottom_right = changed.args[0], changed.args[1]
    assert (top_left.row(), top_left.column()) == (0, COL_STATUS) == (
        bottom_right.row(),
        bottom_right.column(),
    )
    assert "sending soon" in view.count_label.text()
    assert view.undo_button.isEnabled()
    kb.press(Key.Key_Z, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.PENDING)
    assert view.model.index(0, COL_STATUS).data() == "pending"
    assert view.selected_action_id() == action.id
    assert "pending again" in window.message_label.fullText()
    assert not view.undo_button.isEnabled()
    assert mailer.sent == [] and window.services.store.actions.due() == []


def test_ctrl_z_in_the_body_editor_undoes_the_pending_send_not_the_text(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    gui_services.config.set("outbox.undo_seconds", "30")
    older = propose_send(store, n=1)
    action = propose_send(store, n=2)
    view = window.inbox
    view.refresh()
    kb = Keyboard(qtbot, window)
    # Nothing pending: Ctrl+Z in the body is the text field's own undo.
    kb.press(Key.Key_E)
    assert kb.focus() is view.editor.body_edit
    kb.press(Key.Key_End, Mod.ControlModifier)
    kb.type("Thanks!")
    assert view.editor.body_edit.toPlainText().endswith("Thanks!")
    kb.press(Key.Key_Z, Mod.ControlModifier)
    assert view.editor.body_edit.toPlainText() == action.payload["body"]
    assert store.actions.get(action.id).status is ActionStatus.PENDING
    # Approve from the body; the list moves on, the cursor stays in the (next) body.
    kb.type("Best, Ada")
    kb.press(Key.Key_Return, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.SCHEDULED)
    assert view.selected_action_id() == older.id
    assert kb.focus() is view.editor.body_edit
    # The reported bug: Ctrl+Z here went to the text editor and the mail was sent.
    kb.press(Key.Key_Z, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.PENDING)
    assert "pending again" in window.message_label.fullText()
    assert mailer.sent == [] and store.actions.due() == []
    # It works from the chat's message field too.
    view.select_action(action.id)
    qtbot.waitUntil(lambda: view.editor.action is not None and view.editor.action.id == action.id)
    view.min_review_seconds = 0
    view.focus_list()
    kb.press(Key.Key_Return, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.SCHEDULED)
    window.chat.input.setFocus()
    qtbot.waitUntil(window.chat.input.hasFocus)
    kb.type("hello")
    kb.press(Key.Key_Z, Mod.ControlModifier)
    _wait_status(qtbot, gui_services, action.id, ActionStatus.PENDING)
    assert mailer.sent == []


def test_unknown_send_can_be_confirmed_or_dismissed_but_never_resent(
    qtbot: QtBot, gui_services: Services, window: MainWindow, mailer: FakeMail
) -> None:
    store = gui_services.store
    first = propose_send(store, n=1)
    second = propose_send(store, n=2)
    for a in (first, second):
        store.actions.approve(a.id)
        store.actions.claim(a.id, owner=dead_owner())  # by a process that then died
    gui_services.outbox.reconcile()  # both were being sent when SoloDesk stopped
    view = window.inbox
    view.refresh()  # unknown rows are open: they need the founder
    assert view.selected_action_id() == second.id
    assert not view.unknown_box.isHidden()
    text = view.unknown_label.text()
    assert "may or may not have been delivered" in text
    assert "What is known: SoloDesk stopped while this was being sent" in text
    assert "Sending started: 20" in text  # the claim's time, from the audit trail
    # no control sends it again: approve/save/reject are hidden, nothing says send
    assert view.approve_button.isHidden() and view.reject_button.isHidden()
    buttons = [
        b
        for b in view.findChildren(QPushButton)
        if b.isVisible() and b.isEnabled() and b is not view.approve_low_button  # other rows'
    ]
    texts = [b.text().replace("&", "").lower() for b in buttons]
    assert not any("send" in t or "approve" in t for t in texts), texts
    assert "it was delivered" in texts and "dismiss" in texts

    view.delivered_button.click()
    _wait_status(qtbot, gui_services, second.id, ActionStatus.EXECUTED)
    entry = store.audit.entries(action_id=second.id)[-1]
    assert (entry["event"], entry["actor"]) == ("confirmed_delivered", "founder")
    assert view.selected_action_id() == first.id
    view.dismiss_button.click()
    _wait_status(qtbot, gui_services, first.id, ActionStatus.REJECTED)
    assert mailer.sent == []
    assert view.unknown_box.isHidden()


def test_help_dialog_lists_every_shortcut(
    qtbot: QtBot, gui_services: Services, window: MainWindow
) -> None:
    kb = Keyboard(qtbot, window)
    kb.press(Key.Key_F1)
    dialog = kb.dialog(ShortcutsDialog)
    assert isinstance(dialog, ShortcutsDialog)
    listed = " | ".join(dialog.listed_keys())
    bound = set(window.inbox.shortcut_keys)
    for action in window.findChildren(type(window.quit_action)):
        bound.update(k.toString() for k in action.shortcuts())
    missing = [k for k in bound if native(k) not in listed]
    assert missing == []
    kb.press(Key.Key_Escape)
    kb.back_in_window()
    kb.press(Key.Key_Slash, Mod.ControlModifier)
    assert isinstance(kb.dialog(ShortcutsDialog), ShortcutsDialog)
    # the buttons say their keys too
    assert native("Ctrl+Return") in window.inbox.approve_button.text()
    assert native("Ctrl+Z") in window.inbox.undo_button.text()
