"""Policy rules: the founder's standing decisions about kinds of actions.

A rule names an action kind (or ``*``), conditions on the proposal's facts, and an outcome:
``auto_approve``, ``ask`` or ``block``. Rules are evaluated in ``position`` order and the first
rule whose kind and every condition match decides; with no match the outcome is ``ask``
(everything asks by default). Only the founder changes rules (CLI or settings page); no agent
tool can read or write them.

Conditions are ``FIELD OP VALUE`` over a proposal's facts: the common facts every action has
(:data:`COMMON_FIELDS`: ``agent``, ``kind``, ``risk``, ``untrusted``, ``amount_cents``) and the
facts its kind declares in the registry (``core.kinds``: ``KindSpec.fact_fields``; the mail kinds
declare ``recipient_domains``, ``recipients``, ``recipient_count``, ``recipients_known``). A rule
for one kind may use that kind's facts; a ``*`` rule may use any kind's (a fact the action does
not have makes that condition false). :func:`fields_for` lists them.

For list facts, ``in`` means every element is in the list and ``not-in`` means none is.

The policy floor: a rule never auto-approves a **high-risk** proposal derived from **untrusted**
content (imported mail) unless it names high risk explicitly, i.e. it has a condition on
``risk`` that admits ``high`` (``risk <= high``, ``risk == high``...). Such a would-be
auto-approval is downgraded to ``ask``; the :class:`Decision` says so (:attr:`Decision.floor`)
and names the rule that would have fired. A founder's rule like ``recipients_known == true``
was written for ordinary replies; a prompt-injected mail must not turn it into a send to
someone else. :func:`auto_approve_warning` tells the founder when a new rule could auto-approve
untrusted content (it is added all the same).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from solodesk.core import kinds as K
from solodesk.core.kinds import FactField
from solodesk.core.risk import Risk


class Outcome(enum.StrEnum):
    """What a rule decides."""

    AUTO_APPROVE = "auto_approve"
    ASK = "ask"
    BLOCK = "block"


class RuleError(ValueError):
    """A rule or condition that cannot be parsed; the message says what is allowed."""


OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not-in")
_ORDERED = ("==", "!=", "<", "<=", ">", ">=")

#: The facts of every action, whatever its kind.
COMMON_FIELDS: dict[str, FactField] = {
    "agent": FactField("str", ("==", "!=", "in", "not-in"), "the proposing agent"),
    "kind": FactField("str", ("==", "!=", "in", "not-in"), "the action kind"),
    "risk": FactField("risk", _ORDERED, "low / medium / high"),
    "untrusted": FactField("bool", ("==", "!="), "derived from untrusted content"),
    "amount_cents": FactField("int", _ORDERED, "money moved, in minor units (0 if none)"),
}


def fields_for(kind: str = "*") -> dict[str, FactField]:
    """The facts a rule for ``kind`` may test: the common ones and the kind's (for ``*``:
    every registered kind's).

    Raises:
        RuleError: ``kind`` is neither ``*`` nor a registered kind.
    """
    out = dict(COMMON_FIELDS)
    if kind == "*":
        for each in K.specs():
            for name, decl in each.fact_fields.items():
                out.setdefault(name, decl)
        return out
    spec = K.find(kind)
    if spec is None:
        raise RuleError(f"kind must be * or one of {', '.join(K.names())}, not {kind!r}")
    out.update(spec.fact_fields)
    return out


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``; ``value`` is a str, int, bool or list of str."""

    field: str
    op: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        value = ",".join(self.value) if isinstance(self.value, list) else self.value
        if isinstance(value, bool):
            value = str(value).lower()
        return f"{self.field} {self.op} {value}"


