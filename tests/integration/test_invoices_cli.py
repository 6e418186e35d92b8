"""``solodesk invoices`` in a subprocess: customers, drafts, list/show/pdf/xml of issued invoices,
payment matches from an imported statement, reminders due."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import facturx
import pytest
from pypdf import PdfReader

from solodesk.actions.invoicing import issue_invoice
from solodesk.core.invoice import credit_note_for
from solodesk.core.references import creditor_reference
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import run_cli
from tests.support.invoices import ACME, GLOBEX, draft

pytestmark = pytest.mark.integration

COMPANY = {
    "company.name": "Inkwell Notes GmbH", "company.address_line1": "Hauptstraße 1",
    "company.postcode": "10115", "company.city": "Berlin", "company.country": "DE",
    "company.vat_id": "DE123456789", "company.iban": "DE89 3704 0044 0532 0130 00",
    "company.bic": "COBADEFFXXX", "company.email": "ada@inkwell.example",
}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def configured(home: Path) -> Path:
    for key, value in COMPANY.items():
        ok(run_cli(home, "config", "set", key, value))
    return home


@pytest.fixture
def store(configured: Path) -> Iterator[Store]:
    s = Store(connect(home_paths(configured).ensure().database))
    yield s
    s.close()


def test_customers_and_a_validated_draft(configured: Path) -> None:
    home = configured
    out = ok(run_cli(home, "invoices", "customers", "add", "Acme SARL", "--country", "fr",
                     "--line1", "1 rue de la Paix", "--postcode", "75002", "--city", "Paris",
                     "--vat-id", "FR 12345678901", "--email", "billing@acme.example"))
    assert out.strip() == "added customer #1 Acme SARL"
    err = fails(run_cli(home, "invoices", "customers", "add", "acme sarl", "--country", "FR"))
    assert err.strip() == "solodesk: a customer named 'acme sarl' exists already"
    err = fails(run_cli(home, "invoices", "customers", "add", "Bad", "--country", "France",
                        "--email", "nope"))
    assert "--country: 'France' is not an ISO 3166-1 alpha-2 code" in err
    assert "--email: 'nope' is not a valid email address" in err
    listed = ok(run_cli(home, "invoices", "customers", "list"))
    assert listed.strip() == (
        "#1    Acme SARL — 1 rue de la Paix, 75002 Paris, FR, VAT ID FR12345678901 "
        "<billing@acme.example>  [manual]"
    )

    out = ok(run_cli(home, "invoices", "draft", "--customer", "acme", "--date", "2026-03-02",
                     "--line", "Workshop: writing for developers;1;1200.00;19",
                     "--line", "Travel time;2.5;33.33;7;S;HUR", "--reference", "PO-4711"))
    lines = out.splitlines()
    assert lines[0] == ("Draft invoice to Acme SARL (FR), dated 2026-03-02, due 2026-03-16, "
                        "in EUR")
    assert lines[-1].startswith("valid: it can be issued")
    text = "\n".join(" ".join(line.split()) for line in lines)
    for expected in ["Total net 1,283.33 EUR", "VAT 7 % on 83.33 EUR 5.83 EUR",
                     "VAT 19 % on 1,200.00 EUR 228.00 EUR", "Total 1,517.16 EUR",
                     "2. Travel time 2.5 x 33.33 EUR 7 % 83.33 EUR"]:
        assert expected in text, (expected, text)

    payload = json.loads(ok(run_cli(
        home, "invoices", "draft", "--customer", "#1", "--date", "2026-03-02", "--json",
        "--line", "Workshop;1;1200.00;19")))
    assert payload["valid"] and payload["totals"]["grand_total"] == 142800
    assert payload["payload"]["seller"]["iban"] == "DE89370400440532013000"
    assert payload["payload"]["lines"][0]["quantity"] == "1"
    assert payload["payload"]["payment_terms"] == (
        "Payable within 14 days of the invoice date without deduction.")


def test_an_invalid_draft_lists_every_problem(configured: Path) -> None:
    home = configured
    ok(run_cli(home, "invoices", "customers", "add", "Globex Ltd", "--country", "GB"))
    err = fails(run_cli(home, "invoices", "draft", "--customer", "Globex",
                        "--line", "Consulting;1;100;0", "--line", "Books;2;10.00;0;AE",
                        "--due", "2020-01-01"))
    assert err.splitlines()[0] == "solodesk: this draft cannot be issued:"
    for expected in [
        "  - due_date: 2020-01-01 is before the issue date",
        "  - lines[1].vat_rate: category S (standard rate) needs a rate above 0",
        "  - customer.vat_id: required for category AE (reverse charge)",
    ]:
        assert any(line.startswith(expected) for line in err.splitlines()), err
    err = fails(run_cli(home, "invoices", "draft", "--customer", "Globex",
                        "--line", "Consulting;1;12.505;19"))
    assert "unit price: '12.505'" in err and "never rounds money" in err
    err = fails(run_cli(home, "invoices", "draft", "--customer", "Initech", "--line", "x;1;1;19"))
    assert "no customer 'Initech'" in err
    err = fails(run_cli(home, "invoices", "draft", "--customer", "Globex", "--line", "x;1"))
    assert "expected DESCRIPTION;QUANTITY;UNIT PRICE;VAT RATE" in err


def test_a_draft_from_unset_company_settings_says_what_to_set(home: Path) -> None:
    ok(run_cli(home, "invoices", "customers", "add", "Globex Ltd", "--country", "GB"))
    err = fails(run_cli(home, "invoices", "draft", "--customer", "Globex",
                        "--line", "Consulting;1;100;19"))
    lines = err.splitlines()
    assert lines[1] == ("  - seller.name: still the placeholder 'my company'; set it with "
                        "'solodesk config set company.name ...'")
    assert any(line.startswith("  - seller.address.country: '' is not an ISO 3166-1")
               for line in lines), err
    assert any(line.startswith("  - seller.iban: required so the customer can pay by bank "
                               "transfer (set it with 'solodesk config set company.iban")
               for line in lines), err


def test_list_show_pdf_and_xml_of_issued_invoices(configured: Path, store: Store,
                                                  tmp_path: Path) -> None:
    home = configured
    assert "no invoices" in ok(run_cli(home, "invoices", "list"))
    a = issue_invoice(store, draft(), action_id=None)
    b = store.invoices.issue(draft(customer=GLOBEX, issue_date=date(2026, 3, 3),
                                   due_date=date(2026, 3, 17)), action_id=None)  # no PDF yet
    store.invoices.issue(credit_note_for(b, issue_date=date(2026, 3, 4)), action_id=None)
    store.invoices.record_payment(a.id, amount=50000, currency="EUR", paid_on=date(2026, 3, 10))

    listed = ok(run_cli(home, "invoices", "list")).splitlines()
    assert [line.split()[0] for line in listed] == ["2026-0001", "2026-0002", "2026-0003"]
    assert listed[0].endswith("partly paid, overdue " + listed[0].rsplit("overdue ", 1)[1])
    assert "1,517.16 EUR" in listed[0] and "Credit note" in listed[2]
    assert listed[1].endswith("cancelled")
    assert [row["number"] for row in json.loads(ok(run_cli(
        home, "invoices", "list", "--open", "--json")))] == ["2026-0001"]

    shown = ok(run_cli(home, "invoices", "show", "2026-0001"))
    assert shown.splitlines()[0] == "Invoice 2026-0001  (partly paid)"
    flat = " ".join(shown.split())
    for expected in ["to Acme SARL, 1 rue de la Paix, 75002 Paris, FR, VAT ID FR12345678901",
                     "Total 1,517.16 EUR", "Paid 500.00 EUR", "Outstanding 1,017.16 EUR",
                     "paid 2026-03-10: 500.00 EUR", f"PDF sha256 {a.pdf_sha256}"]:
        assert expected in flat, (expected, shown)
    data = json.loads(ok(run_cli(home, "invoices", "show", "2026-0002", "--json")))
    assert (data["status"], data["cancelled_by"], data["pdf_sha256"]) == (
        "cancelled", "2026-0003", None)

    # The stored PDF is written as is; a missing one is rendered and recorded first.
    out_a = tmp_path / "a.pdf"
    assert ok(run_cli(home, "invoices", "pdf", "2026-0001", "-o", str(out_a))).startswith(
        f"wrote invoice 2026-0001 to {out_a} (PDF/A-3 (Factur-X EN 16931)")
    assert out_a.read_bytes() == store.invoices.pdf(store.invoices.get(a.id))
    out_b = tmp_path / "b.pdf"
    ok(run_cli(home, "invoices", "pdf", "2026-0002", "-o", str(out_b)))
    b_after = store.invoices.get(b.id)
    assert b_after.pdf_sha256 is not None and out_b.read_bytes() == store.invoices.pdf(b_after)
    text = PdfReader(io.BytesIO(out_b.read_bytes())).pages[0].extract_text()
    assert "Globex Ltd" in text and "2026-0002" in text
    assert facturx.get_xml_from_pdf(out_b.read_bytes())[1] == store.invoices.xml(b_after)
    out_x = tmp_path / "a.xml"
    ok(run_cli(home, "invoices", "xml", "2026-0001", "-o", str(out_x)))
    assert out_x.read_bytes() == store.invoices.xml(a)

    err = fails(run_cli(home, "invoices", "show", "2026-0099"))
    assert err.strip() == "solodesk: no invoice '2026-0099'; see 'solodesk invoices list'"
    err = fails(run_cli(home, "invoices", "pdf", "2026-0001", "-o", str(tmp_path / "no" / "x")))
    assert err.startswith("solodesk: cannot write")


def test_payment_matched_from_the_next_statement_and_reminders(
    configured: Path, store: Store, tmp_path: Path
) -> None:
    home = configured
    first = store.invoices.issue(draft(), action_id=None)
    store.invoices.issue(draft(customer=GLOBEX, issue_date=date(2026, 3, 3),
                               due_date=date(2026, 3, 17),
                               lines=draft().lines[:1]), action_id=None)
    ref = creditor_reference(first.number)
    statement = tmp_path / "march.csv"
    statement.write_text(
        "Date,Amount,Payee,Purpose\n"
        f"2026-03-14,1517.16,ACME S.A.R.L.,Payment {ref[:4]} {ref[4:8]} {ref[8:]}\n"
        "2026-03-15,1428.00,Globex Limited,thanks\n"
        "2026-03-15,-49.00,GitHub,subscription\n",
        encoding="utf-8",
    )
    ok(run_cli(home, "bank", "mappings", "add", "plain", "--date", "Date", "--amount", "Amount",
               "--payee", "Payee", "--description", "Purpose", "--currency", "EUR",
               "--account", "DE89370400440532013000"))
    ok(run_cli(home, "bank", "import", str(statement), "--mapping", "plain"))
    out = ok(run_cli(home, "invoices", "match")).splitlines()
    assert len(out) == 2, out
    assert "1,517.16 EUR pays invoice 2026-0001 (reference: remittance quotes creditor " \
           f"reference {ref}" in out[0]
    assert "1,428.00 EUR pays invoice 2026-0002 (amount+name: exact amount, payer " \
           "'Globex Limited' is the customer)" in out[1]

    out = ok(run_cli(home, "invoices", "reminders", "--today", "2026-03-23")).splitlines()
    assert out == ["2026-0001 Acme SARL: 1,517.16 EUR overdue 7 days (due 2026-03-16); "
                   "reminder #1 due since 2026-03-23"]
    store.invoices.record_reminder(first.id, sent_on=date(2026, 3, 23))
    assert ok(run_cli(home, "invoices", "reminders", "--today", "2026-03-24")).strip() == (
        "2026-0002 Globex Ltd: 1,428.00 EUR overdue 7 days (due 2026-03-17); reminder #1 due "
        "since 2026-03-24")
    store.invoices.record_payment(first.id, amount=first.totals.due_payable, currency="EUR",
                                  paid_on=date(2026, 3, 14))
    out = ok(run_cli(home, "invoices", "reminders", "--today", "2026-04-30")).splitlines()
    assert [line.split()[0] for line in out] == ["2026-0002"]  # never for the paid one


def test_customers_list_includes_those_learnt_from_invoices(configured: Path,
                                                            store: Store) -> None:
    store.invoices.issue(draft(customer=ACME), action_id=None)
    rows = json.loads(ok(run_cli(configured, "invoices", "customers", "list", "--json")))
    assert [(r["name"], r["source"]) for r in rows] == [("Acme SARL", "invoice")]
