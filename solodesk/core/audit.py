"""The hash chain of the audit log.

Each entry's sha256 covers the previous entry's sha256 and the entry's own fields, so changing,
removing or reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from solodesk.core.actions import canonical_json

GENESIS = "0" * 64

#: Columns of an exported audit trail (CSV header / JSON Lines keys), in order.
AUDIT_COLUMNS = ["id", "ts", "event", "action_id", "actor", "detail", "prev_sha256", "sha256"]


def write_entries(entries: Sequence[Mapping[str, Any]], out: TextIO, fmt: str) -> int:
    """Write audit entries as CSV (RFC 4180, header row) or JSON Lines, :data:`AUDIT_COLUMNS`.

    Returns:
        How many entries were written.

    Raises:
        ValueError: ``fmt`` is not ``csv`` or ``jsonl``.
    """
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=AUDIT_COLUMNS)
        writer.writeheader()
        for e in entries:
            writer.writerow({k: e[k] for k in AUDIT_COLUMNS})
    elif fmt == "jsonl":
        for e in entries:
            out.write(json.dumps({k: e[k] for k in AUDIT_COLUMNS}, ensure_ascii=False) + "\n")
    else:
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    return len(entries)


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
