"""Keyed trust against the real Secret Service (gnome-keyring on a private D-Bus session).

With write access to the database file only, four tamperings went unseen before: deleting the
last audit entries, recomputing the whole chain, changing a payload together with both its
hashes, and inserting a row already ``approved`` (the last two sent mail to the attacker). Each
is done here exactly so, to a home keyed at its first run, and each must be detected or refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest

from solodesk.core.actions import canonical_json, payload_sha256, utcnow
from solodesk.core.audit import GENESIS, chain_fields, entry_sha256
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
from solodesk.store.secrets import SERVICE, SecretStore
from tests.support import secret_service
from tests.support.helpers import propose_email, run_cli
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

CLIENT_ENV_KEYS = ("DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME", "XDG_DATA_HOME")
MALLORY = "Mallory <mallory@evil.example>"


def _start(tmp: Path) -> secret_service.PrivateSecretService:
    missing = secret_service.missing_binaries()
    if missing:
        message = f"Secret Service test needs {', '.join(missing)} (apt: dbus gnome-keyring)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return secret_service.start(tmp)


@pytest.fixture(scope="module")
def private_secret_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[secret_service.PrivateSecretService]:
    service = _start(tmp_path_factory.mktemp("trust-secret-service"))
    try:
        yield service
    finally:
        service.stop()


def _client_env(service: secret_service.PrivateSecretService) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: service.env[k] for k in CLIENT_ENV_KEYS}
    env["PYTHON_KEYRING_BACKEND"] = None
    return env


@pytest.fixture
def client_env(private_secret_service: secret_service.PrivateSecretService
               ) -> dict[str, str | None]:
    return _client_env(private_secret_service)


def _use_keyring(env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    vars(keyring.backend.get_all_keyring).pop("saved_result", None)
    keyring.core.init_backend()


@pytest.fixture
def keyed(
    tmp_path: Path,
    client_env: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: SmtpSink,
    run,
) -> Iterator[Services]:
    """A home keyed at its first run, with one mail sent and one approved, waiting."""
    previous = keyring.get_keyring()
    _use_keyring(client_env, monkeypatch)
    sv = build_services(home_paths(tmp_path / "home"), secrets=SecretStore())
    try:
        for key, value in {"smtp.host": "127.0.0.1", "smtp.port": str(smtp_server.port),
                           "smtp.security": "none", "smtp.from": "Ada <ada@solodesk.example>",
                           "smtp.timeout": "10"}.items():
            sv.config.set(key, value)
        sent = propose_email(sv.store)
        assert run(sv.runner.approve(sent.id)).status.value == "executed"
        waiting = propose_email(sv.store)
        sv.store.actions.approve(waiting.id)
        yield sv
    finally:
        run(sv.aclose())
        vars(keyring.backend.get_all_keyring).pop("saved_result", None)
        keyring.set_keyring(previous)


def _home(sv: Services) -> Path:
    return sv.paths.data_dir.parent


def _db(sv: Services) -> sqlite3.Connection:
    """The attacker's access: the database file, and nothing else."""
    return sqlite3.connect(sv.paths.database, isolation_level=None)


