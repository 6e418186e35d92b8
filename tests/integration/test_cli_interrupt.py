"""Ctrl-C during a send exits at once; resolving an unknown send from the command line.

The send goes to a scripted SMTP server that stalls at a chosen stage while the SMTP timeout is
far longer than the test waits: a command that waited for the timeout would not exit in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import REPO, dead_owner, default_sigint, propose_email, run_cli
from tests.support.smtp_server import SmtpSink
from tests.support.stalling_smtp import StallingSmtp

pytestmark = pytest.mark.integration

SMTP_TIMEOUT_S = 300  # far beyond the deadline below
EXIT_DEADLINE_S = 60  # a deadline for the test, not a measured speed


def _home(home: Path, port: int) -> None:
    cfg = Config(home_paths(home).config_file)
    for key, value in {
        "smtp.host": "127.0.0.1", "smtp.port": str(port), "smtp.security": "none",
        "smtp.from": "Ada <ada@solodesk.example>", "smtp.timeout": str(SMTP_TIMEOUT_S),
        "outbox.undo_seconds": "0",
    }.items():
        cfg.set(key, value)


def _store(home: Path) -> Store:
    return Store(connect(home_paths(home).ensure().database))


def _popen(home: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("SOLODESK_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "solodesk", "--home", str(home), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        preexec_fn=default_sigint,
    )


@pytest.mark.parametrize(
    ("stage", "status", "says"),
    [
        ("mail", ActionStatus.FAILED, "was NOT sent (failed)"),
        ("rcpt", ActionStatus.FAILED, "was NOT sent (failed)"),
        ("content", ActionStatus.UNKNOWN, "MAY have been sent (unknown)"),
    ],
)
@pytest.mark.parametrize("command", ["approve", "outbox"])
def test_ctrl_c_during_a_send_exits_at_once_and_says_what_happened(
    home: Path, stage: str, status: ActionStatus, says: str, command: str
) -> None:
    server = StallingSmtp(stall_at=stage).start()
    try:
        _home(home, server.port)
        store = _store(home)
        try:
            action = propose_email(store)
            if command == "outbox":
                store.actions.approve(action.id)
        finally:
            store.close()
        args = ("inbox", "approve", str(action.id), "--now") if command == "approve" else (
            "outbox", "run")
        proc = _popen(home, *args)
        try:
            assert server.stalled.wait(EXIT_DEADLINE_S), "the send never reached the server"
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=EXIT_DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        took = time.monotonic() - started
    finally:
        server.stop()
    print(f"\nCtrl-C at {stage} ({command}): exit {proc.returncode} after {took:.2f} s; "
          f"{err.strip()}")
    assert proc.returncode == 130, out + err
    assert f"interrupted: #{action.id} {says}" in err
    assert "Traceback" not in err
    store = _store(home)
    try:
        final = store.actions.get(action.id)
        assert final.status is status
        events = [e["event"] for e in store.audit.entries(action_id=action.id)]
        assert events[-1] == "execution_interrupted"
        assert store.audit.verify() == []
    finally:
        store.close()
    assert server.delivered == []


def test_resolve_an_unknown_send_from_the_command_line(home: Path, smtp_server: SmtpSink) -> None:
    _home(home, smtp_server.port)
    store = _store(home)
    try:
        ids = [propose_email(store).id for _ in range(3)]
        for action_id in ids:
            store.actions.approve(action_id)
            store.actions.claim(action_id, owner=dead_owner())
        assert sorted(store.actions.reconcile()) == ids
    finally:
        store.close()

    shown = run_cli(home, "inbox", "show", str(ids[0]))
    assert "result: unknown: SoloDesk stopped while this was being sent" in shown.stdout
    assert f"solodesk inbox resolve {ids[0]} --delivered" in shown.stdout

    delivered = run_cli(home, "inbox", "resolve", str(ids[0]), "--delivered")
    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout.strip() == f"#{ids[0]} recorded as delivered (executed)"

    not_delivered = run_cli(home, "inbox", "resolve", str(ids[1]), "--not-delivered")
    assert not_delivered.returncode == 0, not_delivered.stderr
    assert "recorded as not delivered (failed)" in not_delivered.stdout

    again = run_cli(home, "inbox", "approve", str(ids[1]), "--now")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(smtp_server.messages) == 1  # only the one the founder said did not arrive

    usage = run_cli(home, "inbox", "resolve", str(ids[2]))
    assert usage.returncode == 2  # --delivered or --not-delivered is required
    wrong = run_cli(home, "inbox", "resolve", str(ids[0]), "--not-delivered")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        f"solodesk: action {ids[0]} is executed; it cannot become failed: it was already "
        "executed; nothing is left to decide"
    )

    store = _store(home)
    try:
        assert store.actions.get(ids[0]).status is ActionStatus.EXECUTED
        assert store.actions.get(ids[1]).status is ActionStatus.EXECUTED
        assert store.actions.get(ids[2]).status is ActionStatus.UNKNOWN
        entries = store.audit.entries(action_id=ids[1])
        resolved = next(e for e in entries if e["event"] == "confirmed_not_delivered")
        assert resolved["actor"] == "founder"
    finally:
        store.close()


def test_outbox_run_counts_what_happened_and_says_why(home: Path) -> None:
    server = StallingSmtp(refuse=frozenset({"nobody@example.com"})).start()
    try:
        _home(home, server.port)
        Config(home_paths(home).config_file).set("smtp.timeout", "10")
        store = _store(home)
        try:
            ok = propose_email(store, cc=[]).id
            refused = propose_email(store, to=["Nobody <nobody@example.com>"], cc=[]).id
            crashed = propose_email(store).id
            for action_id in (ok, refused, crashed):
                store.actions.approve(action_id)
            store.actions.claim(crashed, owner=dead_owner())
        finally:
            store.close()
        result = run_cli(home, "outbox", "run")
    finally:
        server.stop()
    print(f"\n{result.stdout}")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "sent 1, failed 1, unknown 1"
    assert any(line.startswith(f"#{crashed} unknown: ") for line in lines)
    assert any(line.startswith(f"#{refused} failed: server refused every recipient: "
                               "nobody@example.com (550 5.1.1 no such user)") for line in lines)
    assert any(line.startswith(f"#{ok} sent: accepted by") for line in lines)
    assert len(server.delivered) == 1
