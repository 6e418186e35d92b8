"""The founder's documents folder: list, read and write files confined to it.

The folder is the ``documents.folder`` setting, or ``<data folder>/documents`` when that is
empty; it is created on first use (mode 0700). Every path is relative to it and checked by
``core.kinds.document.check_path`` (no absolute paths, no ``..``, no hidden parts), then
resolved with symlinks followed: a path whose real location is outside the folder is refused,
so a symlink in the folder cannot lead a reader or the writer elsewhere.

Reading: Markdown (``.md``, ``.markdown``), text (``.txt``) as UTF-8, and the text of PDFs
(``.pdf``) through pypdf, each bounded (:data:`MAX_READ_BYTES` on disk, :data:`MAX_PDF_PAGES`,
the caller's character cap). Writing (``write_document``'s executor): atomically (a temporary
file in the same folder, fsync, then a link for a new file, which fails if one appeared, or a
rename over the old one; then the folder is fsynced), only if the file is still the one the
proposal was made against (its sha256).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from solodesk.core.kinds.document import (
    MAX_CONTENT_CHARS,
    WRITABLE_SUFFIXES,
    DocumentPathError,
    check_path,
)

#: The folder under the data folder when ``documents.folder`` is empty.
DEFAULT_FOLDER = "documents"
#: The suffixes the read tools read (lower case).
READABLE_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")
#: A file larger than this (bytes) is not read.
MAX_READ_BYTES = 20 * 1024 * 1024
#: At most this many pages of a PDF are read.
MAX_PDF_PAGES = 200
#: At most this many files are listed.
MAX_LISTED = 1000


class DocumentError(ValueError):
    """A document cannot be read or written; the message names the path and says why."""


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One file of the documents folder.

    Attributes:
        path: Relative to the folder, POSIX separators.
        size: In bytes.
        modified: Last modification, UTC.
        sha256: Hex sha256 of its bytes.
    """

    path: str
    size: int
    modified: datetime
    sha256: str


