"""Earned autonomy's pure part (``core.autonomy``): patterns, the run of unedited approvals, the
offered rule's conditions, and what is never offered."""

from __future__ import annotations

from typing import Any

import pytest

from solodesk.core.autonomy import Decided, offers, pattern_of, rates
from solodesk.core.policy import Outcome, PolicyRule, evaluate, parse_condition

POSTING = {
    "date": "2026-11-02", "payee": "Hetzner", "narration": "servers",
    "postings": [
        {"account": "Assets:Bank", "amount_minor": -1999, "currency": "EUR"},
        {"account": "Expenses:Hosting", "amount_minor": 1999, "currency": "EUR"},
    ],
    "decided_by": "model", "reason": "hosting",
}


def d(i: int, outcome: Any = "approved", *, risk: str = "low", untrusted: bool = False,
      pattern: Any = ("account", "Expenses:Hosting"), agent: str = "bookkeeper",
      kind: str = "record_transaction") -> Decided:
    return Decided(i, agent, kind, outcome, risk, untrusted, pattern, i)


def test_patterns_of_the_kinds() -> None:
    assert pattern_of("record_transaction", POSTING) == ("account", "Expenses:Hosting")
    mail = {"to": ["A <a@Acme.example>", "b@beta.example"], "cc": [], "subject": "s",
            "body": "b", "message_id": "<1@x.example>"}
    assert pattern_of("send_email", mail) == (
        "recipient_domains", ("acme.example", "beta.example"))
    assert pattern_of("send_email", {"garbage": 1}) is None
    assert pattern_of("no_such_kind", {}) is None


def test_an_account_rule_after_n_in_a_row() -> None:
    assert offers([d(1), d(2)], after=3) == []
    (offer,) = offers([d(1), d(2, risk="medium"), d(3)], after=3)
    assert [str(c) for c in offer.conditions] == [
        "agent == bookkeeper", "account == Expenses:Hosting", "risk <= medium",
        "untrusted == false",
    ]
    assert offer.evidence == (1, 2, 3)
    # The rule it offers would have approved each of them.
    rule = PolicyRule(1, 1, offer.kind, offer.conditions, Outcome.AUTO_APPROVE)
    for risk in ("low", "medium"):
        facts = {"agent": "bookkeeper", "kind": "record_transaction", "risk": risk,
                 "untrusted": False, "account": "Expenses:Hosting"}
        assert evaluate([rule], "record_transaction", facts).outcome is Outcome.AUTO_APPROVE
    assert "solodesk policy add --kind record_transaction --when 'agent == bookkeeper'" in (
        offer.command())


@pytest.mark.parametrize("breaker", ["edited", "rejected"])
def test_an_edit_or_rejection_starts_again(breaker: str) -> None:
    assert offers([d(1), d(2), d(3, breaker), d(4), d(5)], after=3) == []
    (offer,) = offers([d(1), d(2), d(3, breaker), d(4), d(5), d(6)], after=3)
    assert offer.evidence == (4, 5, 6)


def test_never_high_risk_never_rule_decided_never_twice() -> None:
    high = [d(i, risk="high", untrusted=True) for i in range(1, 6)]
    assert offers(high, after=3) == []
    by_rule = [d(i, "rule") for i in range(1, 6)]
    assert offers(by_rule, after=3) == []
    assert offers([d(i) for i in range(1, 4)], after=3, rules=[PolicyRule(
        1, 1, "record_transaction",
        (parse_condition("account == Expenses:Hosting", kind="record_transaction"),),
        Outcome.ASK,
    )]) == []
    # untrusted low-risk evidence: offered, bounded to low, without 'untrusted == false'
    (offer,) = offers([d(i, untrusted=True) for i in range(1, 4)], after=3)
    assert [str(c) for c in offer.conditions][-1] == "risk <= low"


def test_rates() -> None:
    (rate,) = rates([d(1), d(2, "edited"), d(3, "rejected"), d(4), d(5, "rule")])
    assert (rate.unedited, rate.edited, rate.rejected, rate.by_rule) == (2, 1, 1, 1)
    assert rate.rate == 0.5
