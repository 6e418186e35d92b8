"""Risk levels and what the inbox must reveal: hidden characters and disguised links."""

from __future__ import annotations

from solodesk.core.actions import Provenance
from solodesk.core.inspect import hidden_characters, links
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.core.risk import Risk, assess

MAIL = Provenance("mail", 1, untrusted=True)
CHAT = Provenance("chat", 1, untrusted=False)


def payload(to, body="Hello,\nthanks.\n", subject="Re: hi", cc=()):
    return {"to": list(to), "cc": list(cc), "subject": subject, "body": body,
            "message_id": "<a@solodesk.example>"}


def test_reply_to_the_sender_is_low_risk() -> None:
    r = assess(REPLY_EMAIL, payload(["Marta <marta@example.com>"]), MAIL,
               own_domain="solodesk.example", source_participants={"marta@example.com"})
    assert r.level is Risk.LOW and r.reasons == []


def test_recipient_not_in_the_untrusted_source_is_high_risk() -> None:
    r = assess(REPLY_EMAIL, payload(["marta@example.com"], cc=["x@evil.example"]),
               MAIL, own_domain="solodesk.example", source_participants={"marta@example.com"})
    assert r.level is Risk.HIGH
    assert any("x@evil.example" in why for why in r.reasons)


def test_new_mail_to_unknown_external_is_medium_and_known_internal_is_not_raised_further() -> None:
    r = assess(SEND_EMAIL, payload(["bob@example.com"]), CHAT,
               own_domain="solodesk.example")
    assert r.level is Risk.MEDIUM
    assert any("not mailed before" in why for why in r.reasons)
    known = assess(SEND_EMAIL, payload(["bob@example.com"]), CHAT,
                   own_domain="solodesk.example", known_addresses={"bob@example.com"})
    assert known.reasons == ["starts a new conversation"]


def test_many_recipients_hidden_characters_and_disguised_links_are_high_risk() -> None:
    many = assess(SEND_EMAIL, payload([f"p{i}@example.com" for i in range(6)]), CHAT)
    assert many.level is Risk.HIGH
    bidi = assess(REPLY_EMAIL, payload(["m@example.com"], body="Pay to \u202eexe.txt"),
                  MAIL, source_participants={"m@example.com"})
    assert bidi.level is Risk.HIGH and "U+202E" in bidi.reasons[0]
    link = assess(
        REPLY_EMAIL,
        payload(["m@example.com"], body="Log in at [https://bank.example](https://evil.example/x)"),
        MAIL, source_participants={"m@example.com"},
    )
    assert link.level is Risk.HIGH and "evil.example" in link.reasons[0]


def test_hidden_characters_are_located() -> None:
    found = hidden_characters("body", "ab\u200bc\u202ed\U000e0041")
    assert [(h.index, h.codepoint) for h in found] == [(2, "U+200B"), (4, "U+202E"),
                                                       (6, "U+E0041")]
    assert hidden_characters("body", "plain text, naïve café") == []


def test_links_are_expanded_in_every_form() -> None:
    body = (
        "See [our docs](https://docs.example.com/a) or "
        '<a href="https://evil.example/login">https://bank.example</a>, '
        "or https://plain.example/path?q=1."
    )
    found = links(body)
    assert [(lk.text, lk.target, lk.disguised) for lk in found] == [
        ("our docs", "https://docs.example.com/a", False),
        ("https://bank.example", "https://evil.example/login", True),
        ("https://plain.example/path?q=1", "https://plain.example/path?q=1", False),
    ]
