"""The ``write_document`` kind (paths, validation, risk, the diff shown) and the documents
folder (``store.documents``): confined paths, atomic exactly-once writes that refuse a changed
file, reading Markdown, text and PDF text."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from solodesk.core import kinds as K
from solodesk.core.actions import Provenance
from solodesk.core.kinds import CompletionError, ProposalContext, RiskContext
from solodesk.core.kinds.document import (
    MAX_CONTENT_CHARS,
    WRITE_DOCUMENT,
    DocumentPathError,
    check_path,
    content_sha256,
)
from solodesk.core.risk import Risk
from solodesk.store.documents import (
    DocumentChanged,
    DocumentError,
    DocumentsFolder,
    resolve_folder,
)

NEW = {"path": "news/launch.md", "title": "Launch newsletter", "content": "# Launch\n\nHi!\n"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def overwrite(previous: str, content: str, path: str = "plan.md") -> dict[str, object]:
    return {"path": path, "title": "Plan", "content": content,
            "expected_previous_sha256": sha(previous), "previous_content": previous}


# -- the kind -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, why", [
    ("", "empty"), ("/etc/passwd.md", "absolute"), ("~/x.md", "absolute"),
    ("C:/x.md", "absolute"), ("../x.md", "'..'"), ("a/../../x.md", "'..'"),
    ("a//b.md", "empty"), ("a\\b.md", "use /"), (".hidden.md", "hidden"),
    ("a/.git/x.md", "hidden"), ("notes.pdf", "must end with"), ("run.sh", "must end with"),
    ("a\x1bb.md", "control"), ("x" * 300 + ".md", "longer"),
])
def test_bad_paths_are_refused_with_the_reason(path: str, why: str) -> None:
    with pytest.raises(DocumentPathError, match=why):
        check_path(path)
    assert any(e.startswith("path: ") for e in K.validate_payload(WRITE_DOCUMENT,
                                                                   {**NEW, "path": path}))


def test_good_paths() -> None:
    assert str(check_path("news/launch.md")) == "news/launch.md"
    assert str(check_path("NOTES.TXT")) == "NOTES.TXT"


def test_a_new_document_is_low_risk_and_an_overwrite_medium() -> None:
    trusted = Provenance("agent", 1)
    new = K.assess(WRITE_DOCUMENT, NEW, trusted, RiskContext())
    assert new.level is Risk.LOW and new.reasons == []
    over = K.assess(WRITE_DOCUMENT, overwrite("a\n", "b\n"), trusted, RiskContext())
    assert over.level is Risk.MEDIUM and "overwrites plan.md" in over.reasons[0]
    untrusted = K.assess(WRITE_DOCUMENT, NEW, Provenance("agent", 1, untrusted=True),
                         RiskContext())
    assert untrusted.level is Risk.MEDIUM
    assert K.facts(WRITE_DOCUMENT, NEW, RiskContext()) == {
        "path": "news/launch.md", "overwrite": False, "size_bytes": 14}


def test_the_previous_text_must_match_its_sha256() -> None:
    assert K.validate_payload(WRITE_DOCUMENT, overwrite("old\n", "new\n")) == []
    bad = {**overwrite("old\n", "new\n"), "previous_content": "tampered\n"}
    assert K.validate_payload(WRITE_DOCUMENT, bad) == [
        "previous_content: does not match expected_previous_sha256"]
    assert "previous_content: missing for an overwrite" in K.validate_payload(
        WRITE_DOCUMENT, {**overwrite("a", "b"), "previous_content": None})
    assert "content: the document is empty" in K.validate_payload(
        WRITE_DOCUMENT, {**NEW, "content": "  \n"})
    assert K.validate_payload(WRITE_DOCUMENT, {**NEW, "extra": 1})  # extra="forbid"


def test_inbox_show_renders_the_diff_of_an_overwrite() -> None:
    lines = K.get(WRITE_DOCUMENT).render(overwrite("one\ntwo\nthree\n", "one\n2\nthree\n"))
    text = "\n".join(lines)
    assert "overwrites the file with sha256" in text
    assert "    --- a/plan.md" in text and "    +++ b/plan.md" in text
    assert "    -two" in text and "    +2" in text
    new = "\n".join(K.get(WRITE_DOCUMENT).render(NEW))
    assert "a new file" in new and "# Launch" in new and "---" not in new
    assert K.summary(WRITE_DOCUMENT, NEW) == (
        "Write news/launch.md: Launch newsletter (new, 14 B)")


def test_completion_fills_the_file_on_disk(tmp_path: Path) -> None:
    folder = DocumentsFolder(tmp_path)
    spec = K.get(WRITE_DOCUMENT)
    ctx = ProposalContext(document=folder.current)
    args = {**NEW, "expected_previous_sha256": "0" * 64, "previous_content": "x"}
    assert spec.from_agent(args, ctx) == {
        **NEW, "expected_previous_sha256": None, "previous_content": None}
    (tmp_path / "news").mkdir()
    (tmp_path / "news/launch.md").write_text("old text\n", encoding="utf-8")
    done = spec.from_agent(NEW, ctx)
    assert done["expected_previous_sha256"] == sha("old text\n")
    assert done["previous_content"] == "old text\n"
    assert K.validate_payload(WRITE_DOCUMENT, done) == []
    with pytest.raises(CompletionError, match="path: .*absolute"):
        spec.from_agent({**NEW, "path": "/tmp/x.md"}, ctx)
    (tmp_path / "bin.md").write_bytes(b"\xff\xfe")
    with pytest.raises(CompletionError, match="not UTF-8"):
        spec.from_agent({**NEW, "path": "bin.md"}, ctx)
    (tmp_path / "huge.md").write_text("x" * (MAX_CONTENT_CHARS + 1), encoding="utf-8")
    with pytest.raises(CompletionError, match="huge.md: .*too long to be replaced"):
        spec.from_agent({**NEW, "path": "huge.md"}, ctx)


# -- the folder: writing --------------------------------------------------------------------------
def test_a_new_file_is_written_once_and_again_is_a_no_op(tmp_path: Path) -> None:
    folder = DocumentsFolder(tmp_path / "docs")  # created on first use
    result = folder.write("news/launch.md", "Hi\n", expected_previous_sha256=None)
    assert result.written and result.sha256 == content_sha256("Hi\n") and result.size == 3
    target = tmp_path / "docs/news/launch.md"
    assert target.read_text(encoding="utf-8") == "Hi\n"
    inode = target.stat().st_ino
    again = folder.write("news/launch.md", "Hi\n", expected_previous_sha256=None)
    assert not again.written and target.stat().st_ino == inode
    assert [p.name for p in target.parent.iterdir()] == ["launch.md"]  # no temp files left


def test_a_document_gets_the_modes_a_saved_file_would(tmp_path: Path) -> None:
    import os

    folder = DocumentsFolder(tmp_path)
    old = os.umask(0o022)
    try:
        folder.write("new.md", "Hi\n", expected_previous_sha256=None)
    finally:
        os.umask(old)
    assert (tmp_path / "new.md").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    (tmp_path / "plan.md").write_text("v1\n", encoding="utf-8")
    (tmp_path / "plan.md").chmod(0o640)
    folder.write("plan.md", "v2\n", expected_previous_sha256=sha("v1\n"))
    assert (tmp_path / "plan.md").stat().st_mode & 0o777 == 0o640  # kept on overwrite


def test_an_overwrite_needs_the_file_it_was_proposed_against(tmp_path: Path) -> None:
    folder = DocumentsFolder(tmp_path)
    (tmp_path / "plan.md").write_text("v1\n", encoding="utf-8")
    folder.write("plan.md", "v2\n", expected_previous_sha256=sha("v1\n"))
    assert (tmp_path / "plan.md").read_text(encoding="utf-8") == "v2\n"
    # The founder edits the file; a proposal made against v1 must not clobber it.
    (tmp_path / "plan.md").write_text("founder's v3\n", encoding="utf-8")
    with pytest.raises(DocumentChanged, match="changed since the proposal"):
        folder.write("plan.md", "agent v2b\n", expected_previous_sha256=sha("v1\n"))
    assert (tmp_path / "plan.md").read_text(encoding="utf-8") == "founder's v3\n"
    (tmp_path / "plan.md").unlink()
    with pytest.raises(DocumentChanged, match="it was removed"):
        folder.write("plan.md", "agent v2b\n", expected_previous_sha256=sha("v1\n"))
    assert not (tmp_path / "plan.md").exists()


def test_a_file_that_appeared_is_not_overwritten(tmp_path: Path) -> None:
    folder = DocumentsFolder(tmp_path)
    (tmp_path / "new.md").write_text("mine\n", encoding="utf-8")
    with pytest.raises(DocumentChanged, match="appeared since the proposal"):
        folder.write("new.md", "agent's\n", expected_previous_sha256=None)
    assert (tmp_path / "new.md").read_text(encoding="utf-8") == "mine\n"


def test_symlinks_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("secret\n", encoding="utf-8")
    root = tmp_path / "docs"
    root.mkdir()
    os.symlink(outside, root / "out")
    os.symlink(outside / "secret.md", root / "link.md")
    folder = DocumentsFolder(root)
    for rel in ("out/secret.md", "link.md", "out/new.md"):
        with pytest.raises(DocumentError, match="outside the documents folder"):
            folder.write(rel, "x\n", expected_previous_sha256=None)
        with pytest.raises(DocumentError, match="outside the documents folder"):
            folder.read(rel, max_chars=100)
    assert (outside / "secret.md").read_text(encoding="utf-8") == "secret\n"
    assert not (outside / "new.md").exists()
    assert [d.path for d in folder.list()] == []  # links out are not listed


def test_a_folder_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.md").mkdir()
    with pytest.raises(DocumentError, match="is a folder"):
        DocumentsFolder(tmp_path).write("x.md", "a\n", expected_previous_sha256=None)


def test_the_default_folder_is_under_the_data_folder(tmp_path: Path) -> None:
    assert resolve_folder("", tmp_path) == tmp_path / "documents"
    assert resolve_folder(str(tmp_path / "mine"), tmp_path) == tmp_path / "mine"
    with pytest.raises(DocumentError, match="documents.folder"):
        resolve_folder("", None)


# -- the folder: reading --------------------------------------------------------------------------
def make_pdf(path: Path, *pages: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(path))


def test_list_and_read_markdown_text_and_pdf(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts/nda.md").write_text("# NDA\n\n1. Liability is unlimited.\n",
                                               encoding="utf-8")
    (tmp_path / "notes.txt").write_text("plain notes\n", encoding="utf-8")
    make_pdf(tmp_path / "offer.pdf", "Offer page one", "Payment within 90 days")
    (tmp_path / ".hidden.md").write_text("no\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    folder = DocumentsFolder(tmp_path)
    infos = folder.list()
    assert [i.path for i in infos] == ["contracts/nda.md", "notes.txt", "offer.pdf"]
    nda = next(i for i in infos if i.path == "contracts/nda.md")
    assert nda.size == len("# NDA\n\n1. Liability is unlimited.\n")
    assert nda.sha256 == sha("# NDA\n\n1. Liability is unlimited.\n")
    assert folder.read("contracts/nda.md", max_chars=1000).text.startswith("# NDA")
    pdf = folder.read("offer.pdf", max_chars=1000)
    assert pdf.pages == 2 and "Offer page one" in pdf.text and "90 days" in pdf.text
    cut = folder.read("notes.txt", max_chars=5)
    assert cut.text == "plain" and cut.truncated == 7


def test_unreadable_documents_say_why(tmp_path: Path) -> None:
    folder = DocumentsFolder(tmp_path)
    with pytest.raises(DocumentError, match="there is no document 'none.md'"):
        folder.read("none.md", max_chars=10)
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(DocumentError, match="latin1.txt: not UTF-8"):
        folder.read("latin1.txt", max_chars=10)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    with pytest.raises(DocumentError, match="broken.pdf"):
        folder.read("broken.pdf", max_chars=10)
    with pytest.raises(DocumentError, match="must end with"):
        folder.read("run.sh", max_chars=10)
