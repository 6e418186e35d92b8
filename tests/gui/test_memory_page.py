"""The Memory page offscreen: Ctrl+7 shows it; the profile form saves, names a wrong field and
keeps what was typed; the facts list searches by words, adds, forgets (kept, shown with "Show
forgotten"), marks untrusted facts; a grab to PNG for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from solodesk.services import Services
from tests.gui.conftest import Drive
from tests.gui.support import show_window


def test_memory_page_profile_and_facts(
    qtbot: QtBot, gui_services: Services, aloop: object, tmp_path: Path
) -> None:
    store = gui_services.store
    store.facts.add("Acme GmbH pays invoices within 30 days", source="founder")
    store.facts.add("Marta at Acme prefers calls before 11:00", source="agent", ref="run #2")
    store.facts.add("Acme's new bank account is XX00 1234", source="mail", ref="mail #9")
    win = show_window(qtbot, gui_services)
    assert "memory" in win.page_keys()
    qtbot.keyClick(win, Qt.Key.Key_7, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "memory"
    page = win.memory
    qtbot.waitUntil(page.search.hasFocus)

    # The facts, newest first; the mail one marked untrusted.
    m = page.model
    rows = [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]
    assert [r[1] for r in rows] == [
        "Acme's new bank account is XX00 1234", "Marta at Acme prefers calls before 11:00",
        "Acme GmbH pays invoices within 30 days",
    ]
    assert rows[0][2:4] == ["mail · untrusted", "mail #9"]
    assert m.index(0, 2).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert page.facts_summary.text() == "3 facts remembered"

    # Search by words (stemmed): "invoice" finds "invoices".
    page.search.setText("invoice")
    page.refresh_facts()
    assert [f.text for f in m.facts] == ["Acme GmbH pays invoices within 30 days"]
    assert page.facts_summary.text() == "1 of 3 facts match"
    page.search.clear()
    # The search box's debounce timer fires within the test, never after it (the store closes).
    qtbot.waitUntil(lambda: not page._search_timer.isActive())
    page.refresh_facts()

    # Add (stored at once), an empty one refused with a reason.
    page.new_fact.setText("   ")
    page.add_fact()
    assert page.facts_error.text() == "Not added — a fact cannot be empty"
    page.new_fact.setText("Beta Ltd wants invoices in English")
    qtbot.keyClick(page.new_fact, Qt.Key.Key_Return)
    assert page.new_fact.text() == "" and not page.facts_error.isVisibleTo(page)
    assert page.current() is not None and page.current().text == (  # type: ignore[union-attr]
        "Beta Ltd wants invoices in English"
    )
    assert store.facts.search("english")[0].source == "founder"

    # Forget the selected fact: gone from the list and the search, kept in the store.
    forgotten = page.current()
    assert forgotten is not None
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    assert forgotten.id not in [f.id for f in m.facts]
    assert store.facts.search("english") == []
    page.show_forgotten.setChecked(True)
    again = next(f for f in m.facts if f.id == forgotten.id)
    assert again.forgotten and "forgotten" in m.index(m.row_of(again.id), 2).data()
    page.show_forgotten.setChecked(False)

    # The profile: a wrong field is named, the form keeps the text, the stored profile stays.
    page.fields["offering"].setPlainText("Website audit: 900 EUR\nConsulting 120 EUR/hour")
    page.fields["tone"].setPlainText("Warm, brief")
    page.fields["availability"].setText("Mon-Fry 09:00-12:00")
    assert page.is_dirty() and page.profile_state.text() == "Unsaved changes"
    assert page.save_profile() is False
    error = page.profile_error.text()
    assert error.startswith("Not saved — offering[2] ('Consulting 120 EUR/hour'): write NAME: "
                            "PRICE CURRENCY[/UNIT]")
    assert "availability: group 1 ('Mon-Fry 09:00-12:00')" in error
    assert store.profile.get().is_empty()
    assert page.fields["tone"].toPlainText() == "Warm, brief"  # nothing typed is lost
    shots = Path(os.environ.get("SOLODESK_SHOT_DIR", tmp_path))
    assert win.grab().save(str(shots / "memory_page_error.png"))
    page.fields["offering"].setPlainText("Website audit: 900 EUR\nConsulting: 120 EUR/hour")
    page.fields["availability"].setText("Mon-Fri 09:00-12:00,14:00-17:00")
    page.fields["customers"].setPlainText("Acme GmbH: pays in 30 days\nBeta Ltd: English")
    page.fields["signature"].setPlainText("Ada\nInkwell Notes")
    qtbot.keyClick(page.fields["signature"], Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not page.is_dirty() and not page.profile_error.isVisibleTo(page)
    saved = store.profile.get()
    assert [(i.name, i.price_minor, i.unit) for i in saved.offering] == [
        ("Website audit", 90000, ""), ("Consulting", 12000, "hour")
    ]
    assert saved.customers == ["Acme GmbH: pays in 30 days", "Beta Ltd: English"]
    assert saved.signature == "Ada\nInkwell Notes"
    assert page.fields["offering"].toPlainText() == (
        "Website audit: 900.00 EUR\nConsulting: 120.00 EUR/hour"
    )
    assert page.profile_state.text().startswith("Saved ")

    out = shots / "memory_page.png"
    win.resize(1280, 760)
    qtbot.wait(50)
    assert win.grab().save(str(out))
    print("memory page grabbed to", out)


def test_a_remember_fact_proposal_in_the_inbox_then_on_the_memory_page(
    qtbot: QtBot, gui_services: Services, drive: Drive[object], tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QPlainTextEdit

    from solodesk.core.actions import Action, ActionStatus, Provenance
    from solodesk.ui.editors.schema_form import SchemaFormEditor

    kind = "remember_fact"
    payload = {"text": "Acme's accountant is Jo Park", "ref": "mail #4"}
    action = gui_services.runner.intake.propose(
        kind, payload, agent="researcher", provenance=Provenance("agent", 7, untrusted=True),
        run_id=None,
    )
    assert action.risk == "medium"
    win = show_window(qtbot, gui_services)
    view = win.inbox
    assert view.select_action(action.id)
    editor = view.editor.current
    assert isinstance(editor, SchemaFormEditor)
    assert "stays marked untrusted" in editor.risk_label.text()
    text = editor.field("text")
    assert isinstance(text, QPlainTextEdit) and text.toPlainText() == payload["text"]
    shots = Path(os.environ.get("SOLODESK_SHOT_DIR", tmp_path))
    win.resize(1280, 760)
    qtbot.wait(50)
    assert win.grab().save(str(shots / "memory_inbox_proposal.png"))
    text.setPlainText("Acme's accountant is Jo Park (since 2026)")
    assert view.editor.is_dirty()
    view.min_review_seconds = 0
    final = drive(view.approve_selected())
    assert isinstance(final, Action) and final.status is ActionStatus.EXECUTED
    (fact,) = gui_services.store.facts.list()
    assert (fact.text, fact.source, fact.untrusted) == (
        "Acme's accountant is Jo Park (since 2026)", "agent", True
    )
    win.show_page("memory")
    assert [f.id for f in win.memory.model.facts] == [fact.id]
    assert win.memory.model.index(0, 2).data() == "agent · untrusted"
