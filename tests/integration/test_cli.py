"""The ``solodesk`` command line in a subprocess, against loopback servers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk import __version__
from solodesk.core.actions import ActionStatus
from solodesk.store.config import SETTINGS, Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import SAMPLE_MBOX, propose_email, run_cli
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_home(home: Path, smtp_server: SmtpSink, openai_server: ScriptedOpenAIServer) -> Path:
    """A home whose settings point at the loopback SMTP server and the scripted model."""
    cfg = Config(home_paths(home).config_file)
    for key, value in {
        "llm.model": "openai/scripted",
        "llm.api_base": openai_server.base_url,
        "llm.timeout": "20",
        "smtp.host": "127.0.0.1",
        "smtp.port": str(smtp_server.port),
        "smtp.security": "none",
        "smtp.from": "Ada Founder <ada@solodesk.example>",
    }.items():
        cfg.set(key, value)
    return home


@pytest.fixture
def store(cli_home: Path) -> Iterator[Store]:
    """The same database the CLI uses, opened in this process (WAL allows both)."""
    paths = home_paths(cli_home).ensure()
    s = Store(connect(paths.database))
    yield s
    s.close()


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line error of a failed command (exit status 1, no traceback)."""
    stderr = result.stderr.strip()
    assert result.returncode == 1, (result.returncode, stderr)
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("solodesk: ")
    assert "Traceback" not in stderr
    return stderr


def test_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"SoloDesk {__version__}"


def test_config_set_get_list(home: Path) -> None:
    assert run_cli(home, "config", "get", "smtp.port").stdout.strip() == "587"
    result = run_cli(home, "config", "set", "smtp.port", "2525")
    assert result.returncode == 0 and result.stdout.strip() == "smtp.port = 2525"
    assert run_cli(home, "config", "get", "smtp.port").stdout.strip() == "2525"
    assert json.loads(home_paths(home).config_file.read_text()) == {"smtp.port": "2525"}
    listing = run_cli(home, "config", "list").stdout
    assert "smtp.port = 2525\n" in listing
    assert "llm.model = local  (default)" in listing
    for key in SETTINGS:
        assert f"\n{key} = " in "\n" + listing


def test_config_errors(home: Path) -> None:
    assert "unknown setting 'smtp.colour'" in one_line_error(
        run_cli(home, "config", "get", "smtp.colour")
    )
    assert "secrets set" in one_line_error(run_cli(home, "config", "set", "smtp.password", "x"))
    assert "must be one of ssl, starttls, none" in one_line_error(
        run_cli(home, "config", "set", "smtp.security", "tls")
    )
    assert run_cli(home, "config").returncode == 2  # usage error


def test_mail_import_twice(home: Path, tmp_path: Path) -> None:
    first = run_cli(home, "mail", "import", str(SAMPLE_MBOX))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "imported 6, skipped 0 already imported, 0 malformed"
    second = run_cli(home, "mail", "import", str(SAMPLE_MBOX))
    assert second.stdout.strip() == "imported 0, skipped 6 already imported, 0 malformed"
    assert "does not exist" in one_line_error(
        run_cli(home, "mail", "import", str(tmp_path / "missing.mbox"))
    )


