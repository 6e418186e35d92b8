"""InboxView: the editor, approval (exactly once), rejection and the keyboard."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus, payload_sha256
from solodesk.services import Services
from solodesk.ui.inbox_view import InboxView
from solodesk.ui.main_window import MainWindow
from tests.gui.conftest import Drive
from tests.gui.support import (
    FakeMail,
    insert_mail,
    propose_reply,
    propose_send,
    record_invalid,
    show_window,
)

pytestmark = pytest.mark.gui


def _view(qtbot: QtBot, services: Services) -> tuple[InboxView, list[str]]:
    view = InboxView(services.store, services.runner)
    qtbot.addWidget(view)
    messages: list[str] = []
    view.message.connect(messages.append)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    return view, messages


def test_selecting_a_proposal_fills_the_editor_and_source(
    qtbot: QtBot, gui_services: Services
) -> None:
    store = gui_services.store
    mail_id = insert_mail(store)
    reply = propose_reply(store, mail_id)
    chat = propose_send(store, n=2)
    view, _ = _view(qtbot, gui_services)

    assert view.count_label.text() == "2 pending proposals"
    assert view.editor.action is not None and view.editor.action.id == chat.id  # newest first
    assert view.editor.to_edit.text() == "bob@partner.example"
    assert view.editor.cc_edit.text() == "books@inkwell.example"
    assert view.source.untrusted_label.isHidden()
    assert "chat" in view.source.heading.text()

    assert view.select_action(reply.id)
    ed = view.editor
    assert ed.to_edit.text() == "Marta Kowalski <marta@customer.example>"
    assert ed.subject_edit.text() == "Re: Refund for my annual plan?"
    assert ed.body_edit.toPlainText().startswith("Hi Marta")
    assert ed.message_id_label.text() == "<reply-1@inkwell.example>"
    assert ed.in_reply_to_label.text() == "<question-1@customer.example>"
    assert ed.agent_label.text() == "support"
    assert ed.status_label.text() == "pending"
    assert not ed.is_dirty()
    assert not view.source.untrusted_label.isHidden()
    assert "untrusted email" in view.source.untrusted_label.text()
    assert "marta@customer.example" in view.source.headers_label.text()
    assert "refund" in view.source.body_view.toPlainText()
    assert view.approve_button.isEnabled() and view.reject_button.isEnabled()
    assert not view.save_button.isEnabled()


def test_invalid_proposal_shows_errors_and_cannot_be_approved(
    qtbot: QtBot, gui_services: Services, drive: Drive[object]
) -> None:
    invalid = record_invalid(gui_services.store)
    view, messages = _view(qtbot, gui_services)
    view.set_filter("invalid")
    assert view.editor.action is not None and view.editor.action.id == invalid.id
    assert not view.editor.errors_label.isHidden()
    assert "not a valid email address" in view.editor.errors_label.text()
    assert view.editor.subject_edit.isReadOnly()
    assert not view.approve_button.isEnabled()
    assert view.reject_button.isEnabled()  # dismissing is allowed
    assert drive(view.approve_selected()) is None
    assert "not approved" in messages[-1]
    assert gui_services.store.actions.get(invalid.id).status is ActionStatus.INVALID


def test_edit_then_approve_twice_rapidly_sends_the_edited_mail_once(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    store = gui_services.store
    reply = propose_reply(store, insert_mail(store))
    view, messages = _view(qtbot, gui_services)
    assert view.editor.action is not None and view.editor.action.id == reply.id

    edited = "Re: Refund for my annual plan (done)"
    view.editor.subject_edit.setText(edited)
    view.editor.subject_edit.textEdited.emit(edited)
    assert view.editor.is_dirty() and view.save_button.isEnabled()
    shown = payload_sha256(view.editor.edited_payload())

    async def twice() -> list[object]:
        return await asyncio.gather(view.approve_selected(), view.approve_selected())

    first, second = drive(twice())  # type: ignore[misc]
    assert second is None
    assert first is not None and first.status is ActionStatus.EXECUTED
    assert [m["subject"] for m in mailer.sent] == [edited]
    final = store.actions.get(reply.id)
    assert final.status is ActionStatus.EXECUTED
    assert final.payload["subject"] == edited
    assert final.approved_sha256 == shown == final.payload_sha256
    assert f"#{reply.id} is already being handled" in messages
    assert messages[-1].startswith(f"#{reply.id} sent")
    events = [e["event"] for e in store.audit.entries(action_id=reply.id)]
    assert events == ["proposed", "edited", "approved", "claimed", "executed"]
    # The pending list is empty now and a third approval has nothing to act on.
    assert view.model.rowCount() == 0
    assert drive(view.approve_selected()) is None
    assert len(mailer.sent) == 1


def test_approval_is_refused_if_the_payload_changed_behind_the_editor(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    store = gui_services.store
    action = propose_send(store)
    view, messages = _view(qtbot, gui_services)
    store.actions.edit(action.id, {**action.payload, "to": ["mallory@evil.example"]})
    assert drive(view.approve_selected()) is None
    assert "changed since you viewed it" in messages[-1]
    assert mailer.sent == []
    assert store.actions.get(action.id).status is ActionStatus.PENDING
    # the editor now shows the stored payload; approving it is an informed decision
    assert view.editor.to_edit.text() == "mallory@evil.example"


def test_invalid_edit_is_reported_and_nothing_is_sent(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    action = propose_send(gui_services.store)
    view, messages = _view(qtbot, gui_services)
    view.editor.to_edit.setText("not an address")
    assert drive(view.approve_selected()) is None
    assert "not a valid email address" in messages[-1]
    assert mailer.sent == []
    assert gui_services.store.actions.get(action.id).status is ActionStatus.PENDING
    assert view.editor.to_edit.text() == "not an address"  # the founder's edit is kept


def test_next_proposal_needs_a_moment_on_screen_before_approval(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    store = gui_services.store
    older = propose_send(store, n=1)
    newer = propose_send(store, n=2)
    view, messages = _view(qtbot, gui_services)
    assert drive(view.approve_selected()) is not None  # newer
    assert view.editor.action is not None and view.editor.action.id == older.id
    assert drive(view.approve_selected()) is None
    assert "just selected" in messages[-1]
    view.min_review_seconds = 0
    assert drive(view.approve_selected()) is not None
    assert [m["message_id"] for m in mailer.sent] == [
        newer.payload["message_id"],
        older.payload["message_id"],
    ]


def test_reject_with_a_reason(qtbot: QtBot, gui_services: Services, drive: Drive[object]) -> None:
    store = gui_services.store
    action = propose_send(store)
    view, messages = _view(qtbot, gui_services)
    rejected = drive(view.reject_selected("wrong customer"))
    assert rejected is not None and rejected.status is ActionStatus.REJECTED
    assert store.actions.get(action.id).result == {"reason": "wrong customer"}
    assert messages[-1] == f"#{action.id} rejected: wrong customer"
    assert view.count_label.text() == "0 pending proposals"


def test_reject_asks_for_a_reason_in_a_dialog(
    qtbot: QtBot, gui_services: Services, aloop: asyncio.AbstractEventLoop
) -> None:
    store = gui_services.store
    action = propose_send(store)
    view, _ = _view(qtbot, gui_services)
    task = aloop.create_task(view.reject_selected())
    qtbot.waitUntil(lambda: view.findChild(QInputDialog, "rejectReasonDialog") is not None)
    dialog = view.findChild(QInputDialog, "rejectReasonDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.setTextValue("duplicate")
    dialog.accept()
    qtbot.waitUntil(task.done)
    assert store.actions.get(action.id).status is ActionStatus.REJECTED
    assert store.actions.get(action.id).result == {"reason": "duplicate"}


def test_cancelling_the_reason_dialog_keeps_the_proposal(
    qtbot: QtBot, gui_services: Services, aloop: asyncio.AbstractEventLoop
) -> None:
    action = propose_send(gui_services.store)
    view, messages = _view(qtbot, gui_services)
    task = aloop.create_task(view.reject_selected())
    qtbot.waitUntil(lambda: view.findChild(QInputDialog, "rejectReasonDialog") is not None)
    view.findChild(QInputDialog, "rejectReasonDialog").reject()
    qtbot.waitUntil(task.done)
    assert task.result() is None and messages[-1] == "Reject cancelled"
    assert gui_services.store.actions.get(action.id).status is ActionStatus.PENDING
    assert view.approve_button.isEnabled()


def test_save_edit(qtbot: QtBot, gui_services: Services, drive: Drive[object]) -> None:
    action = propose_send(gui_services.store)
    view, messages = _view(qtbot, gui_services)
    view.editor.body_edit.setPlainText("Hi Bob,\n\nupdated.\n")
    assert view.save_button.isEnabled()
    saved = drive(view.save_selected())
    assert saved is not None and saved.payload["body"] == "Hi Bob,\n\nupdated.\n"
    assert saved.status is ActionStatus.PENDING
    assert gui_services.store.actions.get(action.id).payload_sha256 == saved.payload_sha256
    assert not view.editor.is_dirty() and not view.save_button.isEnabled()
    assert messages[-1] == f"#{action.id} saved (risk: medium)"


def test_action_events_refresh_the_list(qtbot: QtBot, gui_services: Services) -> None:
    from solodesk.core.events import ActionProposed

    view, _ = _view(qtbot, gui_services)
    assert view.model.rowCount() == 0 and view.editor.action is None
    action = propose_send(gui_services.store)
    view.on_action_event(ActionProposed(action.id, "send_email", "pending", action.summary))
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=1000)
    assert view.editor.action is not None and view.editor.action.id == action.id
    assert view.count_label.text() == "1 pending proposal"


# -- keyboard ---------------------------------------------------------------------------------
def test_keyboard_next_previous_save_and_approve(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, aloop: asyncio.AbstractEventLoop
) -> None:
    store = gui_services.store
    first = propose_send(store, n=1)
    second = propose_send(store, n=2)
    win = show_window(qtbot, gui_services, focus_list=True)
    view = win.inbox
    assert view.selected_action_id() == second.id
    qtbot.keyClick(view.table, Qt.Key.Key_J)
    assert view.selected_action_id() == first.id
    qtbot.keyClick(view.table, Qt.Key.Key_K)
    assert view.selected_action_id() == second.id
    qtbot.keyClick(view.table, Qt.Key.Key_Down)
    assert view.selected_action_id() == first.id

    # Ctrl+S saves an edit made in the subject line
    view.editor.subject_edit.setFocus()
    qtbot.waitUntil(view.editor.subject_edit.hasFocus)
    view.editor.subject_edit.selectAll()
    qtbot.keyClicks(view.editor.subject_edit, "Invoice 1 (corrected)")
    qtbot.keySequence(win, "Ctrl+S")
    qtbot.waitUntil(
        lambda: store.actions.get(first.id).payload["subject"] == "Invoice 1 (corrected)"
    )

    # Ctrl+Return approves and sends what is shown
    qtbot.keyClick(win, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: store.actions.get(first.id).status is ActionStatus.EXECUTED)
    assert [m["subject"] for m in mailer.sent] == ["Invoice 1 (corrected)"]


def test_keyboard_reject(qtbot: QtBot, gui_services: Services, window: MainWindow) -> None:
    store = gui_services.store
    action = propose_send(store)
    window.inbox.refresh()
    window.inbox.table.setFocus()
    qtbot.waitUntil(window.inbox.table.hasFocus)
    assert window.inbox.selected_action_id() == action.id
    qtbot.keyClick(window, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.inbox.findChild(QInputDialog, "rejectReasonDialog") is not None)
    dialog = window.inbox.findChild(QInputDialog, "rejectReasonDialog")
    dialog.setTextValue("spam")
    dialog.accept()
    qtbot.waitUntil(lambda: store.actions.get(action.id).status is ActionStatus.REJECTED)
    assert store.actions.get(action.id).result == {"reason": "spam"}


def test_editor_shows_hidden_characters_links_recipients_and_risk(
    qtbot: QtBot, gui_services: Services
) -> None:
    propose_send(
        gui_services.store,
        to=['"ceo@inkwell.example" <mallory@evil.example>', "bob@partner.example"],
        cc=["books@inkwell.example"],
        subject="Invoice\u202e fdp.exe",
        body="Pay here: [https://inkwell.example/pay](https://evil.example/steal)\n"
        "Docs: https://inkwell.example/docs\u200b\n",
        risk="high",
        risk_reasons=["hidden characters in subject: U+202E"],
    )
    view, _ = _view(qtbot, gui_services)
    ed = view.editor
    banner = ed.hidden_banner
    assert not banner.isHidden()
    assert "U+202E RIGHT-TO-LEFT OVERRIDE in subject" in banner.text()
    assert "U+200B ZERO WIDTH SPACE in body" in banner.text()
    review = ed.review_text()
    # every recipient in full, the address mail really goes to, a deceptive name flagged
    assert "Sends to 3 recipients" in review
    assert "To: mallory@evil.example" in review and "the name looks like a different" in review
    assert "To: bob@partner.example" in review and "Cc: books@inkwell.example" in review
    # links expanded; the disguised one in red
    assert "DISGUISED: shows https://inkwell.example/pay but opens https://evil.example/steal" in (
        review
    )
    assert "#b3261e" in ed.links_label.text()
    assert "Links (2)" in review
    # risk with its reasons, coloured; the title cannot be reordered by the override
    assert "Risk: high" in review and "hidden characters in subject" in review
    assert "⟦U+202E⟧" in ed.title.text() and "\u202e" not in ed.title.text()
    # the checks follow the founder's edits
    ed.body_edit.setPlainText("No links now.")
    ed.subject_edit.setText("Invoice")
    ed.subject_edit.textEdited.emit("Invoice")
    assert "DISGUISED" not in ed.review_text() and "Links: none" in ed.review_text()
    assert banner.isHidden()


def test_filter_bar_narrows_the_list_and_keeps_the_shown_proposal_and_its_edits(
    qtbot: QtBot, gui_services: Services
) -> None:
    store = gui_services.store
    mail_id = insert_mail(store)
    reply = propose_reply(store, mail_id, n=1)
    chat = propose_send(store, n=2)
    view, messages = _view(qtbot, gui_services)
    assert view.select_action(reply.id)
    view.editor.body_edit.setPlainText("Hi Marta,\n\nrefunded today.\n")
    view.set_filters(agent="support")
    assert view.model.rowCount() == 1
    assert view.selected_action_id() == reply.id and view.editor.is_dirty()
    assert "1 shown (open, agent support)" in view.count_label.text()
    view.set_filters(group_by="risk")  # medium before low, but only support's is listed
    assert view.editor.is_dirty()
    view.clear_filters()
    assert view.model.rowCount() == 2 and view.selected_action_id() == reply.id
    assert view.editor.is_dirty() and view.count_label.text() == "2 pending proposals"
    view.set_filters(kind="send_email")  # the shown reply leaves the list
    assert view.selected_action_id() == chat.id
    assert messages[-1] == f"Unsaved edits to #{reply.id} were discarded"
    with pytest.raises(ValueError, match="no filter value"):
        view.set_filters(risk="extreme")
