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

from solodesk import __version__, cli_books, cli_invoices
from solodesk.core.actions import Action, ActionStatus
from solodesk.core.events import ChatDelta, Progress, RunFailed
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
    ie.add_argument("field", help="to, cc, subject or body (to/cc: comma-separated)")
    ie.add_argument("value", help="new value ('-' reads it from stdin)")
    ia = inbox.add_parser(
        "approve",
        help="approve a proposal; it is sent after the undo window (Ctrl-C cancels)",
    )
    ia.add_argument("id", type=int)
    ia.add_argument("--now", action="store_true", help="skip the undo window")
    ic = inbox.add_parser("cancel", help="undo an approval still in its undo window")
    ic.add_argument("id", type=int)
    ir = inbox.add_parser("reject", help="reject a proposal")
    ir.add_argument("id", type=int)
    ir.add_argument("--reason", default="")
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

    aud = sub.add_parser("audit", help="the hash-chained audit trail")
    aud_sub = aud.add_subparsers(dest="action", required=True)
    ae = aud_sub.add_parser("export", help="write the audit trail as CSV or JSON Lines")
    ae.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    ae.add_argument("--output", "-o", type=Path, default=None, help="file (default: stdout)")
    aud_sub.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    cli_books.register(sub)
    cli_invoices.register(sub)
    return p


def action_json(a: Action) -> dict[str, Any]:
    """The JSON shape of ``inbox list/show --json``."""
    return {
        "id": a.id,
        "kind": a.kind.value,
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
    }


def format_action(a: Action, *, source: str = "") -> str:
    """A readable view of one action for the terminal."""
    lines = [
        f"#{a.id}  {a.kind.value}  [{a.status.value}]  by {a.agent}  {a.created_at}",
        f"  {a.summary}",
    ]
    why = f" ({'; '.join(a.risk_reasons)})" if a.risk_reasons else ""
    lines.append(f"  risk: {a.risk}{why}")
    if a.provenance.untrusted:
        src = f"{a.provenance.source} {a.provenance.ref}"
        lines.append(f"  ⚠ derived from untrusted content ({src})")
    if a.send_at and a.status is ActionStatus.SCHEDULED:
        lines.append(f"  scheduled to send at {a.send_at} (solodesk inbox cancel {a.id})")
    if a.decided_by:
        lines.append(f"  decided by: {a.decided_by}")
    p = a.payload
    if a.status is ActionStatus.INVALID:
        lines.append("  validation errors:")
        lines += [f"    - {e}" for e in a.errors]
        lines.append(f"  model output: {json.dumps(p, ensure_ascii=False)[:600]}")
    else:
        lines.append(f"  To:      {', '.join(p.get('to', []))}")
        if p.get("cc"):
            lines.append(f"  Cc:      {', '.join(p['cc'])}")
        lines.append(f"  Subject: {p.get('subject', '')}")
        lines.append(f"  Message-ID: {p.get('message_id', '')}")
        if p.get("in_reply_to"):
            lines.append(f"  In-Reply-To: {p['in_reply_to']}")
        lines.append("")
        lines += ["  " + line for line in str(p.get("body", "")).splitlines()]
        lines += _warnings(p)
    if a.result:
        status, detail = a.result.get("status", ""), a.result.get("detail", "")
        lines.append(f"  result: {status} {detail}".rstrip())
    if source:
        lines += ["", "  --- in reply to ---"] + ["  " + s for s in source.splitlines()]
    return "\n".join(lines)


def _warnings(payload: dict[str, Any]) -> list[str]:
    from solodesk.core.inspect import hidden_characters, links

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


def _progress_printer(event: Progress) -> None:
    if event.task == "triage" and event.total:
        print(f"[{event.done}/{event.total}] {event.message}", file=sys.stderr, flush=True)
    elif event.message:
        print(event.message, file=sys.stderr, flush=True)


def _services() -> Any:
    from solodesk.services import build_services

    return build_services()


async def _run_async(args: argparse.Namespace) -> int:
    services = _services()
    try:
        return await _dispatch(services, args)
    finally:
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
                print(f"{key} = {value}{mark}")
                print(f"    {SETTINGS[key].help}")
        return 0
    if cmd == "secrets":
        return _secrets(sv, args)
    if cmd == "mail" and action == "import":
        return _mail_import(sv, args.path)
    if cmd == "mail" and action == "triage":
        return await _triage(sv, args.limit)
    if cmd == "chat":
        return await _chat(sv, args.message, new=args.new)
    if cmd == "inbox":
        return await _inbox(sv, args)
    if cmd == "outbox":
        sv.outbox.reconcile()
        done = await sv.runner.run_due()
        for a in done:
            print(f"#{a.id} {a.status.value}: {(a.result or {}).get('detail', '')}")
        print(f"executed {len(done)} due action(s)")
        return 0 if all(a.status is ActionStatus.EXECUTED for a in done) else 1
    if cmd == "policy":
        return _policy(sv, args)
    if cmd == "audit":
        return _audit(sv, args)
    if cmd in cli_books.COMMANDS:
        return await cli_books.dispatch(sv, args)
    if cmd in cli_invoices.COMMANDS:
        return await cli_invoices.dispatch(sv, args)
    raise CliError(f"unknown command {cmd}")


