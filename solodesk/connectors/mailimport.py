"""Import mail from an mbox file, a Maildir, a folder of ``.eml`` files or one ``.eml`` file.

Parsing uses the standard library (``mailbox``, ``email`` with ``policy.default``, RFC 5322 and
MIME). Each file and message is isolated: one that cannot be read (permission denied, an I/O
error, a dangling symbolic link, a FIFO or other special file, larger than
:data:`MAX_MESSAGE_BYTES`) or parsed is reported with its path (and position in an mbox) and the
reason, and the rest is imported. Files are never read past the size limit (+1 byte), and special
files are never opened for reading, so a FIFO cannot hang the import.

A message whose Message-ID and content fingerprint (:func:`fingerprint`) are already stored is a
duplicate and is skipped, so an interrupted import can simply be run again. A *different* message
reusing a stored Message-ID is a conflict: it is imported under its own key
(``<conflict-...@solodesk.invalid>``, its own Message-ID kept for threading replies) and reported
with both sources, so the customer's mail never vanishes.

How one message is read (charsets, best text part, HTML, true senders) is in
``connectors.mailparse``.
"""

from __future__ import annotations

import email.policy
import errno
import hashlib
import logging
import mailbox
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from solodesk.connectors.mailparse import (
    address_header,
    best_body,
    header_text,
    parse_bytes,
    parse_date,
)
from solodesk.core.mail import PLACEHOLDER_DOMAIN, addr_specs, first_mailbox
from solodesk.store.db import StoreError
from solodesk.store.repos import MailRepo

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
#: Messages per write transaction (one durable commit each): a crash loses at most this batch,
#: which the same import run again stores (what was committed is skipped as duplicates).
BATCH = 200
#: ...or this many bytes of messages, whichever comes first (bounds the memory a batch holds).
BATCH_BYTES = 16 * 1024 * 1024
#: How much of a line the mbox scanner reads at once (bounds memory on a huge line).
LINE_CHUNK = 64 * 1024


class ImportSourceError(Exception):
    """The path is not an mbox, Maildir, folder of .eml files or .eml file (or cannot be read);
    the message names the path and the reason. Nothing is imported."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A file or message that was not imported: where it is and why."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """A different message reusing a stored Message-ID; it was imported under its own key.

    Attributes:
        where: The new message's file (and position in an mbox).
        message_id: The Message-ID both messages carry.
        other: Where the message already stored under that Message-ID came from.
        mail_id: The new message's row id.
    """

    where: str
    message_id: str
    other: str
    mail_id: int

    def line(self) -> str:
        """The conflict as one problem line."""
        return (
            f"Message-ID conflict: {self.where}: {self.message_id} is already used by a "
            f"different message ({self.other}); imported separately as mail {self.mail_id}"
        )


@dataclass(slots=True)
class ImportReport:
    """Counts and problems of one import.

    Attributes:
        imported: Row ids of the imported messages (conflicts included).
        duplicates: Messages already stored (same Message-ID and content), skipped.
        malformed: Messages read but not valid RFC 5322 mail.
        unreadable: Files, folders and messages that were not read (permission denied, I/O
            error, dangling link, special file, over the size limit), with why.
        conflicts: Different messages reusing a stored Message-ID (imported separately).
        stopped: Why the import stopped before the end (the database refused a write), or ''.
            What was imported until then is kept; running the import again continues it.
    """

    imported: list[int] = field(default_factory=list)
    duplicates: int = 0
    malformed: list[Malformed] = field(default_factory=list)
    unreadable: list[Malformed] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    stopped: str = ""

    def problems(self) -> list[str]:
        """One line per problem, for a terminal or a details view: ``kind: where: reason``."""
        lines = [f"not read: {u.where}: {u.reason}" for u in self.unreadable]
        lines += [f"malformed: {m.where}: {m.reason}" for m in self.malformed]
        lines += [c.line() for c in self.conflicts]
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return lines

    def summary(self) -> str:
        """One line: what was imported, skipped and not imported."""
        text = (
            f"imported {len(self.imported)}, skipped {self.duplicates} already imported, "
            f"{len(self.malformed)} malformed"
        )
        if self.unreadable:
            text += f", {len(self.unreadable)} not read"
        if self.conflicts:
            text += f", {len(self.conflicts)} Message-ID conflict(s) imported separately"
        if self.stopped:
            text += " — stopped early: run the same import again to continue"
        return text


@dataclass(frozen=True, slots=True)
class _Item:
    """One message read from a source, or why it could not be read."""

    where: str
    raw: bytes | None = None
    problem: str = ""


def _describe_mode(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _os_reason(exc: OSError) -> str:
    """An OSError as a short reason, e.g. ``Permission denied (EACCES)``."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


