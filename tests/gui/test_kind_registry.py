"""A new action kind needs only a registry entry, an executor and an editor: ``test_note``
shows in the inbox (GUI model and editor), the CLI (``inbox show/edit/approve``) and the
audit trail, and is executed once through the generic outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot

from solodesk import cli
from solodesk.actions import executors
from solodesk.actions.executors import ExecutionContext, ExecutionOutcome
from solodesk.core import kinds as K
from solodesk.core.actions import Action, ActionStatus, Provenance
from solodesk.core.risk import Risk, RiskAssessment
from solodesk.services import Services
from solodesk.store.paths import HOME_ENV
from solodesk.ui import editors
from solodesk.ui.editors.schema_form import SchemaFormEditor
from solodesk.ui.inbox_model import COL_KIND, InboxModel
from solodesk.ui.inbox_view import InboxView
from tests.gui.conftest import Drive

pytestmark = pytest.mark.gui

NOTE = "test_note"


class NotePayload(BaseModel):
    """A note the executor appends to a list (no external effect)."""

    model_config = ConfigDict(extra="forbid")

    title: str
    text: str = Field(description="The note")
    priority: int = 1
    tags: list[str] = Field(default_factory=list)


WRITTEN: list[dict[str, object]] = []


async def write_note(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    WRITTEN.append(dict(action.payload))
    return ExecutionOutcome("done", f"note {action.payload['title']!r} written")


@pytest.fixture
def note_kind() -> Iterator[None]:
    """``test_note`` registered with only a registry entry, an executor and an editor."""
    K.register(K.KindSpec(
        name=NOTE,
        title="Write a note",
        label="Note",
        payload_model=NotePayload,
        summary=lambda p: f"Note: {p.title}",
        assess=lambda p, prov, ctx: RiskAssessment(Risk.LOW, []),
        validate=lambda p: [] if p.priority in (1, 2, 3) else ["priority: must be 1, 2 or 3"],
    ))
    executors.register_executor(NOTE, write_note)
    editors.register_editor(NOTE, SchemaFormEditor)
    WRITTEN.clear()
    try:
        yield
    finally:
        K.unregister(NOTE)
        executors.unregister_executor(NOTE)
        editors.unregister_editor(NOTE)


def propose_note(services: Services) -> Action:
    payload = {"title": "Call Marta", "text": "About the refund.\nBefore Friday.", "tags": ["crm"]}
    return services.store.actions.propose(
        kind=NOTE, payload=payload, agent="manager", summary=K.summary(NOTE, payload),
        provenance=Provenance("chat", None), idempotency_key=None,
    )


def test_new_kind_in_gui_model_and_editor(
    qtbot: QtBot, gui_services: Services, note_kind: None, drive: Drive[object]
) -> None:
    note = propose_note(gui_services)
    model = InboxModel(gui_services.store)
    assert model.ids() == [note.id]
    assert model.data(model.index(0, COL_KIND)) == "Note"
    model.set_filters(kind=NOTE)
    assert model.ids() == [note.id]

    view = InboxView(gui_services.store, gui_services.runner)
    qtbot.addWidget(view)
    view.show()
    assert view.select_action(note.id)
    editor = view.editor.current
    assert isinstance(editor, SchemaFormEditor)
    assert view.editor.action is not None and view.editor.action.id == note.id
    text = editor.field("text")
    assert isinstance(text, QPlainTextEdit) and text.toPlainText().startswith("About")
    priority = editor.field("priority")
    assert isinstance(priority, QLineEdit) and priority.text() == ""
    tags = editor.field("tags")
    assert isinstance(tags, QLineEdit) and tags.text() == "crm"

    # A bad whole number is named and not saved; a good one is typed.
    priority.setText("two")
    priority.textEdited.emit("two")
    assert view.editor.is_dirty()
    assert editor.field_errors() == ["priority: needs a whole number, not 'two'"]
    priority.setText("2")
    priority.textEdited.emit("2")
    tags.setText("crm, refund")
    tags.textEdited.emit("crm, refund")
    assert editor.field_errors() == []
    assert view.editor.edited_payload()["priority"] == 2
    saved = drive(view.save_selected())
    assert isinstance(saved, Action)
    assert saved.payload["priority"] == 2 and saved.payload["tags"] == ["crm", "refund"]

    view.min_review_seconds = 0
    final = drive(view.approve_selected())
    assert isinstance(final, Action) and final.status is ActionStatus.EXECUTED
    assert WRITTEN == [saved.payload]


def test_new_kind_in_cli_and_audit(
    gui_services: Services, note_kind: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    note = propose_note(gui_services)
    home = str(gui_services.paths.data_dir.parent)
    monkeypatch.setenv(HOME_ENV, home)
    gui_services.store.close()  # the CLI opens the database itself
    gui_services.config.set("outbox.undo_seconds", "0")

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["--home", home, *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("inbox", "show", str(note.id))
    assert code == 0
    assert f"#{note.id}  {NOTE}  [pending]" in out
    assert "  title: Call Marta" in out
    assert "  text:\n    About the refund.\n    Before Friday." in out
    assert "  tags: crm" in out

    code, _, err = run("inbox", "edit", str(note.id), "priority", "x")
    assert code == 1 and "priority: needs a whole number, not 'x'" in err
    code, _, err = run("inbox", "edit", str(note.id), "priority", "7")
    assert code == 1 and "priority: must be 1, 2 or 3" in err
    code, out, _ = run("inbox", "edit", str(note.id), "priority", "3")
    assert code == 0 and "  priority: 3" in out

    code, out, err = run("inbox", "approve", str(note.id), "--now")
    assert code == 0, err
    assert "[executed]" in out and "note 'Call Marta' written" in out
    assert [w["priority"] for w in WRITTEN] == [3]

    code, out, _ = run("audit", "export", "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    entries = [e for e in rows if e.get("action_id") == note.id]
    events = [e["event"] for e in entries]
    assert events[0] == "proposed" and "edited" in events
    assert events[-3:] == ["approved", "claimed", "executed"]
    detail = entries[0]["detail"]
    assert (json.loads(detail) if isinstance(detail, str) else detail)["kind"] == NOTE
