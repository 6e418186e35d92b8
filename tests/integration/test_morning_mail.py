"""Issue 11's "Done when", end to end with real parts: mail in a real IMAP server (Dovecot), the
IMAP password in the real Secret Service keyring, the model behind litellm (the scripted
OpenAI-compatible server, which reports usage; priced from litellm's offline price map), a real
SMTP server (aiosmtpd) and ``solodesk serve`` as a subprocess.

A newcomer configures IMAP, enables the morning job and closes SoloDesk; started after the job's
time, SoloDesk catches the missed slot up once: the new mail is imported and triaged into
pending proposals, ``jobs history`` shows the run with its proposals, tokens and cost,
``costs --since today`` the day's cost, and nothing is sent. Approving one reply sends it by SMTP,
files a copy in the server's Sent folder and flags the original ``\\Answered``.

The deadlines guard against a hang only; nothing asserts how fast anything is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support import imap_server, secret_service
from tests.support.helpers import REPO, run_cli
from tests.support.imap_server import PASSWORD, USER, DovecotServer, sample_message
from tests.support.openai_server import ScriptedOpenAIServer, ToolCalls
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

DEADLINE_S = 300  # a guard against a hang (serve imports litellm, then triages 3 mails)
PRICED = "openai/gpt-4o-mini"  # in litellm's offline price map; served by the scripted server


@pytest.fixture
def keyring_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str | None]]:
    """Environment for a CLI subprocess that finds a private, unlocked Secret Service."""
    with secret_service.subprocess_env(tmp_path_factory.mktemp("secret-service")) as env:
        yield env


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    server = imap_server.start_server()
    try:
        yield server
    finally:
        server.close()


def reply(n: int) -> ToolCalls:
    body = f"Hi,\n\nthank you for question {n}: here is the answer.\n\nAda"
    return ToolCalls((("propose_reply", json.dumps({"body": body})),))


def _store(home: Path) -> Store:
    return Store(connect(home_paths(home).database))


def _wait_for(what: str, cond: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    end = time.monotonic() + DEADLINE_S
    while not cond():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"serve ended ({proc.returncode}) before {what}: {err[-3000:]}")
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.2)


def _morning_run_finished(home: Path) -> bool:
    store = _store(home)
    try:
        runs = store.jobs.history("morning-mail")
        return bool(runs) and runs[0].outcome != "running"
    finally:
        store.close()


def test_the_morning_job_triages_new_mail_and_the_approved_reply_is_filed_in_sent(
    home: Path, dovecot: DovecotServer, keyring_env: dict[str, str | None],
    openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink,
) -> None:
    # The mail is on the server before SoloDesk looks.
    dovecot.deliver("INBOX", [sample_message(n) for n in (1, 2, 3)])
    # The newcomer configures IMAP (the password in the keyring), SMTP and the model.
    cfg = Config(home_paths(home).ensure().config_file)
    for key, value in {
        "imap.host": "127.0.0.1", "imap.port": str(dovecot.port), "imap.security": "starttls",
        "imap.username": USER, "schedule.timezone": "Europe/Paris",
        "smtp.host": "127.0.0.1", "smtp.port": str(smtp_server.port), "smtp.security": "none",
        "smtp.from": "Ada Founder <ada@solodesk.example>", "outbox.undo_seconds": "0",
        "llm.model": PRICED, "llm.api_base": openai_server.base_url, "llm.timeout": "60",
        "company.name": "Inkwell Notes", "founder.name": "Ada",
    }.items():
        cfg.set(key, value)
    env: dict[str, str | None] = {
        **keyring_env, "SSL_CERT_FILE": str(dovecot.cert),  # the server's self-signed cert
    }
    stored = run_cli(home, "secrets", "set", "imap.password", input=PASSWORD + "\n", env=env)
    assert stored.returncode == 0, stored.stderr
    enabled = run_cli(home, "jobs", "enable", "morning-mail", env=env)
    assert enabled.stdout.strip() == "morning-mail enabled", enabled.stderr
    # ...and closes SoloDesk. It was enabled two days ago (the clock is the real one): a 07:00
    # slot has passed since, whatever the time of day now.
    store = _store(home)
    try:
        store.db.execute(
            "UPDATE jobs SET enabled_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 days')"
            " WHERE name = 'morning-mail'")
        job = store.jobs.get("morning-mail")
        assert (job.kind, job.enabled) == ("mail_triage", True)
    finally:
        store.close()

    # Started after the job's time: the missed slot runs once.
    for n in (1, 2, 3):
        openai_server.push(reply(n))
    full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PYTHONIOENCODING": "utf-8", **env}
    full_env.pop("SOLODESK_HOME", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "solodesk", "--home", str(home), "serve", "--max-wait", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={k: v for k, v in full_env.items() if v is not None},
    )
    try:
        _wait_for("the morning job's run", lambda: _morning_run_finished(home), serve)
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
        try:
            _, serve_log = serve.communicate(timeout=DEADLINE_S)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.communicate()
    assert serve.returncode == 0, serve_log
    assert "job morning-mail done" in serve_log

    # The job's history: one scheduled run, with its proposals, tokens and cost.
    history = run_cli(home, "jobs", "history", "morning-mail", "--json", env=env)
    assert history.returncode == 0, history.stderr
    (entry,) = json.loads(history.stdout)  # caught up once, not once per missed slot
    assert (entry["trigger"], entry["outcome"], entry["proposals"]) == ("schedule", "done", 3)
    assert "INBOX: new 3, skipped 0, errors 0" in entry["detail"]
    assert "triaged 3: 3 proposed" in entry["detail"]
    assert entry["tokens_in"] > 0 and entry["tokens_out"] > 0 and entry["cost_usd"] > 0
    assert len(openai_server.chat_requests) == 3
    text = run_cli(home, "jobs", "history", "morning-mail", env=env).stdout
    assert "schedule done" in " ".join(text.split()) and "proposals 3" in text

    # The day's cost: the same sum as the job's (its calls are the only ones).
    costs = run_cli(home, "costs", "--since", "today", "--json", env=env)
    assert costs.returncode == 0, costs.stderr
    day = json.loads(costs.stdout)
    assert day["total"]["calls"] == 3
    assert day["total"]["cost_usd"] == pytest.approx(entry["cost_usd"])
    assert day["total"]["tokens_in"] == entry["tokens_in"]

    # Nothing sent: three replies wait for the founder.
    assert smtp_server.messages == []
    store = _store(home)
    try:
        pending = store.actions.list(statuses=[ActionStatus.PENDING])
        assert len(pending) == 3 and {a.kind for a in pending} == {"reply_email"}
        first = next(a for a in pending
                     if a.payload["in_reply_to"] == "<msg-1.inbox@customer.example>")
        assert store.mail.untriaged() == []
    finally:
        store.close()
    assert dovecot.messages("INBOX") and all(
        b"\\Answered" not in flags for flags, _ in dovecot.messages("INBOX").values())

    # Approve one: sent by SMTP, filed in Sent, the original flagged \Answered.
    approved = run_cli(home, "inbox", "approve", str(first.id), "--now", env=env)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "[executed]" in approved.stdout
    assert len(smtp_server.messages) == 1
    sent = dovecot.messages("Sent")
    assert [mid for _, mid in sent.values()] == [first.payload["message_id"]]
    inbox = {mid: flags for flags, mid in dovecot.messages("INBOX").values()}
    assert b"\\Answered" in inbox["<msg-1.inbox@customer.example>"]
    assert b"\\Answered" not in inbox["<msg-2.inbox@customer.example>"]
    store = _store(home)
    try:
        done = store.actions.get(first.id)
        assert done.status is ActionStatus.EXECUTED
        assert done.result is not None and done.result["imap_sent"].startswith("appended Sent")
        assert done.result["imap_answered"] == "flagged INBOX"
        assert "IMAP: copy filed in Sent" in done.result["detail"]
    finally:
        store.close()
    print(f"\nmorning-mail run: {entry['proposals']} proposals, tokens {entry['tokens_in']} in"
          f" / {entry['tokens_out']} out, ${entry['cost_usd']:.6f}; day's cost "
          f"${day['total']['cost_usd']:.6f} over {day['total']['calls']} calls; "
          f"sent {len(smtp_server.messages)}; Sent folder {len(sent)}; "
          f"detail: {done.result['detail']}")


def test_a_reply_that_cannot_be_filed_on_imap_is_still_sent_and_says_so(
    services: object, smtp_server: SmtpSink, run: Callable[..., object]
) -> None:
    """The filing is part of the effect but never undoes it: with IMAP configured and no
    password in the keyring, the mail is sent (once) and its result says what was not filed."""
    from solodesk.services import Services
    from tests.support.helpers import propose_email

    sv = services
    assert isinstance(sv, Services)
    sv.config.set("outbox.undo_seconds", "0")
    sv.config.set("imap.host", "127.0.0.1")
    sv.config.set("imap.security", "none")
    sv.config.set("imap.username", USER)
    action = propose_email(sv.store)
    done = run(sv.decisions.approve(action.id, expected_sha256=action.payload_sha256))
    assert getattr(done, "status", None) is ActionStatus.EXECUTED
    assert len(smtp_server.messages) == 1
    result = sv.store.actions.get(action.id).result or {}
    assert (result["imap_sent"], result["imap_answered"]) == ("failed", "failed")
    assert "copy NOT filed in Sent: no IMAP password" in result["detail"]
    audit = sv.store.audit.entries(action_id=action.id)
    assert "copy NOT filed in Sent" in json.dumps(audit[-1])
