"""The ``solodesk`` command line.

``solodesk`` with no command opens the GUI. Every command accepts the global ``--home DIR``.
Errors exit with status 1 (2 for usage errors) and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from solodesk import (
    __version__,
    cli_agents,
    cli_autonomy,
    cli_books,
    cli_costs,
    cli_docs,
    cli_invoices,
    cli_jobs,
    cli_mailsync,
    cli_memory,
    cli_runs,
    cli_serve,
)
from solodesk.core.actions import Action, ActionStatus
from solodesk.core.bounds import escape_controls, for_terminal
from solodesk.core.events import (
    BudgetExceeded,
    BudgetWarning,
    ChatDelta,
    ModelCrashed,
    Progress,
    RunFailed,
)
from solodesk.store.paths import HOME_ENV


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="solodesk",
        description="SoloDesk: AI agents propose, you approve. Without a command, opens the GUI.",
    )
    p.add_argument("--version", action="version", version=f"SoloDesk {__version__}")
    p.add_argument("--home", metavar="DIR", help=f"keep all data in DIR (or set {HOME_ENV})")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="try SoloDesk on a sample mailbox in a separate demo home")
    demo.add_argument("--no-gui", action="store_true", help="print the proposals instead")
    demo.add_argument("--limit", type=int, default=None, help="triage at most N sample mails")

    cfg = sub.add_parser("config", help="settings").add_subparsers(dest="action", required=True)
    s = cfg.add_parser("set", help="set a setting")
    s.add_argument("key")
    s.add_argument("value")
    g = cfg.add_parser("get", help="print a setting")
    g.add_argument("key")
    cfg.add_parser("list", help="list all settings")

    sec = sub.add_parser("secrets", help="credentials in the system keyring").add_subparsers(
        dest="action", required=True
    )
    ss = sec.add_parser("set", help="store a secret read from stdin (or a hidden prompt)")
    ss.add_argument("name")
    sec.add_parser("status", help="keyring backend and which secrets are set (never values)")

    mail = sub.add_parser("mail", help="import and triage mail").add_subparsers(
        dest="action", required=True
    )
    mi = mail.add_parser("import", help="import an mbox file, Maildir, .eml file or folder")
    mi.add_argument("path", type=Path)
    mt = mail.add_parser("triage", help="run the support agent over untriaged mail")
    mt.add_argument("--limit", type=int, default=None)
    cli_mailsync.register(mail)
    cli_jobs.register(sub)

    chat = sub.add_parser("chat", help="one chat turn with the manager agent (streamed)")
    chat.add_argument("message")
    chat.add_argument("--new", action="store_true", help="start a new conversation")

    inbox = sub.add_parser("inbox", help="proposed actions").add_subparsers(
        dest="action", required=True
    )
    il = inbox.add_parser("list", help="list proposals (pending by default)")
    il.add_argument("--status", default="pending", help="a status, or 'all'")
    il.add_argument("--json", action="store_true")
    ish = inbox.add_parser("show", help="show one proposal")
    ish.add_argument("id", type=int)
    ish.add_argument("--json", action="store_true")
    ie = inbox.add_parser("edit", help="change one field of a pending proposal")
    ie.add_argument("id", type=int)
    ie.add_argument(
        "field",
        help="a field of the proposal's payload (mail: to, cc, subject or body); lists are "
        "comma-separated, numbers and true/false typed by the field's schema",
    )
    ie.add_argument("value", help="new value ('-' reads it from stdin)")
    ie.add_argument(
        "--sha256", metavar="HEX",
        help="save only if the proposal is still the one with this payload_sha256 "
        "(from 'inbox show --json')",
    )
    ia = inbox.add_parser(
        "approve",
        help="approve a proposal; it is sent after the undo window (Ctrl-C cancels)",
    )
    ia.add_argument("id", type=int)
    ia.add_argument("--now", action="store_true", help="skip the undo window")
    ia.add_argument(
        "--sha256", metavar="HEX",
        help="approve only if the proposal is still the one with this payload_sha256 "
        "(from 'inbox show --json'): nothing is approved if it changed since",
    )
    ic = inbox.add_parser("cancel", help="undo an approval still in its undo window")
    ic.add_argument("id", type=int)
    ir = inbox.add_parser("reject", help="reject a proposal")
    ir.add_argument("id", type=int)
    ir.add_argument("--reason", default="")
    irs = inbox.add_parser(
        "resolve",
        help="say whether an interrupted (unknown) send arrived",
        description="After checking the recipient's copy or your Sent folder: --delivered "
        "records it as sent; --not-delivered returns it to failed, from where it can be "
        "approved again.",
    )
    irs.add_argument("id", type=int)
    how = irs.add_mutually_exclusive_group(required=True)
    how.add_argument("--delivered", action="store_true", help="it did arrive")
    how.add_argument("--not-delivered", action="store_true", help="it did not arrive")
    outbox = sub.add_parser("outbox", help="approved actions waiting to be executed")
    outbox_sub = outbox.add_subparsers(dest="action", required=True)
    outbox_sub.add_parser("run", help="execute every approved action that is due, then exit")

    pol = sub.add_parser("policy", help="rules that approve, ask or block kinds of actions")
    pol_sub = pol.add_subparsers(dest="action", required=True)
    pol_sub.add_parser("list", help="rules in evaluation order")
    pa = pol_sub.add_parser(
        "add",
        help="add a rule",
        description="Example: solodesk policy add --kind reply_email "
        "--when 'recipient_domains in example.com' --when 'risk <= low' --then auto_approve",
    )
    pa.add_argument("--kind", default="*", help="action kind, or * for all (default)")
    pa.add_argument(
        "--when", action="append", default=[], metavar="'FIELD OP VALUE'",
        help="a condition (repeat for AND); fields: agent, risk, untrusted, recipient_domains, "
        "recipients, recipient_count, recipients_known, amount_cents",
    )
    pa.add_argument("--then", required=True, choices=["auto_approve", "ask", "block"])
    pa.add_argument("--position", type=int, default=None, help="evaluation order (lower first)")
    pa.add_argument("--note", default="")
    pr = pol_sub.add_parser("remove", help="remove a rule")
    pr.add_argument("id", type=int)
    cli_autonomy.register(pol_sub)

    aud = sub.add_parser("audit", help="the hash-chained audit trail")
    aud_sub = aud.add_subparsers(dest="action", required=True)
    ae = aud_sub.add_parser("export", help="write the audit trail as CSV or JSON Lines")
    ae.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    ae.add_argument("--output", "-o", type=Path, default=None, help="file (default: stdout)")
    aud_sub.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    cli_books.register(sub)
    cli_invoices.register(sub)
    cli_runs.register(sub)
    cli_agents.register(sub)
    cli_serve.register(sub)
    cli_costs.register(sub)
    cli_docs.register(sub)
    cli_memory.register(sub)
    return p


def action_json(a: Action) -> dict[str, Any]:
    """The JSON shape of ``inbox list/show --json``."""
    return {
        "id": a.id,
        "kind": a.kind,
        "status": a.status.value,
        "agent": a.agent,
        "summary": a.summary,
        "payload": a.payload,
        "payload_sha256": a.payload_sha256,
        "provenance": a.provenance.to_json(),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "approved_sha256": a.approved_sha256,
        "approved_at": a.approved_at,
        "executed_at": a.executed_at,
        "result": a.result,
        "errors": a.errors,
        "risk": a.risk,
        "risk_reasons": a.risk_reasons,
        "send_at": a.send_at,
        "decided_by": a.decided_by,
        "run_id": a.run_id,
        "critique": a.critique,
    }


def _floor_note(sv: Any, a: Action) -> str:
    """Why a rule did not auto-approve ``a`` (the policy floor), or ''."""
    for entry in sv.store.audit.entries(action_id=a.id):
        if entry["event"] == "policy_decision":
            detail = json.loads(entry["detail"] or "{}")
            if detail.get("floor"):
                return (
                    f"policy rule #{detail.get('rule_id')} would have auto-approved it; "
                    f"{detail['floor']}"
                )
    return ""


def _run_text(sv: Any, a: Action) -> str:
    """``#N (agent)``: the run that produced ``a`` (``solodesk runs show N``), or ''."""
    if a.run_id is None:
        return ""
    from solodesk.store.runs import RunNotFound

    try:
        run = sv.store.runs.get(a.run_id)
    except RunNotFound:
        return f"#{a.run_id}"
    return f"#{run.id} ({run.agent})"


