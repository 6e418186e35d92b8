"""Secrets through the real Secret Service keyring (gnome-keyring on a private D-Bus session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import pytest

from solodesk.services import build_services
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from solodesk.store.secrets import SERVICE, SecretStore
from tests.support import secret_service
from tests.support.helpers import propose_email, run_cli
from tests.support.smtp_server import SmtpSink

pytestmark = [
    pytest.mark.integration,
    # aiosmtpd warns about AUTH without TLS; intended here, on loopback only.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

PASSWORD = "kR9-unusual-Smtp-pass-31415"
CLIENT_ENV_KEYS = ("DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def _smtp_login_settings(sink: SmtpSink) -> dict[str, str]:
    """Settings for sending as ada@solodesk.example through ``sink`` (the password is a secret)."""
    return {
        "smtp.host": "127.0.0.1",
        "smtp.port": str(sink.port),
        "smtp.security": "none",
        "smtp.username": "ada@solodesk.example",
        "smtp.from": "Ada Founder <ada@solodesk.example>",
    }


def _reset_keyring_detection() -> None:
    # keyring caches the list of viable backends for the process; forget it so detection runs
    # again against the bus now in the environment.
    vars(keyring.backend.get_all_keyring).pop("saved_result", None)


@pytest.fixture(scope="module")
def private_secret_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[secret_service.PrivateSecretService]:
    missing = secret_service.missing_binaries()
    if missing:
        message = f"Secret Service test needs {', '.join(missing)} (apt: dbus gnome-keyring)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    service = secret_service.start(tmp_path_factory.mktemp("secret-service"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def client_env(
    private_secret_service: secret_service.PrivateSecretService,
) -> dict[str, str | None]:
    """Environment for a subprocess that should find the private keyring."""
    env: dict[str, str | None] = {k: private_secret_service.env[k] for k in CLIENT_ENV_KEYS}
    env["PYTHON_KEYRING_BACKEND"] = None
    return env


@pytest.fixture
def keyring_in_process(
    client_env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """This process's keyring detection pointed at the private Secret Service (restored after)."""
    previous = keyring.get_keyring()
    for key, value in client_env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    _reset_keyring_detection()
    keyring.core.init_backend()
    try:
        yield
    finally:
        for name in ("smtp.password", "llm.api_key", "imap.password"):
            try:
                keyring.delete_password(SERVICE, name)
            except keyring.errors.PasswordDeleteError:
                pass
        _reset_keyring_detection()
        keyring.set_keyring(previous)


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_fresh_secret_store_uses_the_secret_service(keyring_in_process: None) -> None:
    store = SecretStore()
    assert store.info.name == "keyring.backends.SecretService.Keyring"
    assert store.secure is True
    assert store.get("llm.api_key") is None
    assert store.set("llm.api_key", "sk-test-123") is True
    assert SecretStore().get("llm.api_key") == "sk-test-123"  # in the keyring, not in memory
    assert keyring.get_password(SERVICE, "llm.api_key") == "sk-test-123"
    store.delete("llm.api_key")
    assert SecretStore().get("llm.api_key") is None
    assert SecretStore().status() == {
        "smtp.password": False, "llm.api_key": False, "imap.password": False,
    }


def test_cli_secret_reaches_the_smtp_login_and_is_stored_nowhere_else(
    tmp_path: Path,
    client_env: dict[str, str | None],
    keyring_in_process: None,
    private_secret_service: secret_service.PrivateSecretService,
) -> None:
    home = tmp_path / "home"
    sink = SmtpSink(auth=("ada@solodesk.example", PASSWORD)).start()
    try:
        cfg = Config(home_paths(home).config_file)
        for key, value in _smtp_login_settings(sink).items():
            cfg.set(key, value)

        stored = run_cli(home, "secrets", "set", "smtp.password", input=PASSWORD + "\n",
                         env=client_env)
        assert stored.returncode == 0, stored.stderr
        assert stored.stdout.strip() == (
            "smtp.password stored in keyring.backends.SecretService.Keyring"
        )
        assert SecretStore().get("smtp.password") == PASSWORD  # newline stripped

        status = run_cli(home, "secrets", "status", env=client_env)
        assert status.returncode == 0
        assert "keyring.backends.SecretService.Keyring — secure" in status.stdout
        assert "smtp.password: set" in status.stdout
        assert "llm.api_key: not set" in status.stdout

        store = Store(connect(home_paths(home).ensure().database))
        try:
            action = propose_email(store)
        finally:
            store.close()
        approved = run_cli(home, "inbox", "approve", str(action.id), "--now", env=client_env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert sink.logins == [("ada@solodesk.example", PASSWORD, True)]
        (mail,) = sink.messages
        assert mail.message["Message-ID"] == action.payload["message_id"]

        outputs = stored.stdout + stored.stderr + status.stdout + status.stderr
        outputs += approved.stdout + approved.stderr
        assert PASSWORD not in outputs
        secret = PASSWORD.encode()
        assert (home / "data" / "solodesk.db").is_file()
        assert (home / "config" / "config.json").is_file()
        assert (home / "logs").is_dir()
        assert files_containing(home, secret) == []  # database, WAL, settings, logs
        # gnome-keyring keeps it encrypted on disk.
        assert files_containing(private_secret_service.data_home, secret) == []
    finally:
        sink.stop()


def test_wrong_password_in_the_keyring_fails_the_send_definitely(
    tmp_path: Path, keyring_in_process: None, run
) -> None:
    sink = SmtpSink(auth=("ada@solodesk.example", PASSWORD)).start()
    secrets = SecretStore()
    sv = build_services(home_paths(tmp_path / "home"), secrets=secrets)
    try:
        for key, value in {**_smtp_login_settings(sink), "smtp.timeout": "10"}.items():
            sv.config.set(key, value)
        assert secrets.set("smtp.password", "not-the-password") is True
        action = propose_email(sv.store)
        final = run(sv.runner.approve(action.id))
        assert final.status.value == "failed"
        assert "SMTP login refused" in final.result["detail"]
        assert "not-the-password" not in final.result["detail"]
        assert sink.messages == []
        assert sink.logins  # the wrong password did reach the server, and was refused
        assert all(
            (login, pw, ok) == ("ada@solodesk.example", "not-the-password", False)
            for login, pw, ok in sink.logins
        )
    finally:
        run(sv.aclose())
        sink.stop()


def test_without_a_secure_backend_nothing_is_written(tmp_path: Path, run) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        secrets = SecretStore()
        assert secrets.secure is False
        assert secrets.info.name == "keyring.backends.fail.Keyring"
        sv = build_services(home_paths(tmp_path / "home"), secrets=secrets)
        try:
            assert secrets.set("smtp.password", PASSWORD) is False
            assert secrets.get("smtp.password") == PASSWORD  # this session only
            assert secrets.status()["smtp.password"] is True
            sv.config.set("smtp.username", "ada@solodesk.example")
        finally:
            run(sv.aclose())
        assert SecretStore().get("smtp.password") is None  # a new session has nothing
        assert files_containing(tmp_path, PASSWORD.encode()) == []
    finally:
        keyring.set_keyring(previous)


def test_cli_refuses_to_store_a_secret_without_a_secure_backend(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_cli(home, "secrets", "set", "smtp.password", input=PASSWORD,
                     env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode != 0
    assert result.stderr.startswith("solodesk: no secure keyring (keyring.backends.fail.Keyring)")
    assert "was NOT saved" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert files_containing(tmp_path, PASSWORD.encode()) == []
