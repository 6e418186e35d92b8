"""Reading one received message as it really arrives: headers, best text, kept HTML, inline parts.

- Headers: 8-bit bytes are read as UTF-8 (else Windows-1252); RFC 2047 encoded words with
  their charset's WHATWG superset (``core.charsets``); address headers are split into
  mailboxes before any decoding (``core.mail.parse_mailboxes``), so the addr-spec is the address.
- Body (RFC 2045/2046): the best text part. A ``text/plain`` part is used when it carries the
  text; when it is missing, empty, or only a stub such as "view this email in your browser"
  beside a much longer HTML part, the HTML is converted to text with inscriptis (layout-aware:
  tables, lists; hidden and script content dropped; links shown as ``[text](target)``). The
  HTML itself is kept for the safe rendered view.
- Body charsets: the label's WHATWG superset; a body that its label cannot decode is decoded by
  detection (charset-normalizer); a body is never dropped for a decoding error.
"""

from __future__ import annotations

import email.policy
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any, cast

from solodesk.core.charsets import decode_header_bytes, decode_labelled
from solodesk.core.mail import decode_words

log = logging.getLogger(__name__)

#: HTML larger than this is converted to text only up to here (the HTML view keeps it all).
MAX_HTML_TO_TEXT = 2 * 1024 * 1024
#: A plain part shorter than this, beside HTML whose text is at least STUB_RATIO times longer,
#: is a stub ("view this email in your browser") and the HTML's text is used instead.
STUB_CHARS = 200
STUB_RATIO = 3


class ReadMessage(EmailMessage):
    """An :class:`EmailMessage` (``policy.default``) that parses each header it is asked for
    once: the parser and ``get_body``/``get_content_charset`` ask for a part's Content-Type
    many times, and each ask used to build the header object again (most of the time spent
    reading a message went there). The cached object is the one ``policy.header_fetch_parse``
    returns for the header's stored value, so answers are unchanged; a header set or replaced
    later is parsed anew (the cache is keyed by the stored value's identity).
    """

    def get(self, name: str, failobj: Any = None) -> Any:
        wanted = name.lower()
        for key, value in self._headers:  # type: ignore[attr-defined]
            if key.lower() == wanted:
                cache: dict[str, tuple[object, Any]] = self.__dict__.setdefault("_parsed", {})
                hit = cache.get(wanted)
                if hit is not None and hit[0] is value:
                    return hit[1]
                parsed = self.policy.header_fetch_parse(key, value)
                cache[wanted] = (value, parsed)
                return parsed
        return failobj


