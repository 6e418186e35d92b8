"""The command line on real-world-shaped mail: ``inbox show`` shows the true sender, an unknown
date and the sender warnings; ``inbox approve`` refuses up front when sending cannot work and,
for a failed send approved again, either sends or says why not on stderr."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds.mail import REPLY_EMAIL
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import run_cli
from tests.support.net import free_port
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


@pytest.fixture
def cli_home(home: Path, smtp_server: SmtpSink) -> Path:
    cfg = Config(home_paths(home).config_file)
    for key, value in {
        "smtp.host": "127.0.0.1",
        "smtp.port": str(smtp_server.port),
        "smtp.security": "none",
        "smtp.from": "Ada Founder <ada@solodesk.example>",
    }.items():
        cfg.set(key, value)
    return home


@pytest.fixture
def store(cli_home: Path) -> Iterator[Store]:
    s = Store(connect(home_paths(cli_home).ensure().database))
    yield s
    s.close()


def reply_to(store: Store, name: str, *, to: str = "someone@example.com") -> int:
    """Import a sample and store a pending reply to it (as triage would)."""
    (mail_id,) = import_mail(DATA / name, store.mail).imported
    mail = store.mail.get(mail_id)
    payload = {
        "to": [to],
        "cc": [],
        "subject": f"Re: {mail.subject}",
        "body": "Hello,\n\nthanks, I will look into it.\n\nAda",
        "message_id": f"<reply-{mail_id}@solodesk.example>",
        "in_reply_to": "",
        "references": [],
        "source_mail_id": mail_id,
    }
    action = store.actions.propose(
        kind=REPLY_EMAIL,
        payload=payload,
        agent="support",
        summary="reply",
        provenance=Provenance("mail", mail_id, untrusted=True),
        idempotency_key=payload["message_id"],
    )
    return action.id


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("solodesk: "), result.stderr
    return lines[0]


def test_inbox_show_source_has_true_sender_unknown_date_and_warnings(
    cli_home: Path, store: Store
) -> None:
    action_id = reply_to(store, "missing_date_no_message_id.eml")
    out = run_cli(cli_home, "inbox", "show", str(action_id)).stdout
    assert "Date: unknown" in out and "Date: None" not in out

    action_id = reply_to(store, "display_name_is_address.eml", to="ivan@example.org")
    out = run_cli(cli_home, "inbox", "show", str(action_id)).stdout
    assert 'From: bob@example.net (display name "alice@example.com" is not this address)' in out
    assert "⚠ sender: From display name shows alice@example.com but the address is " \
        "bob@example.net" in out

    action_id = reply_to(store, "phish_lookalike_reply_to.eml")
    out = run_cli(cli_home, "inbox", "show", str(action_id)).stdout
    assert "⚠ sender: Reply-To look-alike domain: aquiIlaindustries.com looks like " \
        "aquillaindustries.com" in out


def test_approve_is_refused_up_front_when_smtp_is_not_set_up(
    cli_home: Path, store: Store, smtp_server: SmtpSink
) -> None:
    action_id = reply_to(store, "broken_date.eml")
    Config(home_paths(cli_home).config_file).set("smtp.host", "")
    line = error_line(run_cli(cli_home, "inbox", "approve", str(action_id), "--now"))
    assert f"#{action_id} not approved: sending cannot work yet, so it stays as it is: no " \
        "SMTP server: set smtp.host" in line
    assert store.actions.get(action_id).status is ActionStatus.PENDING
    assert smtp_server.messages == []


def test_approving_a_failed_send_again_sends_or_says_why_not(
    cli_home: Path, store: Store, smtp_server: SmtpSink
) -> None:
    action_id = reply_to(store, "broken_date.eml")
    cfg = Config(home_paths(cli_home).config_file)
    cfg.set("smtp.port", str(free_port()))  # nothing listens there: the send fails
    line = error_line(run_cli(cli_home, "inbox", "approve", str(action_id), "--now"))
    assert f"#{action_id} was not sent (failed): cannot connect to 127.0.0.1" in line
    assert store.actions.get(action_id).status is ActionStatus.FAILED

    again = run_cli(cli_home, "inbox", "approve", str(action_id), "--now")  # still down
    assert "was not sent (failed): cannot connect" in error_line(again)
    assert "run 'solodesk inbox approve" in error_line(again)

    cfg.set("smtp.port", str(smtp_server.port))  # fixed: approving again sends it, once
    sent = run_cli(cli_home, "inbox", "approve", str(action_id), "--now")
    assert sent.returncode == 0, sent.stderr
    assert "[executed]" in sent.stdout
    assert len(smtp_server.messages) == 1
