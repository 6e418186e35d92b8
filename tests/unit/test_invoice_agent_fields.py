"""``create_invoice`` as an agent writes it: the customer by name, lines, currency, due date;
the kind completes the rest (``core.kinds.invoice.complete_invoice``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from solodesk.core import kinds as K
from solodesk.core.kinds import CompletionError, ProposalContext
from solodesk.core.kinds.invoice import CREATE_INVOICE
from tests.support.invoices import ACME

SETTINGS = {
    "company.name": "Inkwell Notes GmbH", "company.address_line1": "Hauptstraße 1",
    "company.postcode": "10115", "company.city": "Berlin", "company.country": "de",
    "company.vat_id": "DE123456789", "company.iban": "DE89 3704 0044 0532 0130 00",
    "invoices.currency": "EUR", "invoices.payment_days": "14",
    "invoices.payment_terms": "Payable within {days} days without deduction.",
}


def customer(name: str) -> dict[str, Any]:
    if name.lower().startswith("acme"):
        return ACME.model_dump(mode="json")
    raise LookupError(f"no customer {name!r}; customers: Acme SARL")


CTX = ProposalContext(
    setting=lambda k: SETTINGS.get(k, ""), customer=customer, today=date(2026, 3, 2)
)
LINE = {"description": "Workshop, 1 day", "quantity": 1, "unit_price": 1200.5, "vat_rate": 19}


def test_the_agent_schema_holds_only_what_an_agent_writes() -> None:
    schema = K.get(CREATE_INVOICE).agent_schema()
    assert set(schema["properties"]) == {"customer", "lines", "currency", "due_date"}
    assert schema["required"] == ["customer", "lines"]
    assert schema["properties"]["customer"]["type"] == "string"


def test_completed_from_settings_and_the_customer_list() -> None:
    spec = K.get(CREATE_INVOICE)
    payload = spec.from_agent({"customer": "Acme", "lines": [LINE], "seller": "ignored"}, CTX)
    assert K.validate_payload(CREATE_INVOICE, payload) == []
    assert payload["seller"]["name"] == "Inkwell Notes GmbH"
    assert payload["seller"]["address"]["country"] == "DE"
    assert payload["customer"]["name"] == "Acme SARL"
    assert payload["lines"][0]["unit_price"] == 120050  # minor units, exact
    assert payload["currency"] == "EUR"
    assert payload["issue_date"] == "2026-03-02"
    assert payload["due_date"] == "2026-03-16"  # today + invoices.payment_days
    assert payload["payment_terms"] == "Payable within 14 days without deduction."


def test_a_given_due_date_sets_the_terms() -> None:
    payload = K.get(CREATE_INVOICE).from_agent(
        {"customer": "Acme", "lines": [LINE], "due_date": "2026-04-01", "currency": "usd"}, CTX
    )
    assert payload["due_date"] == "2026-04-01" and payload["currency"] == "USD"
    assert payload["payment_terms"] == "Payable within 30 days without deduction."


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"customer": "Initech", "lines": [LINE]}, "customer: no customer 'Initech'; customers"),
        ({"customer": "Acme", "lines": [{**LINE, "unit_price": "12.345"}]},
         "lines.1.unit_price: 12.345 EUR is finer than the currency's minor unit"),
        ({"customer": "Acme", "lines": [{**LINE, "unit_price": "1200"}], "currency": "XYZ"},
         "lines.1.unit_price: unknown currency 'XYZ'"),
        ({"customer": "Acme"}, "lines"),
    ],
)
def test_what_cannot_be_completed_says_why(args: dict[str, Any], error: str) -> None:
    with pytest.raises(CompletionError) as info:
        K.get(CREATE_INVOICE).from_agent(args, CTX)
    assert any(e.startswith(error) for e in info.value.errors), info.value.errors


def test_without_settings_nothing_is_guessed() -> None:
    with pytest.raises(CompletionError, match="no settings or customer list"):
        K.get(CREATE_INVOICE).from_agent({"customer": "Acme", "lines": [LINE]},
                                         ProposalContext())
