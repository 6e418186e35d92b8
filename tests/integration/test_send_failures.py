"""A failure is ``failed`` when nothing was sent, ``unknown`` only when it may have been.

Each case runs the real outbox against a server on loopback (a scripted SMTP server that stalls
or refuses at a chosen stage, or aiosmtpd) and checks the recorded status, what the server got,
and what the founder is told.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.compat import properties

from solodesk.agents.runner import ApprovalRefused
from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import propose_email, run_cli
from tests.support.smtp_server import SmtpSink
from tests.support.stalling_smtp import StallingSmtp

pytestmark = pytest.mark.integration


@pytest.fixture
def stalling(request: pytest.FixtureRequest) -> Iterator[StallingSmtp]:
    server = StallingSmtp(**getattr(request, "param", {})).start()
    try:
        yield server
    finally:
        server.stop()


def _point_at(services: Services, server: StallingSmtp, *, timeout: str = "1") -> None:
    services.config.set("smtp.port", str(server.port))
    services.config.set("smtp.timeout", timeout)


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("greeting", "failed"),
        ("ehlo", "failed"),
        ("mail", "failed"),  # a server that stalls after MAIL FROM
        ("rcpt", "failed"),  # ... or after RCPT TO
        ("data", "failed"),  # ... or after DATA, before its 354: it has no message data
        ("content", "unknown"),  # the data went out, no final reply: it may have arrived
    ],
)
def test_a_stall_is_classified_by_where_the_conversation_stopped(
    services: Services, run, stage: str, status: str
) -> None:
    server = StallingSmtp(stall_at=stage).start()
    try:
        _point_at(services, server)
        action = propose_email(services.store)
        final = run(services.runner.approve(action.id))
    finally:
        server.stop()
    assert final.status.value == status, final.result
    assert server.reached[0][-1] == stage
    assert server.delivered == []
    detail = final.result["detail"]
    if status == "failed":
        assert "nothing was sent" in detail
        # Nothing was sent: a new approval may retry it.
        assert services.store.actions.approve(action.id).status is ActionStatus.APPROVED
    else:
        assert "may or may not have been delivered" in detail


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("smtp.port", "587x", "smtp.port"),
        ("smtp.port", "70000", "70000"),
        ("smtp.timeout", "0", ""),
        ("smtp.from", "Ada <ada@solodesk.example>\r\nBcc: mallory@evil.example", "smtp.from"),
    ],
)
def test_invalid_settings_at_send_time_fail_definitely(
    services: Services, smtp_server: SmtpSink, run, key: str, value: str, expected: str
) -> None:
    # Bypasses any validation at 'config set' (a hand-edited file, an older version's value):
    # whatever reaches the sender, nothing can have been sent.
    # Approved while the settings were good (an approval is refused up front while they are
    # not: actions.smtp.preflight), then broken before the send.
    action = propose_email(services.store)
    services.store.actions.approve(action.id)
    services.config._values[key] = value
    final = run(services.runner.execute_approved(action.id))
    assert final.status is ActionStatus.FAILED, final.result
    assert expected in final.result["detail"]
    assert "nothing was sent" in final.result["detail"]
    assert smtp_server.messages == []


class _LockedKeyring(keyring.backend.KeyringBackend):
    """A keyring that is locked and whose unlock is refused (as when the founder dismisses the
    unlock prompt). Never chosen by keyring's detection (every KeyringBackend subclass is a
    candidate there, in every later test): only set explicitly."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - keyring's classproperty
        raise RuntimeError("test-only backend: set it explicitly")

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