def format_action(a: Action, *, source: str = "", floor: str = "", run: str = "") -> str:
    """A readable view of one action for the terminal (``floor``: why a rule did not
    auto-approve it; ``run``: the run that produced it, ``#N (agent)``)."""
    lines = [
        f"#{a.id}  {a.kind}  [{a.status.value}]  by {a.agent}  {a.created_at}",
        f"  {for_terminal(a.summary, 'summary')}",
    ]
    if run:
        lines.append(f"  run: {run}")
    why = f" ({'; '.join(a.risk_reasons)})" if a.risk_reasons else ""
    lines.append(f"  risk: {a.risk}{why}")
    if a.provenance.untrusted:
        src = f"{a.provenance.source} {a.provenance.ref}"
        lines.append(f"  ⚠ derived from untrusted content ({src})")
    if a.send_at and a.status is ActionStatus.SCHEDULED:
        lines.append(f"  scheduled to send at {a.send_at} (solodesk inbox cancel {a.id})")
    if a.decided_by:
        lines.append(f"  decided by: {a.decided_by}")
    if floor and a.status is ActionStatus.PENDING:
        lines.append(f"  ⚠ {floor}")
    critique = critique_lines(a)
    if critique:
        lines += [*critique, "", "  --- the proposal ---"]
    p = a.payload
    if a.status is ActionStatus.INVALID:
        lines.append("  validation errors:")
        lines += [f"    - {e}" for e in a.errors]
        lines.append(f"  model output: {json.dumps(p, ensure_ascii=False)[:600]}")
    else:
        # What is approved is shown whole (validation bounds it); control characters escaped.
        # The kind renders its payload (mail: headers and body), else every schema field.
        from solodesk.core import kinds as K

        spec = K.find(a.kind)
        lines += spec.render(p) if spec is not None else K.render_fields({}, p)
    lines += outcome_lines(a)
    if source:
        lines += ["", "  --- in reply to ---"] + ["  " + s for s in source.splitlines()]
    return "\n".join(lines)


