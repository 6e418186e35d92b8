"""Keyed trust: HMAC-SHA256 (RFC 2104) over approvals, audit entries and the audit chain head.

The audit chain (``core.audit``) detects a changed or removed entry, but whoever can write the
database file can recompute every hash. With a secret key that lives outside the database (in the
OS keyring), each approval and each audit entry also carries a MAC that only a holder of the key
can compute, so write access to the database file alone can neither forge an approval nor rewrite
the trail. The chain head (last entry id and sha256) is also kept outside the database, MAC'd, so
that removing the last entries is detected too.

Everything here is pure: the key is passed in as bytes. Each MAC has its own domain prefix so a
MAC made for one purpose can never be replayed as another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solodesk.core.actions import canonical_json

#: Length of a trust key in bytes (256 bits).
KEY_BYTES = 32

_APPROVAL = b"solodesk approval v1\n"
_ENTRY = b"solodesk audit entry v1\n"
_HEAD = b"solodesk audit head v1\n"
_KEY_ID = b"solodesk key id v1\n"


class KeyFormatError(ValueError):
    """A stored key is not the hex encoding of :data:`KEY_BYTES` bytes."""


def new_key() -> bytes:
    """A fresh random key (:data:`KEY_BYTES` bytes from the OS CSPRNG)."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The key as lower-case hex, as kept in the keyring."""
    return key.hex()


def decode_key(text: str) -> bytes:
    """Parse :func:`encode_key` output.

    Raises:
        KeyFormatError: not 64 hex digits.
    """
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyFormatError("the trust key is not hexadecimal") from None
    if len(key) != KEY_BYTES:
        raise KeyFormatError(f"the trust key has {len(key)} bytes, not {KEY_BYTES}")
    return key


def key_id(key: bytes) -> str:
    """A short public fingerprint of ``key`` (16 hex digits); reveals nothing about the key."""
    return hashlib.sha256(_KEY_ID + key).hexdigest()[:16]


def _mac(key: bytes, domain: bytes, message: str) -> str:
    return hmac.new(key, domain + message.encode("utf-8"), hashlib.sha256).hexdigest()


def _equal(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a, b)


@dataclass(frozen=True, slots=True)
class Approval:
    """What an approval MAC covers.

    Attributes:
        action_id: The action's row id (a MAC cannot be moved to another action).
        kind: The action kind (``reply_email``...).
        approved_sha256: Hex sha256 of the approved payload (``core.actions.payload_sha256``).
        decided_by: ``founder`` or ``policy rule #N``.
        approved_at: UTC ISO 8601 timestamp of the approval (``core.actions.utcnow``).
    """

    action_id: int
    kind: str
    approved_sha256: str
    decided_by: str
    approved_at: str

    def message(self) -> str:
        return canonical_json(
            {
                "action_id": self.action_id,
                "kind": self.kind,
                "approved_sha256": self.approved_sha256,
                "decided_by": self.decided_by,
                "approved_at": self.approved_at,
            }
        )


def approval_mac(key: bytes, approval: Approval) -> str:
    """HMAC-SHA256 (hex) of an approval."""
    return _mac(key, _APPROVAL, approval.message())


def verify_approval(key: bytes, approval: Approval, mac: str | None) -> bool:
    """Whether ``mac`` is the MAC of ``approval`` under ``key`` (constant-time compare)."""
    return _equal(mac, approval_mac(key, approval))


def entry_mac(key: bytes, entry_sha256: str) -> str:
    """HMAC-SHA256 (hex) of an audit entry, over its chain hash (which covers the previous
    entry's hash and the entry's fields, see ``core.audit.entry_sha256``)."""
    return _mac(key, _ENTRY, entry_sha256)


def head_mac(key: bytes, entry_id: int, entry_sha256: str) -> str:
    """HMAC-SHA256 (hex) of the chain head: the last entry's id and hash."""
    return _mac(key, _HEAD, f"{entry_id}\n{entry_sha256}")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last audit entry as recorded outside the database.

    Attributes:
        id: The entry's row id (0 for an empty trail).
        sha256: Its chain hash.
        mac: :func:`head_mac` under the home's key, or "" in a home without a key.
    """

    id: int
    sha256: str
    mac: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "mac": self.mac}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainHead:
        """Raises:
        ValueError: a field is missing or has the wrong type."""
        try:
            return cls(id=int(data["id"]), sha256=str(data["sha256"]), mac=str(data["mac"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed chain head: {exc}") from None


def check_entries(
    entries: Sequence[Mapping[str, Any]], key: bytes, *, keyed_from: int
) -> list[str]:
    """MAC problems of audit entries (each with ``id``, ``sha256`` and ``mac``).

    Args:
        entries: All entries in id order.
        key: The home's trust key.
        keyed_from: Entries with ``id >= keyed_from`` must carry a valid MAC; earlier ones
            predate the key (they are sealed by the chain hash of the first keyed entry).

    Returns:
        One line per entry whose MAC is missing or wrong.
    """
    problems: list[str] = []
    for e in entries:
        if int(e["id"]) < keyed_from:
            continue
        mac = e.get("mac")
        if not mac:
            problems.append(f"entry {e['id']}: no MAC (written without this home's key)")
        elif not _equal(str(mac), entry_mac(key, str(e["sha256"]))):
            problems.append(
                f"entry {e['id']}: MAC does not verify (rewritten without this home's key)"
            )
    return problems


def check_head(
    head: ChainHead, last_id: int, sha_at_head: str | None, key: bytes | None
) -> list[str]:
    """Compare the chain head kept outside the database with the trail in it.

    Args:
        head: The recorded head.
        last_id: Id of the last entry in the database (0 if none).
        sha_at_head: The database's hash of entry ``head.id`` (None if there is no such entry).
        key: The home's key (None in a home without a key: the head's MAC is not checked).

    Returns:
        Problems found (empty when the database holds at least everything the head records).
    """
    problems: list[str] = []
    if key is not None and not _equal(head.mac, head_mac(key, head.id, head.sha256)):
        problems.append("the recorded chain head does not verify (its file was changed)")
        return problems
    if head.id == 0:
        return problems
    if last_id < head.id or sha_at_head is None:
        problems.append(
            f"audit trail truncated: the last recorded entry is {head.id}, "
            f"but the database ends at entry {last_id}"
        )
    elif sha_at_head != head.sha256:
        problems.append(f"entry {head.id}: differs from the recorded chain head")
    return problems