def test_a_locked_keyring_at_send_time_fails_definitely(
    tmp_path: Path, smtp_server: SmtpSink, run
) -> None:
    from solodesk.services import build_services
    from solodesk.store.secrets import SecretStore

    previous = keyring.get_keyring()
    keyring.set_keyring(_LockedKeyring())
    try:
        secrets = SecretStore()
        assert secrets.secure
        sv = build_services(home_paths(tmp_path / "home"), secrets=secrets)
        try:
            for k, v in {"smtp.host": "127.0.0.1", "smtp.port": str(smtp_server.port),
                         "smtp.security": "none", "smtp.from": "Ada <ada@solodesk.example>",
                         "smtp.username": "ada"}.items():
                sv.config.set(k, v)
            assert not sv.store.trust.keyed  # the locked keyring could not key this home
            action = propose_email(sv.store)
            # Asked while the keyring is locked, the approval is refused up front...
            with pytest.raises(ApprovalRefused, match="locked"):
                run(sv.runner.approve(action.id))
            assert sv.store.actions.get(action.id).status is ActionStatus.PENDING
            # ...and one given before it locked fails at send time, definitely.
            sv.store.actions.approve(action.id)
            final = run(sv.runner.execute_approved(action.id))
        finally:
            run(sv.aclose())
    finally:
        keyring.set_keyring(previous)
    assert final.status is ActionStatus.FAILED, final.result
    assert "locked" in final.result["detail"] and "nothing was sent" in final.result["detail"]
    assert smtp_server.messages == []


def test_a_refused_recipient_is_shown_when_others_were_accepted(
    services: Services, run
) -> None:
    server = StallingSmtp(refuse=frozenset({"books@inkwell.example"})).start()
    try:
        _point_at(services, server, timeout="10")
        action = propose_email(services.store)
        final = run(services.runner.approve(action.id))
    finally:
        server.stop()
    assert final.status is ActionStatus.EXECUTED
    assert len(server.delivered) == 1
    assert "books@inkwell.example (550 5.1.1 no such user)" in final.result["refused"]
    assert "for 1 recipient(s); refused: books@inkwell.example" in final.result["detail"]
    shown = run_cli(services.paths.data_dir.parent, "inbox", "show", str(action.id))
    assert "refused: books@inkwell.example (550 5.1.1 no such user)" in shown.stdout


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"refuse": frozenset({"marta.kowalski@example.com", "books@inkwell.example"})},
         "server refused every recipient"),
        ({"reject_data": True}, "server rejected the message: 554"),
    ],
)
def test_explicit_refusals_fail_definitely(
    services: Services, run, params: dict[str, object], needle: str
) -> None:
    server = StallingSmtp(**params).start()  # type: ignore[arg-type]
    try:
        _point_at(services, server, timeout="10")
        action = propose_email(services.store)
        final = run(services.runner.approve(action.id))
    finally:
        server.stop()
    assert final.status is ActionStatus.FAILED
    assert needle in final.result["detail"]
    assert server.delivered == []


def test_one_typo_does_not_turn_due_mail_unknown(home: Path, smtp_server: SmtpSink) -> None:
    """The issue's case: 'smtp.port 587x' turned 5 due mails unknown, and outbox run printed
    "executed 5 due action(s)"."""
    cfg = Config(home_paths(home).config_file)
    for key, value in {"smtp.host": "127.0.0.1", "smtp.port": str(smtp_server.port),
                       "smtp.security": "none", "smtp.from": "Ada <ada@solodesk.example>"
                       }.items():
        cfg.set(key, value)
    store = Store(connect(home_paths(home).ensure().database))
    try:
        ids = [propose_email(store).id for _ in range(5)]
        for action_id in ids:
            store.actions.approve(action_id)
    finally:
        store.close()
    config = home_paths(home).config_file
    config.write_text(config.read_text().replace(str(smtp_server.port), "587x"))

    result = run_cli(home, "outbox", "run")

    print(f"\noutbox run with smtp.port=587x:\n{result.stdout}{result.stderr}")
    assert result.returncode == 1
    assert "sent 0, failed 5, unknown 0" in result.stdout
    assert result.stdout.count("fix the cause") == 5
    assert smtp_server.messages == []
    store = Store(connect(home_paths(home).database))
    try:
        assert {store.actions.get(i).status for i in ids} == {ActionStatus.FAILED}
        # Fixed, the founder approves them again and they are sent once each.
        config.write_text(config.read_text().replace("587x", str(smtp_server.port)))
        for action_id in ids:
            store.actions.approve(action_id)
    finally:
        store.close()
    again = run_cli(home, "outbox", "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "sent 5, failed 0, unknown 0" in again.stdout
    assert len(smtp_server.messages) == 5
