"""``solodesk mail sync`` and ``solodesk jobs`` in a subprocess: against Dovecot, with the IMAP
password in the real Secret Service keyring."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.store.config import Config
from solodesk.store.paths import home_paths
from tests.support import imap_server, secret_service
from tests.support.helpers import run_cli
from tests.support.imap_server import PASSWORD, USER, DovecotServer, sample_message

pytestmark = pytest.mark.integration



def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    stderr = result.stderr.strip()
    assert result.returncode == 1, (result.returncode, result.stdout, stderr)
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("solodesk: ") and "Traceback" not in stderr
    return stderr


@pytest.fixture(scope="module")
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


@pytest.fixture
def imap_home(home: Path, dovecot: DovecotServer, keyring_env: dict[str, str | None]
              ) -> tuple[Path, dict[str, str | None]]:
    """A home configured for Dovecot over STARTTLS, the password stored with the CLI."""
    cfg = Config(home_paths(home).config_file)
    for key, value in {
        "imap.host": "127.0.0.1",
        "imap.port": str(dovecot.port),
        "imap.security": "starttls",
        "imap.username": USER,
        "schedule.timezone": "Europe/Paris",
    }.items():
        cfg.set(key, value)
    # The server's certificate is self-signed: the CLI trusts it as it would a private CA.
    env = {**keyring_env, "SSL_CERT_FILE": str(dovecot.cert)}
    stored = run_cli(home, "secrets", "set", "imap.password", input=PASSWORD + "\n", env=env)
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.strip() == (
        "imap.password stored in keyring.backends.SecretService.Keyring"
    )
    return home, env


def test_mail_sync_prints_each_folder_and_imports_once(
    imap_home: tuple[Path, dict[str, str | None]], dovecot: DovecotServer
) -> None:
    home, env = imap_home
    dovecot.deliver("INBOX", [sample_message(i) for i in range(1, 4)])
    dovecot.deliver("Archive", [sample_message(9, folder="archive")])
    Config(home_paths(home).config_file).set("imap.folders", "INBOX,Archive")

    first = run_cli(home, "mail", "sync", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "INBOX: new 3, skipped 0, errors 0",
        "Archive: new 1, skipped 0, errors 0",
        "4 new message(s): triage them with 'solodesk mail triage'",
    ]
    assert "INBOX: 3/3" in first.stderr  # progress on stderr

    dovecot.deliver("INBOX", [sample_message(4)])
    second = run_cli(home, "mail", "sync", "--folder", "INBOX", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0] == "INBOX: new 1, skipped 0, errors 0"
    listing = run_cli(home, "inbox", "list", env=env)  # the mail is there for triage
    assert listing.returncode == 0

    outputs = first.stdout + first.stderr + second.stdout + second.stderr
    assert PASSWORD not in outputs
    for path in home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_mail_sync_errors_are_one_line_with_what_to_do(home: Path, dovecot: DovecotServer
                                                       ) -> None:
    assert "IMAP is not configured: run 'solodesk config set imap.host HOST'" in (
        one_line_error(run_cli(home, "mail", "sync"))
    )
    cfg = Config(home_paths(home).config_file)
    cfg.set("imap.host", "imap.example.com")
    cfg.set("imap.security", "none")
    cfg.set("imap.username", USER)
    assert "the password would cross the network unencrypted to imap.example.com" in (
        one_line_error(run_cli(home, "mail", "sync"))
    )
    cfg.set("imap.host", "127.0.0.1")
    cfg.set("imap.port", str(dovecot.port))
    assert one_line_error(run_cli(home, "mail", "sync")) == (  # keyring without the secret
        "solodesk: no IMAP password: run 'solodesk secrets set imap.password'"
    )


def test_a_folder_that_fails_is_reported_and_the_exit_status_is_1(
    imap_home: tuple[Path, dict[str, str | None]], dovecot: DovecotServer
) -> None:
    home, env = imap_home
    dovecot.deliver("INBOX", [sample_message(1)])
    result = run_cli(home, "mail", "sync", "--folder", "INBOX", "--folder", "Nope", env=env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "INBOX: new 1, skipped 0, errors 0"
    assert lines[1].startswith("Nope: new 0, skipped 0, errors 1 — folder 'Nope' cannot be opened")


def test_jobs_list_add_enable_disable(home: Path) -> None:
    Config(home_paths(home).config_file).set("schedule.timezone", "Europe/Paris")
    listing = run_cli(home, "jobs", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    at = lines.index("morning-mail  [disabled]  mail_triage")
    assert lines[at + 1:at + 4] == [
        "    schedule: 0 7 * * *  — At 07:00 every day (Europe/Paris)",
        "    next run: - (turn it on: solodesk jobs enable morning-mail)",
        "    last run: never",
    ]
    assert "weekly-books  [disabled]  bookkeeping" in lines
    assert "invoice-reminders  [disabled]  invoice_reminders" in lines
    added = run_cli(home, "jobs", "add", "inbox-hourly", "every 1h", "--enable",
                    "--budget-usd", "0.5", "--note", "keep the inbox fresh")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added job inbox-hourly: Every 1 hour(s), mail_sync, enabled"
    data = json.loads(run_cli(home, "jobs", "list", "--json").stdout)
    hourly = next(j for j in data if j["name"] == "inbox-hourly")
    assert (hourly["enabled"], hourly["budget_usd"], hourly["schedule"]) == (True, 0.5, "every 1h")
    assert hourly["next_run"].endswith(":00:00Z") and hourly["last_run"] is None
    assert run_cli(home, "jobs", "enable", "morning-mail").stdout.strip() == (
        "morning-mail enabled"
    )
    assert "next run: 20" in run_cli(home, "jobs", "list").stdout
    assert run_cli(home, "jobs", "disable", "morning-mail").stdout.strip() == (
        "morning-mail disabled"
    )
    digest = run_cli(home, "jobs", "add", "digest", "0 18 * * 1-5", "--kind", "agent",
                     "--agent", "manager", "--task", "summarise the day", "--budget", "0.25")
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout.strip().startswith("added job digest: ")
    assert ", agent, disabled" in digest.stdout
    raised = run_cli(home, "jobs", "budget", "digest", "0.5")
    assert (raised.returncode, raised.stdout.strip()) == (0, "digest: budget $0.50 per run")
    entry = next(j for j in json.loads(run_cli(home, "jobs", "list", "--json").stdout)
                 if j["name"] == "digest")
    assert (entry["kind"], entry["agent"], entry["task"], entry["budget_usd"]) == (
        "agent", "manager", "summarise the day", 0.5)
    for kind in ("mail_triage", "bookkeeping", "invoice_reminders"):
        made = run_cli(home, "jobs", "add", f"my-{kind}", "@daily", "--kind", kind)
        assert made.returncode == 0 and f", {kind}, disabled" in made.stdout, made.stderr
    cleared = run_cli(home, "jobs", "budget", "digest", "none")
    assert cleared.stdout.strip() == "digest: no budget of its own"
    moved = run_cli(home, "jobs", "schedule", "morning-mail", "30 8 * * 1-5")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("morning-mail: ") and "(disabled: solodesk jobs enable" in (
        moved.stdout)
    listed = run_cli(home, "jobs", "list").stdout
    assert "30 8 * * 1-5" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jobs", "add", "x", "61 * * * *"), "cron expression '61 * * * *': Bad minute"),
        (("jobs", "add", "x", "@daily", "--kind", "nope"), "unknown job kind 'nope'; known:"),
        (("jobs", "add", "morning-mail", "@daily"), "a job called 'morning-mail' already"),
        (("jobs", "enable", "nope"),
         "no job called 'nope' (jobs: invoice-reminders, morning-mail, weekly-books)"),
        (("jobs", "add", "x", "@daily", "--kind", "agent"), "needs --agent NAME and --task"),
        (("jobs", "add", "x", "@daily", "--kind", "agent", "--agent", "nobody", "--task", "t"),
         "no agent named 'nobody'; agents: "),
        (("jobs", "budget", "morning-mail", "lots"), "'lots' is not an amount of US dollars"),
        (("jobs", "budget", "morning-mail", "-1"), "a budget is 0 or more US dollars"),
        (("jobs", "schedule", "morning-mail", "61 * * * *"),
         "cron expression '61 * * * *': Bad minute"),
        (("jobs", "schedule", "nope", "@daily"), "no job called 'nope'"),
        (("jobs", "history", "nope"), "no job called 'nope'"),
        (("jobs", "run", "nope"), "no job called 'nope'"),
    ],
)
def test_jobs_errors(home: Path, args: tuple[str, ...], message: str) -> None:
    assert message in one_line_error(run_cli(home, *args))


def test_jobs_bad_time_zone(home: Path) -> None:
    refused = run_cli(home, "config", "set", "schedule.timezone", "Mars/Olympus")
    assert refused.returncode == 1
    assert "schedule.timezone" in refused.stderr and "IANA time zone" in refused.stderr
    # A hand-edited settings file: the command that needs the time zone says what is wrong.
    config_file = home_paths(home).ensure().config_file
    config_file.write_text(json.dumps({"schedule.timezone": "Mars/Olympus"}), encoding="utf-8")
    listed = run_cli(home, "jobs", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    warning, error = listed.stderr.strip().splitlines()
    assert warning.startswith("solodesk: warning: settings file") and "Mars/Olympus" in warning
    assert error.startswith("solodesk: ") and "schedule.timezone" in error


def test_jobs_run_and_history(
    imap_home: tuple[Path, dict[str, str | None]], dovecot: DovecotServer
) -> None:
    home, env = imap_home
    dovecot.deliver("INBOX", [sample_message(1), sample_message(2)])
    # (the shipped morning-mail job also triages: tests/integration/test_morning_mail.py)
    added = run_cli(home, "jobs", "add", "inbox-sync", "0 7 * * *", "--kind", "mail_sync")
    assert added.returncode == 0, added.stderr
    assert run_cli(home, "jobs", "history", "inbox-sync").stdout.strip() == (
        "inbox-sync has not run yet"
    )
    ran = run_cli(home, "jobs", "run", "inbox-sync", env=env)  # disabled: runs on demand
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "manual   done" in ran.stdout
    assert "INBOX: new 2, skipped 0, errors 0" in ran.stdout
    history = json.loads(run_cli(home, "jobs", "history", "inbox-sync", "--json").stdout)
    (entry,) = history
    assert (entry["outcome"], entry["trigger"], entry["proposals"], entry["cost_usd"]) == (
        "done", "manual", 0, 0.0,
    )
    assert entry["ended_at"] >= entry["started_at"]
    assert entry["slot"].startswith("manual:")
    # Without the keyring the job fails, is recorded, and says what to do.
    failed = run_cli(home, "jobs", "run", "inbox-sync")
    assert failed.returncode == 1
    assert "no IMAP password: run 'solodesk secrets set imap.password'" in failed.stdout
    text = run_cli(home, "jobs", "history", "inbox-sync").stdout
    assert [line.split()[5] for line in text.splitlines() if line.startswith("#")] == [
        "failed", "done",
    ]
    tick = run_cli(home, "jobs", "tick", env=env)  # nothing enabled: nothing due
    assert (tick.returncode, tick.stdout.strip()) == (0, "no job is due")
