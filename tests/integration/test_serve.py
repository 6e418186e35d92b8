"""``solodesk serve`` as a subprocess: sends approvals, stops cleanly on SIGTERM, and shares a
home with another process without sending anything twice.

The deadlines below guard against a hang only; nothing asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from solodesk.core.actions import ActionStatus
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import REPO, propose_email
from tests.support.net import free_port
from tests.support.smtp_server import SmtpSink
from tests.support.stalling_smtp import StallingSmtp

pytestmark = pytest.mark.integration

DEADLINE_S = 120  # a guard against a hang, not a measured speed


def _configure(home: Path, port: int) -> None:
    cfg = Config(home_paths(home).ensure().config_file)
    for key, value in {
        "smtp.host": "127.0.0.1", "smtp.port": str(port), "smtp.security": "none",
        "smtp.from": "Ada <ada@solodesk.example>", "smtp.timeout": "300",
        "outbox.undo_seconds": "0",
    }.items():
        cfg.set(key, value)


def _store(home: Path) -> Store:
    return Store(connect(home_paths(home).ensure().database))


def _approved(home: Path, n: int) -> list[int]:
    store = _store(home)
    try:
        ids = []
        for _ in range(n):
            a = propose_email(store)
            store.actions.approve(a.id)
            ids.append(a.id)
        return ids
    finally:
        store.close()


def _statuses(home: Path, ids: list[int]) -> dict[int, ActionStatus]:
    store = _store(home)
    try:
        return {i: store.actions.get(i).status for i in ids}
    finally:
        store.close()


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               PYTHONIOENCODING="utf-8")
    env.pop("SOLODESK_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "solodesk", "--home", str(home), "serve", "--max-wait", "0.2",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )


def _wait_for(what: str, cond: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE_S
    while not cond():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


class _HeldSink:
    """An aiosmtpd server whose DATA reply waits until :attr:`release` is set (a slow send
    that does finish)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.messages: list[bytes] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                sink.entered.set()
                await asyncio.get_running_loop().run_in_executor(None, sink.release.wait)
                sink.messages.append(bytes(envelope.original_content or envelope.content))
                return "250 OK message accepted"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> _HeldSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.controller.stop()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    try:
        yield s
    finally:
        s.stop()


def test_serve_sends_approvals_and_stops_cleanly_on_sigterm(home: Path, sink: SmtpSink) -> None:
    _configure(home, sink.port)
    ids = _approved(home, 3)
    proc = _serve(home)
    try:
        _wait_for("the sends", lambda: len(sink.messages) == 3 or proc.poll() is not None)
    finally:
        code, err = _stop(proc)
    print(f"\nserve stderr:\n{err}")
    assert code == 0, err
    assert set(_statuses(home, ids).values()) == {ActionStatus.EXECUTED}
    assert "Traceback" not in err
    assert "SIGTERM received" in err and "stopped" in err
    log = (home_paths(home).log_dir / "serve.log").read_text(encoding="utf-8")
    for action_id in ids:
        assert f"#{action_id} sent" in log


def test_sigterm_mid_send_leaves_no_duplicate_and_no_lost_approval(home: Path) -> None:
    server = StallingSmtp(stall_at="content").start()  # the data went out, no reply: unknown
    try:
        _configure(home, server.port)
        ids = _approved(home, 3)
        proc = _serve(home, "--grace", "0.5")
        try:
            assert server.stalled.wait(DEADLINE_S), "the send never reached the server"
        finally:
            code, err = _stop(proc)
    finally:
        server.stop()
    print(f"\nserve stderr:\n{err}")
    assert code == 0, err
    statuses = _statuses(home, ids)
    cut = [i for i, s in statuses.items() if s is ActionStatus.UNKNOWN]
    assert len(cut) == 1, statuses  # the send in flight: may have arrived, founder resolves it
    waiting = [i for i, s in statuses.items() if s is ActionStatus.APPROVED]
    assert len(waiting) == 2, statuses  # not started: still approved, nothing lost
    assert f"#{cut[0]} interrupted: MAY have been sent" in err
    assert server.delivered == []

    # The next serve sends the two that waited, once each, and never resends the unknown one.
    with_sink = SmtpSink().start()
    try:
        _configure(home, with_sink.port)
        proc = _serve(home)
        try:
            _wait_for("the two waiting sends",
                      lambda: len(with_sink.messages) >= 2 or proc.poll() is not None)
        finally:
            code, err = _stop(proc)
        received = with_sink.messages
    finally:
        with_sink.stop()
    assert code == 0, err
    assert len(received) == 2
    final = _statuses(home, ids)
    assert final[cut[0]] is ActionStatus.UNKNOWN
    assert sorted(i for i, s in final.items() if s is ActionStatus.EXECUTED) == sorted(waiting)
    store = _store(home)
    try:
        assert store.audit.verify() == []
    finally:
        store.close()


def test_sigterm_lets_a_slow_send_finish_within_the_grace_period(home: Path) -> None:
    with _HeldSink() as server:
        _configure(home, server.port)
        (action_id,) = _approved(home, 1)
        proc = _serve(home, "--grace", str(DEADLINE_S))
        try:
            assert server.entered.wait(DEADLINE_S), "the send never reached the server"
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the stop has begun while the reply is still held
            server.release.set()
        finally:
            code, err = _stop(proc)
        assert len(server.messages) == 1
    print(f"\nserve stderr:\n{err}")
    assert code == 0, err
    assert _statuses(home, [action_id])[action_id] is ActionStatus.EXECUTED
    assert "interrupting" not in err


def test_two_serves_on_one_home_send_each_approval_once(home: Path, sink: SmtpSink) -> None:
    _configure(home, sink.port)
    _store(home).close()  # a home in use (the window's) is created and migrated already
    procs = [_serve(home), _serve(home)]
    try:
        # Approvals made while both run (as the founder approving in the window would).
        ids = _approved(home, 12)
        _wait_for("all sends", lambda: set(_statuses(home, ids).values())
                  == {ActionStatus.EXECUTED} or any(p.poll() is not None for p in procs))
    finally:
        results = [_stop(p) for p in procs]
    assert [code for code, _ in results] == [0, 0], "\n---\n".join(e for _, e in results)
    assert set(_statuses(home, ids).values()) == {ActionStatus.EXECUTED}, [e for _, e in results]
    message_ids = [m.message["Message-ID"] for m in sink.messages]
    assert len(message_ids) == 12
    assert len(set(message_ids)) == 12  # each once
    logs = [err for _, err in results]
    per_process = [sum(f"#{i} sent" in err for i in ids) for err in logs]
    print(f"\nsends per serve process: {per_process}")
    assert sum(per_process) == 12


def test_serve_says_in_one_line_when_the_home_cannot_be_opened(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    proc = _serve(not_a_folder)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"solodesk: serve cannot open the home {not_a_folder}")
