"""``solodesk docs list/show`` and ``solodesk inbox approve`` of a ``write_document`` into the
folder of the ``documents.folder`` setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solodesk.core.kinds.document import content_sha256
from solodesk.services import Services
from tests.integration.test_documents import cli_run, propose

pytestmark = pytest.mark.integration


def test_cli_approve_writes_the_document_and_docs_list_shows_it(
    services: Services, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = services.paths.data_dir.parent
    mine = tmp_path / "my-docs"
    services.config.set("documents.folder", str(mine))
    services.config.set("outbox.undo_seconds", "0")
    aid = propose(services, "plan.txt", "Plan: ship.\n", "Plan")
    code, out, err = cli_run(home, capsys, "inbox", "approve", str(aid), "--now")
    assert code == 0, err
    assert (mine / "plan.txt").read_text(encoding="utf-8") == "Plan: ship.\n"
    (mine / "contracts").mkdir()
    (mine / "contracts" / "nda.md").write_text("# NDA\n", encoding="utf-8")
    code, out, err = cli_run(home, capsys, "docs", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"documents folder: {mine}"
    assert lines[1].startswith("contracts/nda.md") and "6 B" in lines[1]
    assert lines[1].endswith(content_sha256("# NDA\n")[:12])
    assert lines[2].startswith("plan.txt ") and lines[-1] == "2 document(s)"
    code, out, err = cli_run(home, capsys, "docs", "list", "--json")
    listed = json.loads(out)
    assert [d["path"] for d in listed["documents"]] == ["contracts/nda.md", "plan.txt"]
    code, out, err = cli_run(home, capsys, "docs", "show", "contracts/nda.md")
    assert code == 0 and out.splitlines()[1] == "# NDA"
    code, out, err = cli_run(home, capsys, "docs", "show", "../etc/passwd.md")
    assert code == 1 and "'..'" in err and out == ""
    code, out, err = cli_run(home, capsys, "docs", "show", "missing.md")
    assert code == 1 and "there is no document 'missing.md'" in err


def test_cli_edit_changes_the_text_not_the_path(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    home = services.paths.data_dir.parent
    services.config.set("outbox.undo_seconds", "0")
    aid = propose(services, "note.md", "draft\n", "Note")
    code, out, err = cli_run(home, capsys, "inbox", "edit", str(aid), "path", "../x.md")
    assert code == 1 and "field must be title or content" in err
    code, out, err = cli_run(home, capsys, "inbox", "edit", str(aid), "content", "final\n")
    assert code == 0, err
    code, out, err = cli_run(home, capsys, "inbox", "approve", str(aid), "--now")
    assert code == 0, err
    written = services.paths.data_dir / "documents" / "note.md"
    assert written.read_text(encoding="utf-8") == "final\n"
