"""Mail payloads and their validation.

Payloads follow RFC 5322: addresses are ``addr-spec`` (``local@domain``) optionally with a display
name (``"Name <local@domain>"``); headers may not contain CR or LF. A mail payload is a JSON object:

``send_email``::

    {"to": [str, ...], "cc": [str, ...], "subject": str, "body": str, "message_id": "<...>"}

``reply_email`` adds ``"in_reply_to": "<...>"`` (empty when the answered mail had no
Message-ID), ``"references": ["<...>", ...]`` and ``"source_mail_id": int`` (the imported mail
it answers).

Addresses in headers of received mail are read with :func:`parse_mailboxes`: the addr-spec in
angle brackets is the address, whatever the display name says (``alice@example.com
<bob@example.com>`` is bob@example.com, shown with a warning about its name).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.quoprimime import header_decode
from email.utils import getaddresses, make_msgid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from solodesk.core.attachments import AttachmentRef, attachment_errors
from solodesk.core.charsets import decode_header_bytes

# RFC 5322 dot-atom local part and an RFC 1035 host name with at least one dot.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR_SPEC = re.compile(
    rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z][A-Za-z0-9-]{0,62}$"
)
_MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
MAX_SUBJECT = 998  # RFC 5322 line length limit
MAX_BODY_BYTES = 1_000_000


def check_address(value: str) -> str | None:
    """Check one RFC 5322 mailbox (``addr`` or ``Name <addr>``).

    Returns:
        None if valid, else a one-line reason.
    """
    if not isinstance(value, str) or not value.strip():
        return "empty address"
    if "\r" in value or "\n" in value:
        return f"address {value[:80]!r} contains a line break"
    if len(value) > MAX_SUBJECT:
        return (
            f"address {value[:60]!r}… is longer than {MAX_SUBJECT} characters "
            "(RFC 5322 line length limit)"
        )
    # Parse as smtp.send does (getaddresses), so what is checked is exactly what is sent to:
    # an entry hiding a second mailbox ("a@x.com <b@y.com>", "a@x.com, b@y.com") is refused.
    pairs = getaddresses([value.strip()])
    if len(pairs) != 1:
        return f"{value!r} is not one email address (give each recipient as its own entry)"
    name, addr = pairs[0]
    if not addr or not _ADDR_SPEC.match(addr):
        return f"{value!r} is not a valid email address (RFC 5322 addr-spec like name@example.com)"
    return None


def mail_domain(addresses: str) -> str:
    """The lower-cased domain of the first address in an RFC 5322 address list, or ``""``."""
    for _name, addr in getaddresses([addresses]):
        if "@" in addr:
            return addr.rsplit("@", 1)[1].lower()
    return ""


#: The domain of Message-IDs that are not real (RFC 2606 ``.invalid``): the importer's stand-in
#: for a mail without a Message-ID, and a proposal's placeholder before ``smtp.from`` is set.
PLACEHOLDER_DOMAIN = "solodesk.invalid"


def new_message_id(domain: str) -> str:
    """A new RFC 5322 Message-ID (``<...@domain>``) fixed at proposal time.

    Args:
        domain: The founder's own mail domain (from ``smtp.from``); empty gives a placeholder on
            :data:`PLACEHOLDER_DOMAIN`, which is never sent (approval re-issues it).
    """
    return make_msgid(domain=domain or PLACEHOLDER_DOMAIN)


def is_placeholder_message_id(message_id: str) -> bool:
    """True for a Message-ID on :data:`PLACEHOLDER_DOMAIN` (invented, never sent as such)."""
    return message_id.strip().lower().rstrip(">").endswith("@" + PLACEHOLDER_DOMAIN)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ``::1``); no DNS lookup."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# -- addresses of received mail -----------------------------------------------------------------
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
#: Characters that end an address-like run (besides ``@``, which separates its two parts).
_NOT_IN_ADDRESS = re.compile(r"[\s<>()\"',;:]+")


def address_like(text: str) -> list[str]:
    """Runs of ``text`` that look like an email address (``local@domain.tld``), in order.

    Linear in ``len(text)`` (display names are untrusted and may be megabytes long; a
    backtracking regular expression over them is quadratic).
    """
    found: list[str] = []
    for run in _NOT_IN_ADDRESS.split(text):
        if "@" not in run:
            continue
        parts = run.split("@")
        i = 0
        while i < len(parts) - 1:
            local, domain = parts[i], parts[i + 1]
            if local and "." in domain[1:-1]:
                found.append(f"{local}@{domain}")
                i += 2
            else:
                i += 1
    return found


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words (``=?charset?B|Q?...?=``) in ``text``.

    Charset labels are read with their WHATWG superset (``core.charsets``: ``gb2312`` as
    GB18030, ``iso-8859-1`` as Windows-1252); whitespace between adjacent encoded words is
    dropped (RFC 2047 section 6.2). A malformed word is left as written. Never raises.
    """
    out: list[str] = []
    pos = 0
    last_was_word = False
    for m in _ENCODED_WORD.finditer(text):
        between = text[pos : m.start()]
        if not (last_was_word and not between.strip()):
            out.append(between)
        charset, enc, data = m.group(1).split("*", 1)[0], m.group(2).upper(), m.group(3)
        try:
            if enc == "B":
                raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
            else:
                raw = header_decode(data).encode("latin-1")
        except (binascii.Error, ValueError, UnicodeEncodeError):
            out.append(m.group(0))
            last_was_word = False
        else:
            out.append(decode_header_bytes(raw, charset))
            last_was_word = True
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One mailbox of an address header: the display name and the addr-spec.

    Attributes:
        name: The display name, RFC 2047 words decoded (may be empty).
        addr: The addr-spec (``local@domain``) as written; empty if the entry has none.
    """

    name: str
    addr: str

    @property
    def domain(self) -> str:
        """The addr-spec's domain as written (case kept), or ``""``."""
        return self.addr.rsplit("@", 1)[1] if "@" in self.addr else ""

    @property
    def name_address(self) -> str:
        """An address shown in the display name that is not the real one, else ``""``
        (``"alice@example.com" <bob@example.com>`` gives ``alice@example.com``)."""
        for candidate in address_like(self.name):
            if candidate.strip(".").lower() != self.addr.lower():
                return candidate.strip(".")
        return ""

    def describe(self) -> str:
        """How to show it: ``Name <addr>``, or ``addr (display name "X" is not the sender's
        address)`` when the name looks like another address."""
        other = self.name_address
        if other:
            return f'{self.addr} (display name "{self.name}" is not this address)'
        return format_mailbox(self.name, self.addr)

    def for_reply(self) -> str:
        """The mailbox to put in a reply's To: ``Name <addr>``, or the bare addr-spec when the
        name looks like an address (it is never used as one)."""
        if self.name and not self.name_address and "@" not in self.name:
            return format_mailbox(self.name, self.addr)
        return self.addr


