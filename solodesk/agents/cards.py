"""Loading the agent cards: the shipped ones, then the founder's.

Shipped cards are ``resources/agents/*.toml``; the founder's are ``DATA/agents/*.toml`` (the
data folder). A founder's card with a shipped card's ``name`` replaces it (origin
``override``); one with a new name adds an agent (``added``). A card that cannot be read is
reported in :attr:`CardSet.errors` (file and field) and the others still load; a broken
override leaves the shipped card in place.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from solodesk.core import kinds as K
from solodesk.core.cards import AgentCard, CardError, CardOrigin, parse_card

#: The folder of cards under the data folder and under ``resources/``.
CARDS_FOLDER = "agents"


@dataclass(slots=True)
class CardSet:
    """The agents that loaded, and the cards that did not.

    Attributes:
        cards: Name -> card, shipped order first (sorted by file name), then added ones.
        errors: One :class:`CardError` per card that could not be used.
    """

    cards: dict[str, AgentCard] = field(default_factory=dict)
    errors: list[CardError] = field(default_factory=list)

    def get(self, name: str) -> AgentCard | None:
        """The card named ``name``, or None."""
        return self.cards.get(name)

    def names(self) -> list[str]:
        """Every loaded agent's name."""
        return list(self.cards)

    def __iter__(self) -> Iterator[AgentCard]:
        return iter(self.cards.values())

    def errors_for(self, path: Path | str) -> list[CardError]:
        """The errors of one file."""
        return [e for e in self.errors if e.source == str(path)]


def known_tools() -> list[str]:
    """Every tool name a card may list (``agents.tools``)."""
    from solodesk.agents.tools import tool_names

    return tool_names()


def read_card(
    path: Path,
    *,
    tools: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> AgentCard:
    """Read and check one card file.

    Raises:
        CardError: the file cannot be read as UTF-8, or the card is broken (names the file and
            the field).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CardError(str(path), None, f"cannot be read: {exc}") from None
    return _parse(
        text,
        str(path),
        frozenset(known_tools() if tools is None else tools),
        frozenset(K.names() if kinds is None else kinds),
    )


@functools.lru_cache(maxsize=256)
def _parse(text: str, source: str, tools: frozenset[str], kinds: frozenset[str]) -> AgentCard:
    """:func:`parse_card`, remembered by the card's text, file and the names it may list (the
    card is immutable). Cards are read afresh for every agent turn (an edited card applies to
    the next one): parsing their TOML again each time took about half of a chat turn's
    set-up, on the GUI thread."""
    return parse_card(text, source, known_tools=tools, known_kinds=kinds)


def _folder(folder: Path, tools: Collection[str], kinds: Collection[str]) -> tuple[
    list[AgentCard], list[CardError]
]:
    cards: list[AgentCard] = []
    errors: list[CardError] = []
    if not folder.is_dir():
        return cards, errors
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            card = read_card(path, tools=tools, kinds=kinds)
        except CardError as exc:
            errors.append(exc)
            continue
        if card.name in seen:
            errors.append(CardError(
                str(path), "name", f"{card.name!r} is already the name of {seen[card.name]}"
            ))
            continue
        seen[card.name] = str(path)
        cards.append(card)
    return cards, errors


def load_cards(
    resources_dir: Path,
    data_dir: Path | None,
    *,
    tools: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> CardSet:
    """Load the shipped cards, then the founder's.

    Args:
        resources_dir: SoloDesk's ``resources`` folder (its ``agents/`` holds the shipped
            cards).
        data_dir: The data folder (its ``agents/`` holds the founder's cards), or None.
        tools, kinds: The names a card may list (default: every registered tool and kind).

    Returns:
        The loaded cards and the errors of the others; never raises for a broken card.
    """
    tools = known_tools() if tools is None else tools
    kinds = K.names() if kinds is None else kinds
    out = CardSet()
    shipped, errors = _folder(resources_dir / CARDS_FOLDER, tools, kinds)
    out.errors += errors
    for card in shipped:
        out.cards[card.name] = dataclasses.replace(card, origin="shipped")
    if data_dir is not None:
        own, errors = _folder(data_dir / CARDS_FOLDER, tools, kinds)
        out.errors += errors
        for card in own:
            origin: CardOrigin = "override" if card.name in out.cards else "added"
            out.cards[card.name] = dataclasses.replace(card, origin=origin)
    return out


def shipped_path(resources_dir: Path, name: str) -> Path | None:
    """The shipped file of the card named ``name`` (by its ``name`` field), or None."""
    folder = resources_dir / CARDS_FOLDER
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            if read_card(path).name == name:
                return path
        except CardError:
            continue
    return None


def founder_path(card: AgentCard, data_dir: Path) -> Path:
    """The file the founder edits for ``card``: the card's own file when it is the founder's
    (override or added), else ``DATA/agents/NAME.toml`` (created on the first save)."""
    if card.origin != "shipped":
        return Path(card.source)
    return data_dir / CARDS_FOLDER / f"{card.name}.toml"


def save_card(path: Path, text: str, *, name: str | None = None) -> AgentCard:
    """Check ``text`` as a card and write it to ``path`` (atomically: a temporary file, then a
    rename); nothing is written if it is not a valid card.

    Args:
        path: The founder's card file (``DATA/agents/*.toml``).
        text: The new TOML text.
        name: The agent's name, which the edit must keep (None: any name).

    Returns:
        The card as it now loads from ``path``.

    Raises:
        CardError: the text is not a valid card (file and field named), or it renames the
            agent.
        OSError: the file cannot be written (the old one is kept).
    """
    card = parse_card(text, str(path), known_tools=known_tools(), known_kinds=K.names())
    if name is not None and card.name != name:
        raise CardError(
            str(path), "name",
            f"must stay {name!r} (to add another agent, create a new file in {path.parent})",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return read_card(path)
