"""The memory kind: ``remember_fact``, a fact an agent wants the shared memory to hold.

Agents never write memory directly: a fact enters it only when the founder approves the
proposal, and the executor (``actions/executors/memory.py``) stores it once (``facts.action_id``
is unique). The payload is the fact's text and where it comes from (``ref``, e.g. ``mail #12``);
the fact's provenance (``mail``/``agent``, untrusted) comes from the proposal's, never from the
payload, so an agent cannot launder mail into a trusted fact.

Risk: low; medium when the proposal is untrusted (its run read mail or other text the founder
did not write): an untrusted fact is remembered marked untrusted and always quoted as such.
No undo window: approving stores it at once (and ``solodesk memory forget`` undoes it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from solodesk.core.actions import Provenance
from solodesk.core.kinds import KindSpec, RiskContext, register
from solodesk.core.memory import MAX_FACT_CHARS, FactError, clean_fact_text
from solodesk.core.risk import Risk, RiskAssessment

REMEMBER_FACT = "remember_fact"


class RememberFactPayload(BaseModel):
    """A fact to remember.

    Attributes:
        text: The fact, one short self-contained statement (at most 1000 characters).
        ref: Where it comes from (``mail #12``, ``the founder's chat``), may be empty.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1, max_length=MAX_FACT_CHARS,
        description="The fact: one short, self-contained statement (who, what, numbers)",
        json_schema_extra={"x-multiline": True},
    )
    ref: str = Field(
        default="", max_length=200,
        description="Where it comes from, e.g. 'mail #12' or 'the founder's chat'",
    )

    @field_validator("text")
    @classmethod
    def _clean(cls, v: str) -> str:
        try:
            return clean_fact_text(v)
        except FactError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("ref")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())


def summary(p: RememberFactPayload) -> str:
    """``Remember: <the fact>`` (first line, at most 100 characters)."""
    first = p.text.splitlines()[0]
    return "Remember: " + (first if len(first) <= 100 else first[:99] + "…")


def assess(p: RememberFactPayload, provenance: Provenance, _ctx: RiskContext) -> RiskAssessment:
    """Low; medium when derived from untrusted text."""
    if provenance.untrusted:
        return RiskAssessment(Risk.MEDIUM, [
            "derived from text the founder did not write (it is remembered as untrusted)"
        ])
    return RiskAssessment(Risk.LOW, ["adds a fact to the shared memory (forget undoes it)"])


def facts(p: RememberFactPayload, _ctx: RiskContext) -> dict[str, Any]:
    """No kind-specific policy facts (the common ones: agent, risk, untrusted)."""
    return {}


REMEMBER_FACT_SPEC = register(
    KindSpec(
        name=REMEMBER_FACT,
        title="Remember a fact",
        label="Fact",
        payload_model=RememberFactPayload,
        summary=summary,
        assess=assess,
        facts=facts,
        undo_window=False,
    )
)
