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

from solodesk.core.actions import Provenance
from solodesk.core.mail import all_recipients
from solodesk.core.phishing import SenderFacts


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
    kind: str,
    payload: Mapping[str, Any],
    provenance: Provenance,
    *,
    own_domain: str = "",
    source_participants: Collection[str] = (),
    known_addresses: Collection[str] = (),
    sender: SenderFacts | None = None,
) -> RiskAssessment:
    """Assess one proposal with its kind's assessor (``core.kinds``); an unregistered kind,
    or a payload that does not match its kind's schema, is high risk. Promises are not checked
    here (no thread is given): ``inbox.gates`` does that with the thread.

    Args:
        kind: A registered action kind name.
        own_domain: The founder's mail domain (from ``smtp.from``); recipients there are internal.
        source_participants: Lower-cased addr-specs in the untrusted input's
            From/Reply-To/To/Cc.
        known_addresses: Lower-cased addresses the founder has corresponded with.
        sender: Facts about the sender of the mail the proposal answers; its phishing signals
            (``core.phishing.sender_signals``) become reasons.
    """
    from solodesk.core import kinds  # the registry imports this module

    ctx = kinds.RiskContext(
        own_domain=own_domain,
        source_participants=source_participants,
        known_addresses=known_addresses,
        sender=sender,
    )
    return kinds.assess(kind, payload, provenance, ctx)
