"""Drafts fit to send, and promises a reply may not make (core.drafts)."""

from __future__ import annotations

import pytest

from solodesk.agents import proposals as P
from solodesk.core.drafts import MIN_LETTERS, draft_problems, find_promises
from solodesk.core.resources import prompt

SUPPORT_PROMPT = prompt("support", company="Inkwell Notes", founder="Ada Founder")
ECHOES = [SUPPORT_PROMPT, *P.machine_texts([P.PROPOSE_REPLY, P.NO_REPLY_NEEDED])]
GOOD_BODY = (
    "Hi Marta,\n\nthanks for writing. Ada Founder will personally follow up on your "
    "refund request this week.\n\nAda Founder, Inkwell Notes"
)


# SmolLM2-135M's real drafts on the demo mailbox (issue 7), each valid by the schema.
@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Re: Refund", "{", "body is not prose: it starts with '{'"),
        ("Re: Refund", "<email>", "body contains markup (<email>)"),
        (
            "Your request was rejected by validation. Please re-run the solution with only "
            "valid arguments.",
            "Thank you for your patience, we will look into this for you soon.",
            "subject talks about the tool or its validation ('rejected by validation')",
        ),
        (
            "Unsolicited message (invalid JSON), can not be handled by the help of any AI, but "
            "it has been accepted.",
            "Hello Priya, you can export notes from the menu. Best, Ada",
            "subject talks about the tool or its validation ('invalid json')",
        ),
        ("Re: PDF", "Invalid JSON", "body talks about the tool or its validation"),
        (
            "Re: Refund",
            "Propose a reply to the email. It is NOT sent: it waits for the founder's approval.",
            "body repeats your instructions ('propose a reply to the email it is'",
        ),
        (
            "Re: Refund",
            "You triage ONE incoming email at a time and prepare what Ada Founder needs to act on",
            "body repeats your instructions",
        ),
        (
            "Re: Refund",
            'Call the tool again with corrected arguments: {"body": "hi"}',
            "body talks about the tool or its validation ('call the tool')",
        ),
        ("Re: Refund", "Thanks!", "body is implausibly short (1 word, 6 letters)"),
        ("Re: Refund", "OK see", "body is implausibly short (2 words, 5 letters)"),
        ("Re: Refund", "-- ** -- !! ?? -- ok ok ## ** yes", "body is mostly punctuation"),
        ('{"subject": "hi"}', GOOD_BODY, "subject is not prose: it starts with '{' (JSON)"),
    ],
)
def test_unfit_drafts_are_named(subject: str, body: str, expected: str) -> None:
    problems = draft_problems(subject, body, echoes=ECHOES)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    "body",
    [
        GOOD_BODY,
        "Hi Priya,\n\nyes: File → Export → PDF. The JSON export is under File → Export too.\n\nAda",
        "Bonjour Lukas,\n\nmerci, je corrige la facture et vous la renvoie.\n\nAda",
        "谢谢您的来信，我们会尽快回复您。",
        "Hi Jonas,\n\nplease send the logs to <ada@inkwell.example>.\n\nAda",
    ],
)
def test_ordinary_replies_pass(body: str) -> None:
    assert draft_problems("Re: Your question", body, echoes=ECHOES) == []


def test_the_short_limit_is_about_letters_too() -> None:
    assert MIN_LETTERS == 15
    assert draft_problems("Re: x", "Yes, done.", echoes=()) != []
    assert draft_problems("Re: x", "Yes, it is all done now.", echoes=()) == []


def test_promises_not_in_the_thread_or_profile_are_found() -> None:
    body = (
        "Hi Marta,\n\nno problem, we will refund you within 5 business days and add 2 months "
        "free. As compensation you get a 20% off coupon.\n\nAda"
    )
    promises = find_promises(body, thread="Can you look at my invoice?", profile="Inkwell Notes")
    assert [(p.what, p.phrase) for p in promises] == [
        ("a refund", "we will refund you within 5"),
        ("a date or deadline", "will refund you within 5 business days and add 2"),
        ("free service", "days and add 2 months free"),
        ("compensation", "As compensation you get a"),
        ("a discount", "you get a 20% off coupon"),
    ]
    assert promises[0].reason == (
        "promises a refund not in the mail or business profile: "
        "\u201cwe will refund you within 5\u201d"
    )


def test_promises_backed_by_the_thread_or_profile_or_negated_are_not() -> None:
    body = "Hi Marta,\n\nyes, we refund the annual plan within 14 days of purchase.\n\nAda"
    # The thread speaks of a refund (allowed), not of 14 days (a deadline it does not hold).
    assert [p.what for p in find_promises(body, thread="Can I get a refund?", profile="")] == [
        "a date or deadline"
    ]
    profile = "Refunds: full refund within 14 days of purchase."
    assert find_promises(body, thread="Hello", profile=profile) == []
    negated = "Hi Marta,\n\nwe cannot offer a refund or a discount, sorry.\n\nAda"
    assert find_promises(negated, thread="Hello", profile="") == []
    dated = "The fix ships on Friday."
    assert [p.what for p in find_promises(dated, thread="", profile="")] == [
        "a date or deadline"
    ]
    assert find_promises(dated, thread="Will it be fixed on Friday?", profile="") == []
