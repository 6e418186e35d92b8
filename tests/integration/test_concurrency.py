"""Several SoloDesk processes on one home at once: real processes, real servers on loopback.

- 3 x ``solodesk outbox run`` at once over 300 approved actions against aiosmtpd: no mail twice,
  no "database is locked", nothing delivered but unrecorded.
- A GUI-like worker (its own process, running the outbox as the window does) while commands
  approve and send beside it: no live send is ever marked unknown.
- 2 x ``solodesk mail triage`` at once against the scripted model: one proposal per mail.

The tests assert on outcomes only; the figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from solodesk.core.actions import Provenance
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import REPO, SAMPLE_MBOX, run_cli
from tests.support.net import free_port
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

ACTIONS = int(os.environ.get("SOLODESK_CONCURRENCY_ACTIONS", "300"))
BAD_OUTPUT = ("database is locked", "OperationalError", "Traceback", "InvalidTransition")


class CountingSink:
    """Receives mail on loopback, counting each Message-ID; optionally slow to answer (all
    mail, or only mail whose Subject contains ``slow_subject``)."""

    def __init__(self, delay_s: float = 0.0, slow_subject: str = "", refuse_slow: bool = False
                 ) -> None:
        self.delay_s = delay_s
        self.slow_subject = slow_subject
        self.refuse_slow = refuse_slow
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=default)
        if self.delay_s and self.slow_subject in str(msg["Subject"]):
            await asyncio.sleep(self.delay_s)
            if self.refuse_slow:
                return "550 5.7.1 message refused"
        with self.lock:
            self.received[str(msg["Message-ID"])] += 1
        return "250 OK queued"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONIOENCODING="utf-8")
    env.pop("SOLODESK_HOME", None)
    return env


def _cli(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "solodesk", "--home", str(home), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO,
    )


def _configure(home: Path, settings: dict[str, str]) -> None:
    cfg = Config(home_paths(home).config_file)
    for key, value in settings.items():
        cfg.set(key, value)


def _smtp_settings(port: int) -> dict[str, str]:
    return {"smtp.host": "127.0.0.1", "smtp.port": str(port), "smtp.security": "none",
            "smtp.from": "Ada <ada@solodesk.example>", "smtp.timeout": "30",
            "outbox.undo_seconds": "0"}


def _propose(store: Store, n: int, subject: str = "Update") -> tuple[int, str]:
    mid = f"<concurrent-{n}@solodesk.example>"
    action = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": [f"customer{n}@example.com"], "cc": [], "subject": f"{subject} {n}",
                 "body": "Hello.\n", "message_id": mid},
        agent="manager", summary=f"Update {n}", provenance=Provenance("chat", 1),
        idempotency_key=mid,
    )
    return action.id, mid


def _statuses(home: Path) -> Counter[str]:
    db = sqlite3.connect(home_paths(home).database)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return Counter(dict(db.execute(
            "SELECT status, count(*) FROM actions GROUP BY status").fetchall()))
    finally:
        db.close()


def test_three_outbox_runs_at_once_send_each_approval_once(tmp_path: Path) -> None:
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    home = tmp_path / "home"
    try:
        _configure(home, _smtp_settings(port))
        store = Store(connect(home_paths(home).ensure().database))
        try:
            mids = []
            for n in range(ACTIONS):
                action_id, mid = _propose(store, n)
                store.actions.approve(action_id)
                mids.append(mid)
        finally:
            store.close()
        started = time.monotonic()
        procs = [_cli(home, "outbox", "run") for _ in range(3)]
        outputs = [p.communicate(timeout=900) for p in procs]
        took = time.monotonic() - started
    finally:
        controller.stop()

    sent_by = []
    for out, _err in outputs:
        match = re.search(r"^sent (\d+), failed (\d+), unknown (\d+)$", out, re.M)
        assert match, out
        sent_by.append(int(match.group(1)))
    statuses = _statuses(home)
    duplicates = sum(n - 1 for n in sink.received.values() if n > 1)
    locked = sum(out.count("database is locked") + err.count("database is locked")
                 for out, err in outputs)
    unrecorded = sum(1 for mid in mids if sink.received[mid]) - statuses["executed"]
    print(f"\n3 x outbox run over {ACTIONS} approved actions: {took:.1f} s; sent by each "
          f"process {sent_by}; received {sum(sink.received.values())}; duplicates "
          f"{duplicates}; 'database is locked' {locked}; delivered but unrecorded "
          f"{unrecorded}; final {dict(statuses)}; exit codes {[p.returncode for p in procs]}")
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, out + err
        assert not any(bad in out + err for bad in BAD_OUTPUT), out + err
    assert duplicates == 0
    assert locked == 0
    assert unrecorded == 0
    assert sum(sent_by) == ACTIONS
    assert statuses == Counter({"executed": ACTIONS})
    assert all(sink.received[mid] == 1 for mid in mids)
    assert run_cli(home, "audit", "verify").returncode == 0


WORKER = r"""
import asyncio, sys
from pathlib import Path
from solodesk.services import build_services
from solodesk.store.paths import home_paths

home, stop = Path(sys.argv[1]), Path(sys.argv[2])

async def main():
    sv = build_services(home_paths(home))
    try:
        sv.outbox.reconcile()           # what the window does at start
        print("ready", flush=True)
        sent = 0
        while not stop.exists():        # the window's outbox timer
            done = await sv.runner.run_due()
            sent += sum(1 for a in done if a.status.value == "executed")
            for a in done:
                if a.status.value != "executed":
                    print(f"#{a.id} {a.status.value}: {a.result}", file=sys.stderr, flush=True)
            await asyncio.sleep(0.05)
        print(f"worker sent {sent}", flush=True)
    finally:
        await sv.aclose()