class _Skip(Exception):
    """A file that is not read; the message says why."""


def _check_regular(path: Path, limit: int) -> os.stat_result:
    """``stat`` (following links) and refuse what must not be read.

    Raises:
        _Skip: a dangling or looping link, a special file, or larger than ``limit`` bytes.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise _Skip(f"dangling symbolic link to {os.readlink(path)}; not read") from None
        raise _Skip("no longer exists") from None
    except OSError as exc:
        raise _Skip(f"cannot be read: {_os_reason(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _Skip(f"{_describe_mode(st.st_mode)}, not a mail file; not read")
    if st.st_size > limit:
        raise _Skip(f"larger than the {limit} byte limit ({st.st_size} bytes); not read")
    return st


def read_capped(path: Path, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """Read a regular file, never more than ``limit + 1`` bytes.

    Special files are refused before they are opened; the opened file is checked again
    (``fstat``) so a file swapped for a FIFO meanwhile is not read either.

    Raises:
        _Skip: see :func:`_check_regular`, or the file is over ``limit`` while reading.
        OSError: the file cannot be opened or read (permission denied, I/O error).
    """
    _check_regular(path, limit)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Skip(f"{_describe_mode(st.st_mode)}, not a mail file; not read")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise _Skip(f"larger than the {limit} byte limit; not read further")
    return raw


def _read_item(path: Path, where: str, limit: int) -> _Item:
    try:
        return _Item(where, raw=read_capped(path, limit))
    except _Skip as skip:
        return _Item(where, problem=str(skip))
    except OSError as exc:
        return _Item(where, problem=f"cannot be read: {_os_reason(exc)}")


class _BoundedMbox(mailbox.mbox):
    """``mailbox.mbox`` whose table of contents is built reading lines in bounded chunks, so a
    huge line does not have to fit in memory, and which tells a message's size before it is
    read. Lines before the first ``From`` line (e.g. blank lines) are ignored."""

    def _generate_toc(self) -> None:
        starts: list[int] = []
        stops: list[int] = []
        last_was_empty = False
        at_line_start = True
        fh = self._file  # type: ignore[attr-defined]
        fh.seek(0)
        while True:
            pos = fh.tell()
            piece = fh.readline(LINE_CHUNK)
            if not piece:
                if len(stops) < len(starts):
                    stops.append(pos - len(os.linesep) if last_was_empty else pos)
                break
            line_start, at_line_start = at_line_start, piece.endswith(b"\n")
            if not line_start:
                continue  # the rest of a long line
            if piece.startswith(b"From "):
                if len(stops) < len(starts):
                    stops.append(pos - len(os.linesep) if last_was_empty else pos)
                starts.append(pos)
                last_was_empty = False
            else:
                last_was_empty = piece == os.linesep.encode()
        self._toc = dict(enumerate(zip(starts, stops, strict=True)))
        self._next_key = len(self._toc)
        self._file_length = fh.tell()

    def message_size(self, key: str) -> int:
        """Bytes of message ``key`` (its ``From`` line included)."""
        start, stop = self._lookup(key)  # type: ignore[attr-defined]
        return int(stop - start)


def _looks_like_mbox(head: bytes) -> bool:
    """An mbox starts with a ``From `` line, possibly after blank lines (or a BOM)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return text.startswith(b"From ")


