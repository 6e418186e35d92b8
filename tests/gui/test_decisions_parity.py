"""The same decision through the GUI (the inbox view) and through the command line (``solodesk
inbox ...``, dispatched in process on the same services) leaves the same audit entries: both go
through the one decisions service (``inbox.decisions``)."""

from __future__ import annotations

import json
from typing import Any

from pytestqt.qtbot import QtBot

from solodesk.cli import _dispatch, _parser
from solodesk.core.actions import Action, ActionStatus
from solodesk.services import Services
from solodesk.ui.inbox_view import InboxView
from tests.gui.conftest import Drive
from tests.gui.support import FakeMail, propose_send

NEW_BODY = "Hi Bob,\n\nthe corrected invoice is attached.\n\nAda\n"
REASON = "wrong customer"

#: Detail fields that differ between two proposals by construction (hashes of payloads with
#: different Message-IDs, times, the process that claimed).
VARYING = ("sha256", "_at", "by", "message_id")


def _cli(services: Services, drive: Drive[object], *args: str) -> None:
    code = drive(_dispatch(services, _parser().parse_args(list(args))))
    assert code == 0, args


def _trail(services: Services, action: Action) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for e in services.store.audit.entries(action_id=action.id):
        detail = json.loads(e["detail"])
        kept = {k: v for k, v in detail.items() if not any(m in k for m in VARYING)}
        out.append((str(e["event"]), str(e["actor"]), kept))
    return out


def _make_unknown(services: Services, action: Action) -> None:
    actions = services.store.actions
    actions.approve(action.id, expected_sha256=action.payload_sha256)
    assert actions.claim(action.id) is not None
    actions.transition(action.id, ActionStatus.UNKNOWN, actor="outbox", event="interrupted")


def test_gui_and_cli_decisions_leave_the_same_audit_entries(
    qtbot: QtBot, gui_services: Services, mailer: FakeMail, drive: Drive[object]
) -> None:
    store = gui_services.store
    gui_edit, cli_edit = propose_send(store, n=1), propose_send(store, n=2)
    gui_reject, cli_reject = propose_send(store, n=3), propose_send(store, n=4)
    gui_res, cli_res = propose_send(store, n=5), propose_send(store, n=6)
    _make_unknown(gui_services, gui_res)
    _make_unknown(gui_services, cli_res)

    view = InboxView(store, gui_services.runner)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)

    # Edit the body, then approve what is shown (saved first, then approved and sent).
    assert view.select_action(gui_edit.id)
    view.editor.body_edit.setPlainText(NEW_BODY)
    final = drive(view.approve_selected())
    assert isinstance(final, Action) and final.status is ActionStatus.EXECUTED
    _cli(gui_services, drive, "inbox", "edit", str(cli_edit.id), "body", NEW_BODY)
    _cli(gui_services, drive, "inbox", "approve", str(cli_edit.id), "--now")

    assert view.select_action(gui_reject.id)
    assert drive(view.reject_selected(reason=REASON)) is not None
    _cli(gui_services, drive, "inbox", "reject", str(cli_reject.id), "--reason", REASON)

    view.refresh()
    if not view.select_action(gui_res.id):  # not in the list's current filter
        view.editor.show_action(store.actions.get(gui_res.id))
    assert view.editor.action is not None and view.editor.action.id == gui_res.id
    assert drive(view.confirm_delivered()) is not None
    _cli(gui_services, drive, "inbox", "resolve", str(cli_res.id), "--delivered")

    for gui, cli in ((gui_edit, cli_edit), (gui_reject, cli_reject), (gui_res, cli_res)):
        gui_trail, cli_trail = _trail(gui_services, gui), _trail(gui_services, cli)
        print(f"#{gui.id} vs #{cli.id}: {[e for e, _a, _d in gui_trail]}")
        assert gui_trail == cli_trail
    assert [e for e, _a, _d in _trail(gui_services, gui_edit)][1:3] == ["edited", "approved"]
    assert ("rejected", "founder", {"reason": REASON}) in _trail(gui_services, gui_reject)
    assert _trail(gui_services, gui_res)[-1][:2] == ("confirmed_delivered", "founder")
    sent = [payload["body"] for payload in mailer.sent]
    assert sent == [NEW_BODY, NEW_BODY]
    assert store.audit.verify() == []