asyncio.run(main())
"""


def test_a_gui_like_worker_and_commands_beside_it_never_mark_a_live_send_unknown(
    tmp_path: Path,
) -> None:
    """Before claims had owners, every command that started (and reconciled) while the window
    was sending marked that send unknown, and the window then crashed recording its result.

    Each round: the window's outbox starts a slow send (the server takes 6 s, then refuses it
    with 550, the issue's case), then a command starts beside it, reconciles, and approves and
    sends another mail."""
    sink = CountingSink(delay_s=6.0, slow_subject="Window", refuse_slow=True)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    home, stop = tmp_path / "home", tmp_path / "stop-worker"
    rounds = 3
    try:
        _configure(home, _smtp_settings(port))
        store = Store(connect(home_paths(home).ensure().database))
        window_ids = [_propose(store, n, "Window")[0] for n in range(rounds)]
        command_ids = [_propose(store, rounds + n, "Command")[0] for n in range(rounds)]
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home), str(stop)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO,
        )

        def status(action_id: int) -> str:
            return store.actions.get(action_id).status.value

        try:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            outputs = []
            overlapped = 0
            for window_id, command_id in zip(window_ids, command_ids, strict=True):
                store.actions.approve(window_id)  # approved in the window: the worker sends it
                deadline = time.monotonic() + 60
                while status(window_id) != "executing":
                    if worker.poll() is not None:
                        pytest.fail(f"the worker died: {worker.communicate()[1][-600:]}")
                    assert time.monotonic() < deadline, "the worker never started sending"
                    time.sleep(0.01)
                proc = _cli(home, "inbox", "approve", str(command_id), "--now")
                out, err = proc.communicate(timeout=300)
                outputs.append((proc, out, err))
                # The command's start-up reconcile ran while the window's send was live.
                overlapped += int(status(window_id) == "executing")
            deadline = time.monotonic() + 300
            while any(status(i) in ("approved", "executing") for i in window_ids):
                assert time.monotonic() < deadline, "the worker did not finish"
                if worker.poll() is not None:
                    break
                time.sleep(0.1)
            reconciled = [e for e in store.audit.entries() if e["event"] == "reconciled_unknown"]
        finally:
            stop.touch()
            w_out, w_err = worker.communicate(timeout=120)
            store.close()
    finally:
        controller.stop()

    statuses = _statuses(home)
    print(f"\nGUI-like worker + {len(outputs)} commands, {overlapped} of them started, "
          f"reconciled and sent while the worker's send was live: "
          f"{(w_out.strip().splitlines() or ['worker printed nothing'])[-1]}; live sends "
          f"marked unknown {len(reconciled)}; received {sum(sink.received.values())}; final "
          f"{dict(statuses)}")
    assert worker.returncode == 0, w_err
    for proc, out, err in outputs:
        assert proc.returncode == 0, out + err
        assert not any(bad in out + err for bad in BAD_OUTPUT), out + err
    assert reconciled == []  # no live send was marked unknown
    # The window's sends were refused (550): recorded as failed by the window, which may be
    # approved again; the commands' mail was sent once each.
    assert statuses == Counter({"failed": rounds, "executed": rounds})
    assert [s for s in w_err.splitlines() if "550" not in s] == []
    assert sorted(sink.received.values()) == [1] * rounds


def test_two_triage_runs_at_once_propose_one_reply_per_mail(
    tmp_path: Path, openai_server: ScriptedOpenAIServer
) -> None:
    home = tmp_path / "home"
    _configure(home, {"llm.model": "openai/scripted", "llm.api_base": openai_server.base_url,
                      "llm.timeout": "60"})
    assert run_cli(home, "mail", "import", str(SAMPLE_MBOX)).returncode == 0
    humans = 5  # the sample's sixth mail is an automated report: no model call
    for n in range(2 * humans):  # enough for both runs to draft every mail
        openai_server.reply_tool("propose_reply", {"body": f"Thanks, we are on it ({n})."})
    openai_server.reply_delay_s = 0.4  # a model that takes its time: the runs overlap

    procs = [_cli(home, "mail", "triage") for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]

    db = sqlite3.connect(home_paths(home).database)
    try:
        per_mail = Counter(int(r[0]) for r in db.execute(
            "SELECT json_extract(provenance, '$.ref') FROM actions"))
        mails = [int(r[0]) for r in db.execute("SELECT id FROM mail WHERE automated = ''")]
        triage = Counter(r[0] for r in db.execute("SELECT triage_status FROM mail"))
    finally:
        db.close()
    skipped = [re.search(r"(\d+) skipped", out) for out, _ in outputs]
    print(f"\n2 x mail triage: model calls {len(openai_server.chat_requests)}; proposals per "
          f"mail {dict(per_mail)}; skipped by each run "
          f"{[int(m.group(1)) if m else 0 for m in skipped]}; triage states {dict(triage)}")
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, out + err
        assert not any(bad in out + err for bad in BAD_OUTPUT), out + err
    assert sorted(per_mail) == sorted(mails)
    assert set(per_mail.values()) == {1}
    assert len(openai_server.chat_requests) == humans
    assert triage == Counter({"proposed": humans, "no_reply": 1})
