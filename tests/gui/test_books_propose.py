"""The Books page with bank lines waiting and nothing booked: it says so and offers "Propose
postings", which runs the bookkeeper in the background with progress and fills the inbox."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from solodesk.agents.bookkeeper import CATEGORISE_TOOL
from solodesk.connectors.bank.importer import import_file
from solodesk.core.actions import ActionStatus
from solodesk.core.kinds.ledger import RECORD_TRANSACTION
from solodesk.core.llmtypes import ToolCall
from solodesk.services import Services
from tests.gui.conftest import Drive
from tests.gui.support import FakeGateway
from tests.gui.test_pages import BANK, books_page

pytestmark = pytest.mark.gui


def test_empty_register_offers_to_propose_postings(
    qtbot: QtBot, gui_services: Services, gateway: FakeGateway, drive: Drive[object],
    tmp_path: Path,
) -> None:
    store = gui_services.store
    out = import_file(BANK / "camt053_001_02.xml", store.bank)
    assert out.error is None and out.imported == 5
    store.ledger.add_rule("github", "Expenses:Software")
    gateway.tool_calls = [ToolCall("c1", CATEGORISE_TOOL, json.dumps(
        {"account": "Expenses:Other", "reason": "nothing more specific fits"}))]
    win, page = books_page(qtbot, gui_services)
    win.resize(1100, 640)
    qtbot.wait(50)
    assert page.register_model.rowCount() == 0
    assert page.register_empty.isVisible() and page.empty_propose.isVisible()
    assert page.register_empty.text().startswith(
        "Nothing is booked yet. 5 imported bank lines wait for the bookkeeper")
    assert page.propose_button.isVisible()
    shot = Path(os.environ.get("SOLODESK_SHOT_DIR", tmp_path)) / "books-empty.png"
    assert win.grab().save(str(shot))

    seen: list[tuple[int, int]] = []
    real_set = page.propose_progress.setValue
    page.propose_progress.setValue = lambda v: (seen.append(  # type: ignore[method-assign]
        (v, page.propose_progress.maximum())), real_set(v))[1]
    report = drive(page.propose_postings(), timeout=20000)
    assert report is not None
    assert seen == [(n, 5) for n in range(1, 6)]  # one step per line, of 5
    assert not page.propose_progress.isVisible()
    by = sorted(o.decided_by for o in report.outcomes)
    assert by == ["model", "model", "model", "model", "rule #1"]
    assert gateway.calls == 4  # the rule decided GitHub without the model
    text = win.message_label.toolTip()
    assert text.startswith("Bookkeeper: 5 posting(s) proposed (4 by model, 1 by rule)")
    pending = store.actions.list(statuses=[ActionStatus.PENDING])
    assert {a.kind for a in pending} == {RECORD_TRANSACTION} and len(pending) == 5
    # Asked again, nothing new is proposed (each line has its proposal).
    again = drive(page.propose_postings())
    assert again is not None and [o.status for o in again.outcomes] == ["skipped"] * 5

    github = next(a for a in pending if "by rule #1" in a.summary)
    drive(gui_services.decisions.approve(github.id, expected_sha256=github.payload_sha256))
    page.mark_stale()
    qtbot.waitUntil(lambda: page.register_model.rowCount() == 2)
    assert not page.register_empty.isVisible() and not page.empty_propose.isVisible()
    assert page.unbooked_label.text() == "4 bank lines wait for the bookkeeper"


def test_a_posting_in_the_inbox_shows_what_approving_books(
    qtbot: QtBot, gui_services: Services, drive: Drive[object],
) -> None:
    from solodesk.agents.bookkeeper import bookkeeper_for
    from solodesk.ui.editors.money import RenderedFormEditor
    from tests.gui.support import show_window

    store = gui_services.store
    import_file(BANK / "camt053_001_02.xml", store.bank)
    store.ledger.add_rule("github", "Expenses:Software")
    report = drive(bookkeeper_for(gui_services.runner).propose_postings(), timeout=20000)
    github = next(o for o in report.outcomes if o.decided_by == "rule #1")
    win = show_window(qtbot, gui_services)
    assert win.inbox.select_action(github.action_id or 0)
    editor = win.inbox.editor.current
    assert isinstance(editor, RenderedFormEditor)
    review = editor.review_text()
    assert "Record a ledger transaction:" in review
    assert "Assets:Bank" in review and "-49.00 EUR" in review and "decided_by: rule #1" in review
