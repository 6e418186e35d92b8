"""Mail payload validation (RFC 5322 addresses, one-line headers, non-empty content)."""

from __future__ import annotations

import json

import pytest

from solodesk.actions.smtp import build_message
from solodesk.core.kinds import validate_payload
from solodesk.core.kinds.mail import REPLY_EMAIL, SEND_EMAIL
from solodesk.core.mail import (
    all_recipients,
    check_address,
    new_message_id,
    reply_subject,
    validate_draft,
)

GOOD_ADDRESSES = [
    "ada@example.com",
    "Ada Founder <ada@example.com>",
    '"Founder, Ada" <ada@example.com>',
    "first.last+tag@mail.example.co.uk",
    "Zoë Ünal <zoe@example.org>",
    "<ada@example.com>",
    "o'brien@example.ie",
]

BAD_ADDRESSES = [
    "",
    "   ",
    "ada",
    "ada@",
    "@example.com",
    "ada@localhost",
    "a..b@example.com",
    ".ada@example.com",
    "ada example@example.com",
    "Ada <not an address>",
    "Ada ada@example.com",
    "ada@exa_mple.com",
    "ada@example.com\r\nBcc: spy@evil.example",
    "ada@example.com\nBcc: spy@evil.example",
    "Ada\r\nBcc: spy@evil.example <ada@example.com>",
]


@pytest.mark.parametrize("address", GOOD_ADDRESSES)
def test_good_addresses(address: str) -> None:
    assert check_address(address) is None


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_bad_addresses(address: str) -> None:
    reason = check_address(address)
    assert reason
    assert "\n" not in reason  # one line, safe to show and to send back to the model


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com, spy@evil.example",
        "Ada <ada@example.com>, Spy <spy@evil.example>",
        "spy@evil.example <ada@example.com>",
        "ada@example.com)<spy@evil.example>",
    ],
)
def test_one_entry_is_one_mailbox(address: str) -> None:
    # Every entry is shown and sent as one recipient; an entry hiding a second mailbox would
    # be sent to both (smtp.send uses getaddresses on the entries).
    assert check_address(address)
    # And the validated recipients are what would be sent to.
    assert all_recipients({"to": [address]}) != ["ada@example.com"]


def test_line_break_reason_is_explicit() -> None:
    assert "line break" in (check_address("a@example.com\r\nBcc: b@example.com") or "")


def good_draft(**changes: object) -> dict[str, object]:
    draft: dict[str, object] = {
        "to": ["Marta Kowalski <marta@example.com>"],
        "cc": [],
        "subject": "Re: Refund",
        "body": "Hi Marta,\n\nAda will follow up.\n",
    }
    draft.update(changes)
    return draft


def test_valid_draft() -> None:
    draft, errors = validate_draft(good_draft())
    assert errors == []
    assert draft is not None and draft.to == ["Marta Kowalski <marta@example.com>"]


def test_valid_draft_from_raw_json_text() -> None:
    draft, errors = validate_draft(json.dumps(good_draft()))
    assert errors == [] and draft is not None


def test_to_as_comma_separated_string_becomes_a_list() -> None:
    draft, errors = validate_draft(good_draft(to="a@example.com, B <b@example.com>,", cc="c@x.io"))
    assert errors == []
    assert draft is not None
    assert draft.to == ["a@example.com", "B <b@example.com>"]
    assert draft.cc == ["c@x.io"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"to": []}, "to: at least one recipient is required"),
        ({"to": ["nobody"]}, "to: 'nobody' is not a valid email address"),
        ({"cc": ["x@"]}, "cc: 'x@' is not a valid email address"),
        ({"subject": ""}, "subject: must not be empty"),
        ({"subject": "   "}, "subject: must not be empty"),
        ({"subject": "Hi\r\nBcc: spy@evil.example"}, "subject: must be one line"),
        ({"subject": "Hi\nthere"}, "subject: must be one line"),
        ({"subject": "x" * 999}, "subject: longer than 998 characters"),
        ({"body": ""}, "body: must not be empty"),
        ({"body": " \n\t "}, "body: must not be empty"),
    ],
)
def test_invalid_drafts(changes: dict[str, object], expected: str) -> None:
    draft, errors = validate_draft(good_draft(**changes))
    assert draft is None
    assert any(e.startswith(expected) for e in errors), errors


