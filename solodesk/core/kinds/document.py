"""The document kind: ``write_document``, a Markdown or text file saved into the founder's
documents folder (the ``documents.folder`` setting) only after approval.

The payload (:class:`WriteDocumentPayload`) names the file by a path relative to the documents
folder (POSIX separators; ``.md`` or ``.txt``; never absolute, never ``..``), its title and its
whole new text. For an overwrite it also carries the text it replaces and that text's sha256
(``expected_previous_sha256``), both filled from the disk when the agent proposes
(:func:`complete`): the approval's payload sha256 therefore covers the new text *and* the diff
the founder was shown, and the executor (``actions.executors.document``) refuses to write when
the file on disk is no longer the one the diff was made against (or when a new file appeared
meanwhile). A new file has ``expected_previous_sha256 = null``.

The file written is exactly ``content`` encoded as UTF-8; :func:`content_sha256` is its sha256.

Risk: ``low`` for a new file, ``medium`` for an overwrite (what was there is replaced), at least
``medium`` when the run saw untrusted content. It never leaves the machine.

Policy facts: ``path`` (the relative path), ``overwrite`` (bool), ``size_bytes`` (of the new
text).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from solodesk.core.actions import Provenance
from solodesk.core.kinds import (
    CompletionError,
    FactField,
    KindSpec,
    ProposalContext,
    RiskContext,
    register,
)
from solodesk.core.risk import Risk, RiskAssessment

WRITE_DOCUMENT = "write_document"

#: The suffixes ``write_document`` may write (lower case).
WRITABLE_SUFFIXES = (".md", ".txt")
#: The longest document text, in characters (a document, not a data dump).
MAX_CONTENT_CHARS = 200_000
#: The longest relative path, in characters.
MAX_PATH_CHARS = 255
#: Lines of context around each change in the diff shown for approval.
DIFF_CONTEXT = 3

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_STR = ("==", "!=", "in", "not-in")
_ORDERED = ("==", "!=", "<", "<=", ">", ">=")


class DocumentPathError(ValueError):
    """A document path that is not a plain relative path inside the documents folder (the
    message says why and what to use instead)."""


def check_path(path: str, *, suffixes: tuple[str, ...] = WRITABLE_SUFFIXES) -> PurePosixPath:
    """``path`` as a relative POSIX path inside the documents folder.

    Args:
        path: As the agent or founder wrote it, e.g. ``newsletters/launch.md``.
        suffixes: The allowed suffixes (lower case; compared case-insensitively).

    Raises:
        DocumentPathError: empty, too long, absolute (``/x``, ``C:\\x``, ``~/x``), a ``..`` or
            ``.`` part, a backslash, a control character, a hidden part (``.git``), or another
            suffix.
    """
    if not path or not path.strip():
        raise DocumentPathError("the path is empty; give a file name such as notes/plan.md")
    if len(path) > MAX_PATH_CHARS:
        raise DocumentPathError(f"the path is longer than {MAX_PATH_CHARS} characters")
    if _CONTROL.search(path):
        raise DocumentPathError("the path contains a control character")
    if "\\" in path:
        raise DocumentPathError("use / between folders, not \\")
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        raise DocumentPathError(
            f"{path!r} is absolute; give a path relative to the documents folder"
        )
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise DocumentPathError(
            f"{path!r} has an empty, '.' or '..' part; give a path inside the documents folder"
        )
    if any(p.startswith(".") for p in parts):
        raise DocumentPathError(f"{path!r} names a hidden file or folder")
    if any(p != p.strip() for p in parts):
        raise DocumentPathError(f"{path!r} has a part starting or ending with a space")
    pure = PurePosixPath(path)
    if pure.suffix.lower() not in suffixes:
        raise DocumentPathError(
            f"{path!r} must end with {' or '.join(suffixes)}"
        )
    return pure


def content_sha256(text: str) -> str:
    """The hex sha256 of ``text`` as written (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class WriteDocumentPayload(BaseModel):
    """What a ``write_document`` proposal carries.

    Attributes:
        path: Relative to the documents folder, ``.md`` or ``.txt``.
        title: What the document is, for the inbox (not written into the file).
        content: The whole new text (Markdown), written as UTF-8 exactly as approved.
        expected_previous_sha256: The hex sha256 of the file it overwrites; None: a new file.
        previous_content: The text it overwrites (the diff's left side); None for a new file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="File path relative to the documents folder, e.g. "
                                  "newsletters/launch.md (.md or .txt)")
    title: str = Field(min_length=1, max_length=200, description="What the document is")
    content: str = Field(max_length=MAX_CONTENT_CHARS,
                         description="The whole text of the document, in Markdown",
                         json_schema_extra={"x-multiline": True})
    expected_previous_sha256: str | None = Field(
        default=None, description="sha256 of the file it replaces (null: a new file)")
    previous_content: str | None = Field(
        default=None, max_length=MAX_CONTENT_CHARS,
        description="The text it replaces (null: a new file)",
        json_schema_extra={"x-multiline": True})

    @property
    def overwrite(self) -> bool:
        """Whether it replaces an existing file."""
        return self.expected_previous_sha256 is not None


def errors(p: WriteDocumentPayload) -> list[str]:
    """Semantic errors: a bad path, an empty text, a previous text that does not match its
    sha256."""
    out: list[str] = []
    try:
        check_path(p.path)
    except DocumentPathError as exc:
        out.append(f"path: {exc}")
    if not p.content.strip():
        out.append("content: the document is empty")
    if _CONTROL.search(p.title):
        out.append("title: contains a control character")
    sha = p.expected_previous_sha256
    if sha is None:
        if p.previous_content is not None:
            out.append("previous_content: given for a new file (expected_previous_sha256 is "
                       "null)")
    elif not _SHA256.match(sha):
        out.append("expected_previous_sha256: must be 64 lower-case hex digits")
    elif p.previous_content is None:
        out.append("previous_content: missing for an overwrite")
    elif content_sha256(p.previous_content) != sha:
        out.append("previous_content: does not match expected_previous_sha256")
    return out


def summary(p: WriteDocumentPayload) -> str:
    """``Write notes/launch.md: Launch newsletter (new, 1.2 KB)``."""
    size = len(p.content.encode("utf-8"))
    shown = f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"
    verb = "Overwrite" if p.overwrite else "Write"
    state = "changed" if p.overwrite else "new"
    return f"{verb} {p.path}: {p.title} ({state}, {shown})"[:200]


def assess(p: WriteDocumentPayload, provenance: Provenance, _ctx: RiskContext) -> RiskAssessment:
    """Low for a new file; medium for an overwrite or when derived from untrusted content."""
    level = Risk.LOW
    reasons: list[str] = []
    if p.overwrite:
        level = Risk.MEDIUM
        reasons.append(f"overwrites {p.path}: check the diff")
    if provenance.untrusted:
        level = max(level, Risk.MEDIUM)
        reasons.append("derived from untrusted content")
    return RiskAssessment(level, reasons)


FACT_FIELDS: Mapping[str, FactField] = {
    "path": FactField("str", _STR, "the document's path in the documents folder"),
    "overwrite": FactField("bool", ("==", "!="), "it replaces an existing file"),
    "size_bytes": FactField("int", _ORDERED, "size of the new text in bytes (UTF-8)"),
}


def facts(p: WriteDocumentPayload, _ctx: RiskContext) -> dict[str, Any]:
    """The policy facts of :data:`FACT_FIELDS`."""
    return {
        "path": p.path,
        "overwrite": p.overwrite,
        "size_bytes": len(p.content.encode("utf-8")),
    }


def diff_lines(previous: str, content: str, path: str) -> list[str]:
    """The unified diff (``difflib``, :data:`DIFF_CONTEXT` lines of context) from ``previous``
    to ``content``, as lines without line ends; empty when they are equal."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            previous.splitlines(keepends=True), content.splitlines(keepends=True),
            fromfile=f"a/{path}", tofile=f"b/{path}", n=DIFF_CONTEXT,
        )
    ]