def _iter_mbox(path: Path, limit: int) -> Iterator[_Item]:
    try:
        box = _BoundedMbox(str(path), factory=None, create=False)
    except OSError as exc:
        raise ImportSourceError(f"{path} cannot be read: {_os_reason(exc)}") from None
    try:
        try:
            keys = box.keys()
        except OSError as exc:
            raise ImportSourceError(f"{path} cannot be read: {_os_reason(exc)}") from None
        for i, key in enumerate(keys, start=1):
            where = f"{path} message {i}"
            size = box.message_size(key)
            if size > limit + LINE_CHUNK:
                yield _Item(where, problem=f"larger than the {limit} byte limit ({size} bytes);"
                            " not read")
                continue
            try:
                with box.get_file(key) as fh:
                    raw = fh.read(limit + 1)
            except OSError as exc:
                yield _Item(where, problem=f"cannot be read: {_os_reason(exc)}")
                continue
            if len(raw) > limit:
                yield _Item(where, problem=f"larger than the {limit} byte limit; not read")
                continue
            yield _Item(where, raw=raw.replace(os.linesep.encode(), b"\n"))
    finally:
        box.close()


def _iter_maildir(path: Path, limit: int) -> Iterator[_Item]:
    """Messages in ``new`` and ``cur`` (``tmp`` holds deliveries in progress), by file name."""
    for sub in ("new", "cur"):
        folder = path / sub
        try:
            names = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
        except OSError as exc:
            yield _Item(str(folder), problem=f"folder cannot be read: {_os_reason(exc)}")
            continue
        for name in names:
            yield _read_item(folder / name, str(folder / name), limit)


def _iter_eml_folder(path: Path, limit: int) -> Iterator[_Item]:
    """``.eml`` files anywhere under ``path`` (sorted); unreadable folders are reported."""
    folder_errors: list[_Item] = []

    def onerror(exc: OSError) -> None:
        where = exc.filename or str(path)
        folder_errors.append(_Item(str(where), problem=f"folder cannot be read: "
                                   f"{_os_reason(exc)}; its mail was not imported"))

    found: list[Path] = []
    linked_folders: list[_Item] = []
    for root, dirs, files in os.walk(path, onerror=onerror):
        for d in sorted(dirs):
            full = Path(root) / d
            if full.is_symlink():
                linked_folders.append(
                    _Item(str(full), problem="symbolic link to a folder, not followed; import "
                          "that folder itself to include its mail")
                )
        found += [Path(root) / f for f in files if f.lower().endswith(".eml")]
    if not found and not folder_errors:
        raise ImportSourceError(
            f"{path} is a folder with no .eml files and is not a Maildir (cur/new/tmp)"
        )
    yield from folder_errors
    yield from linked_folders
    for p in sorted(found):
        yield _read_item(p, str(p), limit)


