"""Policy rules: the founder's standing decisions about kinds of actions.

A rule names an action kind (or ``*``), conditions on the proposal's facts, and an outcome:
``auto_approve``, ``ask`` or ``block``. Rules are evaluated in ``position`` order and the first
rule whose kind and every condition match decides; with no match the outcome is ``ask``
(everything asks by default). Only the founder changes rules (CLI or settings page); no agent
tool can read or write them.

Conditions are ``FIELD OP VALUE`` over :func:`facts`:

=====================  ===========================================  ======================
field                  meaning                                      ops
=====================  ===========================================  ======================
``agent``              the proposing agent                          ``==`` ``!=`` ``in``
``risk``               low / medium / high                          ``==`` ``<=`` ``<`` ...
``untrusted``          derived from untrusted content               ``==``
``recipient_domains``  every recipient's domain                     ``in`` ``not-in``
``recipients``         every recipient address                      ``in`` ``not-in``
``recipient_count``    number of To + Cc                            ``<=`` ``<`` ``==`` ...
``recipients_known``   every recipient mailed before or in source   ``==``
``amount_cents``       money moved (0 if none)                      ``<=`` ``<`` ...
=====================  ===========================================  ======================

For list facts, ``in`` means every element is in the list and ``not-in`` means none is.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from solodesk.core.risk import Risk


class Outcome(enum.StrEnum):
    """What a rule decides."""

    AUTO_APPROVE = "auto_approve"
    ASK = "ask"
    BLOCK = "block"


class RuleError(ValueError):
    """A rule or condition that cannot be parsed; the message says what is allowed."""


OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not-in")
FIELDS: dict[str, tuple[str, ...]] = {
    "agent": ("==", "!=", "in", "not-in"),
    "risk": ("==", "!=", "<", "<=", ">", ">="),
    "untrusted": ("==", "!="),
    "recipient_domains": ("in", "not-in"),
    "recipients": ("in", "not-in"),
    "recipient_count": ("==", "!=", "<", "<=", ">", ">="),
    "recipients_known": ("==", "!="),
    "amount_cents": ("==", "!=", "<", "<=", ">", ">="),
}
_BOOL_FIELDS = ("untrusted", "recipients_known")
_INT_FIELDS = ("recipient_count", "amount_cents")


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


def parse_condition(text: str) -> Condition:
    """Parse ``"FIELD OP VALUE"``, e.g. ``"recipient_domains in example.com,acme.io"``.

    Raises:
        RuleError: unknown field, operator not allowed for the field, or a bad value.
    """
    parts = text.strip().split(None, 2)
    if len(parts) != 3:
        raise RuleError(f"condition {text!r} must be 'FIELD OP VALUE'")
    name, op, raw = parts
    if name not in FIELDS:
        raise RuleError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
    if op not in FIELDS[name]:
        raise RuleError(f"{name} takes {' '.join(FIELDS[name])}, not {op!r}")
    value: Any
    if op in ("in", "not-in"):
        value = [v.strip().lower() for v in raw.split(",") if v.strip()]
        if not value:
            raise RuleError(f"{name} {op} needs a comma-separated list")
    elif name in _BOOL_FIELDS:
        if raw.lower() not in ("true", "false"):
            raise RuleError(f"{name} is true or false, not {raw!r}")
        value = raw.lower() == "true"
    elif name in _INT_FIELDS:
        try:
            value = int(raw)
        except ValueError:
            raise RuleError(f"{name} needs a whole number, not {raw!r}") from None
    elif name == "risk":
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
    """The outcome and the rule that fired (None: the default, ask)."""

    outcome: Outcome
    rule: PolicyRule | None = None
    explanation: list[str] = field(default_factory=list)

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


def evaluate(rules: Sequence[PolicyRule], kind: str, facts: Mapping[str, Any]) -> Decision:
    """The first matching rule in ``position`` order decides; none matching means ask."""
    for rule in sorted(rules, key=lambda r: (r.position, r.id)):
        if matches(rule, kind, facts):
            return Decision(rule.outcome, rule, [rule.describe()])
    return Decision(Outcome.ASK, None, ["no rule matched: the default is to ask"])


def facts(
    *,
    agent: str,
    risk: Risk,
    untrusted: bool,
    recipients: Sequence[str],
    known: bool,
    amount_cents: int = 0,
) -> dict[str, Any]:
    """The facts conditions are evaluated on."""
    return {
        "agent": agent,
        "risk": risk,
        "untrusted": untrusted,
        "recipient_domains": sorted({r.rsplit("@", 1)[-1].lower() for r in recipients}),
        "recipients": [r.lower() for r in recipients],
        "recipient_count": len(recipients),
        "recipients_known": known,
        "amount_cents": amount_cents,
    }
