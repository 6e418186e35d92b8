"""The Agents page: the cards listed with their source, a broken card shown with its file and
field, the detail pane, editing a card in the dialog (checked on save) and restoring the shipped
card."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from solodesk.services import Services
from solodesk.ui.pages.agents import CardEditDialog
from tests.gui.support import show_window


def _rows(win) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    m = win.agents.model
    return {
        m.index(r, 0).data(): [m.index(r, c).data() for c in range(m.columnCount())]
        for r in range(m.rowCount())
    }


def test_agents_page_lists_shows_edits_and_restores(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    agents_dir = gui_services.paths.data_dir / "agents"
    agents_dir.mkdir(parents=True)
    (agents_dir / "broken.toml").write_text('name = "broken"\nrole = "r"\nprompt = "p"\n'
                                            'tools = ["teleport"]\n', encoding="utf-8")
    win = show_window(qtbot, gui_services)
    win.show_page("agents")
    assert win.current_page() == "agents"
    rows = _rows(win)
    assert {"manager", "support", "marketing", "legal", "researcher", "devils_advocate"} <= set(
        rows
    )
    assert rows["marketing"][2:] == ["openai/gui-test (setting)", "send_email, write_document",
                                     "shipped"]
    assert rows["broken"][4] == "broken"
    assert win.agents.summary.text().endswith("1 card(s) cannot be loaded")
    # the broken card's detail names the file and the field
    win.agents.table.selectRow(win.agents.model.rowCount() - 1)
    assert "broken.toml: field 'tools': unknown tool 'teleport'" in (
        win.agents.detail.toPlainText()
    )
    # the detail of a card
    win.agents.table.selectRow(win.agents.model.row_of("marketing"))
    detail = win.agents.detail.toPlainText()
    assert "Writes posts, newsletters" in detail and "6 model calls per run" in detail
    assert not win.agents.restore_button.isEnabled()

    # Edit: a broken text is refused in the dialog (nothing written), a good one saved as the
    # founder's override.
    dialog = win.agents.edit_dialog()
    assert isinstance(dialog, CardEditDialog)
    qtbot.addWidget(dialog)
    text = dialog.editor.toPlainText()
    dialog.editor.setPlainText(text.replace("max_steps = 6", 'max_steps = "six"'))
    dialog.save()
    assert dialog.error.isVisible() or dialog.error.text()
    assert "field 'max_steps'" in dialog.error.text()
    assert not (agents_dir / "marketing.toml").exists()
    dialog.editor.setPlainText(text.replace("max_steps = 6", "max_steps = 2"))
    dialog.save()
    assert dialog.result() == CardEditDialog.DialogCode.Accepted
    assert "max_steps = 2" in (agents_dir / "marketing.toml").read_text(encoding="utf-8")
    win.agents.refresh(select="marketing")
    assert _rows(win)["marketing"][4] == "override"
    assert "2 model calls per run" in win.agents.detail.toPlainText()
    assert win.agents.restore_button.isEnabled()

    # Restore shipped removes the override.
    card = win.agents.current()
    win.agents.remove_override(card)  # type: ignore[arg-type]
    assert not (agents_dir / "marketing.toml").exists()
    assert _rows(win)["marketing"][4] == "shipped"
