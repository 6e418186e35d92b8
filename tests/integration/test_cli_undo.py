"""``solodesk inbox approve`` waits out the undo window in the foreground; Ctrl-C cancels it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from tests.support.helpers import REPO, default_sigint, propose_email
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration


def _approve(home: Path, action_id: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("SOLODESK_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "solodesk", "--home", str(home), "inbox", "approve",
         str(action_id)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        preexec_fn=default_sigint,
    )


def _wait_for_status(services: Services, action_id: int, status: ActionStatus) -> None:
    deadline = time.monotonic() + 30
    while services.store.actions.get(action_id).status is not status:
        assert time.monotonic() < deadline, f"#{action_id} never became {status.value}"
        time.sleep(0.05)


def test_ctrl_c_during_the_undo_window_cancels_and_sends_nothing(
    services: Services, smtp_server: SmtpSink, home: Path
) -> None:
    services.config.set("outbox.undo_seconds", "30")
    action = propose_email(services.store)
    proc = _approve(home, action.id)
    _wait_for_status(services, action.id, ActionStatus.SCHEDULED)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)

    assert proc.returncode == 130, err
    assert "nothing was sent" in err
    final = services.store.actions.get(action.id)
    assert final.status is ActionStatus.PENDING and final.approved_sha256 is None
    assert smtp_server.messages == []
    events = [e["event"] for e in services.store.audit.entries(action_id=action.id)]
    assert events[-2:] == ["approved", "approval_cancelled"]


def test_without_ctrl_c_the_send_happens_after_the_window(
    services: Services, smtp_server: SmtpSink, home: Path
) -> None:
    services.config.set("outbox.undo_seconds", "1")
    action = propose_email(services.store)
    proc = _approve(home, action.id)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert "sending #" in err and "[executed]" in out
    assert len(smtp_server.messages) == 1
