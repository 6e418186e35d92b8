"""Send mail payloads over SMTP (RFC 5321) as RFC 5322 messages.

SMTP cannot deduplicate, so every outcome is classified by where the conversation stopped
(:class:`Stage`): a server can only accept a message after it has received the message's data
(RFC 5321 section 4.1.1.4, the DATA command's 354 reply then the data). Whatever stops before the
data starts -- invalid settings, a locked keyring, connection, TLS or login errors, a refused
sender or recipients, a server that stalls after MAIL FROM or RCPT TO -- is ``failed``: nothing
was sent, and a new approval may retry it. Only a conversation that broke while the data was
being sent or its final reply awaited is ``unknown``: it may or may not have been delivered and is
never retried automatically. An explicit rejection of the data (a 4xx/5xx final reply) is
``failed``.

A send runs in its own daemon thread (:func:`send_async`), so that cancelling it (Ctrl-C,
closing the window) returns at once: the conversation is aborted -- it can never reach the data
afterwards -- and its socket shut down, instead of waiting out the SMTP timeout.

A password is never sent over an unencrypted connection (``smtp.security none``) except to a
loopback host; a payload whose Message-ID is a placeholder (``solodesk.invalid``) is never sent.
:func:`preflight` says, before an approval, everything that would stop a send.
"""

from __future__ import annotations

import asyncio
import enum
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Any, Literal, TypeVar

from solodesk.core.mail import (
    all_recipients,
    first_mailbox,
    is_loopback_host,
    is_placeholder_message_id,
)
from solodesk.store.config import Config, ConfigError


class SmtpConfigError(Exception):
    """SMTP is not configured; the message says which setting to set."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send.

    Attributes:
        host: Server host name.
        port: TCP port (465 for ssl, 587 for starttls, 25 for none, or any).
        security: ``ssl`` (implicit TLS), ``starttls`` or ``none``.
        username: Login name, empty for no login.
        from_addr: The From header, RFC 5322 mailbox.
        timeout: Seconds per SMTP operation.
    """

    host: str
    port: int
    security: Literal["ssl", "starttls", "none"]
    username: str
    from_addr: str
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config: Config) -> SmtpSettings:
        """Read ``smtp.*`` settings.

        Raises:
            SmtpConfigError: host or From address is not set, or a setting in the file is not
                allowed (nothing is sent).
        """
        try:
            return cls._from_config(config)
        except ConfigError as exc:
            raise SmtpConfigError(str(exc)) from None

    @classmethod
    def _from_config(cls, config: Config) -> SmtpSettings:
        host = config.get("smtp.host")
        from_addr = config.get("smtp.from")
        if not host:
            raise SmtpConfigError(
                "SMTP is not configured: run 'solodesk config set smtp.host HOST' "
                "(and smtp.port, smtp.security, smtp.username, smtp.from)"
            )
        if not from_addr:
            raise SmtpConfigError(
                "no From address: run 'solodesk config set smtp.from \"Name <you@example.com>\"'"
            )
        security = config.get("smtp.security")
        if security not in ("ssl", "starttls", "none"):
            raise SmtpConfigError("smtp.security must be ssl, starttls or none")
        return cls(
            host=host,
            port=config.get_int("smtp.port"),
            security=security,  # type: ignore[arg-type]
            username=config.get("smtp.username"),
            from_addr=from_addr,
            timeout=float(config.get_int("smtp.timeout")),
        )


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one send.

    Attributes:
        status: ``sent``, ``failed`` (definitely not sent) or ``unknown``.
        detail: Server reply or the error, one line, without secrets.
        refused: Recipients the server refused (when others were accepted), each as
            ``address (code reply)``.
        stage: Where the SMTP conversation stopped (a :class:`Stage` name), "" if it never
            started.
    """

    status: Literal["sent", "failed", "unknown"]
    detail: str
    refused: tuple[str, ...] = ()
    stage: str = ""


class Stage(enum.IntEnum):
    """How far an SMTP conversation got; from :attr:`DATA_SENDING` on the server may have the
    message."""

    SETUP = 0
    CONNECT = 1
    GREETING = 2
    STARTTLS = 3
    AUTH = 4
    MAIL = 5
    RCPT = 6
    DATA = 7  # DATA command sent, no 354 yet: the server has no message data
    DATA_SENDING = 8  # 354 received: the data is on its way, the final reply awaited
    ACCEPTED = 9  # the final reply to the data was 250: delivered to the server
    REJECTED = 10  # the final reply to the data refused it: not delivered

    @property
    def may_be_delivered(self) -> bool:
        """Whether the server may have accepted the message at this stage."""
        return self in (Stage.DATA_SENDING, Stage.ACCEPTED)


_COMMAND_STAGES = {
    "ehlo": Stage.GREETING,
    "helo": Stage.GREETING,
    "starttls": Stage.STARTTLS,
    "auth": Stage.AUTH,
    "mail": Stage.MAIL,
    "rcpt": Stage.RCPT,
    "data": Stage.DATA,
}


class Aborted(OSError):
    """The conversation was aborted from another thread (the send was cancelled)."""


class Conversation:
    """The progress of one SMTP conversation, shared by the sending thread and whoever may
    cancel it. Stages only move forward; after :meth:`abort` none can be entered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stage = Stage.SETUP
        self._aborted = False
        self._sock: socket.socket | None = None

    @property
    def stage(self) -> Stage:
        with self._lock:
            return self._stage

    def enter(self, stage: Stage) -> None:
        """Record that the conversation reached ``stage``.

        Raises:
            Aborted: the conversation was aborted: the caller must not go on.
        """
        with self._lock:
            if self._aborted and stage < Stage.ACCEPTED:
                raise Aborted("the send was cancelled")
            if stage > self._stage:
                self._stage = stage

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            aborted = self._aborted
        if aborted:
            _shutdown(sock)
            raise Aborted("the send was cancelled")

    def abort(self) -> Stage:
        """Stop the conversation: no later stage can be entered, and the socket is shut down so
        a blocked read or write in the sending thread returns at once.

        Returns:
            The stage reached when it was aborted.
        """
        with self._lock:
            self._aborted = True
            stage, sock = self._stage, self._sock
        _shutdown(sock)
        return stage


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _StagedMixin:
    """Records the conversation's stage for :class:`smtplib.SMTP` and ``SMTP_SSL``."""

    conversation: Conversation
    _host: str  # smtplib's: the TLS server name
    _last_command = ""

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None
                ) -> tuple[int, bytes]:
        self.conversation.enter(Stage.CONNECT)
        reply: tuple[int, bytes] = super().connect(host, port, source_address)  # type: ignore[misc]
        self.conversation.attach(getattr(self, "sock", None))
        return reply

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        reply: tuple[int, bytes] = super().starttls(*args, **kwargs)  # type: ignore[misc]
        self.conversation.attach(getattr(self, "sock", None))  # the TLS socket now
        return reply

    def putcmd(self, cmd: str, args: str = "") -> None:
        name = cmd.split(" ", 1)[0].lower()
        self._last_command = name
        stage = _COMMAND_STAGES.get(name)
        if stage is not None:
            self.conversation.enter(stage)
        elif name not in ("quit", "rset", "noop") and self.conversation.stage < Stage.GREETING:
            self.conversation.enter(Stage.GREETING)
        super().putcmd(cmd, args)  # type: ignore[misc]

    def getreply(self) -> tuple[int, bytes]:
        code, reply = super().getreply()  # type: ignore[misc]
        stage = self.conversation.stage
        if self._last_command == "data":
            if stage is Stage.DATA and code == 354:
                # From here the data goes out: the server may accept the message.
                self.conversation.enter(Stage.DATA_SENDING)
            elif stage is Stage.DATA_SENDING:
                self.conversation.enter(Stage.ACCEPTED if code == 250 else Stage.REJECTED)
        return code, reply


class _StagedSMTP(_StagedMixin, smtplib.SMTP):
    pass


class _StagedSMTPSSL(_StagedMixin, smtplib.SMTP_SSL):
    pass


class SendInterrupted(Exception):
    """A send was cancelled; :attr:`outcome` says whether anything may have been delivered."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def plaintext_auth_problem(security: str, host: str, username: str) -> str:
    """Why a login would send the password in clear, or ``""`` (RFC 8314: use TLS)."""
    if security == "none" and username and not is_loopback_host(host):
        return (
            f"refusing to send the SMTP password unencrypted to {host} (smtp.security is "
            "'none'): set smtp.security to starttls or ssl (solodesk config set smtp.security "
            "starttls), or clear smtp.username if the server needs no login; plain connections "
            "with a login are allowed only to this computer (localhost, 127.0.0.1, ::1)"
        )
    return ""


def preflight(config: Config, *, password_present: bool) -> list[str]:
    """Everything that would stop an approved mail from being sent, checked before approval.

    Args:
        config: The settings (``smtp.*``).
        password_present: Whether the keyring holds ``smtp.password``.

    Returns:
        One line per problem, each saying what to set; empty when sending can work.
    """
    problems: list[str] = []
    invalid: set[str] = set()

    def setting(key: str) -> str:
        try:
            return config.get(key)
        except ConfigError as exc:  # a bad value hand-edited into the settings file
            problems.append(str(exc))
            invalid.add(key)
            return ""

    host = setting("smtp.host")
    from_addr = setting("smtp.from")
    username = setting("smtp.username")
    security = setting("smtp.security") or "starttls"
    if not host and "smtp.host" not in invalid:
        problems.append(
            "no SMTP server: set smtp.host (solodesk config set smtp.host HOST, or Settings in "
            "the app), and smtp.port / smtp.security / smtp.username as your provider says"
        )
    if not from_addr and "smtp.from" not in invalid:
        problems.append(
            "no sender address: set smtp.from (solodesk config set smtp.from "
            "\"Your Name <you@your-domain.example>\"); replies' Message-IDs use its domain"
        )
    elif from_addr and "@" not in first_mailbox(from_addr).addr:
        problems.append(f"smtp.from {from_addr!r} has no email address: use 'Name <you@domain>'")
    if host:
        auth = plaintext_auth_problem(security, host, username)
        if auth:
            problems.append(auth)
    if username and not password_present:
        problems.append(
            f"smtp.username is {username!r} but no SMTP password is in the keyring: run "
            "'solodesk secrets set smtp.password' (or set it in Settings)"
        )
    return problems


def build_message(payload: Mapping[str, Any], from_addr: str) -> EmailMessage:
    """The RFC 5322 message for a ``send_email``/``reply_email`` payload.

    The Message-ID is the one fixed at proposal time; replies carry ``In-Reply-To`` and
    ``References`` (RFC 5322 section 3.6.4).
    """
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        msg["Cc"] = ", ".join(payload["cc"])
    msg["Subject"] = payload["subject"]
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = payload["message_id"]
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = payload["in_reply_to"]
    refs = payload.get("references") or []
    if refs:
        msg["References"] = " ".join(refs)
    msg["X-Mailer"] = "SoloDesk"
    msg.set_content(payload["body"])
    return msg


def send(
    payload: Mapping[str, Any],
    settings: SmtpSettings,
    password: str | None,
    conversation: Conversation | None = None,
    *,
    build: Callable[[str], EmailMessage] | None = None,
) -> SendOutcome:
    """Send one payload (blocking; run it in a worker thread, see :func:`send_async`).

    Never raises: every error becomes a ``failed`` or ``unknown`` outcome according to the
    stage the conversation had reached (see the module docstring). A placeholder Message-ID or a
    login over an unencrypted connection to another host fails before connecting.

    Args:
        conversation: Progress shared with the caller, who may :meth:`~Conversation.abort` it.
        build: Builds the message from the From address (e.g. with attachments,
            ``actions.mime.build_mime``); None: :func:`build_message` of ``payload``. An error
            while building is ``failed`` (nothing was sent).
    """
    conv = conversation or Conversation()
    if is_placeholder_message_id(str(payload.get("message_id", ""))):
        return SendOutcome(
            "failed",
            "the Message-ID is a placeholder (made before smtp.from was set): set smtp.from, "
            "then approve again; SoloDesk gives it a Message-ID on your domain",
            stage="SETUP",
        )
    refusal = plaintext_auth_problem(settings.security, settings.host, settings.username)
    if refusal:
        return SendOutcome("failed", refusal, stage="SETUP")
    try:
        msg = (build or (lambda sender: build_message(payload, sender)))(settings.from_addr)
        recipients = all_recipients(payload)
        sender = getaddresses([settings.from_addr])[0][1]
    except Exception as exc:  # e.g. CR/LF in a header: nothing was sent
        return SendOutcome(
            "failed",
            f"cannot build the message: {type(exc).__name__}: {exc}; nothing was sent",
            stage="SETUP",
        )
    smtp: smtplib.SMTP | None = None
    try:
        context = tls_context() if settings.security in ("ssl", "starttls") else None
        smtp = _client(settings, context, conv)
        smtp.connect(settings.host, settings.port)
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=tls_context())
            smtp.ehlo()
        if settings.username:
            if not password:
                _quit(smtp)
                return SendOutcome(
                    "failed",
                    "no SMTP password: run 'solodesk secrets set smtp.password'",
                    stage=conv.stage.name,
                )
            smtp.login(settings.username, password)
        refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
    except Exception as exc:
        outcome = _failure(exc, conv.stage, settings)
        if smtp is not None:
            if outcome.status == "unknown":
                smtp.close()
            else:
                _quit(smtp)
        return outcome
    _quit(smtp)
    shown = tuple(
        f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in sorted(refused.items())
    )
    detail = (
        f"accepted by {settings.host}:{settings.port} for {len(recipients) - len(refused)} "
        "recipient(s)"
    )
    if shown:
        detail += "; refused: " + ", ".join(shown)
    return SendOutcome("sent", detail, refused=shown, stage=conv.stage.name)


_TLS_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_TLS_LOCK = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The client TLS context for SMTP: :func:`ssl.create_default_context` (certificate and
    host name verified against the system's trust store), built once per process.

    Building one loads the whole trust store (about 17 ms), which every send used to pay even
    with ``smtp.security none``. The cache is keyed by ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (the
    variables that choose the trust store), so changing them gives a fresh context.
    """
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(key)
        if context is None:
            context = _TLS_CONTEXTS[key] = ssl.create_default_context()
        return context


def _client(
    settings: SmtpSettings, context: ssl.SSLContext | None, conv: Conversation
) -> smtplib.SMTP:
    """An unconnected SMTP client that records its stages in ``conv`` (``context``: for
    ``ssl``/``starttls``; None for ``none``)."""
    client: _StagedSMTP | _StagedSMTPSSL
    if settings.security == "ssl":
        client = _StagedSMTPSSL(timeout=settings.timeout, context=context or tls_context())
    else:
        client = _StagedSMTP(timeout=settings.timeout)
    client.conversation = conv
    # smtplib takes the TLS server name from the host given to its constructor.
    client._host = settings.host
    return client


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


def _failure(exc: Exception, stage: Stage, settings: SmtpSettings) -> SendOutcome:
    """Classify an error by the stage the conversation had reached."""
    where = f"{settings.host}:{settings.port} ({settings.security})"
    name = stage.name
    if stage is Stage.ACCEPTED:
        return SendOutcome("sent", f"accepted by {where} (the connection then failed: "
                           f"{type(exc).__name__})", stage=name)
    if stage.may_be_delivered:
        return SendOutcome(
            "unknown",
            f"connection lost while sending the message to {where}: {type(exc).__name__}: "
            f"{exc}; it may or may not have been delivered",
            stage=name,
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        detail = (f"SMTP login refused ({exc.smtp_code}); check smtp.username and "
                  "smtp.password")
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(
            f"{addr} ({code} {_text(reply)})"
            for addr, (code, reply) in sorted(exc.recipients.items())
        )
        detail = f"server refused every recipient: {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        detail = f"server refused sender {exc.sender!r}: {exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPDataError):
        detail = f"server rejected the message: {exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, Aborted):
        detail = "interrupted before the message was sent"
    elif stage <= Stage.CONNECT:
        detail = f"cannot connect to {where}: {type(exc).__name__}: {exc}"
    else:
        detail = (f"the SMTP conversation with {where} failed at {name} (before the message "
                  f"was sent): {type(exc).__name__}: {exc}")
    return SendOutcome("failed", detail + "; nothing was sent", stage=name)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


R = TypeVar("R")


def _in_daemon_thread(fn: Callable[[], R]) -> asyncio.Future[R]:
    """Run ``fn`` in a new daemon thread; a future for its result on the running loop.

    Unlike the loop's default executor, nothing waits for the thread at exit, so a cancelled
    send never holds the process up.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()

    def settle(result: R | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=target, name="smtp-send", daemon=True).start()
    return future


async def send_async(
    payload: Mapping[str, Any],
    settings: SmtpSettings,
    password: str | None,
    *,
    build: Callable[[str], EmailMessage] | None = None,
) -> SendOutcome:
    """:func:`send` in a daemon thread (``build``: see :func:`send`).

    Raises:
        SendInterrupted: the task was cancelled; the conversation was aborted and the
            exception's outcome says whether the message may have been delivered (``unknown``
            once its data had started, ``sent`` if the server had already accepted it,
            otherwise ``failed``).
    """
    conversation = Conversation()
    future = _in_daemon_thread(
        lambda: send(payload, settings, password, conversation, build=build)
    )
    try:
        return await future
    except asyncio.CancelledError:
        stage = conversation.abort()
        if stage is Stage.ACCEPTED:
            outcome = SendOutcome(
                "sent", f"accepted by {settings.host}:{settings.port} (then interrupted)",
                stage=stage.name,
            )
        elif stage.may_be_delivered:
            outcome = SendOutcome(
                "unknown",
                "interrupted while the message was being sent; it may or may not have been "
                "delivered",
                stage=stage.name,
            )
        else:
            outcome = SendOutcome(
                "failed",
                f"interrupted before the message was sent (at {stage.name}); nothing was sent",
                stage=stage.name,
            )
        raise SendInterrupted(outcome) from None
