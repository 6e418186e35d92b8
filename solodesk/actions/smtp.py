"""Send mail payloads over SMTP (RFC 5321) as RFC 5322 messages.

SMTP cannot deduplicate: a send interrupted after the DATA command began may or may not have been
delivered, so it is reported as :class:`SendOutcome` ``unknown`` and never retried automatically.
Failures before DATA (connection, TLS, login, refused sender or recipients) and explicit
rejections of the data are definite: nothing was sent.

A password is never sent over an unencrypted connection (``smtp.security none``) except to a
loopback host; a payload whose Message-ID is a placeholder (``solodesk.invalid``) is never sent.
:func:`preflight` says, before an approval, everything that would stop a send.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Any, Literal

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
        refused: Recipients the server refused (when others were accepted).
    """

    status: Literal["sent", "failed", "unknown"]
    detail: str
    refused: tuple[str, ...] = ()


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
    payload: Mapping[str, Any], settings: SmtpSettings, password: str | None
) -> SendOutcome:
    """Send one payload (blocking; run it in a worker thread).

    Never raises for SMTP or network errors: they become a ``failed`` or ``unknown`` outcome.
    A placeholder Message-ID or a login over an unencrypted connection to another host fails
    before connecting.
    """
    if is_placeholder_message_id(str(payload.get("message_id", ""))):
        return SendOutcome(
            "failed",
            "the Message-ID is a placeholder (made before smtp.from was set): set smtp.from, "
            "then approve again; SoloDesk gives it a Message-ID on your domain",
        )
    refusal = plaintext_auth_problem(settings.security, settings.host, settings.username)
    if refusal:
        return SendOutcome("failed", refusal)
    msg = build_message(payload, settings.from_addr)
    recipients = all_recipients(payload)
    sender = getaddresses([settings.from_addr])[0][1]
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            if not password:
                smtp.close()
                return SendOutcome(
                    "failed",
                    "no SMTP password: run 'solodesk secrets set smtp.password'",
                )
            smtp.login(settings.username, password)
    except smtplib.SMTPAuthenticationError as exc:
        return SendOutcome("failed", f"SMTP login refused ({exc.smtp_code}); check "
                           "smtp.username and smtp.password")
    except (OSError, smtplib.SMTPException) as exc:
        return SendOutcome(
            "failed",
            f"cannot connect to {settings.host}:{settings.port} ({settings.security}): "
            f"{type(exc).__name__}: {exc}",
        )
    try:
        refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        _quit(smtp)
        return SendOutcome("failed", f"server refused every recipient: {sorted(exc.recipients)}")
    except smtplib.SMTPSenderRefused as exc:
        _quit(smtp)
        return SendOutcome("failed", f"server refused sender {exc.sender!r}: {exc.smtp_code}")
    except smtplib.SMTPDataError as exc:
        _quit(smtp)
        return SendOutcome("failed", f"server rejected the message: {exc.smtp_code} "
                           f"{exc.smtp_error!r}")
    except (OSError, smtplib.SMTPException) as exc:
        # The conversation broke mid-send: the server may have accepted the message.
        return SendOutcome("unknown", f"connection lost while sending: {type(exc).__name__}: {exc}")
    _quit(smtp)
    return SendOutcome(
        "sent",
        f"accepted by {settings.host}:{settings.port} for {len(recipients) - len(refused)} "
        "recipient(s)",
        refused=tuple(sorted(refused)),
    )


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