def critique_lines(a: Action) -> list[str]:
    """The "Devil's advocate" block of ``inbox show`` ([] when it was not critiqued)."""
    from solodesk.core.critique import Critique

    if a.critique is None:
        return []
    if a.critique.get("state") == "running":
        return ["  --- Devil's advocate ---", "  critiquing this proposal now…"]
    critique = Critique.from_json(a.critique)
    if critique is None:
        return []
    run = f" (run #{critique.run_id})" if critique.run_id is not None else ""
    lines = [f"  --- Devil's advocate{run} ---"]
    lines += [
        "  " + escape_controls(line)
        for line in critique.lines(current_sha256=a.payload_sha256)
    ]
    return lines


def why(a: Action) -> str:
    """Why an action ended as it did (its recorded result), one line."""
    result = a.result or {}
    return str(result.get("detail") or result.get("reason") or "").strip()


def next_step(a: Action) -> str:
    """What the founder can do about a ``failed`` or ``unknown`` action, or ""."""
    if a.status is ActionStatus.FAILED:
        step = f"fix the cause, then 'solodesk inbox approve {a.id}' sends it again"
        return step if "nothing was sent" in why(a) else "nothing was sent; " + step
    if a.status is ActionStatus.UNKNOWN:
        step = (f"check the recipient's copy or your Sent folder, then 'solodesk inbox resolve "
                f"{a.id} --delivered' or '--not-delivered'")
        return step if "may or may not" in why(a) else (
            "it may or may not have been delivered: " + step)
    return ""


def outcome_lines(a: Action) -> list[str]:
    """The result of an executed, failed or unknown action, and what to do next."""
    if not a.result:
        return []
    status = str(a.result.get("status") or a.status.value)
    lines = [f"  result: {status}: {why(a)}".rstrip(": ")]
    if a.result.get("refused") and "refused:" not in why(a):
        lines.append(f"  refused by the server: {a.result['refused']}")
    step = next_step(a)
    if step:
        lines.append(f"  → {step}")
    return lines


def _progress_printer(event: Progress) -> None:
    message = escape_controls(event.message)  # may quote a subject: untrusted
    if event.task == "triage" and event.total:
        print(f"[{event.done}/{event.total}] {message}", file=sys.stderr, flush=True)
    elif message:
        print(message, file=sys.stderr, flush=True)


def _services() -> Any:
    from solodesk.services import build_services

    return build_services()


def _crash_printer(event: ModelCrashed) -> None:
    print(f"{'warning' if event.restarting else 'error'}: {event.message}", file=sys.stderr,
          flush=True)


def _budget_printer(event: BudgetExceeded | BudgetWarning) -> None:
    if isinstance(event, BudgetExceeded):
        print(f"budget: {event.message}", file=sys.stderr, flush=True)
    else:
        print(f"budget warning: {event.message}", file=sys.stderr, flush=True)


