"""Plain data exchanged with the model gateway (no litellm types leak past ``llm.gateway``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": ..., "content": ..., ...}``."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call from the model; ``arguments`` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class LLMCallRecord:
    """Usage of one model call, stored in the ``llm_calls`` table.

    Attributes:
        model: The litellm model string.
        purpose: What the call was for (``chat``, ``triage``...).
        tokens_in: Prompt tokens (None if the provider did not say).
        tokens_out: Completion tokens.
        cost_usd: Cost in US dollars from litellm's price list (None if unknown, e.g. local).
        latency_ms: Wall-clock milliseconds from request to last byte.
        error: One-line error, None on success.
        run_id: The run the call was made for (``core.runs``), None outside a run.
    """

    model: str
    purpose: str
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    latency_ms: int
    error: str | None = None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished, non-streamed model reply."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None


class LLMError(Exception):
    """A model call failed (timeout, connection, provider error). The message says what to do.

    Attributes:
        server_refused: The server answered with an error (HTTP 4xx/5xx other than auth),
            as opposed to a timeout or connection failure; a caller may retry differently
            (e.g. without streaming).
    """

    def __init__(self, message: str, *, server_refused: bool = False) -> None:
        super().__init__(message)
        self.server_refused = server_refused


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """What a model call is about to cost at most, checked before it is made.

    Attributes:
        model: The litellm model string. ``purpose``: what the call is for.
        run_id: The run it is made for, or None.
        tokens_in: Prompt tokens (litellm's ``token_counter``).
        tokens_out: Most answer tokens (``llm.max_tokens``).
        cost_usd: Their price in USD from litellm's offline price map or the founder's price
            settings; 0 for the local model, and 0 when no price is known.
        priced: False when no price is known for the model (not the local model, not in the
            price map, no price set): its cost cannot be checked against a budget.
    """

    model: str
    purpose: str
    run_id: int | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    priced: bool = True


class OverBudget(LLMError):
    """A model call was not made: it could cross a budget. The run pauses with its state kept;
    raising the budget and running again resumes.

    Attributes:
        scope: Which budget (``daily``, ``monthly``, ``agent support``, ``job morning-mail``).
        limit_usd: The budget. ``spent_usd``: spent in its period before this call.
        estimate_usd: The call's estimated most cost.
    """

    def __init__(self, scope: str, limit_usd: float, spent_usd: float, estimate_usd: float,
                 message: str) -> None:
        super().__init__(message)
        self.scope = scope
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd
