"""The Agents page shows each agent's approval record per kind and the rules it has earned
(offscreen)."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from solodesk.services import Services
from tests.gui.support import propose_send, show_window

pytestmark = pytest.mark.gui


def test_agents_page_shows_the_approval_rate_and_the_earned_rule(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    store = gui_services.store
    gui_services.config.set("autonomy.offer_after", "3")
    approved = []
    for n in range(1, 4):
        a = propose_send(store, n=n)  # manager, bob@partner.example, medium, trusted
        store.actions.approve(a.id, expected_sha256=a.payload_sha256, delay_s=60)
        approved.append(a.id)
    rejected = propose_send(store, n=9, to=["eve@other.example"])
    store.actions.reject(rejected.id, reason="no")

    win = show_window(qtbot, gui_services)
    win.show_page("agents")
    win.agents.table.selectRow(win.agents.model.row_of("manager"))
    detail = win.agents.detail.toPlainText()
    print(detail)
    assert "Approval record" in detail
    record = detail.split("Approval record", 1)[1].split()
    assert record[record.index("send_email"):][:6] == ["send_email", "75%", "3", "0", "1", "0"]
    assert "Earned rules (offered, not created)" in detail
    assert "manager's send_email with recipient_domains inkwell.example, partner.example" in detail
    assert "evidence: " + ", ".join(f"#{i}" for i in approved) in detail
    assert "untrusted == false" in detail and "risk <= medium" in detail
    assert "solodesk policy suggest --accept 1" in detail
    assert store.policy.rules() == []
    win.agents.table.selectRow(win.agents.model.row_of("legal"))
    assert "None of its proposals has been decided yet." in win.agents.detail.toPlainText()


def test_accepting_an_earned_rule_on_the_agents_page(
    qtbot: QtBot, gui_services: Services, aloop: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    store = gui_services.store
    gui_services.config.set("autonomy.offer_after", "2")
    for n in range(1, 3):
        a = propose_send(store, n=n)
        store.actions.approve(a.id, expected_sha256=a.payload_sha256, delay_s=60)
    win = show_window(qtbot, gui_services)
    win.show_page("agents")
    page = win.agents
    page.table.selectRow(page.model.row_of("marketing"))
    assert not page.accept_button.isEnabled()  # marketing earned nothing
    page.table.selectRow(page.model.row_of("manager"))
    assert page.accept_button.isEnabled()

    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton):  # type: ignore[no-untyped-def]
        def question(_parent, _title, text, *_a, **_k):  # type: ignore[no-untyped-def]
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    page.accept_button.click()
    assert store.policy.rules() == []  # the founder said no: nothing created
    assert "evidence: #1, #2" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    page.accept_button.click()
    (rule,) = store.policy.rules()
    assert rule.outcome.value == "auto_approve" and rule.kind == "send_email"
    assert "agent == manager" in rule.describe()
    # The pattern is decided now: no more offer, the button is off.
    assert not page.accept_button.isEnabled()
    assert "Earned rules" not in page.detail.toPlainText()
