"""The ``solodesk bank`` and ``solodesk books`` commands: statements in, ledger, reports, export.

Hooked into :mod:`solodesk.cli` by :func:`register` (the parsers) and :func:`dispatch`.
Errors print one line ``solodesk: ...`` on stderr and return exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from solodesk.core.ledger import LedgerError, month_bounds

COMMANDS = ("bank", "books")


class BooksError(Exception):
    """A user-facing error of these commands (one line, exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``bank`` and ``books`` parsers to ``solodesk``'s subparsers ``sub``."""
    bank = sub.add_parser("bank", help="bank statements: import OFX/QFX, camt.053 and CSV")
    bank_sub = bank.add_subparsers(dest="action", required=True)
    bi = bank_sub.add_parser(
        "import",
        help="import statement files (one transaction per file; duplicates are skipped)",
    )
    bi.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    bi.add_argument("--mapping", help="saved CSV mapping to read CSV files with")
    bi.add_argument("--account", help="account id (IBAN) of the files (required for CSV "
                    "unless the mapping names one; overrides the file's for OFX/camt)")
    bl = bank_sub.add_parser("lines", help="imported lines, with the proposed category")
    bl.add_argument("--month", help="YYYY-MM (default: every month)")
    bl.add_argument("--account", help="only this bank account")
    bl.add_argument("--unbooked", action="store_true", help="only lines not yet booked")
    bl.add_argument("--json", action="store_true")
    maps = bank_sub.add_parser("mappings", help="CSV column mappings, one per bank")
    maps_sub = maps.add_subparsers(dest="mapping_action", required=True)
    ma = maps_sub.add_parser(
        "add",
        help="save a CSV mapping",
        description="Example: solodesk bank mappings add giro --date Buchungstag "
        "--date-format %d.%m.%Y --amount 'Betrag (EUR)' --payee 'Auftraggeber / "
        "Begünstigter' --description Verwendungszweck --currency EUR --decimal ,",
    )
    ma.add_argument("name")
    ma.add_argument("--date", required=True, help="column of the booking date")
    ma.add_argument("--date-format", default="%Y-%m-%d", help="strptime format (%(default)s)")
    ma.add_argument("--amount", help="column of the signed amount")
    ma.add_argument("--debit", help="column of money out (instead of --amount)")
    ma.add_argument("--credit", help="column of money in (instead of --amount)")
    ma.add_argument("--payee", help="column of the payee / counterparty")
    ma.add_argument("--description", action="append", default=[], metavar="COL",
                    help="column(s) of the description (repeat to join several)")
    ma.add_argument("--reference", help="column of the bank's reference")
    ma.add_argument("--value-date", help="column of the value date")
    ma.add_argument("--balance", help="column of the running balance (checked on import)")
    ma.add_argument("--currency", help="ISO 4217 code of every line, e.g. EUR")
    ma.add_argument("--currency-column", help="column of the currency (instead of --currency)")
    ma.add_argument("--decimal", choices=[".", ","], default=".", help="decimal separator")
    ma.add_argument("--account", help="IBAN or id of the account the bank's files are for")
    ma.add_argument("--encoding", help="text encoding (default: detected)")
    ma.add_argument("--delimiter", help="field delimiter (default: detected; \\t for tab)")
    ma.add_argument("--replace", action="store_true", help="replace a mapping of that name")
    maps_sub.add_parser("list", help="saved mappings")
    mr = maps_sub.add_parser("remove", help="delete a mapping")
    mr.add_argument("name")

    books = sub.add_parser("books", help="the ledger: accounts, rules, reports, export")
    books_sub = books.add_subparsers(dest="action", required=True)
    acc = books_sub.add_parser("accounts", help="the chart of accounts")
    acc_sub = acc.add_subparsers(dest="accounts_action", required=True)
    acc_sub.add_parser("list", help="every account")
    aa = acc_sub.add_parser("add", help="add an account, e.g. Expenses:Software:Hosting")
    aa.add_argument("name")
    aa.add_argument("--description", default="")
    al = acc_sub.add_parser("link", help="book a bank account's lines on a ledger account")
    al.add_argument("bank_account", help="IBAN or account id as in the statements")
    al.add_argument("ledger_account", help="e.g. Assets:Bank:Savings")
    rules = books_sub.add_parser(
        "rules", help="categorisation rules (payee/description -> account)"
    )
    rules_sub = rules.add_subparsers(dest="rules_action", required=True)
    ra = rules_sub.add_parser(
        "add",
        help="add a rule",
        description="Example: solodesk books rules add github Expenses:Software --field payee",
    )
    ra.add_argument("pattern", help="text contained in the payee/description (or a regex)")
    ra.add_argument("account", help="account the matching lines go on")
    ra.add_argument("--field", choices=["payee", "description", "any"], default="any")
    ra.add_argument("--regex", action="store_true", help="the pattern is a regular expression")
    ra.add_argument("--position", type=int, default=None, help="evaluation order (lower first)")
    ra.add_argument("--note", default="")
    rules_sub.add_parser("list", help="rules in evaluation order")
    rr = rules_sub.add_parser("remove", help="remove a rule")
    rr.add_argument("id", type=int)
    ro = rules_sub.add_parser(
        "suggest", aliases=["offers"],
        help="categorisations you approved unedited often enough to become a rule (offered, "
        "never created: copy the command shown to make it one)",
    )
    ro.add_argument("--min", type=int, default=None,
                    help="unedited approvals needed (default: setting books.rule_offer_after)")
    bp = books_sub.add_parser(
        "propose",
        help="the bookkeeper proposes a posting for every bank line not yet booked or proposed "
        "(your rules, then your past approvals, then the model), into the inbox",
    )
    bp.add_argument("--month", help="only bank lines booked in YYYY-MM")
    bb = books_sub.add_parser(
        "book",
        help="book a bank line yourself on an account (e.g. after rejecting the bookkeeper's "
        "proposal for it): a proposal decided by you, into the inbox",
    )
    bb.add_argument("line", type=int, help="the bank line's id (see 'solodesk bank lines')")
    bb.add_argument("account", help="the ledger account, e.g. Expenses:Travel")
    bb.add_argument("--narration", help="what it was for (default: the bank's description)")
    bb.add_argument("--approve", action="store_true",
                    help="approve it at once (it enters the ledger now)")
    rep = books_sub.add_parser("report", help="profit and loss, or balance sheet, for a month")
    rep.add_argument("kind", choices=["pnl", "balance"])
    rep.add_argument("--month", help="YYYY-MM (default: this month)")
    exp = books_sub.add_parser("export", help="write the ledger as a beancount or hledger journal")
    exp.add_argument("--format", required=True, choices=["beancount", "hledger"])
    exp.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    reg = books_sub.add_parser("register", help="booked transactions with their postings")
    reg.add_argument("--month", help="YYYY-MM (default: every month)")
    reg.add_argument("--account", help="only transactions touching this account, with its "
                     "running balance")


async def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run a ``bank`` or ``books`` command with the services ``sv``; returns the exit status."""
    from solodesk.core.money import MoneyError
    from solodesk.store.bank import MappingError
    from solodesk.store.repos import NotFound

    try:
        if args.command == "bank":
            return _bank(sv, args)
        return await _books(sv, args)
    except (BooksError, LedgerError, NotFound, MappingError, MoneyError) as exc:
        print(f"solodesk: {exc}", file=sys.stderr)
        return 1


# -- bank ---------------------------------------------------------------------------------------
def _bank(sv: Any, args: argparse.Namespace) -> int:
    if args.action == "import":
        return _bank_import(sv, args)
    if args.action == "lines":
        return _bank_lines(sv, args)
    return _mappings(sv, args)


def _bank_import(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.connectors.bank.importer import import_file

    mapping = sv.store.bank.mapping(args.mapping) if args.mapping else None
    failed = 0
    totals = [0, 0]
    for path in args.paths:
        path = path.expanduser()
        out = import_file(path, sv.store.bank, mapping=mapping, account=args.account)
        if out.error:
            failed += 1
            print(f"solodesk: {out.error} (nothing imported from this file)", file=sys.stderr)
            continue
        totals[0] += out.imported
        totals[1] += out.duplicates
        print(
            f"{path}: imported {out.imported}, skipped {out.duplicates} duplicates "
            f"({out.format})"
        )
        for account, check in out.checks:
            line = f"  {account}: {check.describe()}"
            if check.checked and not check.ok:
                print(f"warning: {path}: {account}: {check.describe()}", file=sys.stderr)
            else:
                print(line)
    if len(args.paths) > 1:
        print(
            f"total: imported {totals[0]}, skipped {totals[1]} duplicates, "
            f"{failed} file(s) not imported"
        )
    return 1 if failed else 0


def _bank_lines(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.categorise import categorise

    start = end = None
    if args.month:
        start, end = month_bounds(args.month)
    lines = sv.store.bank.lines(
        start=start, end=end, account=args.account, unbooked=args.unbooked
    )
    booked = {
        t.bank_line_id: t.id
        for t in sv.store.ledger.transactions()
        if t.bank_line_id is not None
    }
    rules = sv.store.ledger.rules()
    rows = []
    for ln in lines:
        txn = booked.get(ln.id)
        if txn is not None:
            status = {"booked": txn}
        else:
            c = categorise(
                ln.payee, ln.description, rules=rules,
                history=sv.store.ledger.history_for(ln.payee, ln.description),
            )
            status = {"account": c.account, "decided_by": c.label, "evidence": c.evidence}
        rows.append((ln, status))
    if args.json:
        print(json.dumps([
            {
                "id": ln.id, "account": ln.account, "booking_date": ln.booking_date.isoformat(),
                "value_date": ln.value_date.isoformat() if ln.value_date else None,
                "amount_minor": ln.amount, "currency": ln.currency, "payee": ln.payee,
                "description": ln.description, "reference": ln.reference, "source": ln.source,
                **status,
            }
            for ln, status in rows
        ], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no bank lines" + (" to book" if args.unbooked else "")
              + ": import statements with 'solodesk bank import PATH'")
    for ln, status in rows:
        text = " — ".join(t for t in (ln.payee, ln.description) if t)
        if "booked" in status:
            what = f"booked (transaction #{status['booked']})"
        elif status["account"]:
            what = f"→ {status['account']} (by {status['decided_by']})"
        else:
            what = "→ needs the model (no rule, no history)"
        print(f"#{ln.id:<5} {ln.booking_date}  {ln.money:>16}  {text[:60]}  {what}")
    return 0


def _mappings(sv: Any, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from solodesk.core.bank import CsvMapping

    if args.mapping_action == "list":
        maps = sv.store.bank.mappings()
        if not maps:
            print("no CSV mappings: save one with 'solodesk bank mappings add NAME ...'")
        for m in maps:
            spec = m.model_dump(exclude={"name"}, exclude_none=True, exclude_defaults=True)
            print(f"{m.name}: {json.dumps(spec, ensure_ascii=False)}")
        return 0
    if args.mapping_action == "remove":
        sv.store.bank.remove_mapping(args.name)
        print(f"removed mapping {args.name!r}")
        return 0
    fields = {
        "name": args.name, "date": args.date, "date_format": args.date_format,
        "amount": args.amount, "debit": args.debit, "credit": args.credit,
        "payee": args.payee, "description": tuple(args.description),
        "reference": args.reference, "value_date": args.value_date, "balance": args.balance,
        "currency": args.currency, "currency_column": args.currency_column,
        "decimal_separator": args.decimal, "account": args.account,
        "encoding": args.encoding,
        "delimiter": "\t" if args.delimiter in ("\\t", "tab") else args.delimiter,
    }
    try:
        mapping = CsvMapping.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise BooksError(f"mapping not saved: {problems}") from None
    sv.store.bank.save_mapping(mapping, replace=args.replace)
    print(f"saved mapping {mapping.name!r}: import with "
          f"'solodesk bank import FILE.csv --mapping {mapping.name}'")
    return 0


# -- books --------------------------------------------------------------------------------------
async def _books(sv: Any, args: argparse.Namespace) -> int:
    ledger = sv.store.ledger
    if args.action == "accounts":
        if args.accounts_action == "list":
            links: dict[str, list[str]] = {}
            for bank_account, name in ledger.bank_links().items():
                links.setdefault(name, []).append(bank_account)
            for a in ledger.accounts():
                linked = f"  [bank: {', '.join(links[a.name])}]" if a.name in links else ""
                print(f"{a.name:<32} {a.description}{linked}".rstrip())
            return 0
        if args.accounts_action == "add":
            a = ledger.add_account(args.name, description=args.description)
            print(f"added account {a.name}")
            return 0
        ledger.link_bank_account(args.bank_account, args.ledger_account)
        print(f"lines of {args.bank_account} are booked on {args.ledger_account}")
        return 0
    if args.action == "rules":
        return _rules(sv, args)
    if args.action == "propose":
        return await _propose(sv, args)
    if args.action == "book":
        return await _book(sv, args)
    if args.action == "report":
        return _report(sv, args)
    if args.action == "export":
        return _export(sv, args)
    return _register(sv, args)


def _rules(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.categorise import RuleField

    ledger = sv.store.ledger
    if args.rules_action == "list":
        rules = ledger.rules()
        if not rules:
            print("no rules: lines are categorised from your past approvals, then by the model")
        for r in rules:
            print(r.describe())
        return 0
    if args.rules_action == "add":
        rule = ledger.add_rule(
            args.pattern, args.account, field=RuleField(args.field), regex=args.regex,
            note=args.note, position=args.position,
        )
        print(f"added {rule.describe()}")
        return 0
    if args.rules_action == "remove":
        rule = ledger.remove_rule(args.id)
        print(f"removed {rule.describe()}")
        return 0
    threshold = args.min if args.min is not None else sv.config.get_int("books.rule_offer_after")
    offers = ledger.rule_offers(threshold)
    if not offers:
        print(f"no categorisation approved unedited {threshold} times without a rule yet")
    for o in offers:
        field, pattern, account = o.suggested_rule()
        others = f"; {o.edited_elsewhere} other/edited" if o.edited_elsewhere else ""
        print(
            f"{o.example_payee!r} -> {account}: approved unedited {o.unedited} times{others}\n"
            f"    solodesk books rules add {json.dumps(pattern)} {account} --field {field.value}"
        )
    return 0


async def _propose(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.agents.bookkeeper import bookkeeper_for
    from solodesk.core.llmtypes import LLMError

    start = end = None
    if args.month:
        start, end = month_bounds(args.month)
    keeper = bookkeeper_for(sv.runner)
    todo, _done = keeper.pending_lines(start=start, end=end)
    if todo:
        print(f"proposing postings for {len(todo)} bank line(s); lines no rule or past approval "
              "decides go to the model", flush=True)

    def progress(done: int, total: int, what: str) -> None:
        print(f"[{done}/{total}] {what}", flush=True)

    try:
        report = await keeper.propose_postings(start=start, end=end, progress=progress)
    except LLMError as exc:
        raise BooksError(f"the model cannot be reached: {exc}") from None
    for o in report.outcomes:
        if o.status == "skipped":
            print(o.describe())
    if not report.outcomes:
        print("no bank lines to propose" + (f" in {args.month}" if args.month else "")
              + ": every line is booked or proposed (import more with 'solodesk bank import')")
        return 0
    counts = {s: report.count(s) for s in ("proposed", "refused", "skipped", "failed")}
    run = f" (run #{report.run_id})" if report.run_id else ""
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + run
          + ("; review them with 'solodesk inbox list'" if counts["proposed"] else ""))
    return 1 if counts["failed"] else 0


async def _book(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.agents.bookkeeper import BookingError, bookkeeper_for

    try:
        action = bookkeeper_for(sv.runner).book_by_hand(
            args.line, args.account, narration=args.narration)
    except BookingError as exc:
        raise BooksError(str(exc)) from None
    print(f"#{action.id} {action.summary} — {action.status.value}, risk {action.risk}")
    if args.approve and action.status.value == "pending":
        done = await sv.decisions.approve(action.id, expected_sha256=action.payload_sha256)
        print(f"#{done.id} {done.status.value}")
        return 1 if done.status.value == "failed" else 0
    if action.status.value == "pending":
        print(f"approve it with: solodesk inbox approve {action.id}")
    return 0


def _month(arg: str | None) -> tuple[str, date, date]:
    month = arg or datetime.now(UTC).strftime("%Y-%m")
    start, end = month_bounds(month)
    return month, start, end


def _report(sv: Any, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from solodesk.core.ledger import (
        balance_sheet,
        profit_and_loss,
        render_balance_sheet,
        render_pnl,
    )

    month, start, end = _month(args.month)
    if args.kind == "pnl":
        print(render_pnl(profit_and_loss(sv.store.ledger.balances(start=start, end=end)),
                         period=month))
    else:
        sheets = balance_sheet(sv.store.ledger.balances(end=end))
        print(render_balance_sheet(sheets, at=end - timedelta(days=1)))
    return 0


def _export(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.journal import export_journal

    accounts = [(a.name, a.description) for a in sv.store.ledger.accounts()]
    txns = sv.store.ledger.transactions()
    text = export_journal(args.format, accounts, txns, today=datetime.now(UTC).date())
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output).expanduser()
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BooksError(f"cannot write {out}: {exc.strerror or exc}") from None
    check = "bean-check" if args.format == "beancount" else "hledger check"
    print(f"wrote {len(txns)} transaction(s) and {len(accounts)} accounts to {out} "
          f"({args.format}; check it with '{check} {out}')")
    return 0


def _register(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.money import format_money

    start = end = None
    if args.month:
        start, end = month_bounds(args.month)
    if args.account:
        sv.store.ledger.account(args.account)  # NotFound names the commands to fix it
    txns = sv.store.ledger.transactions(start=start, end=end)
    running: dict[str, int] = {}
    if args.account and start is not None:
        for b in sv.store.ledger.balances(end=start):
            if b.account == args.account:
                running[b.currency] = b.amount
    shown = 0
    for t in txns:
        if args.account and all(p.account != args.account for p in t.postings):
            continue
        shown += 1
        title = " — ".join(x for x in (t.payee, t.narration) if x)
        src = f"  [bank line {t.bank_line_id}]" if t.bank_line_id is not None else ""
        print(f"{t.date}  #{t.id}  {title}{src}")
        for p in t.postings:
            extra = ""
            if args.account and p.account == args.account:
                running[p.currency] = running.get(p.currency, 0) + p.amount
                extra = f"   = {format_money(running[p.currency], p.currency)}"
            print(f"    {p.account:<32} {format_money(p.amount, p.currency):>18}{extra}")
    if not shown:
        print("no booked transactions" + (f" in {args.month}" if args.month else ""))
    return 0
