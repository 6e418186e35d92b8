"""The hash chain of the audit log.

Each entry's sha256 covers the previous entry's sha256 and the entry's own fields, so changing,
removing or reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from solodesk.core.actions import canonical_json

GENESIS = "0" * 64


def entry_sha256(prev_sha256: str, fields: Mapping[str, Any]) -> str:
    """sha256 hex of ``prev_sha256 + "\\n" + canonical_json(fields)``."""
    data = prev_sha256 + "\n" + canonical_json(fields)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Check a chain of entries in id order.

    Each entry has ``id``, ``ts``, ``event``, ``action_id``, ``actor``, ``detail`` (JSON text),
    ``prev_sha256`` and ``sha256``.

    Returns:
        One line per broken entry; empty when the chain is intact.
    """
    problems: list[str] = []
    prev = GENESIS
    for e in entries:
        if e["prev_sha256"] != prev:
            problems.append(f"entry {e['id']}: previous hash does not match entry before it")
        expected = entry_sha256(e["prev_sha256"], chain_fields(e))
        if expected != e["sha256"]:
            problems.append(f"entry {e['id']}: content does not match its hash")
        prev = e["sha256"]
    return problems


def chain_fields(e: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an entry covered by its hash."""
    return {
        "ts": e["ts"],
        "event": e["event"],
        "action_id": e["action_id"],
        "actor": e["actor"],
        "detail": e["detail"],
    }