def parse_condition(text: str, *, kind: str = "*") -> Condition:
    """Parse ``"FIELD OP VALUE"``, e.g. ``"recipient_domains in example.com,acme.io"``, for a
    rule on ``kind`` (``*``: any kind; see :func:`fields_for`).

    Raises:
        RuleError: unknown kind, a field the kind does not have, an operator not allowed for
            the field, or a bad value.
    """
    fields = fields_for(kind)
    parts = text.strip().split(None, 2)
    if len(parts) != 3:
        raise RuleError(f"condition {text!r} must be 'FIELD OP VALUE'")
    name, op, raw = parts
    if name not in fields:
        where = "" if kind == "*" else f" for {kind}"
        raise RuleError(f"unknown field {name!r}{where}; fields: {', '.join(fields)}")
    decl = fields[name]
    if op not in decl.ops:
        raise RuleError(f"{name} takes {' '.join(decl.ops)}, not {op!r}")
    value: Any
    if op in ("in", "not-in"):
        value = [v.strip().lower() for v in raw.split(",") if v.strip()]
        if not value:
            raise RuleError(f"{name} {op} needs a comma-separated list")
    elif decl.type == "bool":
        if raw.lower() not in ("true", "false"):
            raise RuleError(f"{name} is true or false, not {raw!r}")
        value = raw.lower() == "true"
    elif decl.type == "int":
        try:
            value = int(raw)
        except ValueError:
            raise RuleError(f"{name} needs a whole number, not {raw!r}") from None
    elif decl.type == "risk":
        try:
            value = Risk.parse(raw).label
        except ValueError as exc:
            raise RuleError(str(exc)) from None
    else:
        value = raw.strip()
    return Condition(name, op, value)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule as stored.

    Attributes:
        id: Row id (0 before it is stored).
        position: Evaluation order, lowest first.
        kind: An action kind value, or ``*`` for every kind.
        conditions: All must hold.
        outcome: What happens when the rule matches.
        note: The founder's description.
    """

    id: int
    position: int
    kind: str
    conditions: tuple[Condition, ...]
    outcome: Outcome
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "kind": self.kind,
            "conditions": [c.to_json() for c in self.conditions],
            "outcome": self.outcome.value,
            "note": self.note,
        }

    def describe(self) -> str:
        when = " and ".join(str(c) for c in self.conditions) or "always"
        return f"#{self.id} [{self.position}] {self.kind}: when {when} → {self.outcome.value}"


def conditions_from_json(text: str) -> tuple[Condition, ...]:
    """Conditions stored as JSON (a list of ``{"field", "op", "value"}``)."""
    return tuple(Condition(c["field"], c["op"], c["value"]) for c in json.loads(text or "[]"))


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome and the rule that fired (None: the default, ask).

    Attributes:
        floor: Why the policy floor turned the rule's ``auto_approve`` into ``ask`` ('' if it
            did not); ``rule`` is then the rule that would have fired.
    """

    outcome: Outcome
    rule: PolicyRule | None = None
    explanation: list[str] = field(default_factory=list)
    floor: str = ""

    @property
    def rule_id(self) -> int | None:
        return self.rule.id if self.rule is not None else None


def _compare(fact: Any, op: str, value: Any) -> bool:
    if op in ("in", "not-in"):
        items = [str(x).lower() for x in (fact if isinstance(fact, list) else [fact])]
        allowed = {str(v).lower() for v in value}
        if op == "in":
            return bool(items) and all(i in allowed for i in items)
        return not any(i in allowed for i in items)
    if isinstance(value, str) and value in ("low", "medium", "high"):
        value = Risk.parse(value)
        fact = Risk.parse(str(fact)) if isinstance(fact, str) else fact
    ops = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    try:
        return bool(ops[op](fact, value))
    except TypeError:
        return False


def matches(rule: PolicyRule, kind: str, facts: Mapping[str, Any]) -> bool:
    """Whether ``rule`` applies to an action of ``kind`` with ``facts``."""
    if rule.kind not in ("*", kind):
        return False
    return all(_compare(facts.get(c.field), c.op, c.value) for c in rule.conditions)


def admits_high_risk(rule: PolicyRule) -> bool:
    """Whether ``rule`` names high risk explicitly: a condition on ``risk`` that ``high``
    satisfies (``risk <= high``, ``risk == high``, ``risk > medium``...)."""
    return any(
        c.field == "risk" and _compare(Risk.HIGH, c.op, c.value) for c in rule.conditions
    )