_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def format_mailbox(name: str, addr: str) -> str:
    """``Name <addr>`` as readable text (RFC 5322 ``name-addr``), quoting a name with specials
    (``"Pérez, Ana" <a@example.es>``); non-ASCII is kept (encoding is the sender's job)."""
    name = " ".join(name.split())
    if not name:
        return addr
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def _split_top_level(value: str) -> list[str]:
    """Split an address list at commas outside quotes, comments and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0  # comment nesting
    angle = False
    escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\" and (quoted or depth):
            escaped = True
        elif ch == '"' and not depth:
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted and depth:
            depth -= 1
        elif ch == "<" and not quoted and not depth:
            angle = True
        elif ch == ">" and not quoted and not depth:
            angle = False
        elif ch == "," and not (quoted or depth or angle):
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _strip_comments(text: str) -> tuple[str, str]:
    """``text`` without ``(comments)`` outside quotes, and the comments' text."""
    out: list[str] = []
    comment: list[str] = []
    depth = 0
    quoted = False
    for ch in text:
        if ch == '"' and not depth:
            quoted = not quoted
        if ch == "(" and not quoted:
            depth += 1
            if depth == 1:
                continue
        elif ch == ")" and not quoted and depth:
            depth -= 1
            if depth == 0:
                continue
        (comment if depth else out).append(ch)
    return "".join(out), "".join(comment)


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return " ".join(decode_words(name).split())


def _angle_addr(entry: str) -> tuple[str, str] | None:
    """``(text before, addr)`` for the last ``<...>`` outside quotes and comments."""
    quoted = False
    depth = 0
    start = -1
    found: tuple[int, int] | None = None
    for i, ch in enumerate(entry):
        if ch == '"' and not depth:
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted and depth:
            depth -= 1
        elif ch == "<" and not quoted and not depth:
            start = i
        elif ch == ">" and not quoted and not depth and start >= 0:
            found = (start, i)
    if found is None:
        return None
    inner = entry[found[0] + 1 : found[1]]
    inner = inner.rsplit(":", 1)[-1] if inner.startswith("@") else inner  # obs-route
    return entry[: found[0]], "".join(inner.split())


