"""The generic outbox with per-kind executors: a mail with attachments named by sha256 sent
through the outbox to a real SMTP server (aiosmtpd), blobs re-hashed before execution, and
preflight checks per kind."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
from pathlib import Path

import pytest

from solodesk.actions import executors
from solodesk.actions.mime import attachment_ref
from solodesk.actions.outbox import Outbox
from solodesk.actions.smtp import SmtpSettings
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.mail import new_message_id
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.repos import Store
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

FROM = "Ada Founder <ada@solodesk.example>"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(connect(tmp_path / "solodesk.db"))


def outbox(store: Store, sink: SmtpSink) -> Outbox:
    settings = SmtpSettings(sink.host, sink.port, "none", "", FROM, timeout=10)
    return Outbox(
        store, Outbox.smtp_sender(lambda: settings, lambda: None, blobs=store.blobs)
    )


def propose_with_attachment(store: Store, data: bytes) -> int:
    sha = store.blobs.put(data, media_type="application/pdf", filename="offer.pdf")
    ref = attachment_ref(data, filename="Offer.pdf", media_type="application/pdf")
    assert ref.sha256 == sha
    payload = {
        "to": ["billing@acme.example"], "cc": [], "subject": "Our offer",
        "body": "Hello,\n\nthe offer is attached.\n\nAda",
        "message_id": new_message_id("solodesk.example"),
        "attachments": [ref.model_dump()],
    }
    action = store.actions.propose(
        kind=SEND_EMAIL, payload=payload, agent="manager", summary="Our offer",
        provenance=Provenance("chat", None), idempotency_key=payload["message_id"],
    )
    store.actions.approve(action.id, expected_sha256=action.payload_sha256)
    return action.id


def test_attachment_is_sent_as_the_approved_bytes(store: Store, smtp_server: SmtpSink) -> None:
    data = b"%PDF-1.7 the approved offer"
    action_id = propose_with_attachment(store, data)
    final = asyncio.run(outbox(store, smtp_server).execute(action_id))
    assert final.status is ActionStatus.EXECUTED, final.result
    assert final.result is not None and final.result["status"] == "sent"
    (received,) = smtp_server.messages
    msg = email.message_from_bytes(received.raw, policy=email.policy.default)
    (part,) = list(msg.iter_attachments())  # type: ignore[attr-defined]
    assert part.get_filename() == "Offer.pdf"
    assert hashlib.sha256(part.get_payload(decode=True)).hexdigest() == (
        hashlib.sha256(data).hexdigest()
    )


def test_changed_blob_is_refused_before_sending(store: Store, smtp_server: SmtpSink) -> None:
    data = b"%PDF-1.7 the approved offer"
    action_id = propose_with_attachment(store, data)
    sha = hashlib.sha256(data).hexdigest()
    # The bytes change in the database after approval (the blobs trigger refuses an UPDATE).
    for (name,) in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'blobs'"
    ).fetchall():
        store.db.execute(f"DROP TRIGGER {name}")
    swapped = b"%PDF-1.7 the swapped offer!"  # same size, other bytes
    store.db.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", [swapped, sha])
    final = asyncio.run(outbox(store, smtp_server).execute(action_id))
    assert final.status is ActionStatus.FAILED
    assert final.result is not None and "no longer match" in final.result["detail"]
    assert smtp_server.messages == []
    events = [e["event"] for e in store.audit.entries(action_id=action_id)]
    assert "blob_mismatch" in events and "executed" not in events


def test_mail_preflight_is_registered_with_its_executor(tmp_path: Path) -> None:
    from solodesk.store.secrets import SecretStore

    config = Config(tmp_path / "settings.json")
    ctx = executors.PreflightContext(config, SecretStore())
    store = Store(connect(tmp_path / "solodesk.db"))
    action = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"to": ["a@acme.example"], "cc": [], "subject": "Hi", "body": "Hello",
                 "message_id": new_message_id("solodesk.example")},
        agent="manager", summary="Hi", provenance=Provenance("chat", None),
        idempotency_key=None,
    )
    problems = executors.preflight(action, ctx)
    assert any("smtp.host" in p for p in problems)
    assert executors.has_executor(SEND_EMAIL)