def test_the_first_run_keys_the_home_and_never_shows_the_key(
    tmp_path: Path, client_env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    status = run_cli(home, "secrets", "status", env=client_env)
    assert status.returncode == 0, status.stderr
    assert "keyring.backends.SecretService.Keyring — secure" in status.stdout
    assert "trust.key: set — approvals and the audit trail are keyed (key " in status.stdout
    assert "smtp.password: not set" in status.stdout

    _use_keyring(client_env, monkeypatch)
    key = keyring.get_password(SERVICE, "trust.key")
    assert key is not None and len(key) == 64
    marker = json.loads((home / "config" / "trust.json").read_text())
    assert marker["key_id"] in status.stdout and marker["keyed_entry"] == 1

    verify = run_cli(home, "audit", "verify", env=client_env)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.splitlines() == [
        "audit chain intact: 1 entries",
        f"approvals and the audit trail are keyed (key {marker['key_id']})",
    ]
    outputs = status.stdout + status.stderr + verify.stdout + verify.stderr
    assert key not in outputs
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    # A second home of the same user shares the keyring's key (it is never overwritten).
    other = run_cli(tmp_path / "other", "secrets", "status", env=client_env)
    assert marker["key_id"] in other.stdout
    assert keyring.get_password(SERVICE, "trust.key") == key


def test_deleting_the_last_audit_entries_is_detected(
    keyed: Services, client_env: dict[str, str | None]
) -> None:
    assert run_cli(_home(keyed), "audit", "verify", env=client_env).returncode == 0
    db = _db(keyed)
    db.execute("DROP TRIGGER audit_log_no_delete")
    last = db.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    db.execute("DELETE FROM audit_log WHERE id > ?", [last - 2])
    db.close()

    verify = run_cli(_home(keyed), "audit", "verify", env=client_env)
    assert verify.returncode == 1
    assert f"audit trail truncated: the last recorded entry is {last}" in verify.stderr
    assert "audit chain BROKEN" in verify.stderr


def test_recomputing_the_whole_chain_is_detected(
    keyed: Services, client_env: dict[str, str | None]
) -> None:
    db = _db(keyed)
    db.row_factory = sqlite3.Row
    db.execute("DROP TRIGGER audit_log_no_update")
    entries = [dict(r) for r in db.execute("SELECT * FROM audit_log ORDER BY id")]
    prev = GENESIS
    db.execute("BEGIN")
    for e in entries:  # rewrite who approved, and recompute every hash of the chain
        fields = chain_fields(e)
        if e["event"] == "approved":
            fields["actor"] = "policy rule #1"
        sha = entry_sha256(prev, fields)
        db.execute("UPDATE audit_log SET actor = ?, prev_sha256 = ?, sha256 = ? WHERE id = ?",
                   [fields["actor"], prev, sha, e["id"]])
        prev = sha
    db.execute("COMMIT")
    db.close()

    verify = run_cli(_home(keyed), "audit", "verify", env=client_env)
    assert verify.returncode == 1
    assert "MAC does not verify (rewritten without this home's key)" in verify.stderr


def test_a_payload_changed_with_both_its_hashes_is_not_sent(
    keyed: Services, client_env: dict[str, str | None], smtp_server: SmtpSink
) -> None:
    waiting = keyed.store.actions.due()[0]
    before = len(smtp_server.messages)
    db = _db(keyed)
    payload = json.loads(db.execute("SELECT payload FROM actions WHERE id = ?",
                                    [waiting]).fetchone()[0])
    payload.update(to=[MALLORY], cc=[])
    sha = payload_sha256(payload)
    db.execute("UPDATE actions SET payload = ?, payload_sha256 = ?, approved_sha256 = ?"
               " WHERE id = ?", [canonical_json(payload), sha, sha, waiting])
    db.close()

    result = run_cli(_home(keyed), "outbox", "run", env=client_env)

    assert result.returncode == 1
    assert f"#{waiting} failed: its approval is not signed with this home's key" in result.stdout
    assert "sent 0, failed 1, unknown 0" in result.stdout
    assert len(smtp_server.messages) == before
    assert all("mallory" not in " ".join(m.rcpt_tos) for m in smtp_server.messages)


def test_a_row_inserted_already_approved_is_not_sent(
    keyed: Services, client_env: dict[str, str | None], smtp_server: SmtpSink
) -> None:
    keyed.store.actions.reject(keyed.store.actions.due()[0])
    before = len(smtp_server.messages)
    payload = {"to": [MALLORY], "cc": [], "subject": "Invoice", "body": "Pay here.\n",
               "message_id": "<forged@solodesk.example>"}
    sha, now = payload_sha256(payload), utcnow()
    db = _db(keyed)
    db.execute(
        "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance, status,"
        " created_at, updated_at, approved_sha256, approved_at, decided_by, idempotency_key)"
        " VALUES ('send_email', ?, ?, 'manager', 'Invoice', ?, 'approved', ?, ?, ?, ?,"
        " 'founder', ?)",
        [canonical_json(payload), sha, canonical_json({"source": "chat", "ref": 1}), now, now,
         sha, now, payload["message_id"]])
    forged = db.execute("SELECT max(id) FROM actions").fetchone()[0]
    db.close()

    result = run_cli(_home(keyed), "outbox", "run", env=client_env)

    assert result.returncode == 1
    assert f"#{forged} failed: its approval is not signed with this home's key" in result.stdout
    assert len(smtp_server.messages) == before
    show = run_cli(_home(keyed), "inbox", "show", str(forged), "--json", env=client_env)
    assert json.loads(show.stdout)["status"] == "failed"


def test_a_keyed_home_with_a_locked_keyring_refuses_and_says_unlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpSink, run
) -> None:
    # Its own Secret Service: this test locks it.
    service = _start(tmp_path / "locked-secret-service")
    previous = keyring.get_keyring()
    try:
        env = _client_env(service)
        _use_keyring(env, monkeypatch)
        home = tmp_path / "home"
        sv = build_services(home_paths(home), secrets=SecretStore())
        try:
            for key, value in {"smtp.host": "127.0.0.1", "smtp.port": str(smtp_server.port),
                               "smtp.security": "none",
                               "smtp.from": "Ada <ada@solodesk.example>"}.items():
                sv.config.set(key, value)
            pending = propose_email(sv.store).id
            approved = propose_email(sv.store).id
            sv.store.actions.approve(approved)
        finally:
            run(sv.aclose())

        import secretstorage

        conn = secretstorage.dbus_init()
        secretstorage.get_default_collection(conn).lock()
        conn.close()

        approve = run_cli(home, "inbox", "approve", str(pending), "--now", env=env)
        outbox = run_cli(home, "outbox", "run", env=env)
        status = run_cli(home, "secrets", "status", env=env)
    finally:
        vars(keyring.backend.get_all_keyring).pop("saved_result", None)
        keyring.set_keyring(previous)
        service.stop()

    for result in (approve, outbox):
        err = result.stderr.strip().splitlines()
        assert result.returncode == 1, result.stdout + result.stderr
        assert len(err) == 1 and err[0].startswith("solodesk: ") and "Traceback" not in err[0]
        assert "unlock your keyring" in err[0]
    assert "smtp.password: unknown: the keyring is locked" in status.stdout
    assert "trust.key: unavailable — " in status.stdout and "locked" in status.stdout
    assert smtp_server.messages == []
    import sqlite3 as sq

    db = sq.connect(home_paths(home).database)
    try:
        rows = dict(db.execute("SELECT id, status FROM actions").fetchall())
    finally:
        db.close()
    assert rows == {pending: "pending", approved: "approved"}  # nothing lost, nothing sent
