"""Risk of a proposed action, from its kind, payload and provenance.

Levels: ``low`` (a reply to the people who wrote, nothing unusual), ``medium`` (external
recipients the founder has not mailed before, or a new conversation), ``high`` (recipients that
appear nowhere in the untrusted input it was derived from, many recipients, hidden characters or
disguised links, money, irreversible effects, and the phishing signals of the mail it answers:
``core.phishing``). Each level comes with the reasons that raised it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from solodesk.core.actions import ActionKind, Provenance
from solodesk.core.inspect import hidden_characters, links
from solodesk.core.mail import all_recipients, domain_of
from solodesk.core.phishing import SenderFacts, sender_signals

MANY_RECIPIENTS = 5


class Risk(enum.IntEnum):
    """Ordered risk levels (compare with ``<``)."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Risk:
        """``"low"``/``"medium"``/``"high"`` (case-insensitive).

        Raises:
            ValueError: not a level.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"risk must be low, medium or high, not {text!r}") from None


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """A level and why."""

    level: Risk
    reasons: list[str] = field(default_factory=list)


def recipients(payload: Mapping[str, Any]) -> list[str]:
    """Lower-cased addr-specs of To and Cc."""
    return [a.lower() for a in all_recipients(payload)]


def assess(
    kind: ActionKind,
    payload: Mapping[str, Any],
    provenance: Provenance,
    *,
    own_domain: str = "",
    source_participants: Collection[str] = (),
    known_addresses: Collection[str] = (),
    sender: SenderFacts | None = None,
) -> RiskAssessment:
    """Assess one proposal.

    Args:
        own_domain: The founder's mail domain (from ``smtp.from``); recipients there are internal.
        source_participants: Lower-cased addr-specs in the untrusted input's
            From/Reply-To/To/Cc.
        known_addresses: Lower-cased addresses the founder has corresponded with.
        sender: Facts about the sender of the mail the proposal answers; its phishing signals
            (``core.phishing.sender_signals``) become reasons.
    """
    level = Risk.LOW
    reasons: list[str] = []

    def raise_to(new: Risk, why: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(why)

    if kind in (ActionKind.SEND_EMAIL, ActionKind.REPLY_EMAIL):
        rcpts = recipients(payload)
        external = [a for a in rcpts if domain_of(a) != own_domain.lower()]
        if len(rcpts) > MANY_RECIPIENTS:
            raise_to(Risk.HIGH, f"{len(rcpts)} recipients")
        participants = {a.lower() for a in source_participants}
        if provenance.untrusted:
            outsiders = [a for a in rcpts if a not in participants]
            if outsiders:
                raise_to(
                    Risk.HIGH,
                    "recipients not in the email it answers: " + ", ".join(outsiders),
                )
        if kind is ActionKind.SEND_EMAIL:
            raise_to(Risk.MEDIUM, "starts a new conversation")
        unknown = [a for a in external if a not in participants and a not in known_addresses]
        if unknown and not provenance.untrusted:
            raise_to(Risk.MEDIUM, "external recipients not mailed before: " + ", ".join(unknown))
        for name in ("subject", "body"):
            hidden = hidden_characters(name, str(payload.get(name, "")))
            if hidden:
                raise_to(
                    Risk.HIGH,
                    f"hidden characters in {name}: "
                    + ", ".join(sorted({h.codepoint for h in hidden})),
                )
        for addr in [str(v) for v in list(payload.get("to") or []) + list(payload.get("cc") or [])]:
            if hidden_characters("to", addr):
                raise_to(Risk.HIGH, f"hidden characters in recipient {addr!r}")
        disguised = [lk for lk in links(str(payload.get("body", ""))) if lk.disguised]
        if disguised:
            raise_to(Risk.HIGH, "link text differs from its target: " + disguised[0].target)
        if sender is not None:
            for signal in sender_signals(sender):
                raise_to(Risk.parse(signal.level), "source mail: " + signal.reason)
    else:  # an unknown kind is never low risk
        raise_to(Risk.HIGH, f"unreviewed action kind {kind}")
    amount = payload.get("amount_cents")
    if isinstance(amount, int) and amount > 0:
        raise_to(Risk.HIGH, f"moves money ({amount / 100:.2f})")
    return RiskAssessment(level, reasons)
