"""The policy rules page and the audit trail dialog."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from solodesk.core.audit import AUDIT_COLUMNS
from solodesk.core.policy import Outcome, parse_condition
from solodesk.services import Services
from solodesk.ui.audit_dialog import AuditDialog, AuditModel, detail_summary
from solodesk.ui.main_window import MainWindow
from solodesk.ui.policy_dialog import PolicyDialog, PolicyRulesModel
from tests.gui.support import propose_send

pytestmark = pytest.mark.gui


def _active(qtbot: QtBot, kind: type) -> object:
    qtbot.waitUntil(lambda: isinstance(QApplication.activeWindow(), kind), timeout=2000)
    return QApplication.activeWindow()


def test_policy_page_validates_adds_and_removes_rules_with_audit(
    qtbot: QtBot, window: MainWindow, gui_services: Services
) -> None:
    store = gui_services.store
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    dialog = _active(qtbot, PolicyDialog)
    assert isinstance(dialog, PolicyDialog)
    intro = dialog.findChild(type(dialog.status_label), "policyIntro")
    assert intro is not None and "When no rule matches, the proposal waits for you (ask)" in (
        intro.text()
    )
    assert not dialog.empty_label.isHidden() and not dialog.remove_button.isEnabled()

    # an invalid condition: the parser's message inline, nothing stored
    dialog.conditions_edit.setPlainText("risk == low\nsize > 3\nrecipient_count <= many")
    assert not dialog.error_label.isHidden()
    assert "line 2: unknown field 'size'" in dialog.error_label.text()
    assert "line 3: recipient_count needs a whole number, not 'many'" in dialog.error_label.text()
    assert not dialog.add_button.isEnabled()
    assert dialog.add_from_form() is None
    assert store.policy.rules() == []

    # a valid one is stored (and audited) through the store
    dialog.conditions_edit.setPlainText("risk == low\n\nrecipient_domains in Partner.example\n")
    assert dialog.error_label.isHidden() and dialog.add_button.isEnabled()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("send_email"))
    dialog.outcome_combo.setCurrentIndex(dialog.outcome_combo.findData("auto_approve"))
    dialog.note_edit.setText("partner invoices")
    dialog.add_button.click()
    [rule] = store.policy.rules()
    assert (rule.kind, rule.outcome, rule.note, rule.position) == (
        "send_email",
        Outcome.AUTO_APPROVE,
        "partner invoices",
        10,
    )
    assert [str(c) for c in rule.conditions] == [
        "risk == low",
        "recipient_domains in partner.example",
    ]
    entry = store.audit.entries()[-1]
    assert (entry["event"], entry["actor"]) == ("policy_rule_added", "founder")
    assert json.loads(entry["detail"])["outcome"] == "auto_approve"
    assert f"Rule #{rule.id} added" in window.message_label.fullText()
    assert dialog.conditions_edit.toPlainText() == ""

    # a second rule at position 5 is evaluated first: the table shows evaluation order
    dialog.conditions_edit.setPlainText("untrusted == true")
    dialog.kind_combo.setCurrentIndex(0)  # *
    dialog.outcome_combo.setCurrentIndex(dialog.outcome_combo.findData("block"))
    dialog.position_spin.setValue(5)
    blocker = dialog.add_from_form()
    assert blocker is not None
    model = dialog.model
    cells = [[model.index(r, c).data() for c in range(5)] for r in range(model.rowCount())]
    assert cells == [
        ["5", "* (every kind)", "untrusted == true", "block", ""],
        [
            "10",
            "send_email",
            "risk == low and recipient_domains in partner.example",
            "auto-approve",
            "partner invoices",
        ],
    ]
    assert dialog.empty_label.isHidden()

    # Remove asks first; Cancel keeps the rule, Remove removes it (audited)
    dialog.table.selectRow(1)
    box = dialog.remove_selected()
    assert isinstance(box, QMessageBox) and f"#{rule.id}" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert len(store.policy.rules()) == 2
    dialog.table.selectRow(1)
    box = dialog.remove_selected()
    assert box is not None
    remove = next(b for b in box.buttons() if b.text() == "Remove")
    remove.click()
    assert [r.id for r in store.policy.rules()] == [blocker.id]
    entry = store.audit.entries()[-1]
    assert (entry["event"], entry["actor"]) == ("policy_rule_removed", "founder")
    assert json.loads(entry["detail"])["id"] == rule.id
    assert model.rowCount() == 1
    assert store.audit.verify() == []


def test_audit_dialog_lists_verifies_exports_and_detects_tampering(
    qtbot: QtBot, window: MainWindow, gui_services: Services, tmp_path: Path
) -> None:
    store = gui_services.store
    first = propose_send(store, n=1)
    second = propose_send(store, n=2)
    store.actions.approve(first.id)
    store.actions.reject(second.id, reason="not now")
    entries = store.audit.entries()
    qtbot.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    dialog = _active(qtbot, AuditDialog)
    assert isinstance(dialog, AuditDialog)
    model = dialog.model
    assert model.rowCount() == len(entries) == 4
    newest = [model.index(0, c).data() for c in range(5)]
    assert newest[1:4] == ["rejected", f"#{second.id}", "founder"]
    assert newest[4] == "reason: not now"
    assert model.index(3, 1).data() == "proposed"  # oldest last
    # the selected (newest) entry's full detail and hashes
    detail = dialog.detail_view.toPlainText()
    assert '"reason": "not now"' in detail and entries[-1]["sha256"] in detail
    dialog.table.selectRow(1)
    assert "approved_sha256" in dialog.detail_view.toPlainText()

    dialog.verify_button.click()
    assert dialog.verify_label.text() == "✔ Audit chain intact: 4 entries"
    assert "1b6e35" in dialog.verify_label.styleSheet()

    # Export… through the (non-blocking) file dialog: CSV with the CLI's header row
    path = tmp_path / "trail.csv"
    files = dialog.choose_export()
    assert isinstance(files, QFileDialog)
    files.selectFile(str(path))
    files.accept()
    qtbot.waitUntil(path.exists, timeout=2000)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == AUDIT_COLUMNS
    assert len(rows) == 5 and rows[1][2] == "proposed"
    jsonl = tmp_path / "trail.jsonl"
    assert dialog.export(jsonl, "jsonl") == 4
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert list(lines[0]) == AUDIT_COLUMNS and lines[-1]["event"] == "rejected"

    # tampering: drop the append-only trigger and rewrite one entry's detail
    with store.db.conn:
        store.db.conn.execute("DROP TRIGGER audit_log_no_update")
        store.db.conn.execute(
            "UPDATE audit_log SET detail = ? WHERE id = ?", ['{"reason":"approved"}', 4]
        )
    dialog.reload()
    assert dialog.verify_label.isHidden()
    problems = dialog.verify()
    assert problems == ["entry 4: content does not match its hash"]
    text = dialog.verify_label.text()
    assert text.startswith("✖ Audit chain BROKEN: 1 problem(s) in 4 entries")
    assert "entry 4: content does not match its hash" in text
    assert "b3261e" in dialog.verify_label.styleSheet()


def test_policy_and_audit_models_pass_qt_model_tester(
    qtmodeltester: ModelTester, gui_services: Services
) -> None:
    store = gui_services.store
    propose_send(store)
    store.policy.add(kind="*", conditions=[parse_condition("risk == high")], outcome=Outcome.BLOCK)
    policy, audit = PolicyRulesModel(store), AuditModel(store)
    for model in (policy, audit):
        qtmodeltester.check(model)
        assert model.rowCount() > 0
        headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(5)]
        assert headers == list(model.COLUMNS)
        assert model.headerData(0, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) is None
    assert policy.COLUMNS == ("Position", "Kind", "Conditions", "Outcome", "Note")
    assert audit.COLUMNS == ("Time", "Event", "Action", "Actor", "Detail")


def test_detail_summary() -> None:
    sha = "ab" * 32
    assert detail_summary(json.dumps({"approved_sha256": sha, "send_at": None})) == (
        "approved_sha256: abababababab…"
    )
    assert detail_summary("{}") == ""
    long = detail_summary(json.dumps({"diff": "x" * 500}))
    assert len(long) < 100 and long.endswith("…")


def test_policy_page_warns_when_a_rule_could_auto_approve_untrusted_content(
    window: MainWindow, gui_services: Services
) -> None:
    dialog = window.open_policy()
    dialog.conditions_edit.setPlainText("recipients_known == true")
    assert dialog.untrusted_warning.isHidden()  # outcome is still "ask"
    dialog.outcome_combo.setCurrentIndex(dialog.outcome_combo.findData("auto_approve"))
    assert dialog.untrusted_warning.isVisibleTo(dialog)
    assert "untrusted content" in dialog.untrusted_warning.text()
    assert "untrusted == false" in dialog.untrusted_warning.text()  # what to do about it
    assert dialog.add_button.isEnabled()  # a warning, not a refusal

    dialog.conditions_edit.setPlainText("recipients_known == true\nrisk <= low")
    assert dialog.untrusted_warning.isHidden()
    dialog.conditions_edit.setPlainText("recipients_known == true\nrisk <= high")
    assert "names high risk" in dialog.untrusted_warning.text()

    dialog.conditions_edit.setPlainText("recipients_known == true")
    rule = dialog.add_from_form()
    assert rule is not None and gui_services.store.policy.rules() == [rule]
    assert "Caution: this rule can auto-approve" in dialog.status_label.text()
    row = dialog.model.row_of(rule.id)
    tooltip = dialog.model.index(row, 2).data(Qt.ItemDataRole.ToolTipRole)
    assert "untrusted content" in tooltip
    dialog.reject()
