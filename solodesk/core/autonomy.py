"""Earned autonomy: how often the founder approves each agent's proposals as they are, and the
policy rule that would have approved a run of them.

From the founder's decisions in the audit trail (``store.autonomy``), per agent and action
kind: proposals approved without an edit, approved after an edit, and rejected (approvals and
blocks by a policy rule are counted apart: a rule decided them). Per agent, kind and
**pattern** (the recipient domains of a mail kind, the account of a posting: the first of
:data:`PATTERN_FACTS` the kind declares) the latest unbroken run of unedited approvals: an edit
or a rejection in that pattern starts it again. After N of them (the ``autonomy.offer_after``
setting) :func:`offers` offers the rule, in the syntax of ``core.policy``, that would have
approved them, with the evidence (their action ids). Nothing here creates a rule: the founder
accepts an offer (``solodesk policy suggest --accept K``).

Never for high-risk content: a high-risk proposal's approval is no evidence, and every offered
rule bounds risk (``risk <= low`` or ``risk <= medium``, the highest risk among the evidence),
so it can never auto-approve a high-risk proposal, untrusted or not; when none of the evidence
came from untrusted content the rule also says ``untrusted == false``. A pattern that one of
the founder's rules already decides (auto-approve, ask or block) is not offered again.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from solodesk.core import kinds as K
from solodesk.core.policy import (
    Condition,
    Outcome,
    PolicyRule,
    common_facts,
    evaluate,
    parse_condition,
)
from solodesk.core.risk import Risk

#: The facts that name a kind's pattern, in order of preference.
PATTERN_FACTS = ("recipient_domains", "account")

#: How the founder decided: approved as proposed, approved after an edit, rejected, or a
#: policy rule decided (``rule``).
Verdict = Literal["approved", "edited", "rejected", "rule"]


@dataclass(frozen=True, slots=True)
class Decided:
    """One decided proposal.

    Attributes:
        action_id: The proposal. ``agent``, ``kind``: who proposed what.
        outcome: How it was decided (:data:`Verdict`).
        risk: ``low``/``medium``/``high`` as stored. ``untrusted``: derived from untrusted
            content.
        pattern: ``(fact, value)`` of its pattern (``("recipient_domains", ("acme.example",))``,
            ``("account", "Expenses:Software")``), None for a kind without one.
        order: The audit entry id of the decision (decisions are taken in this order).
    """

    action_id: int
    agent: str
    kind: str
    outcome: Verdict
    risk: str
    untrusted: bool
    pattern: tuple[str, Any] | None
    order: int


def pattern_of(kind: str, payload: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The pattern of a payload: ``(fact, value)`` for the first of :data:`PATTERN_FACTS`
    its kind declares (a list value as a sorted tuple), None for a kind without one or a
    payload its kind cannot read."""
    spec = K.find(kind)
    if spec is None:
        return None
    names = [f for f in PATTERN_FACTS if f in spec.fact_fields]
    if not names:
        return None
    try:
        facts = K.facts(kind, payload, K.RiskContext())
    except Exception:  # an old or invalid payload: no pattern
        return None
    value = facts.get(names[0])
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        return names[0], tuple(sorted(str(v).lower() for v in value))
    return names[0], value


@dataclass(frozen=True, slots=True)
class Rate:
    """How the founder decided one agent's proposals of one kind.

    Attributes:
        unedited, edited, rejected: The founder's decisions. ``by_rule``: decided by a rule.
    """

    agent: str
    kind: str
    unedited: int = 0
    edited: int = 0
    rejected: int = 0
    by_rule: int = 0

    @property
    def decided(self) -> int:
        """The founder's decisions."""
        return self.unedited + self.edited + self.rejected

    @property
    def rate(self) -> float | None:
        """Approved without an edit, as a share of the founder's decisions (None: none)."""
        return self.unedited / self.decided if self.decided else None

    def describe(self) -> str:
        share = f"{self.rate:.0%}" if self.rate is not None else "—"
        return (f"{share} approved as proposed ({self.unedited} of {self.decided}; "
                f"{self.edited} edited, {self.rejected} rejected"
                + (f"; {self.by_rule} by a rule" if self.by_rule else "") + ")")


