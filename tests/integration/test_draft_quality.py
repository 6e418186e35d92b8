"""Drafts fit to send: unfit drafts go back to the model, retried or promising drafts are never
low risk (through litellm, against the scripted OpenAI server)."""

from __future__ import annotations

import json

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.core.policy import Outcome, parse_condition
from solodesk.services import Services
from tests.support.helpers import import_sample
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

GOOD = {
    "body": "Hi Marta,\n\nthanks for letting me know. Ada will look at your order and follow "
    "up personally.\n\nAda"
}

# SmolLM2-135M's drafts on the demo mailbox (issue 7): all valid by the schema.
SMOLLM2_FAILURES = [
    {"body": "{"},
    {"body": "<email>"},
    {
        "subject": "Your request was rejected by validation. Please re-run the solution with "
        "only valid arguments.",
        "body": "Invalid JSON",
    },
]


def test_unfit_drafts_go_back_to_the_model_and_end_invalid(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    for args in SMOLLM2_FAILURES:
        openai_server.reply_tool("propose_reply", args)

    report = run(services.runner.triage(limit=1))

    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.status is ActionStatus.INVALID
    assert action.draft_attempts == 3
    assert [e.split(": ", 1)[1] for e in action.errors] == [
        "body is not prose: it starts with '{' (JSON or code); write plain text",
        "body contains markup (<email>); write plain text, no tags",
        # (its subject is not the model's: a reply's subject is the mail's)
        "body talks about the tool or its validation ('invalid json'), not to the recipient: "
        "write the mail itself",
    ]
    sent = openai_server.chat_requests
    assert len(sent) == 3
    assert "body is not prose" in sent[1].text() and "body contains markup" in sent[2].text()


def test_a_retried_draft_is_medium_risk_and_never_auto_approved(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    # The founder auto-approves low-risk replies to known correspondents.
    services.store.policy.add(
        kind="reply_email",
        conditions=[parse_condition("risk <= low"), parse_condition("recipients_known == true")],
        outcome=Outcome.AUTO_APPROVE,
    )
    openai_server.reply_tool("propose_reply", {"body": "{"})
    openai_server.reply_tool("propose_reply", GOOD)
    openai_server.reply_tool("propose_reply", GOOD)

    report = run(services.runner.triage(limit=2))

    retried, first_try = (services.store.actions.get(o.action_id) for o in report.outcomes)
    assert retried.status is ActionStatus.PENDING  # waits for the founder
    assert retried.draft_attempts == 2
    assert retried.risk == "medium"
    assert "the model needed 2 attempts: its earlier drafts were invalid" in retried.risk_reasons
    audit = json.loads(services.store.audit.entries(action_id=retried.id)[0]["detail"])
    assert audit["draft_attempts"] == 2
    assert first_try.draft_attempts == 1 and first_try.risk == "low"
    assert first_try.status is ActionStatus.SCHEDULED  # the rule approved the clean one
    # Saving an edit re-assesses the risk; the attempts still count.
    edited = run(services.runner.edit(retried.id, {**retried.payload, "body": GOOD["body"]}))
    assert edited.risk == "medium" and edited.draft_attempts == 2


def test_a_reply_promising_what_the_mail_does_not_hold_is_medium(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    ids = import_sample(services.store)
    lukas = services.store.mail.get(ids[3])  # asks for a corrected invoice, not for money
    openai_server.reply_tool(
        "propose_reply",
        {
            "body": "Hello Lukas,\n\nsorry about that. We will refund the VAT and send the "
            "corrected invoice by Friday.\n\nAda"
        },
    )
    gateway = run(services.runner.gateway())
    outcome = run(services.runner.triage_one(gateway, lukas))
    action = services.store.actions.get(outcome.action_id)
    assert action.risk == "medium"
    promises = [r for r in action.risk_reasons if r.startswith("promises")]
    assert promises == [
        "promises a refund not in the mail or business profile: "
        "\u201cWe will refund the VAT and\u201d",
        "promises a date or deadline not in the mail or business profile: "
        "\u201cthe corrected invoice by Friday\u201d",
    ]


def test_a_reply_to_a_refund_request_may_speak_of_the_refund(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)  # mail 1: Marta asks for a refund
    openai_server.reply_tool(
        "propose_reply",
        {"body": "Hi Marta,\n\nthanks. Ada will check the refund of your order and reply.\n\nAda"},
    )
    report = run(services.runner.triage(limit=1))
    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.risk == "low" and action.risk_reasons == []


def test_a_chat_draft_echoing_the_tool_is_sent_back(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    openai_server.reply_tool(
        "propose_send_email",
        {
            "to": ["bob@partner.example"],
            "subject": "Invoice",
            "body": "Propose a new email. It is NOT sent: it goes to the founder's approval inbox.",
        },
    )
    openai_server.reply_tool(
        "propose_send_email",
        {
            "to": ["bob@partner.example"],
            "subject": "Invoice",
            "body": "Hi Bob,\n\nthe invoice for March is attached. Thanks!\n\nAda",
        },
    )
    _cid, _completion, (action,) = run(services.runner.chat("Email Bob the March invoice"))
    assert action.status is ActionStatus.PENDING
    assert action.draft_attempts == 2 and action.risk == "medium"
    assert "talks about the tool" in openai_server.chat_requests[1].text()
