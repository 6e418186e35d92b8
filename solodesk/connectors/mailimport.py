"""Import mail from an mbox file, a Maildir, a folder of ``.eml`` files or one ``.eml`` file.

Parsing uses the standard library (``mailbox``, ``email`` with ``policy.default``, RFC 5322 and
MIME); how one message is read (charsets, best text part, HTML, true senders) is in
``connectors.mailparse``. Messages already imported (same Message-ID) are skipped. A malformed
message is reported with its file (and position in an mbox) and the reason, and the rest are
imported.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

from solodesk.connectors.mailparse import address_header, best_body, header_text, parse_date
from solodesk.core.mail import PLACEHOLDER_DOMAIN, addr_specs, first_mailbox
from solodesk.store.repos import MailRepo

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
BATCH = 200


class ImportSourceError(Exception):
    """The path is not an mbox, Maildir, folder of .eml files or .eml file."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message that could not be imported: where it is and why."""

    where: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    """Counts and problems of one import."""

    imported: list[int] = field(default_factory=list)
    duplicates: int = 0
    malformed: list[Malformed] = field(default_factory=list)


def _iter_sources(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(where, raw_bytes)`` for every message under ``path``."""
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            md = mailbox.Maildir(str(path), factory=None, create=False)
            for key in sorted(md.keys()):
                with md.get_file(key) as fh:
                    yield f"{path}/{key}", fh.read(MAX_MESSAGE_BYTES + 1)
            return
        files = sorted(p for p in path.rglob("*.eml") if p.is_file())
        if not files:
            raise ImportSourceError(
                f"{path} is a folder with no .eml files and is not a Maildir (cur/new/tmp)"
            )
        for p in files:
            yield str(p), p.read_bytes()[: MAX_MESSAGE_BYTES + 1]
        return
    if not path.exists():
        raise ImportSourceError(f"{path} does not exist")
    with path.open("rb") as fh:
        head = fh.read(5)
    if head.startswith(b"From "):
        box = mailbox.mbox(str(path), factory=None, create=False)
        try:
            for i, key in enumerate(box.keys(), start=1):
                yield f"{path} message {i}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield str(path), path.read_bytes()[: MAX_MESSAGE_BYTES + 1]


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
        msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    except Exception as exc:
        return None, f"cannot be parsed: {type(exc).__name__}: {exc}"
    assert isinstance(msg, EmailMessage)
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


def import_mail(path: Path, repo: MailRepo) -> ImportReport:
    """Import every message under ``path`` into ``repo``.

    Raises:
        ImportSourceError: ``path`` is not a mail source (nothing is imported).
    """
    report = ImportReport()
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush() -> None:
        # One transaction per batch: a crash loses at most the batch, never half a message.
        with repo.db.atomic():
            for where, row in batch:
                row["source"] = where
                mail_id = repo.insert(row)
                if mail_id is None:
                    report.duplicates += 1
                else:
                    report.imported.append(mail_id)
        batch.clear()

    for where, raw in _iter_sources(path):
        known = _quick_message_id(raw)
        if known and repo.has_message_id(known):
            report.duplicates += 1  # skipped without the (slow) full parse
            continue
        row, reason = parse_message(raw)
        if row is None:
            report.malformed.append(Malformed(where=where, reason=reason or "unknown"))
            continue
        batch.append((where, row))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report


def rederive_legacy(repo: MailRepo) -> int:
    """Re-read, once, the body of mail imported before HTML was kept whose text came out empty
    (the old importer dropped HTML-only bodies): text and HTML are derived from ``raw`` again.

    Returns:
        How many mails were re-read (0 once done; an indexed query finds none).
    """
    done = 0
    for mail_id in repo.legacy_body_ids():
        try:
            msg = BytesParser(policy=email.policy.default).parsebytes(repo.raw(mail_id))
            assert isinstance(msg, EmailMessage)
            body = best_body(msg)
        except Exception as exc:  # keep the row as it was, and never try it again
            log.warning("mail %s: body not re-read: %s", mail_id, type(exc).__name__)
            repo.set_body(mail_id, text=repo.get(mail_id).body_text, html="")
            continue
        repo.set_body(mail_id, text=body.text, html=body.html)
        done += 1
    return done
