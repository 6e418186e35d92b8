"""Issued invoices with gapless numbers, their documents, payments and reminders; customers.

:meth:`InvoiceRepo.issue` allocates the next number of the year and stores the invoice and its
EN 16931 XML in one ``BEGIN IMMEDIATE`` transaction, exactly once per approved action. The
database enforces what matters (migration ``m006_invoices_invoices``): numbers 1..n per year
with no gap and no reuse, issued invoices and their PDFs never changed or deleted, at most one
credit note per invoice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

from solodesk.core.actions import utcnow
from solodesk.core.cii import cii_xml
from solodesk.core.invoice import (
    Customer,
    InvoiceDraft,
    InvoiceError,
    IssuedInvoice,
    compute_totals,
    invoice_number,
    validate_draft,
)
from solodesk.core.matching import InvoiceState
from solodesk.core.money import format_money
from solodesk.store.blobs import BlobRepo
from solodesk.store.db import StoreDatabase
from solodesk.store.repos import AuditLog, NotFound

Row = dict[str, Any]


def name_key(name: str) -> str:
    """How customer names are compared: case-folded, whitespace collapsed."""
    return " ".join(name.casefold().split())


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    """An entry of the customer list.

    Attributes:
        id: Row id.
        customer: Name, address, VAT id and e-mail (as on the latest invoice or as entered).
        source: ``manual`` (added by the founder) or ``invoice`` (learnt from an invoice).
        created_at: UTC timestamp.
        updated_at: UTC timestamp of the last change.
    """

    id: int
    customer: Customer
    source: str
    created_at: str
    updated_at: str


def _row_to_customer(row: Row) -> StoredCustomer:
    return StoredCustomer(
        id=int(row["id"]),
        customer=Customer.model_validate(
            {
                "name": row["name"],
                "address": json.loads(row["address"]),
                "vat_id": row["vat_id"],
                "email": row["email"],
            }
        ),
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class CustomerRepo:
    """The customer list: added by hand, and learnt from issued invoices."""

    def __init__(self, db: StoreDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def all(self) -> list[StoredCustomer]:
        """Every customer, by name."""
        return [
            _row_to_customer(r)
            for r in self.db.query("SELECT * FROM customers ORDER BY name_key, id")
        ]

    def get(self, customer_id: int) -> StoredCustomer:
        """Customer ``customer_id``.

        Raises:
            NotFound: no such customer.
        """
        rows = list(self.db.query("SELECT * FROM customers WHERE id = ?", [customer_id]))
        if not rows:
            raise NotFound(f"no customer #{customer_id}; see 'solodesk invoices customers list'")
        return _row_to_customer(rows[0])

    def find(self, text: str) -> StoredCustomer:
        """The customer named ``text`` (case-insensitive), with id ``text``, or the only one
        whose name starts with ``text``.

        Raises:
            NotFound: none, or several match (the message lists them).
        """
        text = text.strip()
        if text.lstrip("#").isdigit():
            return self.get(int(text.lstrip("#")))
        key = name_key(text)
        rows = list(self.db.query("SELECT * FROM customers WHERE name_key = ?", [key]))
        if not rows:
            rows = list(
                self.db.query(
                    "SELECT * FROM customers WHERE substr(name_key, 1, ?) = ? ORDER BY name_key",
                    [len(key), key],
                )
            )
        if len(rows) == 1:
            return _row_to_customer(rows[0])
        if not rows:
            raise NotFound(
                f"no customer {text!r}; add one with 'solodesk invoices customers add' or see "
                "'solodesk invoices customers list'"
            )
        names = ", ".join(f"#{r['id']} {r['name']}" for r in rows[:8])
        raise NotFound(f"{text!r} matches several customers ({names}); give the full name or #id")

    def add(self, customer: Customer, *, actor: str = "founder") -> StoredCustomer:
        """Add ``customer`` by hand.

        Raises:
            InvoiceError: a customer with that name exists already.
        """
        with self.db.write():
            now = utcnow()
            try:
                cur = self.db.execute(
                    "INSERT INTO customers (name, name_key, address, country, vat_id, email,"
                    " source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'manual', ?, ?)",
                    [*_customer_values(customer), now, now],
                )
            except sqlite3.IntegrityError:
                raise InvoiceError(f"a customer named {customer.name!r} exists already") from None
            cid = int(cast(int, cur.lastrowid))
            self.audit.append(
                "customer_added", action_id=None, actor=actor,
                detail={"id": cid, **customer.model_dump(mode="json")},
            )
        return self.get(cid)

    def remember(self, customer: Customer) -> int:
        """Record the customer of an invoice being issued (inside its transaction): a new
        entry, or the existing one of that name updated to the invoice's details.

        Returns:
            The customer's id.
        """
        now = utcnow()
        row = self.db.execute(
            "INSERT INTO customers (name, name_key, address, country, vat_id, email, source,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'invoice', ?, ?)"
            " ON CONFLICT (name_key) DO UPDATE SET name = excluded.name,"
            " address = excluded.address, country = excluded.country, vat_id = excluded.vat_id,"
            " email = excluded.email, updated_at = excluded.updated_at RETURNING id",
            [*_customer_values(customer), now, now],
        ).fetchone()
        return int(row[0])


def _customer_values(c: Customer) -> list[Any]:
    return [
        c.name.strip(),
        name_key(c.name),
        json.dumps(c.address.model_dump(mode="json"), sort_keys=True),
        c.address.country,
        c.vat_id,
        c.email,
    ]


class InvoiceRepo:
    """Issued invoices and credit notes, their XML/PDF, payments and reminders."""

    def __init__(
        self, db: StoreDatabase, audit: AuditLog, blobs: BlobRepo, customers: CustomerRepo
    ) -> None:
        self.db = db
        self.audit = audit
        self.blobs = blobs
        self.customers = customers

    # -- issuing -------------------------------------------------------------------------------
    def issue(
        self, draft: InvoiceDraft, *, action_id: int | None, actor: str = "founder"
    ) -> IssuedInvoice:
        """Give ``draft`` the next number of its year and store it, with its EN 16931 XML.

        Exactly once per approval: issuing again with the same ``action_id`` (an outbox retry
        after a crash) returns the invoice already issued and allocates nothing.

        Numbers follow the issue dates: a draft dated before the year's latest invoice is
        refused (a number must not precede an earlier-dated one).

        Args:
            draft: A valid draft (see :func:`~solodesk.core.invoice.validate_draft`); a credit
                note names the invoice it cancels in ``preceding_invoice``.
            action_id: The approved ``create_invoice`` proposal (``None`` for tests and tools).
            actor: Who issued it (audit trail).

        Returns:
            The issued invoice (``pdf_sha256`` is ``None`` until :meth:`record_pdf`).

        Raises:
            InvoiceError: the draft is invalid (the message lists every error with its field),
                it predates the year's latest invoice, or a credit note's invoice is unknown,
                already cancelled, or in another currency.
        """
        errors = validate_draft(draft)
        if errors:
            raise InvoiceError("invoice not issued: " + "; ".join(errors))
        totals = compute_totals(draft)
        year = draft.issue_date.year
        with self.db.write():
            if action_id is not None:
                row = self.db.execute(
                    "SELECT id FROM invoices WHERE action_id = ?", [action_id]
                ).fetchone()
                if row is not None:
                    return self.get(int(row[0]))
            latest = self.db.execute(
                "SELECT issue_date, number FROM invoices WHERE year = ?"
                " ORDER BY issue_date DESC, seq DESC LIMIT 1",
                [year],
            ).fetchone()
            if latest is not None and draft.issue_date.isoformat() < latest[0]:
                raise InvoiceError(
                    f"invoice not issued: its date {draft.issue_date} is before invoice "
                    f"{latest[1]} of {latest[0]}; numbers follow the dates, so date it "
                    f"{latest[0]} or later"
                )
            preceding_id = self._check_preceding(draft) if draft.is_credit_note else None
            seq = int(
                self.db.execute(
                    "INSERT INTO invoice_sequences (year, last) VALUES (?, 1)"
                    " ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
                    [year],
                ).fetchone()[0]
            )
            number = invoice_number(year, seq)
            customer_id = self.customers.remember(draft.customer)
            issued = IssuedInvoice(
                id=0, number=number, draft=draft, totals=totals, action_id=action_id,
                customer_id=customer_id, xml_sha256="", pdf_sha256=None, created_at=utcnow(),
            )
            xml = cii_xml(issued)
            xml_sha = self.blobs.put(xml, media_type="application/xml",
                                     filename=f"{number}.xml")
            cur = self.db.execute(
                "INSERT INTO invoices (number, year, seq, type_code, issue_date, due_date,"
                " currency, customer_id, customer_name, buyer_reference, net_total, tax_total,"
                " grand_total, preceding_id, document, xml_sha256, action_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    number, year, seq, draft.type_code.value, draft.issue_date.isoformat(),
                    draft.due_date.isoformat() if draft.due_date else None, draft.currency,
                    customer_id, draft.customer.name, draft.buyer_reference,
                    totals.tax_basis_total, totals.tax_total, totals.grand_total, preceding_id,
                    draft.model_dump_json(), xml_sha, action_id, issued.created_at,
                ],
            )
            issued = replace(issued, id=int(cast(int, cur.lastrowid)), xml_sha256=xml_sha)
            self.audit.append(
                "invoice_issued",
                action_id=action_id,
                actor=actor,
                detail={
                    "number": number,
                    "type_code": draft.type_code.value,
                    "customer": draft.customer.name,
                    "currency": draft.currency,
                    "grand_total": totals.grand_total,
                    "xml_sha256": xml_sha,
                    "cancels": draft.preceding_invoice or None,
                },
            )
        return issued

    def _check_preceding(self, draft: InvoiceDraft) -> int:
        rows = list(
            self.db.query(
                "SELECT id, type_code, currency FROM invoices WHERE number = ?",
                [draft.preceding_invoice],
            )
        )
        if not rows:
            raise InvoiceError(
                f"credit note not issued: there is no invoice {draft.preceding_invoice!r}"
            )
        r = rows[0]
        if r["type_code"] != "380":
            raise InvoiceError(
                f"credit note not issued: {draft.preceding_invoice} is a credit note itself"
            )
        if r["currency"] != draft.currency:
            raise InvoiceError(
                f"credit note not issued: invoice {draft.preceding_invoice} is in "
                f"{r['currency']}, the credit note in {draft.currency}"
            )
        done = self.db.execute(
            "SELECT number FROM invoices WHERE preceding_id = ?", [r["id"]]
        ).fetchone()
        if done is not None:
            raise InvoiceError(
                f"credit note not issued: invoice {draft.preceding_invoice} is already "
                f"cancelled by credit note {done[0]}"
            )
        return int(r["id"])

    def record_pdf(self, invoice_id: int, pdf: bytes, *, actor: str = "founder") -> str:
        """Store the PDF of invoice ``invoice_id`` and record its sha256, once.

        If a PDF is already recorded (a retry after a crash), the stored one stays and its
        sha256 is returned: the first PDF is the one that counts.

        Returns:
            The sha256 of the recorded PDF.

        Raises:
            NotFound: no such invoice.
        """
        invoice = self.get(invoice_id)
        with self.db.write():
            row = self.db.execute(
                "SELECT pdf_sha256 FROM invoice_pdfs WHERE invoice_id = ?", [invoice_id]
            ).fetchone()
            if row is not None:
                return str(row[0])
            sha = self.blobs.put(pdf, media_type="application/pdf",
                                 filename=f"{invoice.number}.pdf")
            self.db.execute(
                "INSERT INTO invoice_pdfs (invoice_id, pdf_sha256, created_at) VALUES (?, ?, ?)",
                [invoice_id, sha, utcnow()],
            )
            self.audit.append(
                "invoice_pdf_recorded", action_id=invoice.action_id, actor=actor,
                detail={"number": invoice.number, "pdf_sha256": sha, "bytes": len(pdf)},
            )
        return sha

    # -- reading -------------------------------------------------------------------------------
    def get(self, invoice_id: int) -> IssuedInvoice:
        """Invoice ``invoice_id``.

        Raises:
            NotFound: no such invoice.
        """
        found = self._load("i.id = ?", [invoice_id])
        if not found:
            raise NotFound(f"no invoice #{invoice_id}")
        return found[0]

    def by_number(self, number: str) -> IssuedInvoice:
        """The invoice numbered ``number`` (``2026-0001``), or with row id ``number``.

        Raises:
            NotFound: no such invoice.
        """
        found = self._load("i.number = ?", [number.strip()])
        if not found and number.strip().lstrip("#").isdigit():
            found = self._load("i.id = ?", [int(number.strip().lstrip("#"))])
        if not found:
            raise NotFound(f"no invoice {number!r}; see 'solodesk invoices list'")
        return found[0]

    def all(self, *, year: int | None = None) -> list[IssuedInvoice]:
        """Issued invoices and credit notes by number."""
        if year is None:
            return self._load("1 = 1", [])
        return self._load("i.year = ?", [year])

    def _load(self, where: str, params: Sequence[Any]) -> list[IssuedInvoice]:
        out = []
        for r in self.db.query(
            "SELECT i.*, p.pdf_sha256 FROM invoices i LEFT JOIN invoice_pdfs p"
            f" ON p.invoice_id = i.id WHERE {where} ORDER BY i.year, i.seq",
            list(params),
        ):
            draft = InvoiceDraft.model_validate_json(r["document"])
            out.append(
                IssuedInvoice(
                    id=int(r["id"]),
                    number=r["number"],
                    draft=draft,
                    totals=compute_totals(draft),
                    action_id=r["action_id"],
                    customer_id=r["customer_id"],
                    xml_sha256=r["xml_sha256"],
                    pdf_sha256=r["pdf_sha256"],
                    created_at=r["created_at"],
                )
            )
        return out

    def xml(self, invoice: IssuedInvoice) -> bytes:
        """The stored EN 16931 XML of ``invoice`` (hash-verified)."""
        return self.blobs.get(invoice.xml_sha256).data

    def pdf(self, invoice: IssuedInvoice) -> bytes | None:
        """The stored PDF of ``invoice`` (hash-verified), ``None`` if not rendered yet."""
        if invoice.pdf_sha256 is None:
            return None
        return self.blobs.get(invoice.pdf_sha256).data

    # -- payments and reminders ----------------------------------------------------------------
    def states(self, *, open_only: bool = False) -> list[InvoiceState]:
        """Payment state of every invoice (type 380): total, paid, cancelled.

        Args:
            open_only: Only invoices with money outstanding and not cancelled.
        """
        rows = self.db.query(
            "SELECT i.id, i.number, i.customer_name, i.currency, i.grand_total, i.issue_date,"
            " i.due_date, i.buyer_reference,"
            " (SELECT coalesce(sum(amount), 0) FROM invoice_payments p"
            "   WHERE p.invoice_id = i.id) AS paid,"
            " (SELECT c.number FROM invoices c WHERE c.preceding_id = i.id) AS credit_note,"
            " (SELECT max(sent_on) FROM invoice_reminders r WHERE r.invoice_id = i.id)"
            "   AS last_reminder,"
            " (SELECT count(*) FROM invoice_reminders r WHERE r.invoice_id = i.id) AS reminders"
            " FROM invoices i WHERE i.type_code = '380' ORDER BY i.year, i.seq"
        )
        out = []
        for r in rows:
            state = InvoiceState(
                invoice_id=int(r["id"]),
                number=r["number"],
                customer_name=r["customer_name"],
                currency=r["currency"],
                total=int(r["grand_total"]),
                paid=int(r["paid"]),
                issue_date=date.fromisoformat(r["issue_date"]),
                due_date=date.fromisoformat(r["due_date"]) if r["due_date"] else None,
                buyer_reference=r["buyer_reference"],
                cancelled_by=r["credit_note"] or "",
                reminders_sent=tuple(self.reminders(int(r["id"]))) if r["reminders"] else (),
            )
            if not open_only or state.is_open:
                out.append(state)
        return out

    def state(self, invoice_id: int) -> InvoiceState:
        """Payment state of invoice ``invoice_id`` (type 380).

        Raises:
            NotFound: no such invoice, or it is a credit note.
        """
        for s in self.states():
            if s.invoice_id == invoice_id:
                return s
        raise NotFound(f"no invoice #{invoice_id} (credit notes have no payment state)")

    def record_payment(
        self,
        invoice_id: int,
        *,
        amount: int,
        currency: str,
        paid_on: date,
        bank_line_id: int | None = None,
        action_id: int | None = None,
        evidence: str = "",
        actor: str = "founder",
    ) -> InvoiceState:
        """Record a payment of ``amount`` minor units received for invoice ``invoice_id``.

        Exactly once per approval (same ``action_id``) and per bank line.

        Raises:
            NotFound: no such invoice.
            InvoiceError: a credit note, a cancelled invoice, another currency, a non-positive
                amount, or a bank line already recorded as a payment.
        """
        with self.db.write():
            if action_id is not None and self.db.execute(
                "SELECT 1 FROM invoice_payments WHERE action_id = ?", [action_id]
            ).fetchone():
                return self.state(invoice_id)
            state = self.state(invoice_id)
            if state.cancelled_by:
                raise InvoiceError(
                    f"invoice {state.number} is cancelled by credit note {state.cancelled_by}"
                )
            if currency != state.currency:
                raise InvoiceError(
                    f"invoice {state.number} is in {state.currency}, the payment in {currency}"
                )
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise InvoiceError(f"a payment is a positive amount in minor units: {amount!r}")
            try:
                self.db.execute(
                    "INSERT INTO invoice_payments (invoice_id, date, amount, currency,"
                    " bank_line_id, action_id, evidence, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [invoice_id, paid_on.isoformat(), amount, currency, bank_line_id,
                     action_id, evidence, utcnow()],
                )
            except sqlite3.IntegrityError as exc:
                if "bank_line_id" in str(exc):
                    raise InvoiceError(
                        f"bank line {bank_line_id} is already recorded as a payment"
                    ) from None
                raise
            self.audit.append(
                "invoice_payment_recorded", action_id=action_id, actor=actor,
                detail={"number": state.number, "amount": amount, "currency": currency,
                        "bank_line_id": bank_line_id, "evidence": evidence,
                        "shown": format_money(amount, currency)},
            )
        return self.state(invoice_id)

    def paid_line_ids(self) -> set[int]:
        """The bank lines already recorded as payment of an invoice."""
        return {
            int(r[0])
            for r in self.db.execute(
                "SELECT bank_line_id FROM invoice_payments WHERE bank_line_id IS NOT NULL"
            ).fetchall()
        }

    def reminders(self, invoice_id: int) -> list[date]:
        """Dates reminders were sent for invoice ``invoice_id``, oldest first."""
        return [
            date.fromisoformat(r[0])
            for r in self.db.execute(
                "SELECT sent_on FROM invoice_reminders WHERE invoice_id = ? ORDER BY sent_on, id",
                [invoice_id],
            ).fetchall()
        ]

    def record_reminder(
        self, invoice_id: int, *, sent_on: date, action_id: int | None = None,
        actor: str = "founder",
    ) -> None:
        """Record that a reminder for invoice ``invoice_id`` was sent on ``sent_on`` (once per
        approval)."""
        with self.db.write():
            if action_id is not None and self.db.execute(
                "SELECT 1 FROM invoice_reminders WHERE action_id = ?", [action_id]
            ).fetchone():
                return
            state = self.state(invoice_id)
            self.db.execute(
                "INSERT INTO invoice_reminders (invoice_id, sent_on, action_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                [invoice_id, sent_on.isoformat(), action_id, utcnow()],
            )
            self.audit.append(
                "invoice_reminder_recorded", action_id=action_id, actor=actor,
                detail={"number": state.number, "sent_on": sent_on.isoformat()},
            )


def invoice_repos(
    db: StoreDatabase, audit: AuditLog
) -> tuple[BlobRepo, CustomerRepo, InvoiceRepo]:
    """Blobs, customers and invoices over ``db``, auditing into ``audit`` (for
    :class:`~solodesk.store.repos.Store`)."""
    blobs = BlobRepo(db)
    customers = CustomerRepo(db, audit)
    return blobs, customers, InvoiceRepo(db, audit, blobs, customers)
