"""Payment matching (reference > amount+name > none, partial payments) and the reminder
schedule (one per interval, never for a paid or cancelled invoice)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solodesk.core.bank import BankLine
from solodesk.core.matching import (
    Confidence,
    InvoiceState,
    PaymentKind,
    PaymentStatus,
    ReminderSchedule,
    match_payment,
    names_match,
    next_reminder_date,
    quotes,
    reminder_due,
    reminders_due,
)
from solodesk.core.references import creditor_reference, format_creditor_reference


def inv(number: str = "2026-0001", total: int = 151716, *, customer: str = "Acme SARL",
        paid: int = 0, currency: str = "EUR", due: date | None = date(2026, 3, 16),
        buyer_reference: str = "", cancelled_by: str = "",
        reminders: tuple[date, ...] = ()) -> InvoiceState:
    return InvoiceState(
        invoice_id=int(number[-4:]), number=number, customer_name=customer, currency=currency,
        total=total, paid=paid, issue_date=date(2026, 3, 2), due_date=due,
        buyer_reference=buyer_reference, cancelled_by=cancelled_by, reminders_sent=reminders,
    )


def bank(amount: int, description: str = "", payee: str = "ACME S.A.R.L.", *,
         currency: str = "EUR", reference: str = "") -> BankLine:
    return BankLine(account="DE89370400440532013000", booking_date=date(2026, 3, 14),
                    value_date=None, amount=amount, currency=currency, payee=payee,
                    description=description, reference=reference, dedup_key="k", source="test")


OPEN = [inv("2026-0001", 151716), inv("2026-0002", 50000, customer="Globex Ltd"),
        inv("2026-0003", 151716, customer="Initech GmbH", buyer_reference="PO-4711")]


@pytest.mark.parametrize(
    "remittance",
    [
        "Invoice 2026-0001",
        "RE 2026 0001 thanks",
        "Rechnung RE2026-0001",
        "inv 20260001",
        f"SEPA {format_creditor_reference(creditor_reference('2026-0001'))} EREF+NOTPROVIDED",
        f"{creditor_reference('2026-0001').lower()}",
    ],
)
def test_reference_in_the_remittance_with_the_exact_amount(remittance: str) -> None:
    result = match_payment(bank(151716, remittance, payee="Someone Else"), OPEN)
    assert result.match is not None, result
    m = result.match
    assert (m.invoice.number, m.confidence, m.payment) == (
        "2026-0001", Confidence.REFERENCE, PaymentKind.FULL
    )
    assert "exact amount" in m.evidence
    assert "pays invoice 2026-0001 (reference:" in m.describe()


def test_creditor_reference_is_named_in_the_evidence() -> None:
    ref = creditor_reference("2026-0001")
    m = match_payment(bank(151716, f"ref {ref}"), OPEN).match
    assert m is not None and f"remittance quotes creditor reference {ref}" in m.evidence


def test_buyer_reference_counts_as_a_reference() -> None:
    m = match_payment(bank(151716, "your order PO 4711", payee="Initech"), OPEN).match
    assert m is not None and m.invoice.number == "2026-0003"
    assert "remittance quotes buyer reference PO-4711" in m.evidence


def test_a_longer_number_does_not_quote_a_shorter_one() -> None:
    assert not quotes("Invoice 2026-00012", "2026-0001")
    assert not quotes("Invoice 12026-0001", "2026-0001")
    assert quotes("Invoice 2026-0001, 2026-0002", "2026-0002")
    result = match_payment(bank(151716, "Invoice 2026-00012", payee="Nobody"), OPEN)
    assert result.match is None


def test_partial_payment_is_reported_as_such() -> None:
    m = match_payment(bank(50000, "2026-0001 first instalment"), OPEN).match
    assert m is not None and m.payment is PaymentKind.PARTIAL
    assert m.describe() == (
        "500.00 EUR partly pays invoice 2026-0001 (reference: remittance quotes invoice number "
        "2026-0001); 1,017.16 EUR still outstanding"
    )
    # After that instalment the rest pays it in full.
    half_paid = [inv("2026-0001", 151716, paid=50000)]
    m = match_payment(bank(101716, "2026-0001 rest"), half_paid).match
    assert m is not None and m.payment is PaymentKind.FULL


def test_overpayment_is_reported() -> None:
    m = match_payment(bank(160000, "2026-0001"), OPEN).match
    assert m is not None and m.payment is PaymentKind.OVERPAID
    assert m.describe().endswith("82.84 EUR too much")


def test_amount_and_name_without_a_reference() -> None:
    m = match_payment(bank(50000, "payment", payee="GLOBEX LIMITED"), OPEN).match
    assert m is not None and m.invoice.number == "2026-0002"
    assert m.confidence is Confidence.AMOUNT_NAME
    assert m.evidence == ("exact amount", "payer 'GLOBEX LIMITED' is the customer")


def test_amount_alone_is_not_enough() -> None:
    result = match_payment(bank(50000, "payment", payee="Umbrella Corp"), OPEN)
    assert result.match is None and "no open invoice is quoted" in result.reason


def test_two_invoices_with_the_same_evidence_are_ambiguous() -> None:
    same = [inv("2026-0001", 10000), inv("2026-0004", 10000)]
    result = match_payment(bank(10000, "thanks", payee="Acme SARL"), same)
    assert result.match is None and result.ambiguous
    assert [c.invoice.number for c in result.candidates] == ["2026-0001", "2026-0004"]
    assert "2026-0001, 2026-0004" in result.reason
    # A reference settles it.
    m = match_payment(bank(10000, "2026-0004", payee="Acme SARL"), same).match
    assert m is not None and m.invoice.number == "2026-0004"


def test_reference_beats_amount_and_name() -> None:
    invoices = [inv("2026-0001", 10000), inv("2026-0002", 10000)]
    m = match_payment(bank(10000, "inv 2026-0002", payee="Acme SARL"), invoices).match
    assert m is not None and m.invoice.number == "2026-0002"
    assert m.confidence is Confidence.REFERENCE


def test_what_never_matches() -> None:
    assert match_payment(bank(-151716, "2026-0001"), OPEN).reason.startswith("money out")
    assert match_payment(bank(151716, "2026-0001", currency="USD"), OPEN).match is None
    paid = [inv("2026-0001", paid=151716)]
    assert match_payment(bank(151716, "2026-0001"), paid).match is None
    cancelled = [inv("2026-0001", cancelled_by="2026-0002")]
    assert match_payment(bank(151716, "2026-0001"), cancelled).match is None


def test_names_match_ignores_case_accents_punctuation_and_legal_forms() -> None:
    assert not names_match("Müller & Söhne GmbH", "MUELLER")  # another spelling
    assert names_match("Müller & Söhne GmbH", "Muller Sohne")
    assert names_match("Acme SARL", "ACME S.A.R.L.")
    assert names_match("Globex Ltd", "globex limited")
    assert not names_match("Globex Ltd", "Initech Ltd")
    assert not names_match("GmbH", "GmbH")  # nothing significant left


def test_status_and_overdue() -> None:
    assert inv().status is PaymentStatus.OPEN
    assert inv(paid=1).status is PaymentStatus.PARTLY_PAID
    assert inv(paid=151716).status is PaymentStatus.PAID
    assert inv(cancelled_by="2026-0009").status is PaymentStatus.CANCELLED
    assert inv().is_overdue(date(2026, 3, 17)) and not inv().is_overdue(date(2026, 3, 16))
    assert not inv(paid=151716).is_overdue(date(2027, 1, 1))
    assert not inv(due=None).is_overdue(date(2027, 1, 1))


def test_reminder_schedule_default_7_days_then_every_14() -> None:
    due = date(2026, 3, 16)
    assert reminder_due(inv(), due + timedelta(days=6)) is None
    first = reminder_due(inv(), due + timedelta(days=7))
    assert first is not None and (first.ordinal, first.due_since, first.days_overdue) == (
        1, date(2026, 3, 23), 7
    )
    one = inv(reminders=(date(2026, 3, 23),))
    assert reminder_due(one, date(2026, 3, 23)) is None  # never twice in an interval
    assert reminder_due(one, date(2026, 4, 5)) is None
    second = reminder_due(one, date(2026, 4, 6))
    assert second is not None and second.ordinal == 2
    # A reminder sent late pushes the next one back.
    late = inv(reminders=(date(2026, 4, 20),))
    assert next_reminder_date(late, ReminderSchedule()) == date(2026, 5, 4)
    three = inv(reminders=(date(2026, 3, 23), date(2026, 4, 6), date(2026, 4, 20)))
    assert reminder_due(three, date(2027, 1, 1)) is None  # at most 3 by default
    assert reminder_due(three, date(2027, 1, 1), ReminderSchedule(max_reminders=0)) is not None


def test_never_a_reminder_for_a_paid_or_cancelled_invoice() -> None:
    later = date(2027, 1, 1)
    assert reminder_due(inv(paid=151716), later) is None
    assert reminder_due(inv(cancelled_by="2026-0002"), later) is None
    assert reminder_due(inv(due=None), later) is None
    assert reminder_due(inv(paid=100), later) is not None  # partly paid: still owed


@given(
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=0, max_value=5),
    st.lists(st.integers(min_value=0, max_value=400), max_size=40),
)
def test_at_most_one_reminder_per_interval_whatever_the_days_checked(
    first: int, every: int, cap: int, checks: list[int]
) -> None:
    """Simulate the agent checking on arbitrary days and sending whatever is due."""
    schedule = ReminderSchedule(first_after_days=first, every_days=every, max_reminders=cap)
    state = inv()
    assert state.due_date is not None
    for offset in sorted(set(checks)):
        today = state.due_date + timedelta(days=offset)
        due = reminder_due(state, today, schedule)
        if due is not None:
            state = inv(reminders=(*state.reminders_sent, today))
    sent = state.reminders_sent
    assert not cap or len(sent) <= cap
    assert all(d >= state.due_date + timedelta(days=first) for d in sent)
    assert all((b - a).days >= every for a, b in zip(sent, sent[1:], strict=False))


def test_reminders_due_over_several_invoices() -> None:
    invoices = [inv("2026-0001"), inv("2026-0002", paid=151716),
                inv("2026-0003", due=date(2026, 3, 1))]
    due = reminders_due(invoices, date(2026, 3, 23))
    assert [r.invoice.number for r in due] == ["2026-0003", "2026-0001"]


def test_schedule_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="every_days >= 1"):
        ReminderSchedule(every_days=0)


def _quotes_by_regex(text: str, reference: str) -> bool:
    """The definition of 'quotes', written as one regular expression."""
    import re

    ref = re.sub(r"[\s\-./]", "", reference).upper()
    if len(ref) < 3:
        return False
    pattern = r"[\s\-./]*".join(re.escape(c) for c in ref)
    lead = r"(?<![0-9])" if ref[0].isdigit() else r"(?<![0-9A-Z])"
    tail = r"(?![0-9])" if ref[-1].isdigit() else r"(?![0-9A-Z])"
    return re.search(lead + pattern + tail, text.upper()) is not None


@given(st.text(alphabet="0126 -./REPOabü", max_size=30),
       st.text(alphabet="0126-REPO", min_size=1, max_size=9))
def test_quotes_agrees_with_its_regex_definition(text: str, reference: str) -> None:
    assert quotes(text, reference) == _quotes_by_regex(text, reference)


def test_digits_in_names_are_significant() -> None:
    assert not names_match("Customer 1", "Customer 2")
    assert names_match("Studio 54 Ltd", "STUDIO 54")


def test_mark_paid_payload_from_a_match() -> None:
    from dataclasses import replace

    from solodesk.core.matching import MarkPaidPayload, mark_paid_payload

    line = replace(bank(50000, "2026-0001 first instalment"), id=7)
    match = match_payment(line, OPEN).match
    assert match is not None
    p = mark_paid_payload(match, line)
    assert p.summary() == ("Partly paid: invoice 2026-0001, 500.00 EUR on 2026-03-14 "
                           "(bank line #7, reference)")
    assert p.idempotency_key() == "mark_paid:7:2026-0001"
    assert p.errors() == []
    again = MarkPaidPayload.model_validate(p.model_dump(mode="json"))
    assert again == p
    with pytest.raises(ValueError, match="must be stored"):
        mark_paid_payload(match, bank(50000))