def _iter_sources(path: Path, limit: int = MAX_MESSAGE_BYTES) -> Iterator[_Item]:
    """Every message under ``path``, or why one could not be read.

    Raises:
        ImportSourceError: ``path`` does not exist, cannot be read, or is not a mail source.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImportSourceError(f"{path} is a dangling symbolic link") from None
        raise ImportSourceError(f"{path} does not exist") from None
    except OSError as exc:
        raise ImportSourceError(f"{path} cannot be read: {_os_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        try:
            entries = {e.name for e in os.scandir(path)}
        except OSError as exc:
            raise ImportSourceError(f"{path} cannot be read: {_os_reason(exc)}") from None
        if {"cur", "new", "tmp"} <= entries and all(
            (path / sub).is_dir() for sub in ("cur", "new", "tmp")
        ):
            yield from _iter_maildir(path, limit)
        else:
            yield from _iter_eml_folder(path, limit)
        return
    if not stat.S_ISREG(st.st_mode):
        raise ImportSourceError(
            f"{path} is {_describe_mode(st.st_mode)}, not a mail file; nothing was read"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        try:
            head = os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ImportSourceError(f"{path} cannot be read: {_os_reason(exc)}") from None
    if _looks_like_mbox(head):
        yield from _iter_mbox(path, limit)
        return
    item = _read_item(path, str(path), limit)
    if item.problem:
        raise ImportSourceError(f"{path}: {item.problem}")
    yield item


def _header(msg: EmailMessage, name: str) -> str:
    try:
        return header_text(msg, name)
    except Exception:  # a header that cannot be decoded at all
        return ""


_NOREPLY = re.compile(
    r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?)([+-].*)?@",
    re.IGNORECASE,
)


def automated_reason(msg: EmailMessage, sender: str) -> str:
    """Why a message is automated and needs no reply, or ``""``.

    Follows RFC 3834 (``Auto-Submitted`` other than ``no``: never auto-reply), RFC 2369/2919
    (``List-Id``, ``List-Unsubscribe``: mailing lists), the ``Precedence: bulk|list|junk``
    convention, and no-reply sender addresses.
    """
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"automated message (Auto-Submitted: {auto}, RFC 3834)"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"bulk mail (Precedence: {precedence})"
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return "mailing list or newsletter (List-Id/List-Unsubscribe, RFC 2369)"
    if _NOREPLY.match(sender):
        return f"sent from a no-reply address ({sender})"
    return ""


def parse_message(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one RFC 5322 message into a mail row (see ``connectors.mailparse``).

    The row holds the decoded headers as written (``from_addr``, ``reply_to``...) and, beside
    them, the addr-specs mail really comes from and replies go to (``from_email``,
    ``reply_to_email``: every Reply-To addr-spec, comma-separated); the best text
    (``body_text``) and the HTML (``body_html``, ``""`` if none); the Date as ISO 8601 or None
    when missing or unreadable.

    Returns:
        ``(row, None)`` on success, else ``(None, reason)``.
    """
    if not raw.strip():
        return None, "empty file"
    if len(raw) > MAX_MESSAGE_BYTES:
        return None, f"larger than {MAX_MESSAGE_BYTES} bytes"
    if b"\x00" in raw[:4096]:
        return None, "binary data, not an RFC 5322 message"
    try:
        msg = parse_bytes(raw)
    except Exception as exc:
        return None, f"cannot be parsed: {type(exc).__name__}: {exc}"
    if not msg.keys():
        return None, "no headers: not an RFC 5322 message"
    sender = first_mailbox(address_header(msg, "From"))
    if not sender.addr:
        return None, "missing or invalid From header"
    message_id = _header(msg, "Message-ID")
    if not message_id:
        # Deterministic stand-in so the same message is still recognised next time.
        digest = hashlib.sha256(raw).hexdigest()[:32]
        message_id = f"<sha256-{digest}@{PLACEHOLDER_DOMAIN}>"
    try:
        body = best_body(msg)
    except Exception as exc:  # pragma: no cover - best_body decodes defensively
        return None, f"body cannot be decoded: {type(exc).__name__}: {exc}"
    reply_to = addr_specs(address_header(msg, "Reply-To"))
    row = {
        "message_id": message_id.split()[0] if message_id.startswith("<") else message_id,
        "from_addr": _header(msg, "From"),
        "from_email": sender.addr,
        "reply_to": _header(msg, "Reply-To"),
        "reply_to_email": ", ".join(reply_to),
        "to_addrs": _header(msg, "To"),
        "cc_addrs": _header(msg, "Cc"),
        "subject": " ".join(_header(msg, "Subject").split()),
        "date": parse_date(_header(msg, "Date")),
        "in_reply_to": _header(msg, "In-Reply-To"),
        "refs": " ".join(_header(msg, "References").split()),
        "body_text": body.text,
        "body_html": body.html,
        "raw": raw,
        "automated": automated_reason(msg, sender.addr),
    }
    return row, None


def _quick_message_id(raw: bytes) -> str:
    """The Message-ID from the header block only (compat32 parser: fast, no decoding)."""
    try:
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        value = headers.get("Message-ID")
    except Exception:
        return ""
    text = str(value).strip() if value is not None else ""
    return text.split()[0] if text.startswith("<") else text