def render(p: Mapping[str, Any]) -> list[str]:
    """A stored payload as ``inbox show`` lines: where, what; for an overwrite the unified diff
    of what changes, then the whole new text."""
    from pydantic import ValidationError

    from solodesk.core.bounds import escape_controls
    from solodesk.core.kinds import render_fields

    try:
        doc = WriteDocumentPayload.model_validate(dict(p))
    except ValidationError:
        return render_fields(WriteDocumentPayload.model_json_schema().get("properties", {}), p)
    lines = [
        f"  path:  {escape_controls(doc.path)}",
        f"  title: {escape_controls(doc.title)}",
    ]
    if doc.overwrite:
        sha = doc.expected_previous_sha256 or ""
        lines.append(f"  overwrites the file with sha256 {sha[:12]}…; what changes:")
        diff = diff_lines(doc.previous_content or "", doc.content, doc.path)
        if not diff:
            lines.append("    (no change)")
        lines += ["    " + escape_controls(d) for d in diff]
    else:
        lines.append("  a new file")
    lines.append(f"  content (sha256 {content_sha256(doc.content)[:12]}…):")
    lines += ["    " + ln for ln in escape_controls(doc.content, multiline=True).splitlines()]
    return lines


def complete(args: dict[str, Any], ctx: ProposalContext) -> dict[str, Any]:
    """An agent's ``path``, ``title`` and ``content`` completed with the file on disk now: its
    sha256 and text for an overwrite, nulls for a new file.

    Raises:
        CompletionError: the path is not a writable document path, or the file there cannot
            be overwritten (not UTF-8 text, a folder, a symlink out of the folder).
    """
    out = dict(args)
    path = out.get("path")
    if isinstance(path, str):
        out["path"] = path = path.strip()
        try:
            check_path(path)
        except DocumentPathError as exc:
            raise CompletionError([f"path: {exc}"]) from None
        current = None
        if ctx.document is not None:
            try:
                current = ctx.document(path)
            except ValueError as exc:
                raise CompletionError([f"path: {exc}"]) from None
        if current is None:
            out["expected_previous_sha256"] = None
            out["previous_content"] = None
        else:
            out["expected_previous_sha256"], out["previous_content"] = current
    return out


WRITE_DOCUMENT_SPEC = register(
    KindSpec(
        name=WRITE_DOCUMENT,
        title="Write a document",
        label="Document",
        payload_model=WriteDocumentPayload,
        summary=summary,
        validate=errors,
        assess=assess,
        facts=facts,
        fact_fields=FACT_FIELDS,
        render_text=render,
        edit_fields=("title", "content"),
        agent_fields=("path", "title", "content"),
        complete=complete,
    )
)
