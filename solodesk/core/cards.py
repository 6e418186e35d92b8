"""Agent cards: one agent declared in one TOML file (TOML 1.0, read with :mod:`tomllib`).

A card names the agent, says what it is for, which model it uses (a litellm model string; none:
the ``llm.model`` setting), which tools it may call, which action kinds it may propose (each
becomes a ``propose_<kind>`` tool), how many model calls a run of it may make, how many
delegations it runs at once (a card with the ``delegate`` tool), its daily budget in USD, and
its system prompt. Example::

    name = "marketing"
    role = "Writes posts, newsletters and landing copy"
    description = "Drafts marketing text in the founder's tone of voice."
    tools = ["list_proposals"]
    kinds = []          # action kinds it may propose (names from core.kinds)
    max_steps = 6
    prompt = '''
    You are the marketing specialist of {company}...
    '''

This module is pure: the caller passes the tool and kind names it knows (``agents.tools``,
``core.kinds``). A broken card raises :class:`CardError` naming the file and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: A card's ``name``: lower_snake_case, starting with a letter.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")

#: Model calls a run may make when the card does not say.
DEFAULT_MAX_STEPS = 8
#: The most a card may set ``max_steps`` to.
MAX_STEPS_LIMIT = 50
#: The most a card may set ``max_parallel`` to.
MAX_PARALLEL_LIMIT = 16

#: The tool that starts a child run of another agent (``agents.loop``).
DELEGATE_TOOL = "delegate"

#: The prefix of the proposal tools generated from a card's kinds: ``propose_<kind>``.
PROPOSE_PREFIX = "propose_"

#: Where a loaded card came from: shipped with SoloDesk, the founder's file replacing a
#: shipped card of the same name, or the founder's own new agent.
CardOrigin = Literal["shipped", "override", "added"]

_FIELDS: dict[str, str] = {
    "name": "text, lower_snake_case",
    "role": "one line of text",
    "description": "text",
    "model": "a litellm model string",
    "tools": "a list of tool names",
    "kinds": "a list of action kinds",
    "max_steps": "a whole number",
    "max_parallel": "a whole number",
    "budget_usd": "a number of US dollars",
    "first_tool": "the name of one of its tools",
    "keywords": "a list of words or phrases",
    "prompt": "text",
}
_REQUIRED = ("name", "role", "prompt")


class CardError(ValueError):
    """A card that cannot be used.

    Attributes:
        source: The card's file (or what the text came from).
        field: The field at fault, or None (a TOML syntax error).
        reason: What is wrong, one line.
    """

    def __init__(self, source: str, field: str | None, reason: str) -> None:
        where = f"{source}: " + (f"field {field!r}: " if field else "")
        super().__init__(where + reason)
        self.source = source
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AgentCard:
    """One agent, as its card declares it.

    Attributes:
        name: ``[a-z][a-z0-9_]*``; a card in the data folder with a shipped card's name
            replaces it.
        role: One line (lists, the manager's view of its team).
        description: What it does and when to delegate to it.
        prompt: The system prompt; ``{company}`` and ``{founder}`` are filled in.
        model: A litellm model string overriding ``llm.model``, or None.
        tools: Tool names (``agents.tools``), in the card's order.
        kinds: Action kinds it may propose (``core.kinds``); each is a ``propose_<kind>`` tool.
        max_steps: Model calls one run may make (1..50).
        max_parallel: Delegations run at once (only with the ``delegate`` tool); None: the
            ``agents.max_parallel`` setting.
        budget_usd: USD per day this agent may spend (``agents.budget``), or None.
        first_tool: On a model that cannot choose between answering and calling a tool (the
            local model), the run's first model call must call this tool (constrained
            decoding), e.g. the manager's ``delegate``; None: the model chooses. One of its
            ``tools`` or ``propose_<kind>`` of its ``kinds``.
        keywords: Words and phrases of the requests it handles (``newsletter``, ``nda``): on
            a model that cannot route (the local model) the manager hands a request to the
            agents whose keywords it contains (:func:`route`).
        source: The file it was read from.
        origin: ``shipped``, ``override`` or ``added`` (set by the loader).
    """

    name: str
    role: str
    prompt: str
    description: str = ""
    model: str | None = None
    tools: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    max_steps: int = DEFAULT_MAX_STEPS
    max_parallel: int | None = None
    budget_usd: float | None = None
    first_tool: str | None = None
    keywords: tuple[str, ...] = ()
    source: str = ""
    origin: CardOrigin = "shipped"

    @property
    def delegates(self) -> bool:
        """Whether it may hand work to other agents (lists the ``delegate`` tool)."""
        return DELEGATE_TOOL in self.tools

    def filled_prompt(self, values: Mapping[str, str]) -> str:
        """The prompt with ``{placeholder}`` replaced by ``values`` (others kept as written)."""
        text = self.prompt
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text


def _names(source: str, field: str, value: object, known: Collection[str], what: str) -> tuple[
    str, ...
]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CardError(source, field, f"must be {_FIELDS[field]}, like [\"a\", \"b\"]")
    unknown = [v for v in value if v not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise CardError(source, field, f"unknown {what} {unknown[0]!r}; known: {listed}")
    if len(set(value)) != len(value):
        raise CardError(source, field, "lists a name twice")
    return tuple(value)


def _int(source: str, field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CardError(source, field, f"must be {_FIELDS[field]}, not {value!r}")
    if not low <= value <= high:
        raise CardError(source, field, f"must be from {low} to {high}, not {value}")
    return value


def _text(source: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise CardError(source, field, f"must be {_FIELDS[field]}, not {type(value).__name__}")
    return value


def parse_card(
    text: str,
    source: str,
    *,
    known_tools: Collection[str],
    known_kinds: Collection[str],
) -> AgentCard:
    """Read one card.

    Args:
        text: The card's TOML text.
        source: Its file, named in every error.
        known_tools: The tool names a card may list.
        known_kinds: The action kinds a card may list.

    Returns:
        The card (``origin`` shipped; the loader sets the real one).

    Raises:
        CardError: a TOML syntax error (with line and column), a missing or unknown field, a
            value of the wrong type or out of range, an unknown tool or kind.
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CardError(source, None, f"TOML syntax error: {exc}") from None
    for key in data:
        if key not in _FIELDS:
            raise CardError(source, key, "unknown field; fields: " + ", ".join(_FIELDS))
    for key in _REQUIRED:
        if key not in data:
            raise CardError(source, key, "is missing")
    name = _text(source, "name", data["name"])
    if not NAME_PATTERN.match(name):
        raise CardError(source, "name", f"must be lower_snake_case ([a-z][a-z0-9_]*), not {name!r}")
    role = _text(source, "role", data["role"]).strip()
    if not role or "\n" in role:
        raise CardError(source, "role", "must be one line of text, not empty")
    prompt = _text(source, "prompt", data["prompt"]).strip()
    if not prompt:
        raise CardError(source, "prompt", "must not be empty")
    description = _text(source, "description", data.get("description", "")).strip()
    model: str | None = None
    if "model" in data:
        model = _text(source, "model", data["model"]).strip() or None
    tools = _names(source, "tools", data.get("tools", []), known_tools, "tool")
    kinds = _names(source, "kinds", data.get("kinds", []), known_kinds, "action kind")
    max_steps = DEFAULT_MAX_STEPS
    if "max_steps" in data:
        max_steps = _int(source, "max_steps", data["max_steps"], 1, MAX_STEPS_LIMIT)
    max_parallel: int | None = None
    if "max_parallel" in data:
        max_parallel = _int(source, "max_parallel", data["max_parallel"], 1, MAX_PARALLEL_LIMIT)
        if DELEGATE_TOOL not in tools:
            raise CardError(
                source, "max_parallel", f"only a card with the {DELEGATE_TOOL!r} tool runs "
                "delegations in parallel"
            )
    budget: float | None = None
    if "budget_usd" in data:
        value = data["budget_usd"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CardError(source, "budget_usd", f"must be a number of US dollars >= 0, not "
                            f"{value!r}")
        budget = float(value)
    first_tool: str | None = None
    if "first_tool" in data:
        first_tool = _text(source, "first_tool", data["first_tool"]).strip()
        own = [*tools, *(PROPOSE_PREFIX + k for k in kinds)]
        if first_tool not in own:
            raise CardError(source, "first_tool", f"{first_tool!r} is not one of its tools; "
                            f"its tools: {', '.join(own) or 'none'}")
    keywords: tuple[str, ...] = ()
    if "keywords" in data:
        value = data["keywords"]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            raise CardError(source, "keywords", f"must be {_FIELDS['keywords']}, like "
                            "[\"newsletter\", \"landing page\"]")
        keywords = tuple(" ".join(v.lower().split()) for v in value)
    return AgentCard(
        name=name, role=role, prompt=prompt, description=description, model=model,
        tools=tools, kinds=kinds, max_steps=max_steps, max_parallel=max_parallel,
        budget_usd=budget, first_tool=first_tool, keywords=keywords, source=source,
    )


#: The most agents a request is routed to by keywords.
MAX_ROUTED = 3


def route(text: str, cards: Iterable[AgentCard]) -> list[str]:
    """The agents a request goes to when the model cannot choose (the local model): those
    whose :attr:`AgentCard.keywords` occur in ``text`` as whole words (a plural ``s``/``es``
    allowed, case-insensitive), most matches first, at most :data:`MAX_ROUTED`; empty when none
    matches (the model then answers itself)."""
    low = " ".join(text.lower().split())
    scored = []
    for order, card in enumerate(cards):
        hits = sum(1 for kw in card.keywords
                   if re.search(rf"(?<!\w){re.escape(kw)}(?:s|es)?(?!\w)", low))
        if hits:
            scored.append((-hits, order, card.name))
    return [name for _hits, _order, name in sorted(scored)[:MAX_ROUTED]]
