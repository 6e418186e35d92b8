"""Mail payloads and their validation.

Payloads follow RFC 5322: addresses are ``addr-spec`` (``local@domain``) optionally with a display
name (``"Name <local@domain>"``); headers may not contain CR or LF. A mail payload is a JSON object:

``send_email``::

    {"to": [str, ...], "cc": [str, ...], "subject": str, "body": str, "message_id": "<...>"}

``reply_email`` adds ``"in_reply_to": "<...>"``, ``"references": ["<...>", ...]`` and
``"source_mail_id": int`` (the imported mail it answers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from email.utils import getaddresses, make_msgid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from solodesk.core.actions import ActionKind

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


def new_message_id(domain: str) -> str:
    """A new RFC 5322 Message-ID (``<...@domain>``) fixed at proposal time."""
    return make_msgid(domain=domain or "solodesk.invalid")


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
    """Stored payload of a ``send_email`` action."""

    model_config = ConfigDict(extra="forbid")

    to: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    body: str
    message_id: str

    _coerce_to = field_validator("to", "cc", mode="before")(_coerce_list)


class ReplyEmailPayload(SendEmailPayload):
    """Stored payload of a ``reply_email`` action (threaded per RFC 5322 section 3.6.4)."""

    in_reply_to: str
    references: list[str] = Field(default_factory=list)
    source_mail_id: int | None = None


PAYLOAD_MODELS: dict[ActionKind, type[SendEmailPayload]] = {
    ActionKind.SEND_EMAIL: SendEmailPayload,
    ActionKind.REPLY_EMAIL: ReplyEmailPayload,
}


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


def validate_payload(kind: ActionKind, payload: Mapping[str, Any]) -> list[str]:
    """Validate a stored payload of ``kind`` (schema and semantics).

    Returns:
        One-line errors; empty if the payload may be approved and executed.
    """
    model = PAYLOAD_MODELS.get(kind)
    if model is None:
        return [f"unknown action kind {kind!r}"]
    try:
        parsed = model.model_validate(dict(payload))
    except ValidationError as exc:
        return _pydantic_errors(exc)
    errors = check_draft_semantics(parsed.to, parsed.cc, parsed.subject, parsed.body)
    if not _MSG_ID.match(parsed.message_id):
        errors.append("message_id: must look like <id@domain> (RFC 5322 msg-id)")
    if isinstance(parsed, ReplyEmailPayload):
        if not _MSG_ID.match(parsed.in_reply_to):
            errors.append("in_reply_to: must look like <id@domain> (RFC 5322 msg-id)")
    return errors


def reply_subject(subject: str) -> str:
    """``Re: subject`` unless the subject already starts with a reply prefix."""
    s = (subject or "").strip()
    return s if re.match(r"^(re|aw|sv)\s*:", s, re.IGNORECASE) else f"Re: {s}".strip()


def all_recipients(payload: Mapping[str, Any]) -> list[str]:
    """Every addr-spec the payload sends to (To and Cc), in order."""
    values = [str(v) for v in list(payload.get("to") or []) + list(payload.get("cc") or [])]
    return [addr for _name, addr in getaddresses(values) if addr]
