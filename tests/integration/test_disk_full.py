"""A full disk: a send that could not be recorded is never started, and once a send has gone
out its outcome is recorded (the disk reserve gives the room); the founder sees one line, never a
logging traceback; the database stays intact.

Each test mounts its own small tmpfs (see tests/support/tmpfs.py) and keeps the home on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from solodesk.store.reserve import RESERVE_FILE
from tests.support.helpers import propose_email, run_cli
from tests.support.net import free_port
from tests.support.smtp_server import SmtpSink
from tests.support.tmpfs import fill, small_tmpfs

pytestmark = pytest.mark.integration


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", 16) as path:
        yield path


def _home(disk: Path, port: int) -> tuple[Path, int]:
    home = disk / "home"
    cfg = Config(home_paths(home).config_file)
    for key, value in {"smtp.host": "127.0.0.1", "smtp.port": str(port),
                       "smtp.security": "none", "smtp.from": "Ada <ada@solodesk.example>",
                       "smtp.timeout": "10"}.items():
        cfg.set(key, value)
    store = Store(connect(home_paths(home).ensure().database))
    try:
        action_id = propose_email(store).id
    finally:
        store.close()
    return home, action_id


def _status(home: Path, action_id: int) -> str:
    db = sqlite3.connect(home_paths(home).database)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return str(db.execute("SELECT status FROM actions WHERE id = ?", [action_id]
                              ).fetchone()[0])
    finally:
        db.close()


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert "Traceback" not in text and "Logging error" not in text, text
    assert len(lines) == 1, text
    return lines[0]


def test_a_send_that_could_not_be_recorded_is_not_started(
    disk: Path, smtp_server: SmtpSink
) -> None:
    home, action_id = _home(disk, smtp_server.port)
    filler = fill(disk, leave=256 * 1024)

    refused = run_cli(home, "inbox", "approve", str(action_id), "--now")

    print(f"\nwith {256} KB free: exit {refused.returncode}: {refused.stderr.strip()}")
    assert refused.returncode == 1
    line = _one_line(refused.stderr)
    assert line.startswith("solodesk: only ") and " KB free on the disk holding " in line
    assert "nothing was sent" in line and "Free some space" in line
    assert smtp_server.messages == []
    filler.unlink()
    assert _status(home, action_id) == "approved"  # kept: it is sent once there is room

    again = run_cli(home, "inbox", "approve", str(action_id), "--now")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(smtp_server.messages) == 1
    assert _status(home, action_id) == "executed"
    assert run_cli(home, "audit", "verify").returncode == 0


class _FillingSink:
    """Accepts the mail, but fills the disk first: the send succeeds, and recording its outcome
    then finds the disk full."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        fill(self.disk, name="filled-during-send.bin")
        self.received.append(envelope.content)
        return "250 OK queued"


def test_the_outcome_of_a_send_is_recorded_when_the_disk_fills_during_it(disk: Path) -> None:
    sink = _FillingSink(disk)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        home, action_id = _home(disk, port)
        result = run_cli(home, "inbox", "approve", str(action_id), "--now")
    finally:
        controller.stop()
    print(f"\ndisk filled during the send: exit {result.returncode}; stderr: "
          f"{result.stderr.strip()}")
    assert len(sink.received) == 1
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[executed]" in result.stdout
    warning = _one_line(result.stderr)
    assert warning.startswith("warning: the disk holding ")
    assert "recorded using SoloDesk's disk reserve" in warning
    assert not (home / "data" / RESERVE_FILE).exists()  # it was spent
    (disk / "filled-during-send.bin").unlink()
    assert _status(home, action_id) == "executed"
    # The reserve is put back at the next start, once there is room.
    assert run_cli(home, "audit", "verify").returncode == 0
    assert (home / "data" / RESERVE_FILE).exists()


def test_a_full_disk_is_one_actionable_line(disk: Path, smtp_server: SmtpSink) -> None:
    home, action_id = _home(disk, smtp_server.port)
    filler = fill(disk)
    result = run_cli(home, "inbox", "reject", str(action_id), "--reason", "no")
    print(f"\nfull disk: exit {result.returncode}: {result.stderr.strip()}")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "disk" in line and "full" in line and "free some space" in line.lower()
    filler.unlink()
    assert _status(home, action_id) == "pending"