def excludes_untrusted(conditions: Sequence[Condition]) -> bool:
    """Whether a condition keeps proposals derived from untrusted content out
    (``untrusted == false``, ``untrusted != true``)."""
    return any(c.field == "untrusted" and not _compare(True, c.op, c.value) for c in conditions)


def bounds_risk(conditions: Sequence[Condition]) -> bool:
    """Whether a condition on ``risk`` keeps high-risk proposals out (``risk <= low``...)."""
    return any(c.field == "risk" and not _compare(Risk.HIGH, c.op, c.value) for c in conditions)


FLOOR_REASON = (
    "policy floor: a high-risk proposal derived from untrusted content is never auto-approved "
    "unless the rule names high risk (e.g. 'risk <= high'); it waits for you"
)


def evaluate(rules: Sequence[PolicyRule], kind: str, facts: Mapping[str, Any]) -> Decision:
    """The first matching rule in ``position`` order decides; none matching means ask.

    An ``auto_approve`` of a high-risk proposal derived from untrusted content becomes ``ask``
    unless the rule names high risk (the policy floor, see the module docstring).
    """
    for rule in sorted(rules, key=lambda r: (r.position, r.id)):
        if matches(rule, kind, facts):
            if (
                rule.outcome is Outcome.AUTO_APPROVE
                and facts.get("untrusted") is True
                and _compare(facts.get("risk"), "==", "high")
                and not admits_high_risk(rule)
            ):
                return Decision(
                    Outcome.ASK,
                    rule,
                    [f"{rule.describe()} (would have fired)", FLOOR_REASON],
                    floor=FLOOR_REASON,
                )
            return Decision(rule.outcome, rule, [rule.describe()])
    return Decision(Outcome.ASK, None, ["no rule matched: the default is to ask"])


def auto_approve_warning(outcome: Outcome, conditions: Sequence[Condition]) -> str:
    """Why a rule could auto-approve proposals derived from untrusted content ('' if it
    cannot): it auto-approves and has no condition excluding untrusted content or bounding
    risk. The rule is still allowed; this is for the founder to read before relying on it."""
    if outcome is not Outcome.AUTO_APPROVE or excludes_untrusted(conditions):
        return ""
    rule = PolicyRule(0, 0, "*", tuple(conditions), outcome)
    if admits_high_risk(rule):
        return (
            "this rule names high risk, so it auto-approves even high-risk proposals derived "
            "from untrusted content (imported mail): a prompt-injected mail could make an agent "
            "propose what this rule sends. Add 'untrusted == false' unless that is intended."
        )
    if bounds_risk(conditions):
        return ""
    return (
        "this rule can auto-approve proposals derived from untrusted content (imported mail) "
        "whatever their risk. High-risk ones still wait for you (policy floor), but a "
        "prompt-injected mail could make an agent propose a low- or medium-risk action this "
        "rule approves. Add 'untrusted == false' or a risk bound such as 'risk <= low' to "
        "narrow it."
    )


def common_facts(
    *, agent: str, kind: str, risk: Risk, untrusted: bool, amount_cents: int = 0
) -> dict[str, Any]:
    """The facts of :data:`COMMON_FIELDS` (a kind adds its own, ``KindSpec.facts``)."""
    return {
        "agent": agent,
        "kind": kind,
        "risk": risk,
        "untrusted": untrusted,
        "amount_cents": amount_cents,
    }


def facts(
    *,
    agent: str,
    risk: Risk,
    untrusted: bool,
    recipients: Sequence[str],
    known: bool,
    amount_cents: int = 0,
    kind: str = "",
) -> dict[str, Any]:
    """The facts of a mail proposal: the common facts and the mail kinds' recipient facts
    (``core.kinds.mail.recipient_facts``)."""
    from solodesk.core.kinds.mail import recipient_facts

    return {
        **common_facts(
            agent=agent, kind=kind, risk=risk, untrusted=untrusted, amount_cents=amount_cents
        ),
        **recipient_facts(recipients, known),
    }
