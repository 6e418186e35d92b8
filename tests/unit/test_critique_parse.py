"""Reading the devil's advocate's answer (``core.critique``), tolerant of what models write, and
the one-way effect of a critique on risk."""

from __future__ import annotations

from solodesk.core.critique import Critique, parse_critique, raised_risk
from solodesk.core.risk import Risk


def test_the_card_shape() -> None:
    c = parse_critique(
        "Concerns:\n- Wrong recipient\n- Promises a refund\nVerdict: reject\n"
        "Why: It could reach a stranger.", run_id=7, payload_sha256="ab"
    )
    assert (c.verdict, c.concerns, c.why) == (
        "reject", ("Wrong recipient", "Promises a refund"), "It could reach a stranger."
    )
    assert (c.run_id, c.payload_sha256, c.ok) == (7, "ab", True)


def test_markdown_numbered_and_capitalised() -> None:
    c = parse_critique(
        "**Concerns:**\n1. The date is not agreed\n2) No signature\n\n**Verdict:** Revise\n"
        "**Why:** Ask for a date\nfirst."
    )
    assert c.verdict == "revise"
    assert c.concerns == ("The date is not agreed", "No signature")
    assert c.why == "Ask for a date first."


def test_none_found_and_json() -> None:
    c = parse_critique("Concerns:\n- none found\nVerdict: approve\nWhy: Fine.")
    assert (c.verdict, c.concerns) == ("approve", ())
    j = parse_critique('Here: {"concerns": ["too long"], "verdict": "rejected", "why": "no"}')
    assert (j.verdict, j.concerns, j.why) == ("reject", ("too long",), "no")


def test_unreadable_answers_keep_the_raw_text_with_verdict_unknown() -> None:
    copied = parse_critique("Concerns:\n- x\nVerdict: approve | revise | reject\nWhy: y")
    assert copied.verdict == "unknown"
    prose = parse_critique("I think this mail is mostly fine but I am not sure.")
    assert prose.verdict == "unknown"
    assert prose.raw == "I think this mail is mostly fine but I am not sure."
    assert "the answer could not be read" in prose.lines()[0]
    assert parse_critique("").verdict == "unknown"


def test_risk_only_goes_up() -> None:
    reject = parse_critique("Verdict: reject\nWhy: bad")
    assert raised_risk(Risk.LOW, ["a"], reject) == (
        Risk.HIGH, ["a", "devil's advocate: reject — bad"]
    )
    revise = parse_critique("Verdict: revise")
    assert raised_risk(Risk.LOW, [], revise)[0] is Risk.MEDIUM
    assert raised_risk(Risk.HIGH, [], revise)[0] is Risk.HIGH
    approve = parse_critique("Verdict: approve")
    for level in Risk:
        assert raised_risk(level, ["r"], approve) == (level, ["r"])
        assert raised_risk(level, ["r"], Critique.failed("down")) == (level, ["r"])
        assert raised_risk(level, ["r"], parse_critique("???")) == (level, ["r"])


def test_json_round_trip_and_garbage() -> None:
    c = parse_critique("Concerns:\n- x\nVerdict: reject\nWhy: y", run_id=3)
    assert Critique.from_json(c.to_json()) == c
    assert Critique.from_json("not json") is None
    assert Critique.from_json({"verdict": "maybe"}).verdict == "unknown"  # type: ignore[union-attr]
