"""Issued invoices in SQLite: gapless numbers enforced by the database, never changed or deleted,
credit notes, customers, blobs, payments and reminders."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from solodesk.core.actions import Provenance
from solodesk.core.invoice import InvoiceError, credit_note_for
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.matching import PaymentStatus
from solodesk.store.blobs import BlobCorrupt
from solodesk.store.db import connect
from solodesk.store.repos import NotFound, Store
from tests.support.invoices import ACME, GLOBEX, draft, line


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def action(store: Store, n: int = 1) -> int:
    """A stored action id (invoices reference the approved proposal that issued them)."""
    return store.actions.propose(
        kind=SEND_EMAIL,
        payload={"n": n},
        agent="invoicing",
        summary=f"stand-in for a create_invoice proposal {n}",
        provenance=Provenance("chat", None),
        idempotency_key=f"k{n}",
    ).id


def sequence(store: Store, year: int) -> int | None:
    row = store.db.execute("SELECT last FROM invoice_sequences WHERE year = ?", [year]).fetchone()
    return None if row is None else int(row[0])


def test_numbers_are_gapless_per_year_and_stored_with_the_xml(store: Store) -> None:
    a = store.invoices.issue(draft(), action_id=action(store, 1))
    b = store.invoices.issue(draft(customer=GLOBEX), action_id=None)
    c = store.invoices.issue(draft(issue_date=date(2027, 1, 4), due_date=date(2027, 1, 18)),
                             action_id=None)
    assert [a.number, b.number, c.number] == ["2026-0001", "2026-0002", "2027-0001"]
    assert store.invoices.xml(a).startswith(b'<?xml') and b"2026-0001" in store.invoices.xml(a)
    assert store.blobs.get(a.xml_sha256).media_type == "application/xml"
    assert [i.number for i in store.invoices.all()] == ["2026-0001", "2026-0002", "2027-0001"]
    assert store.invoices.by_number("2026-0002") == b
    assert store.invoices.get(a.id).totals == a.totals
    assert store.audit.verify() == []


def test_issue_is_exactly_once_per_action(store: Store) -> None:
    aid = action(store)
    first = store.invoices.issue(draft(), action_id=aid)
    again = store.invoices.issue(draft(), action_id=aid)
    assert again == first and sequence(store, 2026) == 1
    events = [e["event"] for e in store.audit.entries() if e["event"] == "invoice_issued"]
    assert events == ["invoice_issued"]


def test_an_invalid_draft_allocates_no_number(store: Store) -> None:
    with pytest.raises(InvoiceError, match=r"invoice not issued: .*lines\[1\]\.vat_rate"):
        store.invoices.issue(draft(lines=[line(vat_rate="0")]), action_id=None)
    assert sequence(store, 2026) is None
    assert store.invoices.issue(draft(), action_id=None).number == "2026-0001"


def test_numbers_follow_the_dates(store: Store) -> None:
    store.invoices.issue(draft(issue_date=date(2026, 3, 10), due_date=date(2026, 3, 24)),
                         action_id=None)
    with pytest.raises(InvoiceError, match="before invoice 2026-0001 of 2026-03-10"):
        store.invoices.issue(draft(), action_id=None)  # dated 2026-03-02
    assert sequence(store, 2026) == 1


def test_the_database_refuses_changes_gaps_and_reuse(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    db = store.db.conn
    with pytest.raises(sqlite3.IntegrityError, match="never changed"):
        db.execute("UPDATE invoices SET grand_total = 1 WHERE id = ?", [inv.id])
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        db.execute("DELETE FROM invoices WHERE id = ?", [inv.id])
    with pytest.raises(sqlite3.IntegrityError, match="moves forward by one"):
        db.execute("UPDATE invoice_sequences SET last = last + 2 WHERE year = 2026")
    with pytest.raises(sqlite3.IntegrityError, match="moves forward by one"):
        db.execute("UPDATE invoice_sequences SET last = last - 1 WHERE year = 2026")
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        db.execute("DELETE FROM invoice_sequences")
    with pytest.raises(sqlite3.IntegrityError, match="starts at 1"):
        db.execute("INSERT INTO invoice_sequences (year, last) VALUES (2030, 5)")
    db.execute("UPDATE invoice_sequences SET last = 2 WHERE year = 2026")  # allocate 2 ...
    with pytest.raises(sqlite3.IntegrityError, match="not used yet"):  # ... and skip it
        db.execute("UPDATE invoice_sequences SET last = 3 WHERE year = 2026")
    row = db.execute("SELECT * FROM invoices WHERE id = ?", [inv.id]).fetchone()
    cols = [d[0] for d in db.execute("SELECT * FROM invoices").description]
    values = dict(zip(cols, row, strict=True))
    values.update(id=None, number="2026-0003", seq=3)  # a number not allocated
    marks = ",".join("?" * len(cols))
    with pytest.raises(sqlite3.IntegrityError, match="takes the number just allocated"):
        db.execute(f"INSERT INTO invoices ({','.join(cols)}) VALUES ({marks})",
                   [values[c] for c in cols])
    values.update(number="2026-0001", seq=1)  # reuse
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(f"INSERT INTO invoices ({','.join(cols)}) VALUES ({marks})",
                   [values[c] for c in cols])
    db.rollback()


def test_credit_note_cancels_an_invoice_once(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    assert store.invoices.state(inv.id).status is PaymentStatus.OPEN
    cn = store.invoices.issue(credit_note_for(inv, issue_date=date(2026, 3, 5)),
                              action_id=None)
    assert cn.number == "2026-0002" and cn.draft.preceding_invoice == inv.number
    state = store.invoices.state(inv.id)
    assert state.status is PaymentStatus.CANCELLED and state.cancelled_by == "2026-0002"
    with pytest.raises(InvoiceError, match="already cancelled by credit note 2026-0002"):
        store.invoices.issue(credit_note_for(inv, issue_date=date(2026, 3, 6)), action_id=None)
    with pytest.raises(InvoiceError, match="is a credit note itself"):
        store.invoices.issue(credit_note_for(cn, issue_date=date(2026, 3, 6)), action_id=None)
    unknown = credit_note_for(inv, issue_date=date(2026, 3, 6)).model_copy(
        update={"preceding_invoice": "2026-0099"})
    with pytest.raises(InvoiceError, match="there is no invoice '2026-0099'"):
        store.invoices.issue(unknown, action_id=None)
    assert sequence(store, 2026) == 2
    assert [s.number for s in store.invoices.states()] == ["2026-0001"]  # credit notes: none
    assert store.invoices.states(open_only=True) == []


def test_customers_from_invoices_and_by_hand(store: Store) -> None:
    manual = store.customers.add(GLOBEX)
    assert manual.source == "manual"
    with pytest.raises(InvoiceError, match="exists already"):
        store.customers.add(GLOBEX.model_copy(update={"name": "  globex   LTD "}))
    inv = store.invoices.issue(draft(), action_id=None)
    moved = ACME.model_copy(update={"email": "new@acme.example"})
    store.invoices.issue(draft(customer=moved), action_id=None)
    names = [(c.customer.name, c.source, c.customer.email) for c in store.customers.all()]
    assert names == [("Acme SARL", "invoice", "new@acme.example"),
                     ("Globex Ltd", "manual", "ap@globex.example")]
    assert inv.customer_id == store.customers.find("acme sarl").id
    assert store.customers.find("glob").customer == GLOBEX
    assert store.customers.find(f"#{manual.id}").id == manual.id
    store.customers.add(GLOBEX.model_copy(update={"name": "Globex Holdings"}))
    with pytest.raises(NotFound, match="matches several customers"):
        store.customers.find("globex")
    with pytest.raises(NotFound, match="no customer 'Initech'"):
        store.customers.find("Initech")


def test_pdf_is_recorded_once_and_read_back_verified(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    assert store.invoices.pdf(inv) is None
    sha = store.invoices.record_pdf(inv.id, b"%PDF-1.7 first")
    assert store.invoices.record_pdf(inv.id, b"%PDF-1.7 second") == sha  # first one counts
    again = store.invoices.get(inv.id)
    assert again.pdf_sha256 == sha and store.invoices.pdf(again) == b"%PDF-1.7 first"
    with pytest.raises(sqlite3.IntegrityError, match="never changed"):
        store.db.conn.execute("UPDATE invoice_pdfs SET pdf_sha256 = 'x'")


def test_blobs_are_content_addressed_and_verified(store: Store) -> None:
    sha = store.blobs.put(b"hello", media_type="text/plain", filename="a.txt")
    assert store.blobs.put(b"hello", media_type="text/plain", filename="b.txt") == sha
    blob = store.blobs.get(sha)
    assert (blob.data, blob.filename, blob.size) == (b"hello", "a.txt", 5)
    with pytest.raises(sqlite3.IntegrityError, match="never changed"):
        store.db.conn.execute("UPDATE blobs SET data = x'00'")
    with pytest.raises(NotFound):
        store.blobs.get("0" * 64)
    with pytest.raises(ValueError, match="not a media type"):
        store.blobs.put(b"x", media_type="pdf")
    # Someone with write access to the file alters the bytes behind the trigger's back.
    store.db.conn.execute("DROP TRIGGER blobs_no_update")
    store.db.conn.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", [b"HELLO", sha])
    with pytest.raises(BlobCorrupt, match="no longer match"):
        store.blobs.get(sha)


def test_payments_partial_then_full_exactly_once(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    total = inv.totals.due_payable
    a1, a2 = action(store, 1), action(store, 2)
    s = store.invoices.record_payment(inv.id, amount=50000, currency="EUR",
                                      paid_on=date(2026, 3, 10), action_id=a1)
    assert (s.status, s.outstanding) == (PaymentStatus.PARTLY_PAID, total - 50000)
    assert store.invoices.record_payment(inv.id, amount=50000, currency="EUR",
                                         paid_on=date(2026, 3, 10), action_id=a1) == s
    s = store.invoices.record_payment(inv.id, amount=total - 50000, currency="EUR",
                                      paid_on=date(2026, 3, 12), action_id=a2)
    assert (s.status, s.outstanding) == (PaymentStatus.PAID, 0)
    with pytest.raises(InvoiceError, match="in EUR, the payment in USD"):
        store.invoices.record_payment(inv.id, amount=1, currency="USD", paid_on=date(2026, 3, 12))
    with pytest.raises(InvoiceError, match="positive amount"):
        store.invoices.record_payment(inv.id, amount=0, currency="EUR", paid_on=date(2026, 3, 12))


def test_no_payment_on_a_cancelled_invoice(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    store.invoices.issue(credit_note_for(inv, issue_date=date(2026, 3, 3)), action_id=None)
    with pytest.raises(InvoiceError, match="cancelled by credit note 2026-0002"):
        store.invoices.record_payment(inv.id, amount=100, currency="EUR",
                                      paid_on=date(2026, 3, 4))


def test_reminders_are_recorded_once_per_action(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    aid = action(store)
    store.invoices.record_reminder(inv.id, sent_on=date(2026, 3, 23), action_id=aid)
    store.invoices.record_reminder(inv.id, sent_on=date(2026, 3, 23), action_id=aid)
    store.invoices.record_reminder(inv.id, sent_on=date(2026, 4, 6))
    assert store.invoices.reminders(inv.id) == [date(2026, 3, 23), date(2026, 4, 6)]
    assert store.invoices.state(inv.id).reminders_sent == (date(2026, 3, 23), date(2026, 4, 6))
