"""Credentials through the system keyring only (service name ``solodesk``).

Secrets never go to SQLite, the settings file, logs or exception messages. When the keyring has
no secure backend (keyring's ``fail``/``null`` backends or a plaintext file backend), secrets set
in this process are kept in memory for the session only and :attr:`SecretStore.secure` is False
so the UI and CLI can say so.
"""

from __future__ import annotations

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
    """The keyring refused or failed; the message says what to do (never contains a value)."""


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
        import keyring
        import keyring.errors

        try:
            return keyring.get_password(SERVICE, name)
        except keyring.errors.KeyringError as exc:
            raise SecretError(
                f"the keyring ({self.info.name}) could not read {name}: {type(exc).__name__}; "
                "unlock your keyring and try again"
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
        """For each known secret name, whether it is set (never the value)."""
        out: dict[str, bool] = {}
        for name in KNOWN_SECRETS:
            try:
                out[name] = self.get(name) is not None
            except SecretError:
                out[name] = False
        return out
