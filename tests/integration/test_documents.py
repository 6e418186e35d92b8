"""``write_document`` end to end on real services: proposed through the intake with the file on
disk completed in, approved through the decisions service or ``solodesk inbox approve``, written
once by the outbox, never twice, and never over a file that changed after the proposal;
``solodesk inbox show`` shows an overwrite's diff; ``solodesk docs list/show``."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk import cli
from solodesk.actions.outbox import NotClaimed
from solodesk.core import kinds as K
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds import ProposalContext
from solodesk.core.kinds.document import WRITE_DOCUMENT, content_sha256
from solodesk.inbox.decisions import PreflightFailed
from solodesk.services import Services
from solodesk.store.documents import DocumentsFolder, resolve_folder
from tests.conftest import Run

pytestmark = pytest.mark.integration

OLD = "# Pricing\n\nStarter: 9 EUR\nPro: 29 EUR\n"
NEW = "# Pricing\n\nStarter: 9 EUR\nPro: 39 EUR\n"


def folder_of(services: Services) -> DocumentsFolder:
    return DocumentsFolder(resolve_folder(services.config.get("documents.folder"),
                                          services.paths.data_dir))


def propose(services: Services, path: str, content: str, title: str = "Doc") -> int:
    """Propose as an agent does: the file on disk now completes the payload."""
    spec = K.get(WRITE_DOCUMENT)
    payload = spec.from_agent({"path": path, "title": title, "content": content},
                              ProposalContext(document=folder_of(services).current))
    action = services.runner.intake.propose(
        WRITE_DOCUMENT, payload, agent="marketing", provenance=Provenance("agent", None),
        run_id=None,
    )
    assert action.status is ActionStatus.PENDING, action.errors
    return action.id


def cli_run(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def audit_events(services: Services, action_id: int) -> list[str]:
    return [e["event"] for e in services.store.audit.entries(action_id=action_id)]


def test_a_new_document_is_written_only_after_approval_and_once(
    services: Services, run: Run[object]
) -> None:
    services.config.set("outbox.undo_seconds", "0")
    target = services.paths.data_dir / "documents" / "news" / "launch.md"
    aid = propose(services, "news/launch.md", "# Launch\n\nIt is here.\n", "Launch")
    assert not target.exists()  # proposed, not written
    action = services.store.actions.get(aid)
    assert action.risk == "low"
    done = run(services.decisions.approve(aid, expected_sha256=action.payload_sha256))
    assert done.status is ActionStatus.EXECUTED, done.result
    assert target.read_text(encoding="utf-8") == "# Launch\n\nIt is here.\n"
    assert done.result is not None and done.result["status"] == "written"
    assert done.result["sha256"] == content_sha256("# Launch\n\nIt is here.\n")
    mtime = target.stat().st_mtime_ns
    # The outbox again: nothing is due, nothing claimed, nothing written twice.
    assert run(services.decisions.run_due()) == []
    with pytest.raises(NotClaimed):
        run(services.outbox.execute(aid))
    assert target.stat().st_mtime_ns == mtime
    events = audit_events(services, aid)
    assert events.count("executed") == 1 and "approved" in events
    print("audit:", events)


def test_a_file_changed_between_approval_and_execution_is_not_overwritten(
    services: Services, run: Run[object], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = folder_of(services)
    doc = folder.ensure() / "pricing.md"
    doc.write_text(OLD, encoding="utf-8")
    aid = propose(services, "pricing.md", NEW, "Pricing")
    action = services.store.actions.get(aid)
    assert action.risk == "medium" and action.payload["previous_content"] == OLD

    # inbox show: the diff of what changes.
    code, out, _err = cli_run(services.paths.data_dir.parent, capsys, "inbox", "show", str(aid))
    assert code == 0
    assert "overwrites the file with sha256" in out
    assert "    -Pro: 29 EUR" in out and "    +Pro: 39 EUR" in out

    # Approved with an undo window; meanwhile the founder edits the file.
    scheduled = run(services.decisions.approve(aid, expected_sha256=action.payload_sha256,
                                               delay_s=0.01))
    assert scheduled.status is ActionStatus.SCHEDULED
    doc.write_text(OLD + "Team: 99 EUR\n", encoding="utf-8")
    import asyncio

    run(asyncio.sleep(0.05))
    (failed,) = run(services.decisions.run_due())
    assert failed.status is ActionStatus.FAILED
    assert failed.result is not None
    assert "changed since the proposal" in failed.result["detail"]
    assert "nothing was written" in failed.result["detail"]
    assert doc.read_text(encoding="utf-8") == OLD + "Team: 99 EUR\n"  # the founder's edit kept
    code, out, _err = cli_run(services.paths.data_dir.parent, capsys, "inbox", "show", str(aid))
    assert "changed since the proposal" in out


def test_a_file_that_appeared_before_approval_stops_the_approval(
    services: Services, run: Run[object], capsys: pytest.CaptureFixture[str]
) -> None:
    services.config.set("outbox.undo_seconds", "0")
    aid = propose(services, "ideas.md", "agent's ideas\n")
    (folder_of(services).ensure() / "ideas.md").write_text("my ideas\n", encoding="utf-8")
    action = services.store.actions.get(aid)
    with pytest.raises(PreflightFailed, match="ideas.md appeared in your documents folder"):
        run(services.decisions.approve(aid, expected_sha256=action.payload_sha256))
    assert services.store.actions.get(aid).status is ActionStatus.PENDING  # nothing approved
    code, _out, err = cli_run(services.paths.data_dir.parent, capsys, "inbox", "approve",
                              str(aid), "--now")
    assert code == 1 and "reject it and ask for a new proposal" in err
    assert (folder_of(services).root / "ideas.md").read_text(encoding="utf-8") == "my ideas\n"


def test_an_overwrite_whose_file_changed_before_approval_is_not_approved(
    services: Services, run: Run[object]
) -> None:
    doc = folder_of(services).ensure() / "pricing.md"
    doc.write_text(OLD, encoding="utf-8")
    aid = propose(services, "pricing.md", NEW, "Pricing")
    doc.write_text(OLD + "Team: 99 EUR\n", encoding="utf-8")
    action = services.store.actions.get(aid)
    with pytest.raises(PreflightFailed, match="pricing.md changed after this proposal"):
        run(services.decisions.approve(aid, expected_sha256=action.payload_sha256))
    doc.unlink()
    with pytest.raises(PreflightFailed, match="pricing.md was removed after this proposal"):
        run(services.decisions.approve(aid, expected_sha256=action.payload_sha256))
    assert not doc.exists()