def rates(decided: Iterable[Decided]) -> list[Rate]:
    """One :class:`Rate` per agent and kind, sorted by agent then kind."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for d in decided:
        c = counts.setdefault((d.agent, d.kind), {"approved": 0, "edited": 0, "rejected": 0,
                                                  "rule": 0})
        c[d.outcome] += 1
    return [
        Rate(agent, kind, c["approved"], c["edited"], c["rejected"], c["rule"])
        for (agent, kind), c in sorted(counts.items())
    ]


@dataclass(frozen=True, slots=True)
class Offer:
    """A rule SoloDesk offers: it would have approved :attr:`evidence`.

    Attributes:
        agent, kind: Whose proposals of which kind.
        pattern: ``(fact, value)`` the evidence shares.
        evidence: The unedited approvals, oldest first (action ids).
        max_risk: The highest risk among them (``low`` or ``medium``).
        untrusted: Some of them came from untrusted content.
    """

    agent: str
    kind: str
    pattern: tuple[str, Any]
    evidence: tuple[int, ...]
    max_risk: str
    untrusted: bool
    conditions: tuple[Condition, ...] = field(default=())

    @property
    def note(self) -> str:
        """The rule's note: where it came from."""
        ids = ", ".join(f"#{i}" for i in self.evidence[-10:])
        more = f" (latest: {ids})" if len(self.evidence) > 10 else f" ({ids})"
        return f"earned: {len(self.evidence)} unedited approvals{more}"

    def pattern_text(self) -> str:
        name, value = self.pattern
        shown = ", ".join(value) if isinstance(value, tuple) else str(value)
        return f"{name} {shown}"

    def describe(self) -> str:
        """``support's reply_email to recipient_domains acme.example: 10 unedited approvals``."""
        return (f"{self.agent}'s {self.kind} with {self.pattern_text()}: approved unedited "
                f"{len(self.evidence)} times in a row")

    def rule_text(self) -> str:
        """The rule as ``core.policy`` describes rules, without an id (it does not exist):
        ``reply_email: when agent == support and ... → auto_approve``."""
        described = PolicyRule(0, 0, self.kind, self.conditions, Outcome.AUTO_APPROVE).describe()
        return described.removeprefix("#0 [0] ")

    def command(self) -> str:
        """The ``solodesk policy add`` command that creates it."""
        parts = ["solodesk", "policy", "add", "--kind", self.kind]
        for c in self.conditions:
            parts += ["--when", str(c)]
        parts += ["--then", Outcome.AUTO_APPROVE.value]
        return " ".join(shlex.quote(p) for p in parts)

    def to_json(self) -> dict[str, Any]:
        name, value = self.pattern
        return {
            "agent": self.agent,
            "kind": self.kind,
            "pattern": {"fact": name, "value": list(value) if isinstance(value, tuple) else value},
            "evidence": list(self.evidence),
            "max_risk": self.max_risk,
            "untrusted": self.untrusted,
            "conditions": [c.to_json() for c in self.conditions],
            "rule": self.rule_text(),
            "command": self.command(),
        }


def _conditions(
    agent: str, kind: str, pattern: tuple[str, Any], max_risk: Risk, untrusted: bool
) -> tuple[Condition, ...]:
    name, value = pattern
    op_value = f"in {','.join(value)}" if isinstance(value, tuple) else f"== {value}"
    texts = [f"agent == {agent}", f"{name} {op_value}", f"risk <= {max_risk.label}"]
    if not untrusted:
        texts.append("untrusted == false")
    return tuple(parse_condition(t, kind=kind) for t in texts)


def offers(
    decided: Iterable[Decided], *, after: int, rules: Sequence[PolicyRule] = ()
) -> list[Offer]:
    """The rules earned by at least ``after`` unedited approvals in a row per agent, kind and
    pattern (see the module docstring), most evidence first. ``rules``: the founder's rules
    (a pattern one of them already decides is left out).

    Raises:
        ValueError: ``after`` is below 1.
    """
    if after < 1:
        raise ValueError("after must be at least 1")
    streaks: dict[tuple[str, str, tuple[str, Any]], list[Decided]] = {}
    for d in sorted(decided, key=lambda d: d.order):
        if d.pattern is None or d.outcome == "rule":
            continue
        key = (d.agent, d.kind, d.pattern)
        if d.outcome in ("edited", "rejected"):
            streaks[key] = []
        elif Risk.parse(d.risk) < Risk.HIGH:  # a high-risk approval is no evidence
            streaks.setdefault(key, []).append(d)
    out = []
    for (agent, kind, pattern), run in streaks.items():
        if len(run) < after or K.find(kind) is None:
            continue
        max_risk = max(Risk.parse(d.risk) for d in run)
        untrusted = any(d.untrusted for d in run)
        name, value = pattern
        facts = {
            **common_facts(agent=agent, kind=kind, risk=max_risk, untrusted=untrusted),
            name: list(value) if isinstance(value, tuple) else value,
        }
        if evaluate(rules, kind, facts).rule is not None:
            continue  # the founder already has a standing decision for it
        out.append(Offer(
            agent, kind, pattern, tuple(d.action_id for d in run), max_risk.label, untrusted,
            _conditions(agent, kind, pattern, max_risk, untrusted),
        ))
    out.sort(key=lambda o: (-len(o.evidence), o.agent, o.kind, o.pattern_text()))
    return out