def test_mail_import_reports_malformed_files(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "ok.eml").write_bytes(
        b"From: sam@example.com\r\nMessage-ID: <ok@example.com>\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    (folder / "empty.eml").write_bytes(b"")
    result = run_cli(home, "mail", "import", str(folder))
    assert result.returncode == 0
    assert result.stdout.strip() == "imported 1, skipped 0 already imported, 1 malformed"
    assert result.stderr.strip() == f"malformed: {folder / 'empty.eml'}: empty file"


def test_triage_through_the_cli(cli_home: Path, openai_server: ScriptedOpenAIServer) -> None:
    run_cli(cli_home, "mail", "import", str(SAMPLE_MBOX))
    openai_server.reply_tool("propose_reply", {"body": "Hi Marta, I will follow up."})
    result = run_cli(cli_home, "mail", "triage", "--limit", "1")
    assert result.returncode == 0, result.stderr
    assert "proposed reply #1" in result.stdout
    assert "triaged 1: 1 proposed" in result.stdout
    assert len(openai_server.chat_requests) == 1
    # The names were never set: the command says how to set them (and drafts use defaults).
    assert "note: replies are signed by 'the founder' of 'my company'; set yours with: " \
        "solodesk config set founder.name" in result.stderr
    assert "the founder" in openai_server.chat_requests[0].messages[0]["content"]
    run_cli(cli_home, "config", "set", "founder.name", "Ada Founder")
    run_cli(cli_home, "mail", "import", str(SAMPLE_MBOX))
    openai_server.reply_tool("propose_reply", {"body": "Hi Jonas, I will follow up."})
    again = run_cli(cli_home, "mail", "triage", "--limit", "1")
    assert "note: replies are signed" not in again.stderr
    assert "Ada Founder" in openai_server.chat_requests[1].messages[0]["content"]


def test_inbox_list_json_shape(cli_home: Path, store: Store) -> None:
    first = propose_email(store)
    second = propose_email(store, reply=False)
    result = run_cli(cli_home, "inbox", "list", "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert [i["id"] for i in items] == [second.id, first.id]
    for item in items:
        assert {"id", "kind", "status", "agent", "summary", "payload", "created_at"} <= set(item)
        assert isinstance(item["id"], int) and isinstance(item["payload"], dict)
        assert item["status"] == "pending"
    by_id = {i["id"]: i for i in items}
    assert by_id[first.id]["kind"] == "reply_email" and by_id[first.id]["agent"] == "support"
    assert by_id[first.id]["payload"] == first.payload
    assert by_id[first.id]["created_at"] == first.created_at
    assert by_id[second.id]["kind"] == "send_email"
    assert json.loads(run_cli(cli_home, "inbox", "list", "--json", "--status", "executed")
                      .stdout) == []
    text = run_cli(cli_home, "inbox", "list").stdout
    assert f"#{first.id}" in text and "untrusted" in text


def test_inbox_show(cli_home: Path, store: Store) -> None:
    from tests.support.helpers import import_sample

    import_sample(store)
    action = propose_email(store)
    shown = run_cli(cli_home, "inbox", "show", str(action.id))
    assert shown.returncode == 0
    assert f"#{action.id}  reply_email  [pending]  by support" in shown.stdout
    assert "To:      Marta Kowalski <marta.kowalski@example.com>" in shown.stdout
    assert f"Message-ID: {action.payload['message_id']}" in shown.stdout
    assert "--- in reply to ---" in shown.stdout and "INK-2026-10482" in shown.stdout
    data = json.loads(run_cli(cli_home, "inbox", "show", str(action.id), "--json").stdout)
    assert data["payload_sha256"] == action.payload_sha256
    assert "Refund for my annual Pro plan?" in data["source"]


def test_inbox_edit_then_approve_sends_the_edit(
    cli_home: Path, store: Store, smtp_server: SmtpSink
) -> None:
    action = propose_email(store)
    edited = run_cli(cli_home, "inbox", "edit", str(action.id), "subject", "Your refund request")
    assert edited.returncode == 0, edited.stderr
    assert "Subject: Your refund request" in edited.stdout
    body = run_cli(cli_home, "inbox", "edit", str(action.id), "body", "-",
                   input="Hi Marta,\n\nedited on stdin.\n")
    assert body.returncode == 0, body.stderr
    assert store.actions.get(action.id).payload["body"] == "Hi Marta,\n\nedited on stdin.\n"

    approved = run_cli(cli_home, "inbox", "approve", str(action.id), "--now")

    assert approved.returncode == 0, approved.stderr
    assert "[executed]" in approved.stdout
    (mail,) = smtp_server.messages
    assert mail.message["Subject"] == "Your refund request"
    assert mail.message["Message-ID"] == action.payload["message_id"]
    assert "edited on stdin." in mail.message.get_content()
    final = store.actions.get(action.id)
    assert final.status is ActionStatus.EXECUTED
    assert final.approved_sha256 == final.payload_sha256

    again = run_cli(cli_home, "inbox", "approve", str(action.id), "--now")
    assert "cannot become approved" in one_line_error(again)
    assert "is executed; it cannot become pending" in one_line_error(
        run_cli(cli_home, "inbox", "edit", str(action.id), "subject", "late")
    )
    assert len(smtp_server.messages) == 1


def test_inbox_edit_with_invalid_value_is_not_saved(cli_home: Path, store: Store) -> None:
    action = propose_email(store)
    err = one_line_error(run_cli(cli_home, "inbox", "edit", str(action.id), "to", "marta"))
    assert "not saved" in err and "'marta' is not a valid email address" in err
    err = one_line_error(run_cli(cli_home, "inbox", "edit", str(action.id), "bcc", "x@y.com"))
    assert "field must be to, cc, subject or body" in err
    assert store.actions.get(action.id).payload == action.payload


def test_inbox_reject(cli_home: Path, store: Store, smtp_server: SmtpSink) -> None:
    action = propose_email(store)
    result = run_cli(cli_home, "inbox", "reject", str(action.id), "--reason", "I'll phone her")
    assert result.returncode == 0 and result.stdout.strip() == f"#{action.id} rejected"
    rejected = store.actions.get(action.id)
    assert rejected.status is ActionStatus.REJECTED
    assert rejected.result == {"reason": "I'll phone her"}
    assert "cannot become approved" in one_line_error(
        run_cli(cli_home, "inbox", "approve", str(action.id), "--now")
    )
    assert smtp_server.messages == []


def test_inbox_cancel_in_the_undo_window(
    cli_home: Path, store: Store, smtp_server: SmtpSink
) -> None:
    action = propose_email(store)
    scheduled = store.actions.approve(action.id, delay_s=3600)
    assert scheduled.status is ActionStatus.SCHEDULED
    result = run_cli(cli_home, "inbox", "cancel", str(action.id))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"#{action.id} approval cancelled: back to pending, nothing sent"
    )
    back = store.actions.get(action.id)
    assert back.status is ActionStatus.PENDING and back.approved_sha256 is None
    assert "cannot become pending" in one_line_error(
        run_cli(cli_home, "inbox", "cancel", str(action.id))
    )
    assert smtp_server.messages == []


def test_inbox_errors(cli_home: Path) -> None:
    assert one_line_error(run_cli(cli_home, "inbox", "show", "999")) == (
        "solodesk: no action with id 999"
    )
    assert "no action with id 999" in one_line_error(
        run_cli(cli_home, "inbox", "approve", "999", "--now")
    )
    assert "unknown status 'done'" in one_line_error(
        run_cli(cli_home, "inbox", "list", "--status", "done")
    )


def test_secrets_status_without_a_keyring(home: Path) -> None:
    result = run_cli(home, "secrets", "status")
    assert result.returncode == 0
    assert "keyring.backends.fail.Keyring" in result.stdout
    assert "NOT SECURE" in result.stdout
    assert "smtp.password: not set" in result.stdout
    assert "llm.api_key: not set" in result.stdout


def test_secrets_set_without_a_secure_keyring_refuses(home: Path) -> None:
    result = run_cli(home, "secrets", "set", "smtp.password", input="s3cret-Pa55\n")
    err = one_line_error(result)
    assert "no secure keyring" in err and "NOT saved" in err
    assert "s3cret-Pa55" not in result.stdout + result.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert b"s3cret-Pa55" not in path.read_bytes(), path
    assert "unknown secret" in one_line_error(
        run_cli(home, "secrets", "set", "smtp.pasword", input="x")
    )


def test_mail_import_reports_each_problem_with_path_and_reason(home: Path, tmp_path: Path) -> None:
    # Issue 6: one bad file no longer aborts the import; each is named with why.
    folder = tmp_path / "eml"
    folder.mkdir()
    for n in (1, 2):
        (folder / f"{n}.eml").write_bytes(
            f"From: sam@example.com\r\nMessage-ID: <ok-{n}@example.com>\r\nSubject: hi\r\n\r\n"
            f"hello {n}\r\n".encode()
        )
    (folder / "conflict.eml").write_bytes(
        b"From: eve@example.com\r\nMessage-ID: <ok-1@example.com>\r\nSubject: other\r\n\r\nx\r\n"
    )
    (folder / "gone.eml").symlink_to(tmp_path / "nowhere")
    os.mkfifo(folder / "pipe.eml")
    (folder / "evil\x1b[2Jname.eml").write_bytes(b"")
    result = run_cli(home, "mail", "import", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "imported 3, skipped 0 already imported, 1 malformed, 2 not read, "
        "1 Message-ID conflict(s) imported separately"
    )
    problems = result.stderr.strip().splitlines()
    assert sorted(problems) == sorted([
        f"not read: {folder / 'gone.eml'}: dangling symbolic link to {tmp_path / 'nowhere'}; "
        "not read",
        f"not read: {folder / 'pipe.eml'}: a FIFO (named pipe), not a mail file; not read",
        f"malformed: {folder}/evil\\e[2Jname.eml: empty file",  # escape shown, not obeyed
        f"Message-ID conflict: {folder / 'conflict.eml'}: <ok-1@example.com> is already used "
        f"by a different message ({folder / '1.eml'}); imported separately as mail 3",
    ])
