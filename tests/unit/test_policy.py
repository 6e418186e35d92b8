"""Policy rules: parsing, order and conditions (table-driven), and the store's audited changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk.core.policy import (
    Condition,
    Outcome,
    PolicyRule,
    RuleError,
    auto_approve_warning,
    evaluate,
    facts,
    parse_condition,
)
from solodesk.core.risk import Risk
from solodesk.store.db import connect
from solodesk.store.repos import NotFound, Store


def rule(rid: int, position: int, kind: str, outcome: Outcome, *conds: str) -> PolicyRule:
    return PolicyRule(rid, position, kind, tuple(parse_condition(c) for c in conds), outcome)


CUSTOMER = facts(agent="support", risk=Risk.LOW, untrusted=True,
                 recipients=["marta@example.com"], known=True)
STRANGER = facts(agent="support", risk=Risk.HIGH, untrusted=True,
                 recipients=["boss@evil.example", "marta@example.com"], known=False)
MANAGER = facts(agent="manager", risk=Risk.MEDIUM, untrusted=False,
                recipients=[f"p{i}@example.com" for i in range(7)], known=False)
PAYMENT = facts(agent="bookkeeping", risk=Risk.HIGH, untrusted=False,
                recipients=[], known=False, amount_cents=12_000)

RULES = [
    rule(1, 10, "reply_email", Outcome.AUTO_APPROVE,
         "recipient_domains in example.com", "risk <= low", "recipients_known == true"),
    rule(2, 20, "*", Outcome.BLOCK, "recipient_count > 5"),
    rule(3, 30, "*", Outcome.ASK, "agent == manager"),
    rule(4, 40, "*", Outcome.AUTO_APPROVE, "amount_cents < 10000"),
    rule(5, 50, "*", Outcome.BLOCK, "amount_cents >= 10000"),
]


@pytest.mark.parametrize(
    ("kind", "fact", "outcome", "rule_id"),
    [
        ("reply_email", CUSTOMER, Outcome.AUTO_APPROVE, 1),
        ("send_email", CUSTOMER, Outcome.AUTO_APPROVE, 4),  # rule 1 is for replies only
        # 0 cents < 10000, but high risk from untrusted mail: the policy floor asks (issue 6)
        ("reply_email", STRANGER, Outcome.ASK, 4),
        ("send_email", MANAGER, Outcome.BLOCK, 2),  # 7 recipients: block fires before ask
        ("send_email", PAYMENT, Outcome.BLOCK, 5),
    ],
)
def test_first_matching_rule_in_position_order_decides(kind, fact, outcome, rule_id) -> None:
    decision = evaluate(RULES, kind, fact)
    assert (decision.outcome, decision.rule_id) == (outcome, rule_id)


def test_no_rules_means_ask_and_order_is_position_not_id() -> None:
    assert evaluate([], "reply_email", CUSTOMER).outcome is Outcome.ASK
    assert evaluate([], "reply_email", CUSTOMER).rule is None
    late_block = rule(9, 1, "*", Outcome.BLOCK, "agent == support")
    assert evaluate(RULES + [late_block], "reply_email", CUSTOMER).rule_id == 9


@pytest.mark.parametrize(
    ("condition", "fact", "expected"),
    [
        ("recipient_domains in example.com,acme.io", CUSTOMER, True),
        ("recipient_domains in example.com", STRANGER, False),  # every domain must be listed
        ("recipient_domains not-in evil.example", STRANGER, False),
        ("recipient_domains not-in evil.example", CUSTOMER, True),
        ("recipients in marta@example.com", CUSTOMER, True),
        ("risk <= medium", CUSTOMER, True),
        ("risk <= medium", STRANGER, False),
        ("risk > low", MANAGER, True),
        ("untrusted == true", CUSTOMER, True),
        ("untrusted == false", CUSTOMER, False),
        ("recipients_known == true", STRANGER, False),
        ("recipient_count <= 1", CUSTOMER, True),
        ("agent in support,manager", MANAGER, True),
        ("agent != support", CUSTOMER, False),
        ("amount_cents < 10000", PAYMENT, False),
        ("recipient_domains in example.com", PAYMENT, False),  # no recipients: never "all in"
    ],
)
def test_conditions(condition: str, fact, expected: bool) -> None:
    assert evaluate([rule(1, 1, "*", Outcome.BLOCK, condition)], "send_email", fact).rule_id == (
        1 if expected else None
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("colour == red", "unknown field"),
        ("risk in low", "risk takes"),
        ("risk <= extreme", "risk must be"),
        ("recipient_count < many", "whole number"),
        ("untrusted == maybe", "true or false"),
        ("agent", "FIELD OP VALUE"),
    ],
)
def test_bad_conditions_are_refused_with_a_reason(text: str, error: str) -> None:
    with pytest.raises(RuleError, match=error):
        parse_condition(text)


def test_rule_changes_are_stored_in_order_and_audited(tmp_path: Path) -> None:
    store = Store(connect(tmp_path / "p.db"))
    a = store.policy.add(kind="reply_email", conditions=[parse_condition("risk <= low")],
                         outcome=Outcome.AUTO_APPROVE, note="replies")
    b = store.policy.add(kind="*", conditions=[], outcome=Outcome.BLOCK, position=5)
    assert [r.id for r in store.policy.rules()] == [b.id, a.id]  # position 5 before 10
    assert store.policy.rules()[1].conditions == (Condition("risk", "<=", "low"),)
    store.policy.remove(b.id)
    with pytest.raises(NotFound):
        store.policy.remove(b.id)
    with pytest.raises(RuleError):
        store.policy.add(kind="wire_transfer", conditions=[], outcome=Outcome.ASK)
    events = [e["event"] for e in store.audit.entries()]
    assert events == ["policy_rule_added", "policy_rule_added", "policy_rule_removed"]
    assert store.audit.verify() == []


# -- the policy floor (issue 6) ----------------------------------------------------------------

INJECTED = facts(agent="support", risk=Risk.HIGH, untrusted=True,
                 recipients=["jonas.berg@example.org"], known=True)


@pytest.mark.parametrize(
    ("conditions", "fact", "outcome", "floored"),
    [
        # The rule: recipients_known == true auto-sent a prompt-injected reply.
        (["recipients_known == true"], INJECTED, Outcome.ASK, True),
        ([], INJECTED, Outcome.ASK, True),
        (["risk != low"], INJECTED, Outcome.AUTO_APPROVE, False),  # admits high: named
        (["risk <= high"], INJECTED, Outcome.AUTO_APPROVE, False),
        (["risk == high", "recipients_known == true"], INJECTED, Outcome.AUTO_APPROVE, False),
        (["risk >= medium"], INJECTED, Outcome.AUTO_APPROVE, False),
        # Not high risk, or not from untrusted content: the floor does not apply.
        (["recipients_known == true"], CUSTOMER, Outcome.AUTO_APPROVE, False),
        (["recipients_known == false"], PAYMENT, Outcome.AUTO_APPROVE, False),
    ],
)
def test_policy_floor(conditions: list[str], fact, outcome: Outcome, floored: bool) -> None:
    r = rule(7, 10, "*", Outcome.AUTO_APPROVE, *conditions)
    decision = evaluate([r], "reply_email", fact)
    assert decision.outcome is outcome
    assert decision.rule_id == 7  # the rule that fired, or would have
    assert bool(decision.floor) is floored
    if floored:
        assert "policy floor" in decision.floor
        assert decision.explanation[0] == f"{r.describe()} (would have fired)"


def test_the_floor_never_turns_block_or_ask_into_anything_else() -> None:
    for outcome in (Outcome.BLOCK, Outcome.ASK):
        decision = evaluate([rule(1, 1, "*", outcome)], "reply_email", INJECTED)
        assert decision.outcome is outcome and not decision.floor


@pytest.mark.parametrize(
    ("outcome", "conditions", "warns"),
    [
        (Outcome.AUTO_APPROVE, ["recipients_known == true"], "whatever their risk"),
        (Outcome.AUTO_APPROVE, [], "whatever their risk"),
        (Outcome.AUTO_APPROVE, ["agent == support"], "whatever their risk"),
        (Outcome.AUTO_APPROVE, ["risk <= high"], "names high risk"),
        (Outcome.AUTO_APPROVE, ["recipients_known == true", "risk == high"], "names high risk"),
        (Outcome.AUTO_APPROVE, ["risk <= low"], ""),
        (Outcome.AUTO_APPROVE, ["risk < high"], ""),
        (Outcome.AUTO_APPROVE, ["untrusted == false"], ""),
        (Outcome.AUTO_APPROVE, ["untrusted != true", "risk <= high"], ""),
        (Outcome.ASK, [], ""),
        (Outcome.BLOCK, [], ""),
    ],
)
def test_auto_approve_warning(outcome: Outcome, conditions: list[str], warns: str) -> None:
    warning = auto_approve_warning(outcome, [parse_condition(c) for c in conditions])
    assert (warns in warning) if warns else warning == ""
    if warns:
        assert "untrusted == false" in warning  # says what to do
