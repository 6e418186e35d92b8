"""Phishing signals (core.phishing) and their place in the risk of a reply (core.risk), on the
real-world-shaped samples in tests/data/mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk.connectors.mailimport import parse_message
from solodesk.core.actions import Provenance
from solodesk.core.kinds.mail import REPLY_EMAIL
from solodesk.core.phishing import (
    SenderFacts,
    Signal,
    edit_distance,
    is_mixed_script,
    organisational_domain,
    sender_signals,
    skeleton,
)
from solodesk.core.risk import Risk, assess

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"
KNOWN = frozenset({"example.com", "example.org", "inkwell.example"})


def facts(name: str, *, first_contact: bool = False, known: frozenset[str] = KNOWN) -> SenderFacts:
    row, reason = parse_message((DATA / name).read_bytes())
    assert row is not None, reason
    return SenderFacts(
        from_header=row["from_addr"],
        reply_to_header=row["reply_to"],
        subject=row["subject"],
        body=row["body_text"],
        first_contact=first_contact,
        known_domains=known,
    )


def reasons(signals: list[Signal]) -> str:
    return "\n".join(f"{s.level}: {s.reason}" for s in signals)


def test_uts39_skeleton_and_scripts() -> None:
    assert skeleton("aquiIlaindustries") == skeleton("aquillaindustries")  # capital I for l
    assert skeleton("paypa1") == skeleton("paypal")
    assert skeleton("\u0430pple") == skeleton("apple")  # Cyrillic а
    assert skeleton("inkwell") != skeleton("inkwel")
    assert is_mixed_script("inkw\u0435ll")  # Cyrillic е among Latin letters
    assert not is_mixed_script("bücher")
    assert not is_mixed_script("東京タワー")  # Han + Katakana is allowed (UTS #39)
    assert edit_distance("aquilla", "aquila") == 1
    assert edit_distance("example", "sample") == 2
    assert edit_distance("abcdefgh", "hgfedcba") == 3  # stops past the limit
    assert organisational_domain("www.shop.Example.co.uk") == "Example.co.uk"
    assert organisational_domain("mail.bancoejemplo.es") == "bancoejemplo.es"


def test_reply_to_lookalike_of_the_domain_named_in_the_body() -> None:
    # The reported case: low with no reason before; Reply-To aquiIla… (capital I for l).
    found = sender_signals(facts("phish_lookalike_reply_to.eml", known=frozenset()))
    text = reasons(found)
    assert "high: Reply-To look-alike domain: aquiIlaindustries.com looks like " in text
    assert "replies go to aquiIlaindustries.com, not aquillaindustries.com" in text
    assert {s.level for s in found} == {"high"}


def test_lookalike_is_found_from_the_body_even_when_from_is_the_lookalike() -> None:
    raw = (
        b"From: Accounts <accounts@aquiIlaindustries.com>\nSubject: Invoice\n\n"
        b"Pay on https://aquillaindustries.com/pay as usual.\n"
    )
    row, _ = parse_message(raw)
    assert row is not None
    found = sender_signals(SenderFacts(row["from_addr"], body=row["body_text"]))
    assert "From look-alike domain: aquiIlaindustries.com looks like aquillaindustries.com " \
        "(named in the mail)" in reasons(found)


def test_bank_notice_replying_to_a_private_address_on_another_domain() -> None:
    found = sender_signals(facts("phish_bank_private_reply_to.eml"))
    assert found == [
        Signal(
            "medium",
            "replies go to correo-privado.es, not bancoejemplo.es (Reply-To domain differs "
            "from From)",
        )
    ]
    # From an unknown sender, its request for credentials with urgency makes it high.
    found = sender_signals(facts("phish_bank_private_reply_to.eml", first_contact=True))
    text = reasons(found)
    assert "high: replies go to correo-privado.es" in text
    assert "high: first contact from avisos@bancoejemplo.es asks for credentials" in text
    assert "urgency ('urgentemente')" in text


def test_display_name_that_is_another_address() -> None:
    text = reasons(sender_signals(facts("display_name_is_address.eml")))
    assert "high: From display name shows alice@example.com but the address is bob@example.net" \
        in text
    assert "high: Reply-To display name shows henry@example.com but the address is " \
        "ivan@example.org" in text


def test_first_contact_asking_for_money_and_urgency() -> None:
    assert sender_signals(facts("first_contact_money.eml")) == []  # a known sender: no signal
    found = sender_signals(facts("first_contact_money.eml", first_contact=True))
    assert found == [
        Signal(
            "high",
            "first contact from d.mercer@consult-mail.example asks for money ('wire transfer'),"
            " urgency ('confidential request')",
        )
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitte schicken Sie uns Ihre neue Bankverbindung.", "money ('bankverbindung')"),
        ("Merci de confirmer votre mot de passe.", "credentials ('mot de passe')"),
        ("Can you reply immediately?", "urgency ('immediately')"),
    ],
)
def test_first_contact_phrases_in_other_languages(text: str, expected: str) -> None:
    found = sender_signals(
        SenderFacts("Someone <someone@example.net>", body=text, first_contact=True)
    )
    assert len(found) == 1 and expected in found[0].reason and found[0].level == "medium"


def test_first_contact_without_such_phrases_is_not_flagged() -> None:
    body = "Hello, could you tell me whether the app syncs between two laptops? Thanks"
    assert sender_signals(SenderFacts("a@example.net", body=body, first_contact=True)) == []


def test_punycode_idn_lookalike() -> None:
    text = reasons(sender_signals(facts("punycode_lookalike.eml")))
    assert "From domain xn--exmple-4nf.com is punycode; it displays as ex\u0430mple.com" in text
    assert "mixes scripts in 'ex\u0430mple' (Cyrillic + Latin): \u0430 U+0430 CYRILLIC SMALL " \
        "LETTER A" in text
    assert "xn--exmple-4nf.com looks like example.com (a known correspondent's domain)" in text


def test_mixed_script_domain() -> None:
    text = reasons(sender_signals(facts("mixed_script_domain.eml")))
    assert "high: From domain inkw\u0435ll.example mixes scripts in 'inkw\u0435ll' " \
        "(Cyrillic + Latin): \u0435 U+0435 CYRILLIC SMALL LETTER IE" in text
    assert "looks like inkwell.example (a known correspondent's domain)" in text


def test_whole_script_lookalike_label() -> None:
    # Every letter Cyrillic, yet it reads as Latin "apple".
    found = sender_signals(SenderFacts("x@\u0430\u0440\u0440\u04cf\u0435.example"))
    assert any("made of letters that look like Latin 'app" in s.reason for s in found)


@pytest.mark.parametrize(
    "name",
    [
        "alternative_empty_plain.eml",
        "html_only_newsletter.eml",
        "latin1_label_cp1252_chars.eml",
        "gbk_subject_gb2312_label.eml",
        "missing_date_no_message_id.eml",
    ],
)
def test_ordinary_mail_has_no_signal(name: str) -> None:
    assert sender_signals(facts(name)) == []


def test_same_name_under_another_suffix_is_not_a_lookalike() -> None:
    found = sender_signals(SenderFacts("a@example.net", known_domains=frozenset({"example.com"})))
    assert found == []


def test_signals_are_risk_reasons_of_the_reply() -> None:
    payload = {
        "to": ["accounts@aquiIlaindustries.com"],
        "subject": "Re: Updated bank details for invoice AQ-2291",
        "body": "Thanks, noted.",
        "message_id": "<1@inkwell.example>",
    }
    sender = facts("phish_lookalike_reply_to.eml", known=frozenset())
    before = assess(
        REPLY_EMAIL,
        payload,
        Provenance("mail", 1, untrusted=True),
        source_participants={"accounts@aquiilaindustries.com", "accounts@aquillaindustries.com"},
    )
    assert before.level is Risk.LOW and before.reasons == []  # what the issue saw
    after = assess(
        REPLY_EMAIL,
        payload,
        Provenance("mail", 1, untrusted=True),
        source_participants={"accounts@aquiilaindustries.com", "accounts@aquillaindustries.com"},
        sender=sender,
    )
    assert after.level is Risk.HIGH
    assert any(r.startswith("source mail: Reply-To look-alike domain") for r in after.reasons)


def test_body_naming_the_reply_to_domain_does_not_flag_the_real_from() -> None:
    facts_ = SenderFacts(
        "Accounts <accounts@aquillaindustries.com>",
        "accounts@aquiIlaindustries.com",
        body="Reply to accounts@aquiIlaindustries.com, not to the old address.",
    )
    text = reasons(sender_signals(facts_))
    assert "From look-alike" not in text
    assert "Reply-To look-alike domain: aquiIlaindustries.com looks like aquillaindustries.com " \
        "(the From domain)" in text
