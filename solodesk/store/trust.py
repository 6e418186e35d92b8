"""The home's keyed trust: the key in the OS keyring, the marker and the chain head file.

- The **key** (32 random bytes, hex) is the keyring entry ``trust.key`` of service ``solodesk``.
  It is created at the first run that finds a secure keyring and is never written anywhere else.
- The **marker** ``CONFIG/trust.json`` records that this home is keyed (the key's public id and
  the audit entry that keyed it). It lives outside the database, so deleting MAC columns or
  flipping a flag in the database cannot turn a keyed home back into an unkeyed one. A keyed home
  whose keyring is locked or unavailable refuses every audited change (so it refuses to approve
  or execute) and says "unlock your keyring".
- The **chain head** ``DATA/audit-head.json`` (last audit entry id and sha256, MAC'd) is written
  and fsync'd after every committed transaction that appended to the audit log, so
  ``audit verify`` detects entries removed from the end of the trail.

A home without a secure keyring still works (unkeyed): approvals and entries carry no MAC, the
head file is written without one, and ``audit verify`` / ``secrets status`` say so plainly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solodesk.core import trust as T
from solodesk.core.actions import utcnow
from solodesk.store.db import StoreError
from solodesk.store.secrets import SecretError, SecretStore

log = logging.getLogger(__name__)

#: The keyring entry (service ``solodesk``) holding the trust key.
KEY_NAME = "trust.key"
MARKER_FILE = "trust.json"
HEAD_FILE = "audit-head.json"


class TrustUnavailable(StoreError):
    """This home is keyed but its key cannot be used now; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Marker:
    """The content of ``trust.json``.

    Attributes:
        key_id: :func:`core.trust.key_id` of the home's key ("" if the file is unreadable).
        keyed_entry: Id of the ``trust_keyed`` audit entry; every later entry carries a MAC.
        keyed_at: When the home was keyed (UTC ISO 8601).
        readable: False when the file exists but cannot be parsed (the home stays keyed).
    """

    key_id: str
    keyed_entry: int
    keyed_at: str
    readable: bool = True


