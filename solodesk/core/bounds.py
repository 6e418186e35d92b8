"""Caps on untrusted text before it reaches a model or a terminal.

Imported mail is untrusted: a 1 MB Subject must not become a 1 MB prompt, nor a 1 MB line in a
terminal. Every field has a cap in characters (:data:`LIMITS`); text over it is cut and ends
with a visible marker, ``…[truncated N chars]`` (N: how many characters were cut), so neither
the model nor the founder mistakes it for the whole. :func:`for_terminal` also shows control
characters (ESC, CR, ...) as escapes, so mail cannot move the cursor or recolour a terminal.

The prompt builder (:func:`solodesk.agents.proposals.quote_untrusted_email`) and the command line
use these caps. The proposal a founder approves is never cut (its subject and body are bounded
by validation, see :mod:`solodesk.core.mail`): what is shown for approval is what is sent.
"""

from __future__ import annotations

import unicodedata

#: Maximum characters per field.
LIMITS: dict[str, int] = {
    "subject": 300,
    "from": 300,  # one mailbox (RFC 5322 From / Reply-To)
    "reply_to": 300,
    "to": 1000,  # address lists
    "cc": 1000,
    "date": 100,
    "message_id": 250,
    "body": 6000,
    "attachment_name": 200,
    "summary": 200,  # a proposal's one-line summary
    "note": 500,  # why triage decided what it did
    "problem": 1000,  # one import problem: path and reason
    "reason": 500,
}

#: At most this many attachment names are listed.
MAX_ATTACHMENTS = 20

MARKER = "…[truncated {n} chars]"


def limit(field: str) -> int:
    """The cap of ``field`` in characters.

    Raises:
        KeyError: ``field`` has no cap (every untrusted field must have one).
    """
    return LIMITS[field]


def bound(field: str, text: str) -> str:
    """``text`` cut to the cap of ``field``, ending with ``…[truncated N chars]`` if it was cut.

    Raises:
        KeyError: ``field`` has no cap.
    """
    cap = LIMITS[field]
    if len(text) <= cap:
        return text
    return text[:cap] + MARKER.format(n=len(text) - cap)


def bound_list(field: str, items: list[str], *, max_items: int = MAX_ATTACHMENTS) -> list[str]:
    """At most ``max_items`` items, each cut to the cap of ``field``; a last item
    ``…[N more]`` says how many were left out."""
    out = [bound(field, item) for item in items[:max_items]]
    if len(items) > max_items:
        out.append(f"…[{len(items) - max_items} more]")
    return out


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def escape_controls(text: str, *, multiline: bool = False) -> str:
    """Control characters (C0, C1, DEL) as visible escapes (``\\e``, ``\\r``, ``\\x07``...).

    Args:
        multiline: Keep line feeds and tabs (for a body shown over several lines).
    """
    out = []
    for ch in text:
        if unicodedata.category(ch) != "Cc" or (multiline and ch in "\n\t"):
            out.append(ch)
        else:
            out.append(_NAMED.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 256 else repr(ch)[1:-1]))
    return "".join(out)


def for_terminal(text: str, field: str, *, multiline: bool = False) -> str:
    """Untrusted ``text`` made safe to print: cut to the cap of ``field``, control characters
    escaped (one line unless ``multiline``).

    Raises:
        KeyError: ``field`` has no cap.
    """
    return escape_controls(bound(field, text), multiline=multiline)
