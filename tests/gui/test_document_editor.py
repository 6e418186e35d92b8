"""The ``write_document`` editor in the inbox: what approving writes, and for an overwrite the
unified diff against the file it replaces, updated as the founder edits the text."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds.document import WRITE_DOCUMENT
from solodesk.services import Services
from tests.gui.support import show_window

pytestmark = pytest.mark.gui

OLD = "# Plan\n\nShip in May.\nHire nobody.\n"
NEW = "# Plan\n\nShip in June.\nHire nobody.\n"


def propose(services: Services, payload: dict[str, object]) -> int:
    action = services.runner.intake.propose(
        WRITE_DOCUMENT, payload, agent="marketing", provenance=Provenance("agent", 1),
        run_id=None,
    )
    assert action.status is ActionStatus.PENDING, action.errors
    return action.id


def test_an_overwrite_shows_the_diff_and_follows_edits(
    qtbot: QtBot, gui_services: Services, aloop: object, tmp_path: Path
) -> None:
    from solodesk.ui.editors.document import DocumentEditor

    aid = propose(gui_services, {
        "path": "plan.md", "title": "The plan", "content": NEW,
        "expected_previous_sha256": hashlib.sha256(OLD.encode()).hexdigest(),
        "previous_content": OLD,
    })
    win = show_window(qtbot, gui_services)
    win.resize(1100, 700)
    assert win.inbox.select_action(aid)
    editor = win.inbox.editor.current
    assert isinstance(editor, DocumentEditor)
    review = editor.review_text()
    assert "Risk: medium" in review and "overwrites plan.md" in review
    assert "Approving overwrites plan.md" in review
    assert "1 line(s) added, 1 removed" in review
    diff = editor.diff_view.toPlainText()
    assert "-Ship in May." in diff and "+Ship in June." in diff and "+++ b/plan.md" in diff
    assert editor.diff_view.isVisibleTo(editor)
    path = editor.field("path")
    assert isinstance(path, QLineEdit) and path.isReadOnly()
    assert not editor.field("previous_content").isVisibleTo(editor)
    assert not editor.field("expected_previous_sha256").isVisibleTo(editor)
    shot = Path(os.environ.get("SOLODESK_SHOT_DIR", tmp_path)) / "document-diff.png"
    assert win.grab().save(str(shot))

    content = editor.field("content")
    assert isinstance(content, QPlainTextEdit)
    content.setPlainText(NEW.replace("Hire nobody.", "Hire one designer."))
    diff = editor.diff_view.toPlainText()
    assert "-Hire nobody." in diff and "+Hire one designer." in diff
    assert "2 line(s) added, 2 removed" in editor.review_text()
    assert editor.is_dirty()


def test_a_new_document_says_it_writes_a_new_file(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    aid = propose(gui_services, {"path": "news/launch.md", "title": "Launch",
                                 "content": "# Launch\n\nHello!\n"})
    win = show_window(qtbot, gui_services)
    assert win.inbox.select_action(aid)
    editor = win.inbox.editor.current
    review = editor.review_text()
    assert "Risk: low" in review
    assert "Approving writes a new file news/launch.md" in review
    assert not editor.diff_view.isVisibleTo(editor)
