"""Agent cards: the parser (``core.cards``), the loader (``agents.cards``) and the shipped
cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk.agents.cards import load_cards, shipped_path
from solodesk.agents.tools import tool_names
from solodesk.core import kinds as K
from solodesk.core.cards import DEFAULT_MAX_STEPS, CardError, parse_card
from solodesk.core.resources import resource, resources_dir

TOOLS = ("search_mail", "read_mail", "delegate")
KINDS = ("send_email", "reply_email")

GOOD = '''
name = "writer"
role = "Writes things"
description = "A test card."
tools = ["search_mail"]
kinds = ["send_email"]
prompt = """
You write for {company}.
"""
'''


def parse(text: str, source: str = "cards/writer.toml"):
    return parse_card(text, source, known_tools=TOOLS, known_kinds=KINDS)


def test_a_good_card_parses_with_defaults() -> None:
    card = parse(GOOD)
    assert (card.name, card.role, card.tools, card.kinds) == (
        "writer", "Writes things", ("search_mail",), ("send_email",)
    )
    assert card.max_steps == DEFAULT_MAX_STEPS
    assert card.model is None and card.max_parallel is None and card.budget_usd is None
    assert card.filled_prompt({"company": "Inkwell"}) == "You write for Inkwell."
    assert card.source == "cards/writer.toml"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ('colour = "red"', "colour", "unknown field"),
        ('tools = ["fly"]', "tools", "unknown tool 'fly'"),
        ('kinds = ["pay_invoice"]', "kinds", "unknown action kind 'pay_invoice'"),
        ('max_steps = "8"', "max_steps", "whole number"),
        ("max_steps = true", "max_steps", "whole number"),
        ("max_steps = 0", "max_steps", "from 1 to 50"),
        ("max_parallel = 2", "max_parallel", "'delegate' tool"),
        ("budget_usd = -1", "budget_usd", ">= 0"),
        ("model = 3", "model", "litellm model string"),
        ('tools = "search_mail"', "tools", "list of tool names"),
        ('first_tool = "read_mail"', "first_tool", "'read_mail' is not one of its tools"),
        ("first_tool = 1", "first_tool", "the name of one of its tools"),
        ('keywords = "nda"', "keywords", "a list of words or phrases"),
        ('keywords = ["nda", " "]', "keywords", "a list of words or phrases"),
    ],
)
def test_a_broken_field_names_the_file_and_the_field(change: str, field: str, words: str) -> None:
    key = change.split("=")[0].strip()
    lines = [ln for ln in GOOD.splitlines() if not ln.startswith(key + " ")]
    text = "\n".join([change, *lines])
    with pytest.raises(CardError) as info:
        parse(text)
    assert info.value.field == field
    assert str(info.value).startswith(f"cards/writer.toml: field '{field}': ")
    assert words in str(info.value)


def test_bad_names_and_missing_fields() -> None:
    with pytest.raises(CardError, match="field 'name': must be lower_snake_case"):
        parse(GOOD.replace('"writer"', '"Writer 2"'))
    with pytest.raises(CardError, match="field 'prompt': is missing"):
        parse(GOOD.split("prompt")[0])
    with pytest.raises(CardError, match="field 'role': must be one line"):
        parse(GOOD.replace('"Writes things"', '"""a\nb"""'))


def test_a_syntax_error_names_the_file_and_the_line() -> None:
    with pytest.raises(CardError) as info:
        parse('name = "writer"\nrole = "unterminated\n')
    assert info.value.field is None
    assert "cards/writer.toml: TOML syntax error" in str(info.value)
    assert "line 2" in str(info.value)


def test_every_shipped_card_loads() -> None:
    folder = resources_dir() / "agents"
    files = sorted(folder.glob("*.toml"))
    cards = load_cards(resources_dir(), None)
    assert cards.errors == []
    assert len(files) == len(cards.cards)
    assert {"manager", "support", "marketing", "legal", "researcher", "devils_advocate"} <= set(
        cards.names()
    )
    for card in cards:
        assert card.origin == "shipped"
        assert set(card.tools) <= set(tool_names())
        assert all(K.is_kind(k) for k in card.kinds)
        assert len(card.prompt) > 400, f"{card.name}: the prompt is too thin"
    assert cards.cards["manager"].delegates
    assert not any(c.delegates for c in cards if c.name != "manager")


def test_the_support_card_holds_the_triage_prompt() -> None:
    card = load_cards(resources_dir(), None).cards["support"]
    assert card.prompt == resource("prompts", "support.md").read_text(encoding="utf-8").strip()


def test_founder_cards_override_and_add_and_a_broken_one_is_reported(tmp_path: Path) -> None:
    own = tmp_path / "agents"
    own.mkdir()
    (own / "my-marketing.toml").write_text(
        GOOD.replace('"writer"', '"marketing"').replace("Writes things", "My marketer"),
        encoding="utf-8",
    )
    (own / "writer.toml").write_text(GOOD, encoding="utf-8")
    (own / "broken.toml").write_text(GOOD.replace('["search_mail"]', '["teleport"]'),
                                     encoding="utf-8")
    (own / "legal.toml").write_text("name = [", encoding="utf-8")  # a broken override
    cards = load_cards(resources_dir(), tmp_path)
    assert cards.cards["marketing"].role == "My marketer"
    assert cards.cards["marketing"].origin == "override"
    assert cards.cards["writer"].origin == "added"
    assert cards.cards["legal"].origin == "shipped"  # its broken override left it in place
    assert {(Path(e.source).name, e.field) for e in cards.errors} == {
        ("broken.toml", "tools"), ("legal.toml", None)
    }
    assert cards.errors_for(own / "broken.toml")[0].reason.startswith("unknown tool 'teleport'")
    assert "manager" in cards.cards  # the others still load


def test_two_founder_cards_with_one_name(tmp_path: Path) -> None:
    own = tmp_path / "agents"
    own.mkdir()
    (own / "a.toml").write_text(GOOD, encoding="utf-8")
    (own / "b.toml").write_text(GOOD, encoding="utf-8")
    cards = load_cards(resources_dir(), tmp_path)
    assert cards.cards["writer"].source == str(own / "a.toml")
    (err,) = cards.errors
    assert (Path(err.source).name, err.field) == ("b.toml", "name")


def test_an_unreadable_card_is_reported(tmp_path: Path) -> None:
    own = tmp_path / "agents"
    own.mkdir()
    (own / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    cards = load_cards(resources_dir(), tmp_path)
    (err,) = cards.errors
    assert "latin1.toml" in str(err) and "cannot be read" in str(err)


def test_shipped_path_finds_a_card_by_name() -> None:
    path = shipped_path(resources_dir(), "devils_advocate")
    assert path is not None and path.name == "devils_advocate.toml"
    assert shipped_path(resources_dir(), "nobody") is None


def test_first_tool_is_one_of_its_tools_or_proposals() -> None:
    assert parse(GOOD).first_tool is None
    assert parse('first_tool = "search_mail"\n' + GOOD).first_tool == "search_mail"
    assert parse('first_tool = "propose_send_email"\n' + GOOD).first_tool == (
        "propose_send_email")
    cards = load_cards(resources_dir(), None).cards
    assert cards["manager"].first_tool is None  # SmolLM2 cannot route (docs/architecture.md)
    assert cards["invoicing"].first_tool == "propose_create_invoice"


def test_a_request_is_routed_by_the_keywords_it_names() -> None:
    from solodesk.core.cards import route

    team = [c for c in load_cards(resources_dir(), None).cards.values() if c.name != "manager"]
    assert route("Draft our launch newsletter, and check the NDA in my documents for risky "
                 "clauses", team) == ["legal", "marketing"]
    assert route("Please INVOICE Acme SARL for the workshop", team) == ["invoicing"]
    assert route("Two invoices are overdue", team) == ["invoicing"]  # plural, two hits
    assert route("Say hello to me in one sentence.", team) == []
    assert route("It was posted by a postman", team) == []  # whole words only
    assert parse('keywords = ["Landing  Page"]\n' + GOOD).keywords == ("landing page",)


def test_a_card_is_parsed_once_per_text_and_an_edit_applies(tmp_path: Path) -> None:
    """Cards are read for every agent turn (on the GUI thread); an unchanged file's card is
    remembered, an edited one is read again (issue 9: TOML parsing was half a turn's set-up)."""
    from solodesk.agents.cards import read_card

    path = tmp_path / "writer.toml"
    path.write_text(GOOD, encoding="utf-8")
    first = read_card(path, tools=TOOLS, kinds=KINDS)
    assert read_card(path, tools=TOOLS, kinds=KINDS) is first
    path.write_text(GOOD.replace("Writes things", "Writes more"), encoding="utf-8")
    edited = read_card(path, tools=TOOLS, kinds=KINDS)
    assert edited.role == "Writes more" and first.role == "Writes things"
    with pytest.raises(CardError, match="kinds"):  # other names allowed: checked again
        read_card(path, tools=TOOLS, kinds=("reply_email",))
    path.write_text(GOOD.replace('name = "writer"', "name = "), encoding="utf-8")
    for _ in range(2):  # a broken card is reported at every read
        with pytest.raises(CardError, match="writer.toml"):
            read_card(path, tools=TOOLS, kinds=KINDS)
