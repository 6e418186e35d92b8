"""Settings validated when set and when read, through the ``solodesk`` command (issue 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.integration.test_cli import one_line_error
from tests.support.helpers import propose_email, run_cli
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("smtp.port", "abc", "a whole number from 1 to 65535"),
        ("smtp.port", "587x", "a whole number from 1 to 65535"),
        ("smtp.port", "0", "a whole number from 1 to 65535"),
        ("smtp.port", "70000", "a whole number from 1 to 65535"),
        ("smtp.timeout", "0", "a whole number from 1 to 600"),
        ("outbox.undo_seconds", "-5", "a whole number from 0 to 86400"),
        ("outbox.undo_seconds", "1e9", "a whole number from 0 to 86400"),
        ("smtp.from", "not an address", "one address"),
        ("smtp.from", "Ada <ada@example.com>\r\nBcc: eve@evil.example", "one address"),
        ("llm.validation_retries", "99", "a whole number from 0 to 5"),
    ],
)
def test_config_set_refuses_with_key_value_and_what_is_allowed(
    home: Path, key: str, value: str, allowed: str
) -> None:
    error = one_line_error(run_cli(home, "config", "set", key, value))
    assert error.startswith(f"solodesk: {key} ")
    assert repr(value) in error
    assert allowed in error
    assert not home_paths(home).config_file.exists()  # nothing was saved


def test_config_list_shows_meaning_and_allowed_values(home: Path) -> None:
    listing = run_cli(home, "config", "list").stdout
    assert "smtp.port = 587  (default)\n    SMTP server port\n" in listing
    assert "    allowed: a whole number from 1 to 65535\n" in listing
    assert "    allowed: one of ssl, starttls, none\n" in listing


def write_settings(home: Path, values: dict[str, object]) -> Path:
    path = home_paths(home).ensure().config_file
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_hand_edited_bad_value_warns_and_stops_only_what_needs_it(home: Path) -> None:
    path = write_settings(home, {"smtp.port": "587x", "company.name": "Inkwell"})
    listed = run_cli(home, "inbox", "list")  # does not need smtp.port: works, with a warning
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no pending proposals"
    warning = listed.stderr.strip()
    assert warning.startswith("solodesk: warning: settings file ")
    assert str(path) in warning and "smtp.port" in warning and "'587x'" in warning
    assert "solodesk config set smtp.port" in warning and "Traceback" not in warning

    error = one_line_error(run_cli(home, "config", "get", "smtp.port"))
    assert str(path) in error and "smtp.port must be a whole number" in error
    assert run_cli(home, "config", "get", "company.name").stdout.strip() == "Inkwell"
    listing = run_cli(home, "config", "list").stdout
    assert "smtp.port = 587x  (NOT ALLOWED: fix it with 'solodesk config set')" in listing

    fixed = run_cli(home, "config", "set", "smtp.port", "2525")
    assert fixed.returncode == 0 and fixed.stdout.strip() == "smtp.port = 2525"
    assert run_cli(home, "inbox", "list").stderr == ""


def test_hand_edited_bad_smtp_port_fails_the_send_without_sending(
    home: Path, smtp_server: SmtpSink
) -> None:
    cfg = Config(home_paths(home).ensure().config_file)
    for key, value in {"smtp.host": "127.0.0.1", "smtp.security": "none",
                       "smtp.from": "Ada <ada@solodesk.example>"}.items():
        cfg.set(key, value)
    data = json.loads(cfg.path.read_text())
    cfg.path.write_text(json.dumps({**data, "smtp.port": "587x"}), encoding="utf-8")
    store = Store(connect(home_paths(home).database))
    try:
        action = propose_email(store)
        store.actions.approve(action.id)
    finally:
        store.close()

    result = run_cli(home, "outbox", "run")

    assert result.returncode == 1
    assert smtp_server.messages == []
    store = Store(connect(home_paths(home).database))
    try:
        final = store.actions.get(action.id)
    finally:
        store.close()
    assert final.status is ActionStatus.FAILED  # nothing left the machine: can be retried
    assert "smtp.port must be a whole number" in final.result["detail"]
    assert "Traceback" not in result.stderr