def test_missing_fields_and_unknown_fields_are_reported() -> None:
    draft, errors = validate_draft({"body": "x", "bcc": ["spy@evil.example"]})
    assert draft is None
    joined = "\n".join(errors)
    assert "to:" in joined and "subject:" in joined and "bcc:" in joined


def test_non_json_arguments() -> None:
    draft, errors = validate_draft('{"to": ["a@example.com"], "body": ')
    assert draft is None
    assert len(errors) == 1 and errors[0].startswith("arguments are not valid JSON")


def test_json_that_is_not_an_object() -> None:
    assert validate_draft('["a@example.com"]') == (None, ["arguments must be a JSON object"])


def payload(kind: str = REPLY_EMAIL, **changes: object) -> dict[str, object]:
    p: dict[str, object] = {
        "to": ["marta@example.com"],
        "cc": ["Bo <bo@example.com>"],
        "subject": "Re: Refund",
        "body": "Hello",
        "message_id": "<abc.123@solodesk.example>",
    }
    if kind == REPLY_EMAIL:
        p.update(
            in_reply_to="<orig@example.com>",
            references=["<first@example.com>", "<orig@example.com>"],
            source_mail_id=1,
        )
    p.update(changes)
    return p


@pytest.mark.parametrize("kind", [SEND_EMAIL, REPLY_EMAIL])
def test_valid_payloads(kind: str) -> None:
    assert validate_payload(kind, payload(kind)) == []


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        (SEND_EMAIL, {"message_id": "abc@x.com"}, "message_id:"),
        (SEND_EMAIL, {"message_id": "<a b@x.com>"}, "message_id:"),
        (REPLY_EMAIL, {"in_reply_to": "orig"}, "in_reply_to:"),
        (SEND_EMAIL, {"in_reply_to": "<x@y.z>"}, "in_reply_to:"),  # extra field
        (SEND_EMAIL, {"to": ["x@y.z\r\nBcc: a@b.example"]}, "to:"),
        (REPLY_EMAIL, {"subject": "a\rb"}, "subject: must be one line"),
        (REPLY_EMAIL, {"body": ""}, "body: must not be empty"),
    ],
)
def test_invalid_payloads(kind: str, changes: dict[str, object], expected: str) -> None:
    errors = validate_payload(kind, payload(kind, **changes))
    assert any(e.startswith(expected) for e in errors), errors


def test_reply_subject() -> None:
    assert reply_subject("Refund") == "Re: Refund"
    assert reply_subject("RE: Refund") == "RE: Refund"
    assert reply_subject("Aw: Rückerstattung") == "Aw: Rückerstattung"
    assert reply_subject("") == "Re:"
    assert reply_subject("Refund\r\n  for   my plan") == "Re: Refund for my plan"
    long = reply_subject("x" * 1_000_000)
    assert long == "Re: " + "x" * 199 + "…" and len(long) == 4 + 200


def test_new_message_id_is_valid_and_unique() -> None:
    ids = {new_message_id("solodesk.example") for _ in range(50)}
    assert len(ids) == 50
    for mid in ids:
        assert mid.endswith("@solodesk.example>")
        assert validate_payload(SEND_EMAIL, payload(SEND_EMAIL,
                                                               message_id=mid)) == []


def test_all_recipients() -> None:
    assert all_recipients(payload()) == ["marta@example.com", "bo@example.com"]


def test_build_message_headers_follow_the_payload() -> None:
    p = payload()
    msg = build_message(p, "Ada Founder <ada@solodesk.example>")
    assert msg["From"] == "Ada Founder <ada@solodesk.example>"
    assert msg["To"] == "marta@example.com"
    assert msg["Cc"] == "Bo <bo@example.com>"
    assert msg["Subject"] == "Re: Refund"
    assert msg["Message-ID"] == "<abc.123@solodesk.example>"
    assert msg["In-Reply-To"] == "<orig@example.com>"
    assert msg["References"] == "<first@example.com> <orig@example.com>"
    assert msg.get_content().rstrip("\n") == "Hello"


def test_address_like_finds_addresses_in_display_names() -> None:
    from solodesk.core.mail import Mailbox, address_like

    assert address_like('"alice@example.com" x') == ["alice@example.com"]
    assert address_like("a@b.c@d.e f@g") == ["a@b.c"]
    assert address_like("no address, @ here") == []
    # A megabyte-long untrusted display name is read in one pass (it once took minutes).
    huge = "A" * 1_000_000 + " bob@evil.example"
    assert Mailbox(huge, "marta@example.com").name_address == "bob@evil.example"