def parse_mailboxes(value: str) -> list[Mailbox]:
    """Read an RFC 5322 address header (From, Reply-To, To, Cc) into mailboxes.

    Real mail is read as mail clients read it: the addr-spec in angle brackets is the address,
    even after an unquoted display name that itself looks like an address
    (``alice@example.com <bob@example.com>`` is bob@example.com named "alice@example.com"); an
    unquoted comma inside a display name (``Pérez, Ana <a@example.es>``) stays in the name;
    group syntax (``team: a@x, b@y;``) gives its members. Encoded words are decoded only inside
    names, after the list is split, so a decoded ``,`` or ``<`` cannot add an address.

    Args:
        value: The header value (unfolded or not; 8-bit text already decoded).

    Returns:
        The mailboxes in order; entries without an addr-spec have ``addr == ""``.
    """
    text = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    boxes: list[Mailbox] = []
    pending_name = ""
    for entry in _split_top_level(text):
        # Group syntax (RFC 5322 3.4): "display-name:" before the first member, ";" after the
        # last one.
        entry = re.sub(r'^[^"<>@,:()]*:(?!:)', "", entry).strip().rstrip(";").strip()
        if not entry:
            continue
        angle = _angle_addr(entry)
        if angle is not None:
            before, addr = angle
            stripped, comment = _strip_comments(before)
            name = _unquote(stripped) or _unquote(comment)
            if pending_name:
                name = f"{pending_name}, {name}".strip(", ")
                pending_name = ""
            boxes.append(Mailbox(name, addr if "@" in addr else ""))
            continue
        bare, comment = _strip_comments(entry)
        addr = "".join(bare.split())
        if "@" not in addr:
            # An unquoted comma inside a display name: keep it for the next entry's name.
            pending_name = f"{pending_name}, {_unquote(bare)}".strip(", ")
            continue
        boxes.append(Mailbox(_unquote(comment), addr.strip('"')))
    if pending_name:
        boxes.append(Mailbox(pending_name, ""))
    return boxes


def first_mailbox(value: str) -> Mailbox:
    """The first mailbox with an addr-spec in ``value`` (``Mailbox("", "")`` if none)."""
    for box in parse_mailboxes(value):
        if box.addr:
            return box
    return Mailbox("", "")


def addr_specs(value: str) -> list[str]:
    """Every addr-spec in an address header, in order (see :func:`parse_mailboxes`)."""
    return [b.addr for b in parse_mailboxes(value) if b.addr]


def domain_of(address: str) -> str:
    """The lower-cased domain of an addr-spec, or '' if it has no ``@``."""
    return address.rsplit("@", 1)[1].lower() if "@" in address else ""


def domains_of(addresses: Iterable[str]) -> set[str]:
    """Lower-cased domains of addr-specs (those with an ``@``)."""
    return {domain_of(a) for a in addresses if "@" in a}


def _coerce_list(value: Any) -> Any:
    """Accept a single string (comma separated) where a list of addresses is expected."""
    if value is None:
        return []
    if isinstance(value, str):
        return [a for a in (p.strip() for p in value.split(",")) if a]
    return value


class EmailDraft(BaseModel):
    """The part of a mail an agent writes: recipients, subject and body (tool arguments)."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(description="Recipient email addresses, e.g. ['name@example.com']")
    cc: list[str] = Field(default_factory=list, description="Cc email addresses")
    subject: str = Field(description="Subject line, one line, not empty")
    body: str = Field(description="Plain-text body of the email, not empty")

    _coerce_to = field_validator("to", "cc", mode="before")(_coerce_list)


class NoReplyNeeded(BaseModel):
    """Tool arguments for recording why an email needs no reply."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why no reply is needed, one sentence")


class SendEmailPayload(BaseModel):
    """Stored payload of a ``send_email`` action.

    ``attachments`` name their bytes by sha256 (``core.attachments``); a payload without
    attachments omits the field (its sha256 is then what it always was).
    """

    model_config = ConfigDict(extra="forbid")

    to: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    body: str
    message_id: str
    attachments: list[AttachmentRef] = Field(default_factory=list)

    _coerce_to = field_validator("to", "cc", mode="before")(_coerce_list)


