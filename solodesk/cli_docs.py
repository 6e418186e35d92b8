"""``solodesk docs``: the founder's documents folder (the ``documents.folder`` setting, else
``documents`` in the data folder), which agents read and, after approval, write into.

``docs list`` shows every Markdown, text and PDF file (path, size, modification time in UTC,
the first 12 hex digits of its sha256); ``docs show PATH`` prints one document's text (a PDF's
extracted text). ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from solodesk.core.bounds import escape_controls

COMMANDS = ("docs",)

#: ``docs show`` prints at most this many characters.
SHOW_MAX_CHARS = 2_000_000


class DocsCliError(Exception):
    """A user-facing error of a ``docs`` command (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``docs`` command to the top-level subcommands ``sub``."""
    docs = sub.add_parser(
        "docs",
        help="your documents folder: what agents read and write (after your approval)",
        description="Agents read the Markdown, text and PDF files of your documents folder and "
        "propose new or changed Markdown documents, written only after you approve them "
        "(setting documents.folder; default: 'documents' in the data folder).",
    ).add_subparsers(dest="action", required=True)
    ls = docs.add_parser("list", help="every document: path, size, modified, sha256")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    show = docs.add_parser("show", help="print one document's text (a PDF's text)")
    show.add_argument("path", help="relative to the documents folder, e.g. contracts/nda.md")
    show.add_argument("--json", action="store_true", help="one JSON object")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1 << 20):.1f} MB"


def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run a ``docs`` command with the process's services ``sv``; returns the exit status.

    Raises:
        DocsCliError: the folder cannot be made or read, or the document cannot be read (the
            message names the path and says why).
    """
    from solodesk.store.documents import DocumentError, DocumentsFolder, resolve_folder

    try:
        folder = DocumentsFolder(
            resolve_folder(sv.config.get("documents.folder"), sv.paths.data_dir)
        )
        if args.action == "list":
            infos = folder.list()
            if args.json:
                print(json.dumps({"folder": str(folder.root), "documents": [
                    {"path": i.path, "size": i.size,
                     "modified": i.modified.isoformat(timespec="seconds"), "sha256": i.sha256}
                    for i in infos]}, ensure_ascii=False, indent=2))
                return 0
            print(f"documents folder: {escape_controls(str(folder.root))}")
            if not infos:
                print("no documents yet (Markdown, text or PDF files put here are listed)")
                return 0
            width = max(len(i.path) for i in infos)
            for i in infos:
                print(f"{escape_controls(i.path):<{width}}  {_size(i.size):>9}  "
                      f"{i.modified:%Y-%m-%d %H:%M} UTC  {i.sha256[:12]}")
            print(f"{len(infos)} document(s)")
            return 0
        doc = folder.read(args.path, max_chars=SHOW_MAX_CHARS)
    except DocumentError as exc:
        raise DocsCliError(str(exc)) from None
    if args.json:
        print(json.dumps({"path": doc.path, "sha256": doc.sha256, "pages": doc.pages,
                          "truncated": doc.truncated, "text": doc.text},
                         ensure_ascii=False, indent=2))
        return 0
    pages = f", {doc.pages} page(s)" if doc.pages is not None else ""
    print(f"# {escape_controls(doc.path)} (sha256 {doc.sha256[:12]}{pages})")
    print(escape_controls(doc.text.rstrip("\n"), multiline=True))
    if doc.truncated:
        print(f"[{doc.truncated} more characters not shown]")
    return 0
