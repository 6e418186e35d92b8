"""The inbox's editor shows the devil's advocate's critique in a panel above the payload
(offscreen): verdict, reason and concerns; "reviewing…" while it runs, updated when it lands;
a failed critique's note; hidden for a proposal without one."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from solodesk.core.critique import Critique, parse_critique
from solodesk.core.events import ActionProposed
from solodesk.services import Services
from solodesk.ui.inbox_view import InboxView
from tests.gui.support import propose_send

pytestmark = pytest.mark.gui


def _view(qtbot: QtBot, services: Services) -> InboxView:
    view = InboxView(services.store, services.runner)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_the_editor_shows_the_critique_above_the_payload(
    qtbot: QtBot, gui_services: Services
) -> None:
    store = gui_services.store
    plain = propose_send(store, n=1)
    critiqued = propose_send(store, n=2, risk="high", risk_reasons=["6 recipients"])
    store.critiques.record(critiqued.id, parse_critique(
        "Concerns:\n- <b>Six</b> strangers get it\n- No unsubscribe link\nVerdict: reject\n"
        "Why: It could reach people who never asked.",
        run_id=4, payload_sha256=critiqued.payload_sha256,
    ))
    view = _view(qtbot, gui_services)

    assert view.select_action(critiqued.id)
    panel = view.editor.critique
    assert panel.isVisible()
    text = panel.text()
    print(text)
    assert "Devil's advocate (run #4): REJECT — It could reach people who never asked." in text
    assert "• <b>Six</b> strangers get it" in text  # the model's text is escaped, not markup
    assert "• No unsubscribe link" in text
    # Above the editor's fields.
    assert panel.mapTo(view, panel.rect().bottomLeft()).y() <= (
        view.editor.to_edit.mapTo(view, view.editor.to_edit.rect().topLeft()).y()
    )
    assert "devil's advocate: reject" in view.editor.review_text()

    assert view.select_action(plain.id)
    assert not view.editor.critique.isVisible()


def test_reviewing_then_the_critique_lands_and_a_failure_is_a_note(
    qtbot: QtBot, gui_services: Services
) -> None:
    store = gui_services.store
    action = propose_send(store, n=1, risk="high", risk_reasons=["6 recipients"])
    store.critiques.mark_running(action.id)
    view = _view(qtbot, gui_services)
    gui_services.bus.subscribe(ActionProposed, view.on_action_event)
    assert view.select_action(action.id)
    assert "reviewing this proposal" in view.editor.critique.text()

    store.critiques.record(action.id, parse_critique("Verdict: approve\nWhy: Fine."))
    gui_services.bus.publish(ActionProposed(action.id, action.kind, "pending", action.summary))
    qtbot.waitUntil(lambda: "APPROVE" in view.editor.critique.text())
    assert "No concerns found." in view.editor.critique.text()
    assert view.editor.action is not None and view.editor.action.risk == "high"  # not lowered

    other = propose_send(store, n=2, risk="high", risk_reasons=["6 recipients"])
    store.critiques.record(other.id, Critique.failed("the model could not be reached: down"))
    view.refresh()
    assert view.select_action(other.id)
    text = view.editor.critique.text()
    assert "no critique — the model could not be reached: down" in text
    assert "The proposal is unchanged." in text