def _secrets(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.store.secrets import KNOWN_SECRETS

    info = sv.secrets.info
    if args.action == "status":
        state = "secure" if info.secure else "NOT SECURE (secrets are kept in memory only)"
        print(f"keyring backend: {info.name} — {state}")
        for name, is_set in sv.secrets.status().items():
            print(f"  {name}: {'set' if is_set else 'not set'}    ({KNOWN_SECRETS[name]})")
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

    try:
        report = import_mail(path.expanduser(), sv.store.mail)
    except ImportSourceError as exc:
        raise CliError(str(exc)) from None
    for bad in report.malformed:
        print(f"malformed: {bad.where}: {bad.reason}", file=sys.stderr)
    print(
        f"imported {len(report.imported)}, skipped {report.duplicates} already imported, "
        f"{len(report.malformed)} malformed"
    )
    return 0


async def _triage(sv: Any, limit: int | None) -> int:
    from solodesk.core.llmtypes import LLMError

    unsub = sv.bus.subscribe(Progress, _progress_printer)
    fails = sv.bus.subscribe(RunFailed, lambda e: print(f"error: {e.message}", file=sys.stderr))
    try:
        if not sv.store.mail.untriaged(limit=1):
            print("no untriaged mail: import some with 'solodesk mail import PATH'")
            return 0
        print(f"model: {sv.runner.model_label()}", file=sys.stderr)
        try:
            report = await sv.runner.triage(limit=limit)
        except LLMError as exc:
            raise CliError(str(exc)) from None
    finally:
        unsub()
        fails()
    for o in report.outcomes:
        mail = sv.store.mail.get(o.mail_id)
        if o.status == "proposed":
            a = sv.store.actions.get(o.action_id)
            how = ""
            if a.status in (ActionStatus.APPROVED, ActionStatus.SCHEDULED):
                how = f" — auto-approved by {a.decided_by}; 'solodesk outbox run' sends it"
            elif a.status is ActionStatus.REJECTED:
                how = f" — blocked by {a.decided_by}"
            print(f"mail {o.mail_id} {mail.subject!r}: proposed reply #{o.action_id}{how}")
        elif o.status == "no_reply":
            print(f"mail {o.mail_id} {mail.subject!r}: no reply needed: {o.note}")
        elif o.status == "invalid":
            print(f"mail {o.mail_id} {mail.subject!r}: invalid proposal #{o.action_id} recorded")
        else:
            print(f"mail {o.mail_id} {mail.subject!r}: failed: {o.note}")
    print(
        f"triaged {len(report.outcomes)}: {report.count('proposed')} proposed, "
        f"{report.count('no_reply')} no reply needed, {report.count('invalid')} invalid, "
        f"{report.count('failed')} failed"
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


def _source_text(sv: Any, a: Action) -> str:
    from solodesk.store.repos import NotFound

    if a.provenance.source != "mail" or a.provenance.ref is None:
        return ""
    try:
        m = sv.store.mail.get(a.provenance.ref)
    except NotFound:
        return ""
    return f"From: {m.from_addr}\nSubject: {m.subject}\nDate: {m.date}\n\n{m.body_text}"


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
        sv.store.actions.cancel(a.id)
        print(f"\ncancelled: #{a.id} is pending again; nothing was sent", file=sys.stderr)
        raise


def _policy(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.policy import Outcome, RuleError, parse_condition
    from solodesk.store.repos import NotFound

    if args.action == "list":
        rules = sv.store.policy.rules()
        if not rules:
            print("no rules: every proposal asks for your approval")
        for r in rules:
            print(r.describe() + (f"   # {r.note}" if r.note else ""))
        return 0
    if args.action == "add":
        try:
            conditions = [parse_condition(c) for c in args.when]
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
        problems = sv.store.audit.verify()
        count = len(sv.store.audit.entries())
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            raise CliError(f"audit chain BROKEN: {len(problems)} problem(s) in {count} entries")
        print(f"audit chain intact: {count} entries")
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
                        f"#{a.id:<5} {a.status.value:<9} {a.risk:<6} {a.kind.value:<11} "
                        f"{a.agent:<8} {a.summary}{flag}"
                    )
            return 0
        if args.action == "show":
            a = actions.get(args.id)
            if args.json:
                data = action_json(a)
                data["source"] = _source_text(sv, a)
                print(json.dumps(data, indent=2, ensure_ascii=False))
            else:
                print(format_action(a, source=_source_text(sv, a)))
            return 0
        if args.action == "edit":
            a = actions.get(args.id)
            value = sys.stdin.read() if args.value == "-" else args.value
            if args.field not in ("to", "cc", "subject", "body"):
                raise CliError("field must be to, cc, subject or body")
            payload = dict(a.payload)
            if args.field in ("to", "cc"):
                payload[args.field] = [v.strip() for v in value.split(",") if v.strip()]
            else:
                payload[args.field] = value
            try:
                a = await sv.runner.edit(args.id, payload)
            except ValueError as exc:
                raise CliError(f"not saved: {exc}") from None
            print(format_action(a))
            return 0
        if args.action == "approve":
            sv.outbox.reconcile()
            delay = 0.0 if args.now else sv.runner.gates.undo_seconds()
            a = actions.get(args.id)
            if a.status is not ActionStatus.SCHEDULED:
                a = await sv.runner.approve(args.id, delay_s=delay)
            if a.status is ActionStatus.SCHEDULED:
                await _wait_undo_window(sv, a)
                a = await sv.runner.execute_approved(args.id)
            print(format_action(a))
            return 0 if a.status is ActionStatus.EXECUTED else 1
        if args.action == "cancel":
            a = await sv.runner.cancel(args.id)
            print(f"#{a.id} approval cancelled: back to pending, nothing sent")
            return 0
        if args.action == "reject":
            a = await sv.runner.reject(args.id, reason=args.reason)
            print(f"#{a.id} rejected")
            return 0
    except (NotFound, StaleApproval, InvalidTransition, NotClaimed) as exc:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``solodesk`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
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

        if isinstance(exc, ConfigError):
            print(f"solodesk: {exc}", file=sys.stderr)
            return 1
        import logging

        logging.getLogger("solodesk").exception("command failed")
        print(f"solodesk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