@dataclass(frozen=True, slots=True)
class DocumentText:
    """A document's text as read.

    Attributes:
        path: Relative to the folder.
        text: Its text (PDF: the text of its pages, separated by form feeds), cut to the cap.
        truncated: How many characters were cut (0: the whole text).
        sha256: Hex sha256 of the file's bytes.
        pages: Pages read (PDF), else None.
    """

    path: str
    text: str
    truncated: int
    sha256: str
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :meth:`DocumentsFolder.write` did.

    Attributes:
        written: False when the file already held exactly this text (nothing written).
        sha256: Hex sha256 of the file now.
        size: Its size in bytes.
        file: Its absolute path.
    """

    written: bool
    sha256: str
    size: int
    file: Path


class DocumentChanged(DocumentError):
    """The file on disk is not the one the proposal was made against (it changed, was
    removed, or appeared); nothing was written."""


def resolve_folder(setting: str, data_dir: Path | None) -> Path:
    """The documents folder: ``setting`` (``~`` expanded) or ``data_dir/documents``.

    Raises:
        DocumentError: the setting is empty and no data folder is known.
    """
    if setting.strip():
        return Path(setting.strip()).expanduser()
    if data_dir is None:
        raise DocumentError("no documents folder: set it with 'solodesk config set "
                            "documents.folder DIR'")
    return data_dir / DEFAULT_FOLDER


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


class DocumentsFolder:
    """The documents folder at ``root`` (created on first use).

    Args:
        root: The folder (need not exist yet).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> Path:
        """Create the folder if needed (mode 0700); its real path.

        Raises:
            DocumentError: it cannot be created, or is not a folder.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise DocumentError(f"the documents folder {self.root} cannot be created: "
                                f"{exc.strerror or exc}") from None
        if not self.root.is_dir():
            raise DocumentError(f"the documents folder {self.root} is not a folder")
        return self.root.resolve()

    def locate(self, rel: str, *, suffixes: tuple[str, ...] = READABLE_SUFFIXES) -> Path:
        """The file ``rel`` names, with symlinks followed, checked to be inside the folder.

        Raises:
            DocumentError: a bad path (:func:`check_path`'s reasons) or one leading outside
                the folder.
        """
        try:
            check_path(rel, suffixes=suffixes)
        except DocumentPathError as exc:
            raise DocumentError(str(exc)) from None
        root = self.ensure()
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or target == root:
            raise DocumentError(f"{rel!r} leads outside the documents folder (a symlink); "
                                "nothing was read or written")
        return target

    # -- reading -------------------------------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, Path]]:
        root = self.ensure()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or Path(name).suffix.lower() not in READABLE_SUFFIXES:
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                real = full.resolve()
                if not real.is_relative_to(root) or not real.is_file():
                    continue  # a symlink out of the folder, or a dangling one
                yield rel, real

    def list(self) -> list[DocumentInfo]:
        """The readable files (Markdown, text, PDF) in the folder and its subfolders, by path;
        hidden files and symlinks leading out are skipped; at most :data:`MAX_LISTED`.

        Raises:
            DocumentError: the folder cannot be created or read.
        """
        out: list[DocumentInfo] = []
        for rel, real in self._walk():
            try:
                st = real.stat()
                sha = _sha256_file(real)
            except OSError:
                continue  # removed or unreadable meanwhile
            out.append(DocumentInfo(
                rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC), sha
            ))
            if len(out) >= MAX_LISTED:
                break
        return sorted(out, key=lambda i: i.path)

    def read(self, rel: str, *, max_chars: int) -> DocumentText:
        """The text of ``rel`` (Markdown/text as UTF-8, PDF through pypdf), cut to
        ``max_chars``.

        Raises:
            DocumentError: a bad path, no such file, too large, not UTF-8, a PDF that cannot
                be read (encrypted, damaged) or holds no text.
        """
        target = self.locate(rel)
        if not target.is_file():
            raise DocumentError(f"there is no document {rel!r}; list_documents shows them")
        size = target.stat().st_size
        if size > MAX_READ_BYTES:
            raise DocumentError(f"{rel}: {size} bytes is more than the {MAX_READ_BYTES} "
                                "bytes a document may have to be read")
        data = target.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        pages: int | None = None
        if target.suffix.lower() == ".pdf":
            text, pages = _pdf_text(rel, data)
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{rel}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
                ) from None
        cut = max(0, len(text) - max_chars)
        return DocumentText(rel, text[:max_chars], cut, sha, pages)

    def current(self, rel: str) -> tuple[str, str] | None:
        """The file ``rel`` as a ``write_document`` would replace it: ``(sha256, text)``, or
        None when there is none.

        Raises:
            DocumentError: a bad or unwritable path, a folder there, not UTF-8 text, or longer
                than a document may be (``MAX_CONTENT_CHARS``).
        """
        target = self.locate(rel, suffixes=WRITABLE_SUFFIXES)
        if not target.exists():
            return None
        if not target.is_file():
            raise DocumentError(f"{rel!r} is a folder, not a file")
        too_long = (f"{rel}: the file there is longer than {MAX_CONTENT_CHARS} characters, "
                    "too long to be replaced by a proposal; choose another path")
        if target.stat().st_size > 4 * MAX_CONTENT_CHARS:  # UTF-8: at most 4 bytes a character
            raise DocumentError(too_long)
        data = target.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{rel}: the file there is not UTF-8 text (byte {exc.start}); "
                                "choose another path") from None
        if len(text) > MAX_CONTENT_CHARS:
            raise DocumentError(too_long)
        return hashlib.sha256(data).hexdigest(), text

    # -- writing -------------------------------------------------------------------------------
    def write(self, rel: str, content: str, *, expected_previous_sha256: str | None) -> WriteResult:
        """Write ``content`` (UTF-8) to ``rel`` atomically, if the file is still as expected.

        Already holding exactly ``content``: nothing is written (``written`` False), so running
        the same approval again writes nothing twice.

        Args:
            rel: Relative path (``.md``/``.txt``).
            content: The whole new text.
            expected_previous_sha256: The sha256 of the file it replaces; None: there must be
                no file.

        Raises:
            DocumentChanged: the file changed, was removed or appeared since the proposal.
            DocumentError: a bad path, a folder in the way, or the disk refused (the message
                says what); nothing was written.
        """
        target = self.locate(rel, suffixes=WRITABLE_SUFFIXES)
        data = content.encode("utf-8")
        new_sha = hashlib.sha256(data).hexdigest()
        disk = _sha256_file(target) if target.is_file() else None
        if target.exists() and disk is None:
            raise DocumentError(f"{rel!r} is a folder, not a file; nothing was written")
        if disk == new_sha:
            return WriteResult(False, new_sha, len(data), target)
        if expected_previous_sha256 is None and disk is not None:
            raise DocumentChanged(
                f"{rel} appeared since the proposal (sha256 {disk[:12]}…); nothing was "
                "written: ask for a new proposal that shows the diff"
            )
        if expected_previous_sha256 is not None and disk != expected_previous_sha256:
            now = f"sha256 {disk[:12]}…" if disk else "it was removed"
            raise DocumentChanged(
                f"{rel} changed since the proposal (expected sha256 "
                f"{expected_previous_sha256[:12]}…, {now}); nothing was written"
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not target.parent.resolve().is_relative_to(self.root.resolve()):
                raise DocumentError(f"{rel!r} leads outside the documents folder")
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                            dir=target.parent)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    # mkstemp makes the file private (0600); a document gets the mode any file
                    # the founder saves there gets (0666 less the umask), or the one it replaces.
                    os.fchmod(f.fileno(), _mode_for(target))
                    os.fsync(f.fileno())
                if expected_previous_sha256 is None:
                    try:
                        os.link(tmp, target)  # fails if a file appeared meanwhile
                    except FileExistsError:
                        raise DocumentChanged(
                            f"{rel} appeared while it was being written; nothing was "
                            "overwritten"
                        ) from None
                else:
                    os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(target.parent)
        except DocumentError:
            raise
        except OSError as exc:
            raise DocumentError(f"{rel}: the disk refused the write ({exc.strerror or exc}); "
                                "the old file, if any, is unchanged") from None
        return WriteResult(True, new_sha, len(data), target)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pdf_text(rel: str, data: bytes) -> tuple[str, int]:
    """The text of a PDF's pages (form feeds between pages) and how many pages were read.

    Raises:
        DocumentError: encrypted, damaged, or without extractable text.
    """
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings about damaged files
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(f"{rel}: the PDF is encrypted; save an unprotected copy")
        pages = reader.pages[:MAX_PDF_PAGES]
        texts = [page.extract_text() or "" for page in pages]
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DocumentError(f"{rel}: the PDF cannot be read ({exc})") from None
    text = "\f".join(t.strip() for t in texts).strip()
    if not text:
        raise DocumentError(f"{rel}: the PDF holds no text (a scan?); nothing to read")
    return text, len(texts)


def data_dir_of(db: object) -> Path | None:
    """The data folder of an open database: the folder of its main file (``Paths.database``
    is ``data_dir/solodesk.db``); None for an in-memory database."""
    conn = getattr(db, "conn", None)
    if conn is None:
        return None
    for _seq, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file).parent
    return None


def folder_for(db: object, setting: str) -> DocumentsFolder:
    """The documents folder for the ``documents.folder`` setting's value ``setting`` and the
    database ``db`` (its data folder gives the default).

    Raises:
        DocumentError: the setting is empty and the database is in memory.
    """
    return DocumentsFolder(resolve_folder(setting, data_dir_of(db)))


def _mode_for(target: Path) -> int:
    """The permission bits a written document gets: those of the file it replaces, else
    0666 less the process's umask (what an editor saving a new file there would give)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
