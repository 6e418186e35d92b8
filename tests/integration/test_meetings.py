"""The support agent proposes a meeting (``send_invitation``) when a mail asks for one, at one of
the founder's free times, through litellm against the scripted server; approved, the RFC 5545
invitation goes out by SMTP."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from solodesk.agents.meetings import PROPOSE_MEETING, asks_for_meeting, meeting_offer
from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.calendar import parse_ics
from solodesk.core.kinds.calendar import SEND_INVITATION
from solodesk.services import Services
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

ASK = """\
From: Marta Kowalski <marta@example.com>
To: Ada <ada@solodesk.example>
Subject: Quick call about the team plan?
Date: Mon, 16 Nov 2026 08:12:33 +0100
Message-ID: <ask-1@example.com>

Hi Ada,

could we have a 30 minute call next week to talk about the team plan for my company?

Thanks, Marta
"""


def import_ask(services: Services, tmp_path: Path) -> int:
    path = tmp_path / "ask.eml"
    path.write_text(ASK)
    report = import_mail(path, services.store.mail)
    (mail_id,) = report.imported
    return mail_id


def test_a_meeting_request_gets_an_invitation_at_a_free_time(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run,
    tmp_path: Path,
) -> None:
    services.config.set("calendar.timezone", "Europe/Berlin")
    services.config.set("calendar.availability", "Mon-Sun 09:00-17:00")
    services.config.set("outbox.undo_seconds", "0")
    mail_id = import_ask(services, tmp_path)
    offer = meeting_offer(services.store, services.config)
    assert offer is not None and len(offer.slots) == 6
    labels = list(offer.slots)
    chosen = labels[2]  # still offered if the clock crosses a slot boundary meanwhile
    openai_server.reply_tool(PROPOSE_MEETING, {"slot": "Sun 2099-01-01 03:00",
                                               "summary": "Team plan", "body": "Hi Marta!"})
    openai_server.reply_tool(PROPOSE_MEETING, {
        "slot": chosen, "summary": "Team plan call",
        "body": "Hi Marta,\n\nhappy to talk about the team plan; here is an invitation.\n\nAda"})

    report = run(services.runner.triage(limit=1))

    assert [o.status for o in report.outcomes] == ["proposed"]
    first, second = openai_server.chat_requests
    assert first.tool_names == ["propose_reply", "no_reply_needed", PROPOSE_MEETING]
    enum = first.body["tools"][2]["function"]["parameters"]["properties"]["slot"]["enum"]
    assert chosen in enum and "## Meetings" in first.messages[0]["content"]
    # The invented time went back to the model with the times it may choose.
    assert "'Sun 2099-01-01 03:00' is not one of the free times" in second.text()
    action = services.store.actions.get(report.outcomes[0].action_id)
    assert action.kind == SEND_INVITATION and action.status is ActionStatus.PENDING
    assert action.agent == "support" and action.provenance == Provenance("mail", mail_id,
                                                                         untrusted=True)
    p = action.payload
    start = datetime.fromisoformat(p["start"])
    assert f"{start:%a %Y-%m-%d %H:%M}" == chosen and p["timezone"] == "Europe/Berlin"
    assert (datetime.fromisoformat(p["end"]) - start).total_seconds() == 30 * 60
    assert p["attendees"] == ["Marta Kowalski <marta@example.com>"]
    assert "ada@solodesk.example" in p["organizer"]
    assert smtp_server.messages == []  # nothing goes out before approval
    # The next mail asking for a meeting is not offered the time already proposed.
    again = meeting_offer(services.store, services.config)
    assert again is not None and chosen not in again.slots

    done = run(services.decisions.approve(action.id, expected_sha256=action.payload_sha256))
    assert done.status is ActionStatus.EXECUTED
    (sent,) = smtp_server.messages
    assert sent.rcpt_tos == ("marta@example.com",)
    part = next(pt for pt in sent.message.walk() if pt.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    (event,) = parse_ics(part.get_content().encode("utf-8")).events
    assert event.start == start and str(event["SUMMARY"]) == "Team plan call"


def test_only_a_mail_that_may_ask_for_a_meeting_is_offered_times() -> None:
    assert asks_for_meeting("Quick call?", "")
    assert asks_for_meeting("Termin", "Können wir uns treffen?")
    assert asks_for_meeting("", "Seriez-vous disponible pour un rendez-vous ?")
    assert not asks_for_meeting("Refund for my annual Pro plan?", "I was charged twice.")
    assert not asks_for_meeting("Recalled order", "It was called off")  # whole words only