class ReplyEmailPayload(SendEmailPayload):
    """Stored payload of a ``reply_email`` action (threaded per RFC 5322 section 3.6.4).

    ``in_reply_to`` is empty when the answered mail had no Message-ID of its own.
    """

    in_reply_to: str = ""
    references: list[str] = Field(default_factory=list)
    source_mail_id: int | None = None


def _pydantic_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        out.append(f"{loc}: {err['msg']}")
    return out


def check_draft_semantics(
    to: list[str], cc: list[str], subject: str, body: str
) -> list[str]:
    """Semantic checks shared by drafts and payloads.

    Returns:
        A list of one-line errors, empty if the mail may be proposed.
    """
    errors: list[str] = []
    if not to:
        errors.append("to: at least one recipient is required")
    for field_name, addrs in (("to", to), ("cc", cc)):
        for addr in addrs:
            reason = check_address(addr)
            if reason:
                errors.append(f"{field_name}: {reason}")
    if not subject.strip():
        errors.append("subject: must not be empty")
    elif "\r" in subject or "\n" in subject:
        errors.append("subject: must be one line")
    elif len(subject) > MAX_SUBJECT:
        errors.append(f"subject: longer than {MAX_SUBJECT} characters")
    if not body.strip():
        errors.append("body: must not be empty")
    elif len(body.encode("utf-8")) > MAX_BODY_BYTES:
        errors.append(f"body: larger than {MAX_BODY_BYTES} bytes")
    return errors


def validate_draft(arguments: Mapping[str, Any] | str) -> tuple[EmailDraft | None, list[str]]:
    """Validate tool-call arguments against :class:`EmailDraft`'s JSON schema and semantics.

    Args:
        arguments: The decoded arguments, or the raw JSON string the model produced.

    Returns:
        ``(draft, [])`` if valid, else ``(None, errors)`` with one-line errors.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return None, [f"arguments are not valid JSON: {exc.msg} at position {exc.pos}"]
    if not isinstance(arguments, Mapping):
        return None, ["arguments must be a JSON object"]
    try:
        draft = EmailDraft.model_validate(dict(arguments))
    except ValidationError as exc:
        return None, _pydantic_errors(exc)
    errors = check_draft_semantics(draft.to, draft.cc, draft.subject, draft.body)
    return (None, errors) if errors else (draft, [])


def payload_errors(parsed: SendEmailPayload) -> list[str]:
    """Semantic errors of a stored mail payload that matches its schema (RFC 5322 addresses,
    one-line subject, msg-ids, attachments).

    Returns:
        One-line errors; empty if the payload may be approved and executed.
    """
    errors = check_draft_semantics(parsed.to, parsed.cc, parsed.subject, parsed.body)
    if not _MSG_ID.match(parsed.message_id):
        errors.append("message_id: must look like <id@domain> (RFC 5322 msg-id)")
    if isinstance(parsed, ReplyEmailPayload):
        if parsed.in_reply_to and not _MSG_ID.match(parsed.in_reply_to):
            errors.append("in_reply_to: must look like <id@domain> (RFC 5322 msg-id)")
    errors += attachment_errors(parsed.attachments)
    return errors


#: Longest reply subject SoloDesk makes from a mail's subject (characters, before "Re: ").
REPLY_SUBJECT_CAP = 200


def reply_subject(subject: str) -> str:
    """The subject of a reply (RFC 5322 3.6.5): ``Re: subject`` unless the subject already starts
    with a reply prefix (``Re:``, ``Aw:``, ``Sv:``), on one line (whitespace runs, folding
    included, become one space) and cut to :data:`REPLY_SUBJECT_CAP` characters with ``…`` (an
    untrusted subject can be megabytes long)."""
    s = " ".join((subject or "").split())
    if len(s) > REPLY_SUBJECT_CAP:
        s = s[: REPLY_SUBJECT_CAP - 1].rstrip() + "…"
    return s if re.match(r"^(re|aw|sv)\s*:", s, re.IGNORECASE) else f"Re: {s}".strip()


def all_recipients(payload: Mapping[str, Any]) -> list[str]:
    """Every addr-spec the payload sends to (To and Cc), in order."""
    values = [str(v) for v in list(payload.get("to") or []) + list(payload.get("cc") or [])]
    return [addr for _name, addr in getaddresses(values) if addr]