def parse_bytes(raw: bytes) -> EmailMessage:
    """Parse an RFC 5322 message with ``policy.default`` into a :class:`ReadMessage`."""
    msg = BytesParser(_class=ReadMessage, policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _raw_value(msg: Message, name: str) -> str | None:
    """The first ``name`` header as written (unfolded), 8-bit bytes decoded; None if absent."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() != wanted:
            continue
        text = str(value)
        if not text.isascii():
            data = text.encode("utf-8", "surrogateescape")
            text = decode_header_bytes(data, None)
        # RFC 5322 2.2.3 unfolding: remove the CRLF before folding whitespace.
        return re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", "").strip()
    return None


def header_text(msg: Message, name: str) -> str:
    """The ``name`` header decoded for display (``""`` if absent).

    Encoded words are decoded with their charset's WHATWG superset (a ``gb2312`` word holding
    GBK characters reads correctly).
    """
    raw = _raw_value(msg, name)
    return decode_words(raw) if raw else ""


def address_header(msg: Message, name: str) -> str:
    """The ``name`` address header unfolded but *not* RFC 2047-decoded, for
    :func:`core.mail.parse_mailboxes` (which decodes names after splitting)."""
    return _raw_value(msg, name) or ""


def parse_date(value: str) -> str | None:
    """An RFC 5322 Date as ISO 8601 (with its UTC offset), or None if missing or unreadable."""
    if not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.isoformat() if when is not None else None


def _detect(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else None


def part_text(part: Message) -> str:
    """The decoded text of a ``text/*`` part; never raises and never returns nothing for bytes.

    Order: valid UTF-8 / the label's WHATWG superset; detection (charset-normalizer); UTF-8 with
    replacement characters as the last resort.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    label = part.get_content_charset()
    text = decode_labelled(payload, label)
    if text is None:
        try:
            text = _detect(payload)
        except Exception:  # detection is a best effort; the fallback below always works
            log.warning("charset detection failed", exc_info=True)
            text = None
        if text is None:
            text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (inscriptis), tidied: no trailing spaces, at most one empty
    line in a row. Links are kept as ``[text](target)`` so their targets can be checked."""
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    source = html[:MAX_HTML_TO_TEXT]
    try:
        text = get_text(source, ParserConfig(display_links=True))
    except Exception as exc:  # malformed beyond what lxml recovers: keep the mail, say so
        log.warning("HTML to text failed: %s", type(exc).__name__)
        return f"[the HTML of this mail could not be converted to text: {type(exc).__name__}]"
    lines = [line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(html) > MAX_HTML_TO_TEXT:
        tidy += "\n\n[… the HTML is longer than 2 MB; the rest is only in the HTML view]"
    return tidy


@dataclass(frozen=True, slots=True)
class Body:
    """The text a message carries and its HTML (``""`` when it has none).

    Attributes:
        text: The best text (plain part, or the HTML converted to text).
        html: The HTML part as decoded text, kept for the safe rendered view.
        source: ``"plain"``, ``"html"`` or ``"none"``: where ``text`` came from.
    """

    text: str
    html: str
    source: str


def best_body(msg: EmailMessage) -> Body:
    """Choose the text of ``msg`` (see the module docstring). Never raises for content."""
    plain_part, html_part = _body_parts(msg)
    plain = part_text(plain_part).strip() if plain_part is not None else ""
    html = part_text(html_part) if html_part is not None else ""
    if html.strip():
        if not plain:
            return Body(html_to_text(html), html, "html")
        if len(plain) < STUB_CHARS:
            converted = html_to_text(html)
            if len(converted) >= STUB_RATIO * len(plain):
                return Body(converted, html, "html")
        return Body(plain, html, "plain")
    return Body(plain, "", "plain" if plain else "none")


def _body_parts(msg: EmailMessage) -> tuple[Message | None, Message | None]:
    """``(msg.get_body(("plain",)), msg.get_body(("html",)))`` in one walk of the MIME tree.

    The same candidates in the same order as :meth:`EmailMessage.get_body` (RFC 2046
    alternatives, RFC 2387 ``multipart/related`` through its start part, attachments skipped),
    but each part's Content-Type and Content-Disposition are parsed once instead of once per
    preference: parsing them dominated the cost of choosing the body.
    """
    found: dict[str, Message] = {}
    try:
        _find_text(msg, msg, found)
    except _Done:
        pass
    except Exception:  # a malformed MIME tree: what was found so far, else no such part
        pass
    return found.get("plain"), found.get("html")


class _Done(Exception):
    """Both a plain and an HTML part were found."""


def _find_text(top: EmailMessage, part: Message, found: dict[str, Message]) -> None:
    """``EmailMessage._find_body`` for the preferences ``plain`` and ``html`` at once."""
    if isinstance(part, EmailMessage) and part.is_attachment():
        return
    maintype, subtype = part.get_content_type().split("/")
    if maintype == "text":
        if subtype in ("plain", "html") and subtype not in found:
            found[subtype] = part
            if len(found) == 2:
                raise _Done
        return
    if maintype != "multipart" or not top.is_multipart():
        return
    if subtype != "related":
        for subpart in part.iter_parts():  # type: ignore[attr-defined]
            _find_text(top, subpart, found)
        return
    candidate: Message | None = None
    start = part.get_param("start")
    if start:
        for subpart in part.iter_parts():  # type: ignore[attr-defined]
            if subpart["content-id"] == start:
                candidate = subpart
                break
    if candidate is None:
        subparts = part.get_payload()
        if isinstance(subparts, list):
            candidate = cast(Message, subparts[0]) if subparts else None
        elif subparts:  # not a MIME tree (get_body fails here too)
            raise ValueError("multipart/related holds no parts")
    if candidate is not None:
        _find_text(top, candidate, found)


def inline_parts(raw: bytes, *, max_bytes: int = 10 * 1024 * 1024) -> dict[str, tuple[str, bytes]]:
    """Parts of a message that HTML may show by ``cid:`` (RFC 2392), by Content-ID.

    Returns:
        ``{content_id_without_brackets: (mime_type, bytes)}`` for non-text parts with a
        Content-ID, each at most ``max_bytes``.
    """
    from email import policy
    from email.parser import BytesParser

    out: dict[str, tuple[str, bytes]] = {}
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:
        return out
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() == "text":
            continue
        cid = str(part.get("Content-ID", "") or "").strip().strip("<>")
        if not cid:
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and len(data) <= max_bytes:
            out[cid] = (part.get_content_type(), data)
    return out
