"""What stops a send, checked before approval (actions.smtp.preflight), and the refusals in
smtp.send that happen before any connection."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from solodesk.actions import smtp
from solodesk.core.mail import is_loopback_host
from solodesk.store.config import Config, ConfigError

PAYLOAD = {
    "to": ["marta@example.com"],
    "subject": "Re: hi",
    "body": "Hello",
    "message_id": "<1@solodesk.example>",
}


def config(tmp_path: Path, **values: str) -> Config:
    cfg = Config(tmp_path / "config.json")
    for key, value in values.items():
        cfg.set(key.replace("_", "."), value)
    return cfg


def test_nothing_set_says_what_to_set(tmp_path: Path) -> None:
    problems = smtp.preflight(config(tmp_path), password_present=False)
    assert len(problems) == 2
    assert problems[0].startswith("no SMTP server: set smtp.host")
    assert problems[1].startswith("no sender address: set smtp.from")


def test_complete_settings_pass(tmp_path: Path) -> None:
    cfg = config(tmp_path, smtp_host="smtp.example.com", smtp_from="Ada <ada@example.com>",
                 smtp_username="ada")
    assert smtp.preflight(cfg, password_present=True) == []


def test_username_without_password(tmp_path: Path) -> None:
    cfg = config(tmp_path, smtp_host="smtp.example.com", smtp_from="ada@example.com",
                 smtp_username="ada")
    (problem,) = smtp.preflight(cfg, password_present=False)
    assert "no SMTP password is in the keyring" in problem
    assert "solodesk secrets set smtp.password" in problem


def test_sender_without_address(tmp_path: Path) -> None:
    # Refused when set; hand-edited into the file, the preflight names the setting.
    with pytest.raises(ConfigError, match="smtp.from"):
        config(tmp_path, smtp_from="Ada Founder")
    (tmp_path / "config.json").write_text(
        '{"smtp.host": "smtp.example.com", "smtp.from": "Ada Founder"}', encoding="utf-8"
    )
    (problem,) = smtp.preflight(Config(tmp_path / "config.json"), password_present=True)
    assert "smtp.from is not one address" in problem and "'Ada Founder'" in problem


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("smtp.example.com", True),
        ("192.0.2.10", True),
        ("localhost", False),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("[::1]", False),
    ],
)
def test_plaintext_auth_only_to_loopback(tmp_path: Path, host: str, refused: bool) -> None:
    cfg = config(tmp_path, smtp_host=host, smtp_from="ada@example.com", smtp_security="none",
                 smtp_username="ada")
    problems = smtp.preflight(cfg, password_present=True)
    assert bool(problems) is refused
    assert is_loopback_host(host) is not refused
    if refused:
        assert "refusing to send the SMTP password unencrypted" in problems[0]
        assert "set smtp.security to starttls or ssl" in problems[0]


def test_no_login_means_no_plaintext_problem(tmp_path: Path) -> None:
    cfg = config(tmp_path, smtp_host="smtp.example.com", smtp_from="ada@example.com",
                 smtp_security="none")
    assert smtp.preflight(cfg, password_present=False) == []


def _no_connection(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(str(args))
        raise AssertionError("smtp.send connected although it had to refuse first")

    monkeypatch.setattr(smtplib, "SMTP", refuse)
    monkeypatch.setattr(smtplib, "SMTP_SSL", refuse)
    return attempts


def test_send_refuses_plaintext_login_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _no_connection(monkeypatch)
    settings = smtp.SmtpSettings("smtp.example.com", 25, "none", "ada", "ada@example.com")
    outcome = smtp.send(PAYLOAD, settings, "s3cret")
    assert outcome.status == "failed"
    assert "refusing to send the SMTP password unencrypted to smtp.example.com" in outcome.detail
    assert "s3cret" not in outcome.detail
    assert attempts == []


def test_send_refuses_a_placeholder_message_id(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _no_connection(monkeypatch)
    settings = smtp.SmtpSettings("127.0.0.1", 25, "none", "", "ada@example.com")
    outcome = smtp.send({**PAYLOAD, "message_id": "<x@solodesk.invalid>"}, settings, None)
    assert outcome.status == "failed" and "placeholder" in outcome.detail
    assert attempts == []


def test_build_message_without_in_reply_to() -> None:
    msg = smtp.build_message({**PAYLOAD, "in_reply_to": "", "references": []}, "ada@example.com")
    assert msg["In-Reply-To"] is None and msg["References"] is None
