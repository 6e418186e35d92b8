"""Content-addressed bytes: what an action carries (an invoice PDF, a mail attachment).

A blob is stored under the sha256 of its bytes, so a payload names it by hash and the approval's
payload hash covers exactly those bytes. Blobs are never changed (a trigger refuses updates);
reading one re-hashes the bytes and refuses them if they no longer match.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from solodesk.core.actions import utcnow
from solodesk.store.db import StoreDatabase
from solodesk.store.repos import NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobCorrupt(Exception):
    """The stored bytes no longer hash to their sha256: never use them."""


@dataclass(frozen=True, slots=True)
class Blob:
    """Stored bytes with the media type and file name they were first stored with.

    Attributes:
        sha256: Hex sha256 of ``data`` (the key).
        data: The bytes.
        media_type: MIME type, e.g. ``application/pdf``.
        filename: Suggested file name, e.g. ``2026-0001.pdf`` (may be ``""``).
        created_at: UTC timestamp of the first store.
    """

    sha256: str
    data: bytes
    media_type: str
    filename: str
    created_at: str

    @property
    def size(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class BlobRepo:
    """The ``blobs`` table."""

    def __init__(self, db: StoreDatabase) -> None:
        self.db = db

    def put(self, data: bytes, *, media_type: str, filename: str = "") -> str:
        """Store ``data`` (once; storing the same bytes again is a no-op).

        Call it inside the transaction that stores what refers to the blob, or alone.

        Args:
            data: The bytes.
            media_type: MIME type (``type/subtype``).
            filename: Suggested name; kept from the first store.

        Returns:
            The hex sha256 of ``data``.

        Raises:
            TypeError: ``data`` is not ``bytes``.
            ValueError: ``media_type`` is not ``type/subtype``.
        """
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"blobs are bytes, not {type(data).__name__}")
        if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", media_type):
            raise ValueError(f"{media_type!r} is not a media type (type/subtype)")
        data = bytes(data)
        sha = sha256_hex(data)
        with self.db.write():
            self.db.execute(
                "INSERT INTO blobs (sha256, data, size, media_type, filename, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                [sha, data, len(data), media_type, filename, utcnow()],
            )
        return sha

    def get(self, sha256: str) -> Blob:
        """The blob with this sha256, its bytes verified.

        Raises:
            NotFound: no such blob.
            BlobCorrupt: the stored bytes do not hash to ``sha256``.
        """
        if not _SHA256.match(sha256 or ""):
            raise NotFound(f"{sha256!r} is not a sha256 (64 lower-case hex digits)")
        row = self.db.execute(
            "SELECT data, media_type, filename, created_at FROM blobs WHERE sha256 = ?",
            [sha256],
        ).fetchone()
        if row is None:
            raise NotFound(f"no stored bytes with sha256 {sha256}")
        data = bytes(row[0])
        if sha256_hex(data) != sha256:
            raise BlobCorrupt(
                f"the stored bytes of {row[2] or sha256} no longer match their sha256 "
                f"{sha256}: the database was altered; they are not used"
            )
        return Blob(sha256, data, str(row[1]), str(row[2]), str(row[3]))

    def has(self, sha256: str) -> bool:
        """Whether a blob with this sha256 is stored."""
        row = self.db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return row is not None