@dataclass(frozen=True, slots=True)
class TrustStatus:
    """What ``secrets status`` and ``audit verify`` say about keyed trust."""

    keyed: bool
    available: bool
    key_id: str
    message: str


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` durably: temp file, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Trust:
    """Keyed trust for one home (see the module docstring).

    Args:
        marker_path: ``CONFIG/trust.json``; None for a store with no files (tests, :memory:).
        head_path: ``DATA/audit-head.json``; None to keep no chain head.
        secrets: Keyring access; None for a home that is never keyed.
        key: A key to use directly (unit tests); the home then counts as keyed from entry 1.
    """

    def __init__(
        self,
        *,
        marker_path: Path | None = None,
        head_path: Path | None = None,
        secrets: SecretStore | None = None,
        key: bytes | None = None,
    ) -> None:
        self.marker_path = marker_path
        self.head_path = head_path
        self.secrets = secrets
        self._key = key
        self._injected = key is not None
        self._marker: Marker | None = None

    @classmethod
    def for_home(cls, config_dir: Path, data_dir: Path, secrets: SecretStore) -> Trust:
        """The trust of the home whose folders are ``config_dir`` and ``data_dir``."""
        return cls(
            marker_path=config_dir / MARKER_FILE,
            head_path=data_dir / HEAD_FILE,
            secrets=secrets,
        )

    # -- state ---------------------------------------------------------------------------------
    def marker(self) -> Marker | None:
        """The marker, or None while the home is not keyed (re-read until it exists, so a
        home keyed by another process counts as keyed here from the next change on)."""
        if self._injected:
            return Marker(key_id=T.key_id(self._key or b""), keyed_entry=1, keyed_at="")
        if self._marker is not None or self.marker_path is None:
            return self._marker
        try:
            text = self.marker_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            self._marker = Marker("", 1, "", readable=False)
            return self._marker
        try:
            data = json.loads(text)
            self._marker = Marker(
                key_id=str(data["key_id"]),
                keyed_entry=int(data["keyed_entry"]),
                keyed_at=str(data.get("keyed_at", "")),
            )
        except (ValueError, KeyError, TypeError):
            self._marker = Marker("", 1, "", readable=False)
        return self._marker

    @property
    def keyed(self) -> bool:
        """Whether approvals and audit entries of this home must carry MACs."""
        return self.marker() is not None

    def key(self) -> bytes | None:
        """The home's key, or None in an unkeyed home.

        Raises:
            TrustUnavailable: the home is keyed but the keyring is locked or unavailable, or
                holds another key.
        """
        if self._key is not None:
            return self._key
        marker = self.marker()
        if marker is None:
            return None
        if self.secrets is None:
            raise TrustUnavailable(
                "this home's approvals are keyed but no keyring is available: unlock your keyring"
            )
        try:
            text = self.secrets.read_keyring(KEY_NAME)
        except SecretError as exc:
            raise TrustUnavailable(
                f"this home's approvals and audit trail are keyed and {exc}".rstrip(".")
                if exc.locked
                else "this home's approvals and audit trail are keyed, but the keyring "
                f"cannot be used ({exc}): unlock your keyring and try again"
            ) from None
        if text is None:
            raise TrustUnavailable(
                f"this home's approvals are keyed, but the keyring has no {KEY_NAME}: unlock "
                "the keyring that holds it (or restore it) and try again"
            )
        try:
            key = T.decode_key(text)
        except T.KeyFormatError as exc:
            raise TrustUnavailable(f"the keyring's {KEY_NAME} is damaged: {exc}") from None
        if marker.readable and marker.key_id != T.key_id(key):
            raise TrustUnavailable(
                f"the keyring's {KEY_NAME} (key {T.key_id(key)}) is not the key this home was "
                f"keyed with (key {marker.key_id}): unlock or restore the right keyring"
            )
        self._key = key
        return key

    def status(self) -> TrustStatus:
        """Keyed or not, and whether the key can be used now (never raises)."""
        marker = self.marker()
        if marker is None:
            return TrustStatus(
                keyed=False,
                available=False,
                key_id="",
                message="approvals and the audit trail are NOT keyed (no secure keyring when "
                "this home was used): whoever can write the database file could forge an "
                "approval or rewrite the trail undetected",
            )
        try:
            key = self.key()
        except TrustUnavailable as exc:
            return TrustStatus(True, False, marker.key_id, str(exc))
        kid = T.key_id(key or b"")
        return TrustStatus(
            True, True, kid, f"approvals and the audit trail are keyed (key {kid})"
        )

    # -- MACs ----------------------------------------------------------------------------------
    def entry_mac(self, entry_sha256: str) -> str | None:
        """The MAC of a new audit entry (None in an unkeyed home).

        Raises:
            TrustUnavailable: keyed, but the key cannot be used.
        """
        key = self.key()
        return T.entry_mac(key, entry_sha256) if key is not None else None

    def approval_mac(self, approval: T.Approval) -> str | None:
        """The MAC of a new approval (None in an unkeyed home).

        Raises:
            TrustUnavailable: keyed, but the key cannot be used.
        """
        key = self.key()
        return T.approval_mac(key, approval) if key is not None else None

    # -- chain head ----------------------------------------------------------------------------
    def read_head(self) -> T.ChainHead | None:
        """The recorded chain head, or None if there is no head file.

        Raises:
            ValueError: the file exists but is not a chain head.
        """
        if self.head_path is None:
            return None
        try:
            text = self.head_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return T.ChainHead.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed chain head: {exc}") from None

    def write_head(self, last: Callable[[], tuple[int, str] | None]) -> None:
        """Record the chain head: ``last()`` reads the database's last entry ``(id, sha256)``
        (under a file lock, so concurrent processes never move the head backwards)."""
        if self.head_path is None:
            return
        with _file_lock(self.head_path.with_name(self.head_path.name + ".lock")):
            current = last()
            if current is None:
                return
            entry_id, sha = current
            try:
                recorded = self.read_head()
            except ValueError:
                recorded = None
            if recorded is not None and recorded.id >= entry_id:
                return
            key = self.key() if self.keyed else None
            mac = T.head_mac(key, entry_id, sha) if key is not None else ""
            write_json_atomic(self.head_path, T.ChainHead(entry_id, sha, mac).to_json())

    # -- keying --------------------------------------------------------------------------------
    def can_key(self) -> bool:
        """Whether this run could key the home: not keyed yet, and a secure keyring exists."""
        return (
            self.marker_path is not None
            and self.secrets is not None
            and not self.keyed
            and self.secrets.secure
        )

    def obtain_key(self) -> bytes:
        """The keyring's trust key, created there first if it has none (several homes of one
        user share it).

        Raises:
            SecretError: the keyring is locked or failed.
        """
        assert self.secrets is not None
        text = self.secrets.read_keyring(KEY_NAME)
        if text is not None:
            try:
                return T.decode_key(text)
            except T.KeyFormatError as exc:
                raise SecretError(f"the keyring's {KEY_NAME} is damaged: {exc}") from None
        key = T.new_key()
        self.secrets.write_keyring(KEY_NAME, T.encode_key(key))
        # Read it back: a keyring that silently dropped it must not key the home.
        if self.secrets.read_keyring(KEY_NAME) != T.encode_key(key):
            raise SecretError(f"the keyring did not keep {KEY_NAME}")
        return key

    def begin_keying(self, key: bytes) -> None:
        """Use ``key`` for the MACs of the transaction that keys the home."""
        self._key = key

    def write_marker(self, key: bytes, keyed_entry: int) -> None:
        """Mark the home keyed (call inside the keying transaction, before it commits)."""
        assert self.marker_path is not None
        marker = Marker(key_id=T.key_id(key), keyed_entry=keyed_entry, keyed_at=utcnow())
        write_json_atomic(
            self.marker_path,
            {
                "version": 1,
                "key_id": marker.key_id,
                "keyed_entry": marker.keyed_entry,
                "keyed_at": marker.keyed_at,
                "note": "This SoloDesk home's approvals and audit trail are keyed with the "
                f"keyring entry {KEY_NAME}. Do not delete this file.",
            },
        )
        self._marker = marker

    def abort_keying(self) -> None:
        """Undo :meth:`begin_keying` / :meth:`write_marker` after a failed transaction."""
        if self.marker_path is not None and self._marker is not None:
            with contextlib.suppress(OSError):
                self.marker_path.unlink()
        self._marker = None
        self._key = None
