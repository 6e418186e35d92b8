"""The executor bodies the registry of action kinds will call: create_invoice from its JSON
payload, mark_paid from a match of a stored bank line (each exactly once per action)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from solodesk.actions.invoicing import execute_create_invoice, execute_mark_paid
from solodesk.core.actions import Provenance
from solodesk.core.bank import BankLine, BankStatement
from solodesk.core.invoice import InvoiceError
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.matching import PaymentStatus, mark_paid_payload, match_payment
from solodesk.core.references import creditor_reference
from solodesk.store.db import connect
from solodesk.store.repos import NotFound, Store
from tests.support.invoices import draft

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def action(store: Store, key: str) -> int:
    return store.actions.propose(
        kind=SEND_EMAIL, payload={"key": key}, agent="invoicing",
        summary="stand-in", provenance=Provenance("chat", None), idempotency_key=key,
    ).id


def import_line(store: Store, amount: int, description: str, payee: str) -> BankLine:
    line = BankLine(account="DE89370400440532013000", booking_date=date(2026, 3, 14),
                    value_date=None, amount=amount, currency="EUR", payee=payee,
                    description=description, reference="", dedup_key=f"{amount}{description}",
                    source="test")
    result = store.bank.import_statements(
        [BankStatement("DE89370400440532013000", "EUR", (line,))],
        file="march.csv", file_sha256="0" * 64, file_format="csv",
    )
    return replace(line, id=result.line_ids[0])


def test_create_invoice_from_its_json_payload(store: Store) -> None:
    aid = action(store, "create-1")
    payload = draft().model_dump(mode="json")
    inv = execute_create_invoice(store, payload, action_id=aid)
    assert inv.number == "2026-0001" and inv.pdf_sha256 is not None
    assert execute_create_invoice(store, payload, action_id=aid) == store.invoices.get(inv.id)
    bad = {**payload, "currency": "KWD"}
    with pytest.raises(InvoiceError, match="currency: KWD has 3 decimals"):
        execute_create_invoice(store, bad, action_id=action(store, "create-2"))
    assert [i.number for i in store.invoices.all()] == ["2026-0001"]


def test_mark_paid_from_a_bank_line_match(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    ref = creditor_reference(inv.number)
    first = import_line(store, 100000, f"Payment {ref} part 1", "ACME SARL")
    rest = import_line(store, inv.totals.due_payable - 100000, "RE 2026-0001 rest", "Acme")

    for line, status in [(first, PaymentStatus.PARTLY_PAID), (rest, PaymentStatus.PAID)]:
        match = match_payment(line, store.invoices.states(open_only=True)).match
        assert match is not None
        payload = mark_paid_payload(match, line).model_dump(mode="json")
        aid = action(store, f"paid-{line.id}")
        state = execute_mark_paid(store, payload, action_id=aid)
        assert state.status is status
        assert execute_mark_paid(store, payload, action_id=aid) == state  # once per action
    assert store.invoices.state(inv.id).outstanding == 0
    # A paid invoice is no longer open: the same line matches nothing now.
    assert match_payment(first, store.invoices.states(open_only=True)).match is None


def test_mark_paid_refuses_what_was_not_approved(store: Store) -> None:
    inv = store.invoices.issue(draft(), action_id=None)
    line = import_line(store, inv.totals.due_payable, "2026-0001", "Acme SARL")
    match = match_payment(line, store.invoices.states()).match
    assert match is not None
    payload = mark_paid_payload(match, line).model_dump(mode="json")
    with pytest.raises(InvoiceError, match="not what was approved; nothing recorded"):
        execute_mark_paid(store, {**payload, "amount": 1}, action_id=None)
    with pytest.raises(NotFound, match="no bank line #999"):
        execute_mark_paid(store, {**payload, "bank_line_id": 999}, action_id=None)
    execute_mark_paid(store, payload, action_id=None)
    with pytest.raises(InvoiceError, match="already recorded as a payment"):
        execute_mark_paid(store, payload, action_id=None)
    assert store.invoices.state(inv.id).paid == inv.totals.due_payable
