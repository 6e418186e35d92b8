"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

Optionally with SMTP AUTH (PLAIN/LOGIN) without TLS, for the keyring test: the server records
every login attempt so a test can check which password reached it.
"""

from __future__ import annotations

import email
import email.policy
import threading
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.net import free_port


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One envelope accepted by the server."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self.sink._add(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw)))
        return "250 OK message accepted"


class _Authenticator:
    def __init__(self, sink: SmtpSink, username: str, password: str) -> None:
        self.sink = sink
        self.username = username
        self.password = password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login == self.username and password == self.password
        self.sink._login(login, password, ok)
        # handled=False: aiosmtpd answers "535 Authentication credentials invalid" itself.
        return AuthResult(success=ok, handled=False)


class SmtpSink:
    """An aiosmtpd :class:`Controller` in its own thread; :attr:`messages` fills as mail arrives.

    Args:
        port: The port to listen on (a free one if None).
        auth: ``(username, password)`` to require SMTP AUTH (allowed without TLS on loopback).
    """

    def __init__(self, *, port: int | None = None, auth: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._logins: list[tuple[str, str, bool]] = []
        kwargs: dict[str, Any] = {}
        if auth is not None:
            kwargs.update(
                authenticator=_Authenticator(self, *auth),
                auth_required=True,
                auth_require_tls=False,
            )
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": intended, on loopback only.
            warnings.simplefilter("ignore", UserWarning)
            self.controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, **kwargs
            )

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def _add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    def _login(self, login: str, password: str, ok: bool) -> None:
        with self._lock:
            self._logins.append((login, password, ok))

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    @property
    def logins(self) -> list[tuple[str, str, bool]]:
        """Every AUTH attempt: ``(login, password, accepted)``."""
        with self._lock:
            return list(self._logins)
