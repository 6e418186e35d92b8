"""Real-world-shaped mail through triage, the gates and the outbox (scripted model via litellm,
aiosmtpd on loopback): true senders, phishing reasons, threading without invented ids,
Message-IDs on the founder's domain only, and approvals refused up front when sending cannot
work."""

from __future__ import annotations

from pathlib import Path

import pytest

from solodesk.agents.runner import ApprovalRefused
from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus, payload_sha256
from solodesk.core.mail import is_placeholder_message_id
from solodesk.services import Services
from tests.support.openai_server import ScriptedOpenAIServer
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"
BODY = {"body": "Hello,\n\nthank you for your message. I will look into it and reply soon.\n\nAda"}


def triage_sample(services: Services, server: ScriptedOpenAIServer, run, name: str,
                  args: dict[str, object] | None = None):
    report = import_mail(DATA / name, services.store.mail)
    (mail_id,) = report.imported
    server.reply_tool("propose_reply", args or BODY)
    gateway = run(services.runner.gateway())
    outcome = run(services.runner.triage_one(gateway, services.store.mail.get(mail_id)))
    assert outcome.status == "proposed", outcome
    return services.store.actions.get(outcome.action_id)


def test_reply_goes_to_the_reply_to_addr_spec_never_its_display_name(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    action = triage_sample(services, openai_server, run, "display_name_is_address.eml")
    assert action.payload["to"] == ["ivan@example.org"]  # not henry@example.com
    assert action.risk == "high"
    joined = "\n".join(action.risk_reasons)
    assert "From display name shows alice@example.com but the address is bob@example.net" in joined
    assert "Reply-To display name shows henry@example.com but the address is ivan@example.org" \
        in joined
    # The model sees the true sender and is told the name is not the address.
    user = openai_server.chat_requests[-1].messages[-1]["content"]
    assert 'From: bob@example.net (display name "alice@example.com" is not this address)' in user
    assert 'Reply-To: ivan@example.org (display name "henry@example.com" is not this address)' \
        in user


def test_model_copying_the_display_name_as_recipient_is_high_risk(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    action = triage_sample(
        services, openai_server, run, "display_name_is_address.eml",
        {**BODY, "to": ["henry@example.com"]},
    )
    assert action.risk == "high"
    assert "recipients not in the email it answers: henry@example.com" in action.risk_reasons


def test_lookalike_reply_to_phishing_is_high_risk_with_its_reasons(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    action = triage_sample(services, openai_server, run, "phish_lookalike_reply_to.eml")
    assert action.payload["to"] == ["accounts@aquiIlaindustries.com"]
    assert action.risk == "high"
    joined = "\n".join(action.risk_reasons)
    assert "Reply-To look-alike domain: aquiIlaindustries.com looks like aquillaindustries.com" \
        in joined
    assert "replies go to aquiIlaindustries.com, not aquillaindustries.com" in joined
    assert "first contact from accounts@aquillaindustries.com asks for money" in joined
    # The reasons are in the audit of the proposal too.
    proposed = services.store.audit.entries(action_id=action.id)[0]
    assert "looks like aquillaindustries.com" in proposed["detail"]


def test_bank_notice_with_private_reply_to_is_high_risk(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    action = triage_sample(services, openai_server, run, "phish_bank_private_reply_to.eml")
    assert action.payload["to"] == ["gestor.cuentas@correo-privado.es"]
    assert action.risk == "high"
    joined = "\n".join(action.risk_reasons)
    assert "replies go to correo-privado.es, not bancoejemplo.es" in joined
    assert "asks for credentials" in joined


def test_known_sender_asking_for_money_is_not_a_first_contact(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    earlier = (
        b"From: Daniel Mercer <d.mercer@consult-mail.example>\nSubject: Hello\n"
        b"Message-ID: <earlier@consult-mail.example>\n\nNice to meet you at the fair."
    )
    services.store.mail.insert(
        {"message_id": "<earlier@consult-mail.example>", "from_addr": "d.mercer@consult-mail"
         ".example", "from_email": "d.mercer@consult-mail.example", "reply_to": "",
         "to_addrs": "", "cc_addrs": "", "subject": "Hello", "date": None, "in_reply_to": "",
         "refs": "", "body_text": "Nice to meet you.", "raw": earlier, "source": "test"}
    )
    action = triage_sample(services, openai_server, run, "first_contact_money.eml")
    assert not any("first contact" in r for r in action.risk_reasons)


def test_mail_without_message_id_gets_a_reply_without_in_reply_to(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run
) -> None:
    action = triage_sample(services, openai_server, run, "missing_date_no_message_id.eml")
    mail = services.store.mail.get(action.payload["source_mail_id"])
    assert is_placeholder_message_id(mail.message_id)  # the importer's internal key
    assert action.payload["in_reply_to"] == ""
    assert action.payload["references"] == []
    user = openai_server.chat_requests[-1].messages[-1]["content"]
    assert "Date: unknown" in user and "Date: None" not in user

    final = run(services.runner.approve(action.id))
    assert final.status is ActionStatus.EXECUTED
    (received,) = smtp_server.messages
    msg = received.message
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["Message-ID"] == action.payload["message_id"]


def test_reply_threads_only_on_real_ids(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run
) -> None:
    action = triage_sample(services, openai_server, run, "broken_date.eml")
    assert action.payload["in_reply_to"] == "<broken-date-1@example.com>"
    assert action.payload["references"] == ["<broken-date-1@example.com>"]
    run(services.runner.approve(action.id))
    msg = smtp_server.messages[0].message
    assert msg["In-Reply-To"] == "<broken-date-1@example.com>"


def test_message_ids_use_the_founders_domain_only_and_are_reissued_on_approval(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run
) -> None:
    services.config.set("smtp.from", "")
    action = triage_sample(services, openai_server, run, "first_contact_money.eml")
    placeholder = action.payload["message_id"]
    # Never the answered mail's domain (its To is inkwell.example, its From consult-mail).
    assert placeholder.endswith("@solodesk.invalid>")
    assert action.idempotency_key == placeholder

    with pytest.raises(ApprovalRefused, match="no sender address: set smtp.from"):
        run(services.runner.approve(action.id, expected_sha256=action.payload_sha256))
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING
    assert smtp_server.messages == []

    services.config.set("smtp.from", "Ada Founder <ada@solodesk.example>")
    final = run(services.runner.approve(action.id, expected_sha256=action.payload_sha256))
    assert final.status is ActionStatus.EXECUTED
    new_id = final.payload["message_id"]
    assert new_id.endswith("@solodesk.example>") and new_id != placeholder
    assert final.idempotency_key == new_id
    assert final.approved_sha256 == payload_sha256(final.payload)  # what was sent
    events = services.store.audit.entries(action_id=action.id)
    names = [e["event"] for e in events]
    assert names.index("message_id_reissued") < names.index("approved")
    assert placeholder in events[names.index("message_id_reissued")]["detail"]
    (received,) = smtp_server.messages
    assert received.message["Message-ID"] == new_id


def test_stale_view_is_refused_before_any_reissue(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("smtp.from", "")
    action = triage_sample(services, openai_server, run, "first_contact_money.eml")
    services.config.set("smtp.from", "Ada <ada@solodesk.example>")
    with pytest.raises(Exception, match="changed since you viewed it"):
        run(services.runner.approve(action.id, expected_sha256="0" * 64))
    assert services.store.actions.get(action.id).payload == action.payload


def test_outbox_never_sends_a_placeholder_message_id(
    services: Services, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run
) -> None:
    services.config.set("smtp.from", "")
    action = triage_sample(services, openai_server, run, "first_contact_money.eml")
    services.config.set("smtp.from", "Ada <ada@solodesk.example>")
    services.store.actions.approve(action.id, actor="policy rule #1")  # not through preflight
    final = run(services.runner.execute_approved(action.id))
    assert final.status is ActionStatus.FAILED
    assert "placeholder" in (final.result or {})["detail"]
    assert smtp_server.messages == []


def test_username_without_password_refuses_the_approval(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("smtp.username", "ada@solodesk.example")
    action = triage_sample(services, openai_server, run, "broken_date.eml")
    with pytest.raises(ApprovalRefused) as info:
        run(services.runner.approve(action.id))
    assert "solodesk secrets set smtp.password" in str(info.value)
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING


def test_plaintext_login_to_another_host_refuses_the_approval(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.secrets.set("smtp.password", "s3cret")  # kept in memory: no keyring in tests
    services.config.set("smtp.username", "ada@solodesk.example")
    services.config.set("smtp.host", "mail.example.invalid")  # never contacted
    action = triage_sample(services, openai_server, run, "broken_date.eml")
    with pytest.raises(ApprovalRefused, match="refusing to send the SMTP password unencrypted "
                       "to mail.example.invalid"):
        run(services.runner.approve(action.id))
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_plaintext_login_to_loopback_is_allowed(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    sink = SmtpSink(auth=("ada@solodesk.example", "s3cret")).start()
    try:
        services.secrets.set("smtp.password", "s3cret")
        services.config.set("smtp.username", "ada@solodesk.example")
        services.config.set("smtp.port", str(sink.port))
        action = triage_sample(services, openai_server, run, "broken_date.eml")
        final = run(services.runner.approve(action.id))
        assert final.status is ActionStatus.EXECUTED, final.result
        assert sink.logins == [("ada@solodesk.example", "s3cret", True)]
        assert len(sink.messages) == 1
    finally:
        sink.stop()