_FINGERPRINT_HEADERS = ("From", "To", "Cc", "Subject", "Date")


def fingerprint(raw: bytes) -> str:
    """A sha256 (hex) of what makes a message *this* message: its From, To, Cc, Subject and Date
    headers and its body, with line endings and trailing white space normalised.

    Transport headers (Received, Status, X-*) and the mbox ``From`` line are left out, so the
    same message exported as .eml, in a Maildir or in an mbox has the same fingerprint.
    """
    return identify(raw)[0]


def identify(raw: bytes) -> tuple[str, str]:
    """``(fingerprint(raw), Message-ID)`` from one parse of the header block (the Message-ID
    as :func:`_quick_message_id` reads it, ``""`` if none)."""
    data = raw.replace(b"\r\n", b"\n")
    head, _sep, body = data.partition(b"\n\n")
    try:
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n\n")
    except Exception:
        headers = None
    message_id = ""
    try:
        value = headers.get("Message-ID") if headers is not None else None
    except Exception:
        value = None
    if value is not None:
        text = str(value).strip()
        message_id = text.split()[0] if text.startswith("<") else text
    digest = hashlib.sha256()
    for name in _FINGERPRINT_HEADERS:
        try:
            value = headers.get(name) if headers is not None else None
        except Exception:
            value = None
        text = " ".join(str(value).split()) if value is not None else ""
        digest.update(f"{name}: {text}\n".encode("utf-8", "surrogateescape"))
    digest.update(b"\n")
    lines = [line.rstrip() for line in body.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    digest.update(b"\n".join(lines))
    return digest.hexdigest(), message_id


def _conflict_key(fp: str) -> str:
    """The key a conflicting message is stored under (RFC 2606 ``.invalid``: never real)."""
    return f"<conflict-{fp[:40]}@solodesk.invalid>"


def _stored_fingerprint(repo: MailRepo, mail_id: int, stored: str) -> str:
    """The fingerprint of a stored mail, computed once for mail imported before they existed."""
    if stored:
        return stored
    fp = fingerprint(repo.raw(mail_id))
    repo.set_fingerprint(mail_id, fp)
    return fp


def _is_duplicate(repo: MailRepo, message_id: str, fp: str) -> tuple[bool, str]:
    """``(duplicate, other_source)``: whether a stored mail holding ``message_id`` has the same
    content, else where the first (different) one came from ('' if none holds it)."""
    holders = repo.holding(message_id)
    for h in holders:
        if _stored_fingerprint(repo, h.id, h.fingerprint) == fp:
            return True, h.source
    return False, holders[0].source if holders else ""


def _is_transient(exc: sqlite3.Error | StoreError) -> bool:
    """Errors of the database as a whole (full disk, locked, I/O), not of one message."""
    if isinstance(exc, StoreError):  # the store's one-line DiskFull / StoreBusy
        return True
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.InterfaceError | sqlite3.ProgrammingError
    )


