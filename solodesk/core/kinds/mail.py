"""The mail kinds: ``send_email`` (a new conversation) and ``reply_email`` (threaded, RFC 5322
section 3.6.4).

Payloads are :class:`~solodesk.core.mail.SendEmailPayload` and
:class:`~solodesk.core.mail.ReplyEmailPayload`; the idempotency key is the Message-ID fixed at
proposal time. Attachments are named by sha256 (:class:`~solodesk.core.attachments.AttachmentRef`)
so the approval covers their bytes.

Risk (levels ``low``/``medium``/``high``, each with its reasons): recipients that are not in the
untrusted mail it answers (high), more than :data:`MANY_RECIPIENTS` recipients (high), hidden or
bidirectional-control characters and links whose text shows another target (high), the phishing
signals of the mail it answers (``core.phishing``), a new conversation (medium), external
recipients not mailed before (medium), and promises (refunds, discounts, dates...) that neither
the thread nor the business profile holds (medium, ``core.drafts.find_promises``).

Policy facts: ``recipient_domains``, ``recipients``, ``recipient_count``, ``recipients_known``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from solodesk.core.actions import Provenance
from solodesk.core.bounds import escape_controls, for_terminal
from solodesk.core.drafts import draft_problems, find_promises
from solodesk.core.inspect import hidden_characters, links
from solodesk.core.kinds import FactField, KindSpec, ProposalContext, RiskContext, register
from solodesk.core.mail import (
    ReplyEmailPayload,
    SendEmailPayload,
    all_recipients,
    domain_of,
    new_message_id,
    payload_errors,
    reply_subject,
)
from solodesk.core.phishing import sender_signals
from solodesk.core.risk import Risk, RiskAssessment

SEND_EMAIL = "send_email"
REPLY_EMAIL = "reply_email"

#: More recipients than this is high risk.
MANY_RECIPIENTS = 5

#: The fields ``inbox edit`` may change on a mail (the rest is fixed at proposal time).
EDIT_FIELDS = ("to", "cc", "subject", "body")

_LIST = ("in", "not-in")
_ORDERED = ("==", "!=", "<", "<=", ">", ">=")

FACT_FIELDS: Mapping[str, FactField] = {
    "recipient_domains": FactField("list", _LIST, "every recipient's domain"),
    "recipients": FactField("list", _LIST, "every recipient address"),
    "recipient_count": FactField("int", _ORDERED, "number of To + Cc"),
    "recipients_known": FactField(
        "bool", ("==", "!="), "every recipient mailed before or in the source mail"
    ),
}


def summarize(to: Sequence[str], subject: str) -> str:
    """``"Subject → a@x, b@y +N"``, cut to 200 characters (the inbox line)."""
    who = ", ".join(to[:2]) + (f" +{len(to) - 2}" if len(to) > 2 else "")
    return f"{subject} → {who}"[:200]


def recipients(payload: Mapping[str, Any]) -> list[str]:
    """Lower-cased addr-specs of To and Cc."""
    return [a.lower() for a in all_recipients(payload)]


def recipient_facts(rcpts: Sequence[str], known: bool) -> dict[str, Any]:
    """The mail policy facts of recipients (lower-cased addr-specs) and whether all are
    known."""
    return {
        "recipient_domains": sorted({r.rsplit("@", 1)[-1].lower() for r in rcpts}),
        "recipients": [r.lower() for r in rcpts],
        "recipient_count": len(rcpts),
        "recipients_known": known,
    }


def _mail_risk(
    payload: SendEmailPayload, provenance: Provenance, ctx: RiskContext, *, new_conversation: bool
) -> RiskAssessment:
    level = Risk.LOW
    reasons: list[str] = []

    def raise_to(new: Risk, why: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(why)

    data = payload.model_dump()
    rcpts = recipients(data)
    external = [a for a in rcpts if domain_of(a) != ctx.own_domain.lower()]
    if len(rcpts) > MANY_RECIPIENTS:
        raise_to(Risk.HIGH, f"{len(rcpts)} recipients")
    participants = {a.lower() for a in ctx.source_participants}
    if provenance.untrusted:
        outsiders = [a for a in rcpts if a not in participants]
        if outsiders:
            raise_to(Risk.HIGH, "recipients not in the email it answers: " + ", ".join(outsiders))
    if new_conversation:
        raise_to(Risk.MEDIUM, "starts a new conversation")
    known = ctx.known_addresses
    unknown = [a for a in external if a not in participants and a not in known]
    if unknown and not provenance.untrusted:
        raise_to(Risk.MEDIUM, "external recipients not mailed before: " + ", ".join(unknown))
    for name in ("subject", "body"):
        hidden = hidden_characters(name, str(data.get(name, "")))
        if hidden:
            raise_to(
                Risk.HIGH,
                f"hidden characters in {name}: " + ", ".join(sorted({h.codepoint for h in hidden})),
            )
    for addr in [*payload.to, *payload.cc]:
        if hidden_characters("to", addr):
            raise_to(Risk.HIGH, f"hidden characters in recipient {addr!r}")
    disguised = [lk for lk in links(payload.body) if lk.disguised]
    if disguised:
        raise_to(Risk.HIGH, "link text differs from its target: " + disguised[0].target)
    if ctx.sender is not None:
        for signal in sender_signals(ctx.sender):
            raise_to(Risk.parse(signal.level), "source mail: " + signal.reason)
    if ctx.thread is not None:  # None: no thread to hold promises against (not checked)
        for promise in find_promises(payload.body, thread=ctx.thread, profile=ctx.profile):
            raise_to(Risk.MEDIUM, promise.reason)
    return RiskAssessment(level, reasons)


def assess_send(
    payload: SendEmailPayload, provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """Risk of a ``send_email`` payload (a new conversation: at least medium)."""
    return _mail_risk(payload, provenance, ctx, new_conversation=True)


def assess_reply(
    payload: ReplyEmailPayload, provenance: Provenance, ctx: RiskContext
) -> RiskAssessment:
    """Risk of a ``reply_email`` payload."""
    return _mail_risk(payload, provenance, ctx, new_conversation=False)


def mail_facts(payload: SendEmailPayload, ctx: RiskContext) -> dict[str, Any]:
    """The mail policy facts (:data:`FACT_FIELDS`) of a payload."""
    rcpts = recipients(payload.model_dump())
    participants = {a.lower() for a in ctx.source_participants}
    others = [r for r in rcpts if r not in participants]
    if ctx.lookup_known is not None:
        known = ctx.lookup_known(others)
    else:
        known = {r for r in others if r in ctx.known_addresses}
    known |= participants
    return recipient_facts(rcpts, bool(rcpts) and all(r in known for r in rcpts))


def mail_blobs(payload: SendEmailPayload) -> dict[str, str]:
    """``attachments[N] filename`` -> sha256 of each attachment."""
    return {
        f"attachments[{i}] {ref.filename}": ref.sha256
        for i, ref in enumerate(payload.attachments, start=1)
    }


def mail_quality(payload: SendEmailPayload, echoes: Iterable[str]) -> list[str]:
    """The draft quality gate (``core.drafts.draft_problems``) on subject and body."""
    return draft_problems(payload.subject, payload.body, echoes=list(echoes))


def render_mail(p: Mapping[str, Any]) -> list[str]:
    """A stored mail payload as ``inbox show`` lines (indented two spaces, as shown under the
    action's header): To, Cc, Subject, Message-ID, In-Reply-To, attachments, a blank line, the
    body, then hidden characters and links. Control characters are escaped, so what is
    approved is shown whole."""
    lines = [f"  To:      {escape_controls(', '.join(p.get('to', [])))}"]
    if p.get("cc"):
        lines.append(f"  Cc:      {escape_controls(', '.join(p['cc']))}")
    lines.append(f"  Subject: {escape_controls(str(p.get('subject', '')))}")
    lines.append(f"  Message-ID: {for_terminal(str(p.get('message_id', '')), 'message_id')}")
    if p.get("in_reply_to"):
        lines.append(f"  In-Reply-To: {for_terminal(str(p['in_reply_to']), 'message_id')}")
    for ref in p.get("attachments") or []:
        if isinstance(ref, Mapping):
            lines.append(
                f"  Attachment: {escape_controls(str(ref.get('filename', '')))} "
                f"({escape_controls(str(ref.get('media_type', '')))}, "
                f"{ref.get('size', 0)} bytes, sha256 {str(ref.get('sha256', ''))[:12]}…)"
            )
    lines.append("")
    body = escape_controls(str(p.get("body", "")), multiline=True)
    lines += ["  " + line for line in body.splitlines()]
    lines += _warnings(p)
    return lines


def _warnings(payload: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    found = []
    for name in ("subject", "body"):
        found += hidden_characters(name, str(payload.get(name, "")))
    for addr in list(payload.get("to", [])) + list(payload.get("cc", [])):
        found += hidden_characters("recipient", str(addr))
    for h in found:
        out.append(f"  ⚠ hidden character {h.codepoint} {h.name} in {h.field} at {h.index}")
    for link in links(str(payload.get("body", ""))):
        mark = "  ⚠ DISGUISED" if link.disguised else ""
        out.append(f"  link: {link.text!r} → {link.target}{mark}")
    return out


def _summary(payload: SendEmailPayload) -> str:
    return summarize(payload.to, payload.subject)


def _key(payload: SendEmailPayload) -> str | None:
    return payload.message_id


#: What an agent writes in ``propose_send_email`` (the Message-ID is SoloDesk's).
SEND_AGENT_FIELDS = ("to", "cc", "subject", "body")
#: What an agent writes in ``propose_reply_email``: the mail it answers and the text; the
#: subject and threading come from that mail (RFC 5322 3.6.4, 3.6.5).
REPLY_AGENT_FIELDS = ("source_mail_id", "to", "cc", "body")


def complete_send(args: dict[str, Any], ctx: ProposalContext) -> dict[str, Any]:
    """An agent's ``send_email`` arguments plus a Message-ID on the founder's domain."""
    return {**args, "message_id": new_message_id(ctx.own_domain)}


def complete_reply(args: dict[str, Any], ctx: ProposalContext) -> dict[str, Any]:
    """An agent's ``reply_email`` arguments, threaded on the mail ``source_mail_id`` names:
    its reply subject, In-Reply-To and References, and its sender when ``to`` is empty. An
    unknown mail is left for validation to report (no subject)."""
    out = {**args, "message_id": new_message_id(ctx.own_domain)}
    mail_id = args.get("source_mail_id")
    mail = ctx.mail(mail_id) if ctx.mail is not None and isinstance(mail_id, int) else None
    if mail is None:
        out.setdefault("subject", "")
        return out
    out["subject"] = reply_subject(str(mail.get("subject", "")))
    out["in_reply_to"] = str(mail.get("in_reply_to", ""))
    out["references"] = list(mail.get("references", []))
    if not out.get("to"):
        out["to"] = [str(mail.get("reply_to", ""))]
    return out


SEND_EMAIL_SPEC = register(
    KindSpec(
        name=SEND_EMAIL,
        title="Send an email",
        label="Email",
        payload_model=SendEmailPayload,
        summary=_summary,
        idempotency_key=_key,
        validate=payload_errors,
        assess=assess_send,
        facts=mail_facts,
        fact_fields=FACT_FIELDS,
        blobs=mail_blobs,
        render_text=render_mail,
        edit_fields=EDIT_FIELDS,
        quality=mail_quality,
        agent_fields=SEND_AGENT_FIELDS,
        complete=complete_send,
    )
)

# A reply is the same kind of mail with its own payload (threading) and risk assessor.
REPLY_EMAIL_SPEC = register(
    replace(
        SEND_EMAIL_SPEC,
        name=REPLY_EMAIL,
        title="Reply to an email",
        label="Reply",
        payload_model=ReplyEmailPayload,
        assess=assess_reply,
        agent_fields=REPLY_AGENT_FIELDS,
        complete=complete_reply,
    )
)

#: Both mail kinds (for code in the mail family's own modules).
MAIL_KINDS = frozenset({SEND_EMAIL, REPLY_EMAIL})
