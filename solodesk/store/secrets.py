"""Credentials through the system keyring only (service name ``solodesk``).

Secrets never go to SQLite, the settings file, logs or exception messages. When the keyring has
no secure backend (keyring's ``fail``/``null`` backends or a plaintext file backend), secrets set
in this process are kept in memory for the session only and :attr:`SecretStore.secure` is False
so the UI and CLI can say so.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

SERVICE = "solodesk"

#: Names of the secrets SoloDesk uses, and what each is for.
KNOWN_SECRETS: dict[str, str] = {
    "smtp.password": "password for smtp.username on smtp.host",
    "llm.api_key": "API key for the provider of llm.model (not needed for llm.model=local)",
    "imap.password": "password (or app password) for imap.username on imap.host",
}

log = logging.getLogger(__name__)

_INSECURE_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt.file")
_INSECURE_NAMES = ("plaintext", "unencrypted", "null", "fail")


class SecretError(Exception):
    """The keyring refused or failed; the message says what to do (never contains a value).

    Attributes:
        locked: True when the keyring is locked (or its unlock was refused), False when it
            failed otherwise.
    """

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


class SecretState(enum.StrEnum):
    """Whether a secret is available, as ``secrets status`` shows it (never the value)."""

    SET = "set"
    NOT_SET = "not set"
    SESSION = "set for this session only (no secure keyring)"
    LOCKED = "unknown: the keyring is locked (unlock your keyring)"
    UNAVAILABLE = "unknown: the keyring is unavailable"


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """Which keyring backend is in use and whether it is a secure store."""

    name: str
    secure: bool


def _backend_info() -> BackendInfo:
    import keyring

    kr = keyring.get_keyring()
    cls = type(kr)
    name = f"{cls.__module__}.{cls.__name__}"
    inner = getattr(kr, "backends", None)  # ChainerBackend
    if inner is not None and not inner:
        return BackendInfo(name=name + " (no backends)", secure=False)
    lowered = name.lower()
    secure = not (
        cls.__module__.startswith(_INSECURE_MODULES)
        or any(word in cls.__name__.lower() for word in _INSECURE_NAMES)
        or "plaintext" in lowered
    )
    return BackendInfo(name=name, secure=secure)


class SecretStore:
    """Get and set secrets by name (``smtp.password``, ``llm.api_key``...)."""

    def __init__(self) -> None:
        self._memory: dict[str, str] = {}
        self._info: BackendInfo | None = None

    @property
    def info(self) -> BackendInfo:
        """The keyring backend in use (looked up once)."""
        if self._info is None:
            try:
                self._info = _backend_info()
            except Exception as exc:  # a broken backend must not crash the app
                log.warning("keyring backend lookup failed: %s", type(exc).__name__)
                self._info = BackendInfo(name=f"unavailable ({type(exc).__name__})", secure=False)
        return self._info

    @property
    def secure(self) -> bool:
        """True if secrets are kept by a secure system keyring."""
        return self.info.secure

    def set(self, name: str, value: str) -> bool:
        """Store ``value`` under ``name``.

        Returns:
            True if stored in the system keyring, False if kept in memory for this session only
            (no secure backend).

        Raises:
            SecretError: the keyring backend failed (e.g. locked and the unlock was refused).
        """
        if not self.secure:
            self._memory[name] = value
            return False
        import keyring
        import keyring.errors

        try:
            keyring.set_password(SERVICE, name, value)
        except keyring.errors.KeyringError as exc:
            raise SecretError(
                f"the keyring ({self.info.name}) refused to store {name}: "
                f"{type(exc).__name__}; unlock your keyring and try again"
            ) from None
        return True

    def get(self, name: str) -> str | None:
        """The secret ``name``, or None if unset.

        Raises:
            SecretError: the keyring backend failed.
        """
        if name in self._memory:
            return self._memory[name]
        if not self.secure:
            return None
        return self.read_keyring(name)

    def read_keyring(self, name: str) -> str | None:
        """``name`` from the system keyring only (never from this session's memory).

        Returns:
            The value, or None if the keyring has no such entry.

        Raises:
            SecretError: no secure keyring, or it is locked or failed (``locked`` says which).
        """
        if not self.secure:
            raise SecretError(f"no secure keyring ({self.info.name})")
        import keyring
        import keyring.errors

        try:
            return keyring.get_password(SERVICE, name)
        except keyring.errors.KeyringLocked:
            raise SecretError(
                f"the keyring ({self.info.name}) is locked: unlock your keyring and try again",
                locked=True,
            ) from None
        except Exception as exc:  # D-Bus and backend errors are not all KeyringError
            raise SecretError(
                f"the keyring ({self.info.name}) could not read {name}: {type(exc).__name__}; "
                "unlock your keyring and try again"
            ) from None

    def write_keyring(self, name: str, value: str) -> None:
        """Store ``name`` in the system keyring only (never in memory).

        Raises:
            SecretError: no secure keyring, or it is locked or failed.
        """
        if not self.secure:
            raise SecretError(f"no secure keyring ({self.info.name})")
        import keyring
        import keyring.errors

        try:
            keyring.set_password(SERVICE, name, value)
        except keyring.errors.KeyringLocked:
            raise SecretError(
                f"the keyring ({self.info.name}) is locked: unlock your keyring and try again",
                locked=True,
            ) from None
        except Exception as exc:
            raise SecretError(
                f"the keyring ({self.info.name}) refused to store {name}: "
                f"{type(exc).__name__}; unlock your keyring and try again"
            ) from None

    def delete(self, name: str) -> None:
        """Remove ``name`` (no error if it was not set)."""
        self._memory.pop(name, None)
        if not self.secure:
            return
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            pass

    def status(self) -> dict[str, bool]:
        """For each known secret name, whether it is set (never the value); a secret the
        keyring cannot tell about (locked, failing) counts as not set here: see :meth:`state`."""
        return {name: self.state(name) in (SecretState.SET, SecretState.SESSION)
                for name in KNOWN_SECRETS}

    def state(self, name: str) -> SecretState:
        """Whether ``name`` is set, distinguishing "not set" from "the keyring cannot tell"."""
        if name in self._memory:
            return SecretState.SET if self.secure else SecretState.SESSION
        if not self.secure:
            return SecretState.NOT_SET
        try:
            value = self.read_keyring(name)
        except SecretError as exc:
            return SecretState.LOCKED if exc.locked else SecretState.UNAVAILABLE
        return SecretState.NOT_SET if value is None else SecretState.SET