async def _run_async(args: argparse.Namespace) -> int:
    services = _services()
    if args.command != "config":  # config list marks them; config get/set names the error
        for problem in services.config.problems:
            print(f"solodesk: warning: {problem.message}", file=sys.stderr)
    services.bus.subscribe(ModelCrashed, _crash_printer)
    services.bus.subscribe(BudgetExceeded, _budget_printer)
    services.bus.subscribe(BudgetWarning, _budget_printer)
    try:
        return await _dispatch(services, args)
    except asyncio.CancelledError:
        # Ctrl-C: say what became of a send that was under way, then exit 130.
        for a in services.outbox.interrupted:
            state = {
                ActionStatus.FAILED: "was NOT sent (failed)",
                ActionStatus.UNKNOWN: "MAY have been sent (unknown)",
                ActionStatus.EXECUTED: "was sent",
            }.get(a.status, a.status.value)
            step = next_step(a)
            print(f"interrupted: #{a.id} {state}" + (f"; {step}" if step else ""),
                  file=sys.stderr)
        raise
    finally:
        for warning in services.outbox.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        await services.aclose()


async def _dispatch(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.store.config import SETTINGS

    cmd, action = args.command, getattr(args, "action", None)
    if cmd == "config":
        if action == "set":
            sv.config.set(args.key, args.value)
            print(f"{args.key} = {sv.config.get(args.key)}")
        elif action == "get":
            print(sv.config.get(args.key))
        else:
            for key, value, default in sv.config.items():
                mark = "  (default)" if default else ""
                if sv.config.problem(key):
                    mark = "  (NOT ALLOWED: fix it with 'solodesk config set')"
                print(f"{key} = {value}{mark}")
                print(f"    {SETTINGS[key].help}")
                print(f"    allowed: {SETTINGS[key].allowed()}")
        return 0
    if cmd == "secrets":
        return _secrets(sv, args)
    if cmd == "mail" and action == "import":
        return _mail_import(sv, args.path)
    if cmd == "mail" and action == "triage":
        return await _triage(sv, args.limit)
    if cmd == "mail" and action == "sync":
        return await cli_mailsync.dispatch(sv, args)
    if cmd == "jobs":
        try:
            return await cli_jobs.dispatch(sv, args)
        except cli_jobs.JobsCliError as exc:
            raise CliError(str(exc)) from None
    if cmd == "chat":
        return await _chat(sv, args.message, new=args.new)
    if cmd == "inbox":
        return await _inbox(sv, args)
    if cmd == "outbox":
        return await _outbox_run(sv)
    if cmd == "policy":
        return _policy(sv, args)
    if cmd == "audit":
        return _audit(sv, args)
    if cmd in cli_books.COMMANDS:
        return await cli_books.dispatch(sv, args)
    if cmd in cli_invoices.COMMANDS:
        return await cli_invoices.dispatch(sv, args)
    if cmd in cli_costs.COMMANDS:
        try:
            return cli_costs.dispatch(sv, args)
        except cli_costs.CostsCliError as exc:
            raise CliError(str(exc)) from None
    if cmd in cli_agents.COMMANDS:
        try:
            return await cli_agents.dispatch(sv, args)
        except cli_agents.AgentsCliError as exc:
            raise CliError(str(exc)) from None
    if cmd in cli_runs.COMMANDS:
        try:
            return cli_runs.dispatch(sv, args)
        except cli_runs.RunsCliError as exc:
            raise CliError(str(exc)) from None
    if cmd in cli_docs.COMMANDS:
        try:
            return cli_docs.dispatch(sv, args)
        except cli_docs.DocsCliError as exc:
            raise CliError(str(exc)) from None
    if cmd in cli_memory.COMMANDS:
        try:
            return cli_memory.dispatch(sv, args)
        except cli_memory.MemoryCliError as exc:
            raise CliError(str(exc)) from None
    raise CliError(f"unknown command {cmd}")


async def _outbox_run(sv: Any) -> int:
    """Execute every due action; print each outcome and a summary of what really happened."""
    from solodesk.actions.outbox import NotClaimed
    from solodesk.store.db import StoreError

    reconciled = sv.outbox.reconcile()
    for action_id in reconciled:
        a = sv.store.actions.get(action_id)
        print(f"#{a.id} unknown: {why(a)}")
        print(f"  → {next_step(a)}")
    counts = {"executed": 0, "failed": 0, "unknown": 0}
    stopped = ""
    due = sv.store.actions.due()
    for action_id in due:
        try:
            a = await sv.decisions.execute_approved(action_id)
        except NotClaimed:
            continue  # another process (the window, another command) took it
        except StoreError as exc:  # a locked keyring, too little disk space, a busy database
            stopped = str(exc)
            break
        counts[a.status.value] = counts.get(a.status.value, 0) + 1
        label = "sent" if a.status is ActionStatus.EXECUTED else a.status.value
        print(f"#{a.id} {label}: {why(a)}")
        step = next_step(a)
        if step:
            print(f"  → {step}")
    summary = (f"sent {counts['executed']}, failed {counts['failed']}, "
               f"unknown {counts['unknown'] + len(reconciled)}")
    if stopped:
        left = len(sv.store.actions.due())
        print(f"{summary}; stopped with {left} due action(s) not started", flush=True)
        raise CliError(stopped)
    print(summary if due or reconciled else "nothing due: " + summary)
    return 0 if counts["failed"] == counts["unknown"] == 0 and not reconciled else 1


def _secrets(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.store.secrets import KNOWN_SECRETS
    from solodesk.store.trust import KEY_NAME

    info = sv.secrets.info
    if args.action == "status":
        state = "secure" if info.secure else "NOT SECURE (secrets are kept in memory only)"
        print(f"keyring backend: {info.name} — {state}")
        for name in KNOWN_SECRETS:
            print(f"  {name}: {sv.secrets.state(name).value}    ({KNOWN_SECRETS[name]})")
        trust = sv.store.trust.status()
        if not trust.keyed:
            print(f"  {KEY_NAME}: not set — {trust.message}")
        elif trust.available:
            print(f"  {KEY_NAME}: set — {trust.message}")
        else:
            print(f"  {KEY_NAME}: unavailable — {trust.message}")
        return 0
    if args.name not in KNOWN_SECRETS:
        raise CliError(f"unknown secret {args.name!r}; known: {', '.join(KNOWN_SECRETS)}")
    if sys.stdin.isatty():
        value = getpass.getpass(f"{args.name}: ")
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise CliError("empty secret: nothing stored")
    if not sv.secrets.set(args.name, value):
        raise CliError(
            f"no secure keyring ({info.name}): {args.name} was NOT saved. Unlock or install a "
            "Secret Service keyring (e.g. gnome-keyring) and try again"
        )
    print(f"{args.name} stored in {info.name}")
    return 0


def _mail_import(sv: Any, path: Path) -> int:
    from solodesk.connectors.mailimport import ImportSourceError, import_mail

    def problem(line: str) -> None:  # each problem at once, with its path and reason
        print(for_terminal(line, "problem"), file=sys.stderr, flush=True)

    try:
        report = import_mail(path.expanduser(), sv.store.mail, on_problem=problem)
    except ImportSourceError as exc:
        raise CliError(str(exc)) from None
    print(report.summary())
    return 1 if report.stopped else 0


async def _triage(sv: Any, limit: int | None) -> int:
    from solodesk.core.llmtypes import LLMError

    unsub = sv.bus.subscribe(Progress, _progress_printer)
    fails = sv.bus.subscribe(
        RunFailed, lambda e: print(f"error: {escape_controls(e.message)}", file=sys.stderr)
    )
    try:
        if not sv.store.mail.untriaged(limit=1):
            print("no untriaged mail: import some with 'solodesk mail import PATH'")
            return 0
        print(f"model: {sv.runner.model_label()}", file=sys.stderr)
        if sv.config.first_run():
            print(
                f"note: replies are signed by {sv.config.get('founder.name')!r} of "
                f"{sv.config.get('company.name')!r}; set yours with: solodesk config set "
                "founder.name 'Your Name' && solodesk config set company.name 'Your Company'",
                file=sys.stderr,
            )
        try:
            report = await sv.runner.triage(limit=limit)
        except LLMError as exc:
            raise CliError(str(exc)) from None
    finally:
        unsub()
        fails()
    for o in report.outcomes:
        mail = sv.store.mail.get(o.mail_id)
        subject = for_terminal(repr(mail.subject), "subject")
        note = for_terminal(o.note, "note")
        if o.status == "proposed":
            a = sv.store.actions.get(o.action_id)
            how = ""
            if a.status in (ActionStatus.APPROVED, ActionStatus.SCHEDULED):
                how = f" — auto-approved by {a.decided_by}; 'solodesk outbox run' sends it"
            elif a.status is ActionStatus.REJECTED:
                how = f" — blocked by {a.decided_by}"
            print(f"mail {o.mail_id} {subject}: proposed reply #{o.action_id}{how}")
        elif o.status == "no_reply":
            print(f"mail {o.mail_id} {subject}: no reply needed: {note}")
        elif o.status == "invalid":
            print(f"mail {o.mail_id} {subject}: invalid proposal #{o.action_id} recorded")
        else:
            print(f"mail {o.mail_id} {subject}: failed: {note}")
    skipped = (f", {report.skipped} skipped (being triaged by another SoloDesk process)"
               if report.skipped else "")
    print(
        f"triaged {len(report.outcomes)}: {report.count('proposed')} proposed, "
        f"{report.count('no_reply')} no reply needed, {report.count('invalid')} invalid, "
        f"{report.count('failed')} failed{skipped}"
    )
    return 1 if report.count("failed") else 0


async def _chat(sv: Any, message: str, *, new: bool) -> int:
    from solodesk.core.llmtypes import LLMError

    conv = None if new else sv.store.chat.latest_conversation()

    def out(e: ChatDelta) -> None:
        sys.stdout.write(e.text)
        sys.stdout.flush()

    unsub = sv.bus.subscribe(ChatDelta, out)
    prog = sv.bus.subscribe(Progress, _progress_printer)
    try:
        await sv.runner.chat(message, conversation_id=conv)
    except LLMError as exc:
        raise CliError(str(exc)) from None
    finally:
        unsub()
        prog()
    print()
    return 0


def source_mail_text(mail: Any, warnings: Sequence[str] = ()) -> str:
    """The answered mail for the terminal: true sender (addr-spec), Reply-To, subject, date
    ("unknown" when missing or unreadable), sender warnings, then the text."""
    from solodesk.core.mail import first_mailbox, parse_mailboxes

    # Untrusted: every field bounded, control characters escaped (core.bounds).
    sender = first_mailbox(mail.from_addr).describe() or mail.from_email
    lines = [f"From: {for_terminal(sender, 'from')}"]
    replies = [b.describe() for b in parse_mailboxes(mail.reply_to) if b.addr]
    if replies:
        lines.append(f"Reply-To: {for_terminal(', '.join(replies), 'reply_to')}")
    lines.append(f"Subject: {for_terminal(mail.subject, 'subject')}")
    date = for_terminal(mail.date, "date") if mail.date else None
    lines.append(f"Date: {date or 'unknown (missing or unreadable Date header)'}")
    lines += [f"⚠ sender: {for_terminal(w, 'body')}" for w in warnings]
    return "\n".join(lines) + f"\n\n{for_terminal(mail.body_text, 'body', multiline=True)}"


def _source_text(sv: Any, a: Action) -> str:
    from solodesk.store.repos import NotFound

    if a.provenance.source != "mail" or a.provenance.ref is None:
        return ""
    try:
        m = sv.store.mail.get(a.provenance.ref)
    except NotFound:
        return ""
    warnings = [s.reason for s in sv.runner.gates.sender_signals(m)]
    return source_mail_text(m, warnings)


async def _wait_undo_window(sv: Any, a: Action) -> None:
    """Count down to ``a.send_at`` on stderr; Ctrl-C cancels the approval (nothing is sent)."""
    from solodesk.core.actions import parse_utc

    assert a.send_at is not None
    due = parse_utc(a.send_at).timestamp()
    live = sys.stderr.isatty()
    if not live:
        print(f"sending #{a.id} in {due - time.time():.0f} s (Ctrl-C cancels)", file=sys.stderr)
    try:
        while (remaining := due - time.time()) > 0:
            if live:
                print(
                    f"\rsending #{a.id} in {remaining:4.1f} s — Ctrl-C cancels ",
                    end="", file=sys.stderr, flush=True,
                )
            await asyncio.sleep(min(0.2, remaining))
        if live:
            print("\rsending…" + " " * 40, file=sys.stderr, flush=True)
    except (asyncio.CancelledError, KeyboardInterrupt):
        sv.decisions.cancel(a.id)
        print(f"\ncancelled: #{a.id} is pending again; nothing was sent", file=sys.stderr)
        raise


async def _await_other_sender(sv: Any, action_id: int) -> Action:
    """Wait while another SoloDesk process sends ``action_id``; its final state.

    Raises:
        NotClaimed: it is not being sent (e.g. it was cancelled or rejected meanwhile).
    """
    from solodesk.actions.outbox import NotClaimed

    a: Action = sv.store.actions.get(action_id)
    if a.status is ActionStatus.EXECUTING:
        owner = sv.store.actions.owner(action_id)
        who = owner.describe() if owner is not None else "another SoloDesk process"
        print(f"#{action_id} is being sent by {who}; waiting for the result…", file=sys.stderr)
    while a.status is ActionStatus.EXECUTING:
        await asyncio.sleep(0.2)
        sv.outbox.reconcile()  # should that process be gone, its send becomes unknown
        a = sv.store.actions.get(action_id)
    if a.status in (ActionStatus.APPROVED, ActionStatus.SCHEDULED, ActionStatus.PENDING,
                    ActionStatus.REJECTED, ActionStatus.INVALID):
        raise NotClaimed(f"action {action_id} is {a.status.value}; nothing was sent")
    return a


def _policy(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.policy import Outcome, RuleError, auto_approve_warning, parse_condition
    from solodesk.store.repos import NotFound

    if args.action == "suggest":
        return cli_autonomy.suggest(sv, args, CliError)
    if args.action == "list":
        rules = sv.store.policy.rules()
        if not rules:
            print("no rules: every proposal asks for your approval")
        for r in rules:
            print(r.describe() + (f"   # {r.note}" if r.note else ""))
        return 0
    if args.action == "add":
        try:
            conditions = [parse_condition(c, kind=args.kind) for c in args.when]
            rule = sv.store.policy.add(
                kind=args.kind,
                conditions=conditions,
                outcome=Outcome(args.then),
                note=args.note,
                position=args.position,
            )
        except RuleError as exc:
            raise CliError(str(exc)) from None
        print(f"added {rule.describe()}")
        warning = auto_approve_warning(rule.outcome, rule.conditions)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    try:
        rule = sv.store.policy.remove(args.id)
    except NotFound as exc:
        raise CliError(str(exc)) from None
    print(f"removed {rule.describe()}")
    return 0


def _audit(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.audit import write_entries

    if args.action == "verify":
        report = sv.store.audit.verify_report()
        for p in report.problems:
            print(p, file=sys.stderr)
        if report.problems:
            raise CliError(
                f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.entries} "
                "entries"
            )
        print(f"audit chain intact: {report.entries} entries")
        print(("" if report.keyed else "warning: ") + report.note)
        return 0
    entries = sv.store.audit.entries()
    if args.output:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            write_entries(entries, out, args.format)
        print(f"wrote {len(entries)} entries to {args.output}", file=sys.stderr)
    else:
        write_entries(entries, sys.stdout, args.format)
    return 0


async def _inbox(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.actions.outbox import NotClaimed
    from solodesk.core.actions import InvalidTransition
    from solodesk.inbox.decisions import DecisionError, InvalidEdit, PreflightFailed
    from solodesk.store.repos import NotFound, StaleApproval

    actions = sv.store.actions
    try:
        if args.action == "list":
            if args.status == "all":
                items = actions.list()
            else:
                try:
                    status = ActionStatus(args.status)
                except ValueError:
                    valid = ", ".join(s.value for s in ActionStatus)
                    raise CliError(f"unknown status {args.status!r}; use all, {valid}") from None
                items = actions.list(statuses=[status])
            if args.json:
                print(json.dumps([action_json(a) for a in items], indent=2, ensure_ascii=False))
            else:
                if not items:
                    print("no proposals" if args.status == "all" else f"no {args.status} proposals")
                for a in items:
                    flag = " ⚠untrusted" if a.provenance.untrusted else ""
                    print(
                        f"#{a.id:<5} {a.status.value:<9} {a.risk:<6} {a.kind:<11} "
                        f"{a.agent:<8} {for_terminal(a.summary, 'summary')}{flag}"
                    )
            return 0
        if args.action == "show":
            a = actions.get(args.id)
            if args.json:
                data = action_json(a)
                data["source"] = _source_text(sv, a)
                print(json.dumps(data, indent=2, ensure_ascii=False))
            else:
                print(format_action(a, source=_source_text(sv, a), floor=_floor_note(sv, a),
                                    run=_run_text(sv, a)))
            return 0
        if args.action == "edit":
            a = actions.get(args.id)
            value = sys.stdin.read() if args.value == "-" else args.value
            from solodesk.core import kinds as K

            spec = K.find(a.kind)
            if spec is None:
                raise CliError(f"#{a.id} is a {a.kind} action, a kind this SoloDesk does not know")
            try:
                payload = {**a.payload, args.field: spec.coerce(args.field, value)}
            except ValueError as exc:
                raise CliError(str(exc)) from None
            decisions = sv.decisions
            try:
                a = decisions.edit(
                    args.id, payload, expected_sha256=args.sha256 or a.payload_sha256
                )
            except InvalidEdit as exc:
                raise CliError(f"not saved: {exc}") from None
            print(format_action(a))
            return 0
        if args.action == "approve":
            sv.outbox.reconcile()
            decisions = sv.decisions
            a = actions.get(args.id)
            try:
                if a.status is ActionStatus.APPROVED:
                    # Approved earlier but not sent (e.g. no disk space then): send it now.
                    a = await decisions.execute_approved(args.id)
                elif a.status is not ActionStatus.SCHEDULED:
                    a = await decisions.approve(
                        args.id, expected_sha256=args.sha256,
                        delay_s=0.0 if args.now else None,
                    )
                if a.status is ActionStatus.SCHEDULED:
                    await _wait_undo_window(sv, a)
                    a = await decisions.execute_approved(args.id)
            except NotClaimed:
                # Another process (the window's outbox) took it first: report its outcome.
                a = await _await_other_sender(sv, args.id)
            print(format_action(a))
            if a.status is ActionStatus.EXECUTED:
                return 0
            # Exit 1 always comes with a reason on stderr (the view above is on stdout).
            detail = str((a.result or {}).get("detail") or "no reason was recorded")
            hint = (
                f"; fix it and run 'solodesk inbox approve {a.id}' again"
                if a.status is ActionStatus.FAILED
                else ""
            )
            raise CliError(f"#{a.id} was not sent ({a.status.value}): {detail}{hint}")
        if args.action == "cancel":
            a = sv.decisions.cancel(args.id)
            print(f"#{a.id} approval cancelled: back to pending, nothing sent")
            return 0
        if args.action == "reject":
            a = sv.decisions.reject(args.id, reason=args.reason)
            print(f"#{a.id} rejected")
            return 0
        if args.action == "resolve":
            a = sv.decisions.resolve(args.id, delivered=bool(args.delivered))
            if args.delivered:
                print(f"#{a.id} recorded as delivered (executed)")
            else:
                print(f"#{a.id} recorded as not delivered (failed): 'solodesk inbox approve "
                      f"{a.id}' sends it again")
            return 0
    except PreflightFailed as exc:
        raise CliError(f"#{exc.action_id} not approved: {exc}") from None
    except (NotFound, DecisionError, StaleApproval, InvalidTransition, NotClaimed) as exc:
        raise CliError(str(exc)) from None
    raise CliError("unknown inbox command")


def display_available() -> bool:
    """Whether a GUI can open: always on macOS/Windows; on Linux a display or a Qt platform."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(
        os.environ.get("QT_QPA_PLATFORM")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
    )


def gui_main() -> int:
    """Entry point of the ``solodesk-gui`` script: ``solodesk`` without a command (the window).

    Without a display it prints what to do and returns 1, where Qt alone would abort.
    """
    return main(sys.argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``solodesk`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    _quiet_console_logging()
    if args.home:
        os.environ[HOME_ENV] = str(Path(args.home).expanduser().resolve())
    try:
        if args.command is None:
            if not display_available():
                raise CliError(
                    "no display to open the window on; use the commands "
                    "(solodesk --help), e.g. 'solodesk inbox list', or run under a desktop"
                )
            from solodesk.app import run_gui

            return int(run_gui())
        if args.command == "demo":
            from solodesk.demo import run_demo

            no_gui = args.no_gui
            if not no_gui and not display_available():
                print("no display found: showing the proposals here instead (--no-gui)")
                no_gui = True
            return run_demo(no_gui=no_gui, limit=args.limit)
        if args.command in cli_serve.COMMANDS:
            return cli_serve.main(args)
        return asyncio.run(_run_async(args))
    except CliError as exc:
        print(f"solodesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("solodesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. "| head"): stop quietly, like other command-line tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # last resort: one line, details in the log
        from solodesk.store.config import ConfigError

        message = _known_error(exc)
        if message is not None:
            print(f"solodesk: {message}", file=sys.stderr)
            return 1
        if isinstance(exc, ConfigError):
            print(f"solodesk: {exc}", file=sys.stderr)
            return 1
        import logging

        logging.getLogger("solodesk").exception("command failed")
        print(f"solodesk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _quiet_console_logging() -> None:
    """The console never shows a logging traceback: records go to the log file only.

    Without a handler, logging's last resort prints a record with its traceback to stderr, and a
    file handler that cannot write (a full disk) prints a "--- Logging error ---" traceback.
    """
    import logging

    logging.raiseExceptions = False
    logging.lastResort = None
    logging.getLogger("solodesk").addHandler(logging.NullHandler())


def _known_error(exc: BaseException) -> str | None:
    """One actionable line for failures the founder can fix (a locked database, a full disk,
    a locked keyring), or None."""
    import errno
    import sqlite3

    from solodesk.store.db import StoreError, store_error

    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        translated = store_error(exc)
        return str(translated) if translated is not None else None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" ({exc.filename})" if exc.filename else ""
        return (f"the disk is full{where}: free some space and run the command again "
                "(nothing was changed)")
    return None


