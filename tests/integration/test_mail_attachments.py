"""Mail with attachments named by sha256 and iMIP invitations: built, sent to a real SMTP
server (aiosmtpd) and parsed back; the bytes that arrive are the bytes approved."""

from __future__ import annotations

import email
import email.policy
import hashlib
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from solodesk.actions.invoicing import issue_invoice
from solodesk.actions.mime import (
    Attachment,
    AttachmentMismatch,
    CalendarPart,
    attachment_ref,
    build_mime,
    load_attachments,
)
from solodesk.core.actions import Provenance, payload_sha256
from solodesk.core.attachments import AttachmentRef, attachment_errors
from solodesk.core.calendar import Invitation, build_ics, parse_ics
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.mail import new_message_id
from solodesk.store.db import connect
from solodesk.store.repos import Store
from tests.support.invoices import draft
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

FROM = "Ada Founder <ada@solodesk.example>"


def payload(**extra: object) -> dict[str, object]:
    return {
        "to": ["Acme Billing <billing@acme.example>"],
        "cc": [],
        "subject": "Invoice 2026-0001",
        "body": "Hello,\n\nplease find attached invoice 2026-0001.\n\nAda",
        "message_id": new_message_id("solodesk.example"),
        **extra,
    }


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def attachments_of(msg: EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {
        # The transfer-decoded bytes, exactly as sent (get_content() would decode text).
        str(part.get_filename()): (part.get_content_type(), part.get_payload(decode=True))
        for part in msg.iter_attachments()
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(connect(tmp_path / "solodesk.db"))


def test_invoice_pdf_travels_as_the_approved_bytes(store: Store, smtp_server: SmtpSink) -> None:
    aid = store.actions.propose(
        kind=SEND_EMAIL, payload={}, agent="invoicing", summary="stand-in",
        provenance=Provenance("chat", None), idempotency_key="create-1",
    ).id
    invoice = issue_invoice(store, draft(), action_id=aid)
    assert invoice.pdf_sha256 is not None
    pdf_blob = store.blobs.get(invoice.pdf_sha256)
    ref = AttachmentRef(sha256=pdf_blob.sha256, filename=f"Invoice {invoice.number}.pdf",
                        media_type="application/pdf", size=pdf_blob.size)
    p = payload(attachments=[ref.model_dump()])
    approved_sha = payload_sha256(p)  # what the founder approves covers the PDF's sha256

    # At execution: the payload is re-hashed, the bytes loaded and checked, the mail sent.
    assert payload_sha256(p) == approved_sha
    refs = [AttachmentRef.model_validate(a) for a in p["attachments"]]  # type: ignore[attr-defined]
    msg = build_mime(p, FROM, load_attachments(store.blobs, refs))
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    (received,) = smtp_server.messages
    got = parse(received.raw)
    assert got["Message-ID"] == p["message_id"] and got["Subject"] == "Invoice 2026-0001"
    assert got.get_body(("plain",)).get_content().startswith("Hello,")  # type: ignore[union-attr]
    (name, (ctype, data)), = attachments_of(got).items()
    assert (name, ctype) == ("Invoice 2026-0001.pdf", "application/pdf")
    assert hashlib.sha256(data).hexdigest() == invoice.pdf_sha256 == ref.sha256
    assert data == store.invoices.pdf(invoice)


def test_bytes_that_are_not_the_approved_ones_are_refused(store: Store) -> None:
    data = b"%PDF-1.7 approved"
    ref = attachment_ref(data, filename="a.pdf", media_type="application/pdf")
    with pytest.raises(AttachmentMismatch, match="not the ones approved"):
        build_mime(payload(), FROM, [Attachment(ref, b"%PDF-1.7 swapped!")])
    store.blobs.put(data, media_type="application/pdf")
    wrong_size = ref.model_copy(update={"size": ref.size + 1})
    with pytest.raises(AttachmentMismatch, match="approved"):
        load_attachments(store.blobs, [wrong_size])


def test_attachment_refs_are_checked() -> None:
    sha = "a" * 64
    for bad in ["../etc/passwd", "a/b.pdf", "x\r\n.pdf", "..", 'what?.pdf']:
        with pytest.raises(ValidationError, match="not a plain file name"):
            AttachmentRef(sha256=sha, filename=bad, media_type="application/pdf", size=1)
    with pytest.raises(ValidationError):
        AttachmentRef(sha256="ABC", filename="a.pdf", media_type="application/pdf", size=1)
    refs = [AttachmentRef(sha256=sha, filename="a.pdf", media_type="application/pdf", size=1),
            AttachmentRef(sha256=sha, filename="A.PDF", media_type="application/pdf",
                          size=20_000_000)]
    errors = attachment_errors(refs)
    assert errors[0] == "attachments[2]: 'A.PDF' has the same name as attachments[1]"
    assert errors[1].startswith("attachments: 20,000,001 bytes in total")


def test_several_attachments_keep_names_types_and_bytes() -> None:
    files = [(b"\x00\x01binary\xff", "data.bin", "application/octet-stream"),
             ("Grüße, naïve café".encode(), "notes – März.txt", "text/plain"),
             (b"%PDF-1.7 x", "Invoice 2026-0001.pdf", "application/pdf")]
    atts = [Attachment(attachment_ref(d, filename=n, media_type=t), d) for d, n, t in files]
    got = attachments_of(parse(build_mime(payload(), FROM, atts).as_bytes()))
    assert set(got) == {n for _, n, _ in files}
    for data, name, ctype in files:
        assert got[name] == (ctype, data)


def test_invitation_round_trips_through_the_mail() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    inv = Invitation(
        uid="meeting-1@solodesk.example", summary="Workshop kick-off — Café",
        start=datetime(2026, 3, 30, 10, tzinfo=berlin),
        end=datetime(2026, 3, 30, 11, tzinfo=berlin), timezone="Europe/Berlin",
        organizer=FROM, attendees=("Marta Kowalski <marta.kowalski@example.com>",),
        description="Let's plan the workshop.", location="Berlin office",
    )
    ics = build_ics(inv)
    p = payload(subject="Invitation: Workshop kick-off — Café",
                body="Hi Marta,\n\nhere is the invitation.\n\nAda")
    raw = build_mime(p, FROM, calendar=CalendarPart(ics)).as_bytes()
    msg = parse(raw)
    parts = {part.get_content_type(): part for part in msg.walk()}
    cal_part = parts["text/calendar"]
    assert cal_part["Content-Transfer-Encoding"] == "quoted-printable"
    assert cal_part.get_param("method") == "REQUEST"
    assert str(cal_part.get_param("charset")).lower() == "utf-8"
    back = parse_ics(cal_part.get_content().encode("utf-8"))
    (event,) = back.events
    assert str(event["UID"]) == "meeting-1@solodesk.example"
    assert str(event["SUMMARY"]) == "Workshop kick-off — Café"
    assert event.start.astimezone(UTC) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert event.end - event.start == timedelta(hours=1)
    # The same object also travels as invite.ics for clients that only show attachments.
    name, (ctype, data) = next(iter(attachments_of(msg).items()))
    assert (name, ctype) == ("invite.ics", "application/ics")
    assert parse_ics(data).events[0]["UID"] == event["UID"]
    # The plain-text body is still the mail's main text.
    assert msg.get_body(("plain",)).get_content().startswith("Hi Marta")  # type: ignore[union-attr]


def test_invitation_payload_is_sent_as_imip(smtp_server: SmtpSink) -> None:
    from solodesk.actions.mime import invitation_message
    from solodesk.core.calendar import invitation_payload

    berlin = ZoneInfo("Europe/Berlin")
    inv = Invitation(
        uid="meeting-2@solodesk.example", summary="Intro call",
        start=datetime(2026, 10, 26, 9, 30, tzinfo=berlin),  # first day back on CET
        end=datetime(2026, 10, 26, 10, 0, tzinfo=berlin), timezone="Europe/Berlin",
        organizer=FROM, attendees=("Marta Kowalski <marta.kowalski@example.com>",
                                   "bob@example.org"),
    )
    p = invitation_payload(inv, message_id="<inv-2@solodesk.example>")
    msg = invitation_message(p, FROM)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    (received,) = smtp_server.messages
    assert sorted(received.rcpt_tos) == ["bob@example.org", "marta.kowalski@example.com"]
    got = parse(received.raw)
    assert got["Message-ID"] == "<inv-2@solodesk.example>"
    assert got["Subject"] == "Invitation: Intro call @ Mon 26 Oct 2026 09:30 (Europe/Berlin)"
    cal_part = next(part for part in got.walk() if part.get_content_type() == "text/calendar")
    (event,) = parse_ics(cal_part.get_content().encode("utf-8")).events
    assert event.start.astimezone(UTC) == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)
    assert str(event["UID"]) == "meeting-2@solodesk.example"
    assert got.get_body(("plain",)).get_content().startswith("You are invited to Intro call.")  # type: ignore[union-attr]
