"""Invoice drafts: exact totals per EN 16931, validation naming the field, credit notes, IBAN and
ISO 11649 references."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from solodesk.core.invoice import (
    Customer,
    InvoiceLine,
    InvoiceType,
    PostalAddress,
    VatCategory,
    compute_totals,
    credit_note_for,
    invoice_number,
    parse_draft,
    seller_from_settings,
    validate_draft,
)
from solodesk.core.references import (
    creditor_reference,
    find_creditor_references,
    format_creditor_reference,
    iban_error,
    is_creditor_reference,
)
from tests.support.invoices import ACME, GLOBEX, SELLER, draft, issued, line


def test_totals_of_the_sample_invoice() -> None:
    t = compute_totals(draft())
    # 2.5 h x 33.33 = 83.325 -> 83.33 (half up); 7 % of 83.33 = 5.8331 -> 5.83; 19 % of 1200.
    assert t.line_nets == (120000, 8333)
    assert [(b.category, b.rate, b.taxable, b.tax) for b in t.breakdown] == [
        (VatCategory.STANDARD, Decimal("7"), 8333, 583),
        (VatCategory.STANDARD, Decimal("19"), 120000, 22800),
    ]
    assert (t.line_total, t.tax_basis_total, t.tax_total, t.grand_total, t.due_payable) == (
        128333, 128333, 23383, 151716, 151716
    )


def test_rounding_is_half_up_on_the_line_and_vat_is_per_rate_on_the_sum() -> None:
    # 0.5 x 1 cent: half up gives 1 cent (half-even would give 0).
    assert compute_totals(draft(lines=[line(quantity="0.5", unit_price=1)])).line_nets == (1,)
    # Three lines of 2 cents at 19 %: per line 0.38 cents -> 0 each, on the sum 1.14 -> 1 cent.
    t = compute_totals(draft(lines=[line(unit_price=2) for _ in range(3)]))
    assert t.tax_total == 1
    # VAT of 2.50 at 19 % = 0.475 -> 0.48 (half up), not 0.47.
    assert compute_totals(draft(lines=[line(unit_price=250)])).tax_total == 48


def test_zero_categories_carry_no_vat_and_get_their_exemption_reason() -> None:
    d = draft(customer=ACME, lines=[line(vat_rate="0", category=VatCategory.REVERSE_CHARGE)])
    assert validate_draft(d) == []
    (b,) = compute_totals(d).breakdown
    assert (b.category, b.rate, b.tax, b.exemption_reason, b.exemption_code) == (
        VatCategory.REVERSE_CHARGE, Decimal(0), 0, "Reverse charge", "VATEX-EU-AE"
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("10000"), places=4),
            st.integers(min_value=0, max_value=10**9),
            st.sampled_from(["19", "7", "20", "5.5", "21", "0"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_totals_are_exact_sums_of_rounded_amounts(
    items: list[tuple[Decimal, int, str]],
) -> None:
    lines = [
        line(quantity=str(q), unit_price=p, vat_rate=r,
             category=VatCategory.STANDARD if r != "0" else VatCategory.ZERO_RATED)
        for q, p, r in items
    ]
    t = compute_totals(draft(lines=lines))
    assert all(type(x) is int for x in (*t.line_nets, t.line_total, t.tax_total, t.grand_total))
    assert t.line_total == sum(t.line_nets)  # BR-CO-10
    assert sum(b.taxable for b in t.breakdown) == t.line_total  # BR-S-08 and friends
    assert t.tax_total == sum(b.tax for b in t.breakdown)  # BR-CO-14
    assert t.grand_total == t.tax_basis_total + t.tax_total  # BR-CO-15
    for (q, p, _), net in zip(items, t.line_nets, strict=True):
        assert abs(Decimal(net) - q * p) <= Decimal("0.5")
    for b in t.breakdown:
        assert abs(Decimal(b.tax) - Decimal(b.taxable) * b.rate / 100) <= Decimal("0.5")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"customer": ACME.model_copy(update={"address": PostalAddress(country="France")})},
         "customer.address.country: 'France' is not an ISO 3166-1 alpha-2 country code"),
        ({"lines": [line(vat_rate="0")]},
         "lines[1].vat_rate: category S (standard rate) needs a rate above 0"),
        ({"lines": [line(vat_rate="19", category=VatCategory.ZERO_RATED)]},
         "lines[1].vat_rate: category Z (zero rated) carries no VAT; the rate must be 0"),
        ({"lines": [line(quantity="0")]}, "lines[1].quantity: 0 bills nothing"),
        ({"lines": [line(quantity="1.23456")]}, "lines[1].quantity: 1.23456 has more than 4"),
        ({"lines": [line(unit_price=-5)]}, "lines[1].unit_price: must not be negative (BR-27)"),
        ({"lines": [line(description=" ")]}, "lines[1].description: required"),
        ({"lines": []}, "lines: at least one line is required"),
        ({"due_date": None}, "due_date: required"),
        ({"due_date": date(2026, 3, 1)}, "due_date: 2026-03-01 is before the issue date"),
        ({"currency": "KWD"}, "currency: KWD has 3 decimals; EN 16931 amounts have at most 2"),
        ({"currency": "XYZ"}, "currency: unknown currency 'XYZ'"),
        ({"seller": SELLER.model_copy(update={"iban": "DE88370400440532013000"})},
         "seller.iban: 'DE88370400440532013000' is not a valid IBAN: its check digits"),
        ({"seller": SELLER.model_copy(update={"iban": ""})}, "seller.iban: required"),
        ({"seller": SELLER.model_copy(update={"vat_id": "123456789"})},
         "seller.vat_id: '123456789' is not a VAT identifier"),
        ({"seller": SELLER.model_copy(update={"vat_id": ""})},
         "seller.vat_id: the seller's VAT identifier or tax number is required"),
        ({"customer": GLOBEX, "lines": [line(vat_rate="0",
                                             category=VatCategory.REVERSE_CHARGE)]},
         "customer.vat_id: required for category AE (reverse charge)"),
        ({"lines": [line(vat_rate="0", category=VatCategory.EXEMPT)]},
         "exemption_reasons.E: name the legal basis of the exemption (BR-E-10)"),
        ({"customer": GLOBEX, "lines": [line(vat_rate="0", category=VatCategory.NOT_SUBJECT)]},
         "seller.legal_id: the company's legal registration number is required when an "
         "invoice not subject to VAT carries no VAT identifier (BR-CO-26)"),
        ({"lines": [line(), line(vat_rate="0", category=VatCategory.NOT_SUBJECT)]},
         "lines: an invoice with items not subject to VAT (O) cannot have other VAT"),
        ({"lines": [line(vat_rate="0", category=VatCategory.INTRA_COMMUNITY)],
          "delivery_date": None},
         "delivery_date: required for an intra-Community supply (K) (BR-IC-11)"),
        ({"customer": ACME.model_copy(update={"email": "not an address"})},
         "customer.email: 'not an address' is not a valid email address"),
        ({"preceding_invoice": "2026-0001"}, "preceding_invoice: only a credit note"),
        ({"type_code": InvoiceType.CREDIT_NOTE}, "preceding_invoice: a credit note names"),
        ({"customer": ACME.model_copy(update={"name": "Acme\nSARL"})},
         "customer.name: must be one line"),
    ],
)
def test_validation_names_the_field(changes: dict[str, object], expected: str) -> None:
    errors = validate_draft(draft(**changes))
    assert any(e.startswith(expected) for e in errors), errors


def test_a_valid_draft_has_no_errors() -> None:
    assert validate_draft(draft()) == []


def test_floats_are_refused_where_exact_numbers_are_needed() -> None:
    with pytest.raises(ValidationError, match="is a float"):
        InvoiceLine(description="x", quantity=1.5, unit_price=100)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unit_price is an int in minor units"):
        InvoiceLine(description="x", quantity=Decimal(1), unit_price=1.5)  # type: ignore[arg-type]


def test_parse_draft_reads_a_json_payload_and_names_schema_errors() -> None:
    payload = draft().model_dump(mode="json")
    assert payload["lines"][1]["quantity"] == "2.5"  # Decimals travel as strings
    parsed, errors = parse_draft(payload)
    assert errors == [] and parsed == draft()
    payload["lines"][0]["unit_price"] = "12.00"
    payload["customer"]["address"].pop("country")
    parsed, errors = parse_draft(payload)
    assert parsed is None
    assert any(e.startswith("lines.0.unit_price:") for e in errors), errors
    assert any(e.startswith("customer.address.country:") for e in errors), errors


def test_credit_note_for_an_invoice() -> None:
    inv = issued()
    cn = credit_note_for(inv, issue_date=date(2026, 4, 1), reason="workshop cancelled")
    assert cn.type_code is InvoiceType.CREDIT_NOTE
    assert (cn.preceding_invoice, cn.preceding_invoice_date) == ("2026-0001", date(2026, 3, 2))
    assert cn.lines == inv.draft.lines and cn.due_date is None
    assert cn.note == "Cancels invoice 2026-0001 of 2026-03-02: workshop cancelled"
    assert validate_draft(cn) == []
    assert compute_totals(cn).grand_total == inv.totals.grand_total  # positive, type says credit


def test_seller_from_settings() -> None:
    s = seller_from_settings({
        "company.name": "Inkwell Notes GmbH", "company.country": "de",
        "company.vat_id": "de 123456789", "company.iban": "DE89 3704 0044 0532 0130 00",
        "company.city": "Berlin",
    })
    assert s.address.country == "DE" and s.vat_id == "DE123456789"
    assert s.iban == "DE89370400440532013000"
    assert validate_draft(draft(seller=s)) == []


def test_invoice_numbers() -> None:
    assert invoice_number(2026, 1) == "2026-0001"
    assert invoice_number(2026, 12345) == "2026-12345"


def test_iban_and_creditor_references() -> None:
    assert iban_error("DE89 3704 0044 0532 0130 00") is None
    assert iban_error("GB82 WEST 1234 5698 7654 32") is None
    assert "check digits" in (iban_error("DE89 3704 0044 0532 0130 01") or "")
    # ISO 11649's own example.
    assert is_creditor_reference("RF18 5390 0754 7034")
    assert not is_creditor_reference("RF19 5390 0754 7034")
    ref = creditor_reference("2026-0001")
    assert is_creditor_reference(ref) and ref.startswith("RF") and ref.endswith("20260001")
    assert format_creditor_reference(ref) == f"{ref[:4]} 2026 0001"
    assert find_creditor_references(f"Inv. paid, ref {format_creditor_reference(ref)} thanks") \
        == [ref]
    # A typo in the reference is not a reference.
    assert find_creditor_references("ref RF19 5390 0754 7034") == []
    with pytest.raises(ValueError, match="cannot become a creditor reference"):
        creditor_reference("x" * 22)


def test_customer_model_round_trips_as_json() -> None:
    c = Customer.model_validate_json(ACME.model_dump_json())
    assert c == ACME


def test_draft_summary_for_the_inbox() -> None:
    from solodesk.core.invoice import draft_summary

    assert draft_summary(draft()) == "Invoice to Acme SARL: 1,517.16 EUR (2 lines), due 2026-03-16"
    cn = credit_note_for(issued(), issue_date=date(2026, 4, 1))
    assert draft_summary(cn) == (
        "Credit note cancelling 2026-0001 for Acme SARL: 1,517.16 EUR (2 lines)"
    )
    assert draft_summary(draft(currency="XYZ")).startswith("Invoice to Acme SARL: ? XYZ")