def import_mail(
    path: Path,
    repo: MailRepo,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    on_problem: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import every message under ``path`` into ``repo``.

    Each file and message is isolated: problems are collected in the report (with paths and
    reasons) and the rest is imported. Messages are committed in batches of :data:`BATCH`; a
    batch the database refuses is retried message by message, so one bad row does not lose the
    others. If the database refuses writes altogether (full disk, locked, I/O error) the import
    stops with :attr:`ImportReport.stopped` set; what was committed is kept and running the same
    import again continues it (duplicates are skipped).

    Args:
        path: An mbox file, a Maildir, a folder of ``.eml`` files or one ``.eml`` file.
        repo: Where mail is stored.
        max_bytes: The largest message read, in bytes (files are never read further).
        on_problem: Called with each problem line as it is found (e.g. to print it at once).

    Raises:
        ImportSourceError: ``path`` is not a mail source or cannot be read (nothing imported).
    """
    report = ImportReport()
    batch: list[tuple[str, dict[str, Any]]] = []
    batch_bytes = 0

    def problem(line: str) -> None:
        if on_problem is not None:
            on_problem(line)

    def store(where: str, row: dict[str, Any]) -> None:
        """Insert one row, as a duplicate, a conflict or a new mail (inside a transaction)."""
        mid, fp = row["message_id"], row["fingerprint"]
        duplicate, other = _is_duplicate(repo, mid, fp)
        if duplicate:
            report.duplicates += 1
            return
        if other:
            row = {**row, "message_id": _conflict_key(fp), "header_message_id": mid}
        mail_id = repo.insert({**row, "source": where})
        if mail_id is None:  # the same conflicting message twice in one import
            report.duplicates += 1
            return
        report.imported.append(mail_id)
        if other:
            report.conflicts.append(Conflict(where, mid, other, mail_id))

    def flush() -> None:
        # One transaction per batch: a crash loses at most the batch, never half a message.
        before = (len(report.imported), report.duplicates, len(report.conflicts))
        try:
            with repo.db.atomic():
                for where, row in batch:
                    store(where, row)
        except (sqlite3.Error, StoreError) as exc:
            del report.imported[before[0]:]
            report.duplicates = before[1]
            del report.conflicts[before[2]:]
            if _is_transient(exc):
                report.stopped = f"the database refused the write: {exc}"
                problem(f"stopped: {report.stopped}")
                batch.clear()
                raise _Stop from None
            for where, row in batch:  # one bad row: keep the others
                try:
                    with repo.db.atomic():
                        store(where, row)
                except (sqlite3.Error, StoreError) as row_exc:
                    if _is_transient(row_exc):
                        report.stopped = f"the database refused the write: {row_exc}"
                        problem(f"stopped: {report.stopped}")
                        batch.clear()
                        raise _Stop from None
                    bad = Malformed(where, f"cannot be stored: {row_exc}")
                    report.malformed.append(bad)
                    problem(f"malformed: {bad.where}: {bad.reason}")
        for conflict in report.conflicts[before[2]:]:  # committed: now they can be told
            problem(conflict.line())
        batch.clear()

    try:
        for item in _iter_sources(path, max_bytes):
            if item.raw is None:
                bad = Malformed(item.where, item.problem)
                report.unreadable.append(bad)
                problem(f"not read: {bad.where}: {bad.reason}")
                continue
            raw = item.raw
            fp, known = identify(raw)
            if known and _is_duplicate(repo, known, fp)[0]:
                report.duplicates += 1  # skipped without the (slow) full parse
                continue
            row, reason = parse_message(raw)
            if row is None:
                bad = Malformed(item.where, reason or "unknown")
                report.malformed.append(bad)
                problem(f"malformed: {bad.where}: {bad.reason}")
                continue
            row["fingerprint"] = fp
            batch.append((item.where, row))
            batch_bytes += len(raw)
            if len(batch) >= BATCH or batch_bytes >= BATCH_BYTES:
                flush()
                batch_bytes = 0
        if batch:
            flush()
    except _Stop:
        pass
    return report


class _Stop(Exception):
    """The database refuses writes: stop the import (the report says why)."""


def rederive_legacy(repo: MailRepo) -> int:
    """Re-read, once, the body of mail imported before HTML was kept whose text came out empty
    (the old importer dropped HTML-only bodies): text and HTML are derived from ``raw`` again.

    Returns:
        How many mails were re-read (0 once done; an indexed query finds none).
    """
    done = 0
    for mail_id in repo.legacy_body_ids():
        try:
            body = best_body(parse_bytes(repo.raw(mail_id)))
        except Exception as exc:  # keep the row as it was, and never try it again
            log.warning("mail %s: body not re-read: %s", mail_id, type(exc).__name__)
            repo.set_body(mail_id, text=repo.get(mail_id).body_text, html="")
            continue
        repo.set_body(mail_id, text=body.text, html=body.html)
        done += 1
    return done
