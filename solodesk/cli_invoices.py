"""The ``solodesk invoices`` commands: issued invoices, their PDF and XML, customers, drafts,
payment matches and reminders due.

Issuing is not a command: an invoice is issued when the founder approves a ``create_invoice``
proposal (issue 8). ``invoices draft`` shows what such a proposal would carry, validated, with
its totals. Hooked into :mod:`solodesk.cli` by :func:`register` and :func:`dispatch`; errors
print one line ``solodesk: ...`` on stderr and return exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

COMMANDS = ("invoices",)


class InvoicesError(Exception):
    """A user-facing error of these commands (exit status 1)."""


def register(sub: Any) -> None:
    """Add the ``invoices`` parser to ``solodesk``'s subparsers ``sub``."""
    inv = sub.add_parser(
        "invoices", help="issued invoices and credit notes, their PDF/XML, customers, drafts"
    )
    s = inv.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="issued invoices and credit notes with their payment status")
    ls.add_argument("--year", type=int, help="only this year")
    ls.add_argument("--open", action="store_true", help="only invoices not paid or cancelled")
    ls.add_argument("--json", action="store_true")
    sh = s.add_parser("show", help="one invoice: parties, lines, VAT, totals, payments")
    sh.add_argument("number", help="invoice number (2026-0001) or #id")
    sh.add_argument("--json", action="store_true")
    pdf = s.add_parser("pdf", help="write an invoice's PDF/A-3 (Factur-X EN 16931)")
    pdf.add_argument("number", help="invoice number (2026-0001) or #id")
    pdf.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    xml = s.add_parser("xml", help="write an invoice's EN 16931 CII XML")
    xml.add_argument("number", help="invoice number (2026-0001) or #id")
    xml.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")

    cust = s.add_parser("customers", help="the customer list")
    cs = cust.add_subparsers(dest="customers_action", required=True)
    cl = cs.add_parser("list", help="every customer (added by hand or from invoices)")
    cl.add_argument("--json", action="store_true")
    ca = cs.add_parser(
        "add",
        help="add a customer",
        description="Example: solodesk invoices customers add 'Acme SARL' --country FR "
        "--line1 '1 rue de la Paix' --postcode 75002 --city Paris --vat-id FR12345678901 "
        "--email billing@acme.example",
    )
    ca.add_argument("name")
    ca.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. FR")
    ca.add_argument("--line1", default="", help="street address")
    ca.add_argument("--line2", default="", help="street address, second line")
    ca.add_argument("--postcode", default="")
    ca.add_argument("--city", default="")
    ca.add_argument("--vat-id", default="", help="VAT identifier with country prefix")
    ca.add_argument("--email", default="", help="where invoices go")

    dr = s.add_parser(
        "draft",
        help="validate a draft invoice and print its totals (nothing is issued)",
        description="Example: solodesk invoices draft --customer Acme --line "
        "'Workshop;1;1200.00;19' --line 'Travel time;2.5;33.33;7;S;HUR'. A line is "
        "DESCRIPTION;QUANTITY;UNIT PRICE;VAT RATE[;CATEGORY[;UNIT]] with CATEGORY one of "
        "S Z E AE K G O (default S) and UNIT a UN/ECE code (C62 unit, HUR hour, DAY day).",
    )
    dr.add_argument("--customer", required=True, help="customer name (or the start of it) or #id")
    dr.add_argument("--line", action="append", required=True, metavar="SPEC",
                    help="a line (repeat for several)")
    dr.add_argument("--currency", help="ISO 4217 code (default: setting invoices.currency)")
    dr.add_argument("--date", help="issue date YYYY-MM-DD (default: today)")
    dr.add_argument("--due", help="due date YYYY-MM-DD (default: invoices.payment_days later)")
    dr.add_argument("--delivery-date", help="date of delivery or service YYYY-MM-DD")
    dr.add_argument("--reference", default="", help="the buyer's reference (PO number)")
    dr.add_argument("--terms", help="payment terms (default: setting invoices.payment_terms)")
    dr.add_argument("--note", default="", help="free text printed on the invoice")
    dr.add_argument("--exemption-reason", action="append", default=[], metavar="CAT=TEXT",
                    help="VAT exemption reason per category, e.g. 'E=Exempt under ...'")
    dr.add_argument("--json", action="store_true",
                    help="print the draft as a create_invoice payload with its totals")
    dr.add_argument("--propose", action="store_true",
                    help="submit it as a create_invoice proposal (numbered when you approve it)")

    se = s.add_parser("send", help="propose the mail that sends an issued invoice with its PDF "
                      "attached (you approve it in the inbox)")
    se.add_argument("number", help="invoice number (2026-0001) or #id")
    mt = s.add_parser("match", help="which open invoices imported bank lines pay (a preview "
                      "of the bookkeeper's mark_paid proposals)")
    mt.add_argument("--month", help="only bank lines booked in YYYY-MM")
    mt.add_argument("--propose", action="store_true",
                    help="the bookkeeper proposes mark_paid for each match, into the inbox")
    rm = s.add_parser("reminders", help="payment reminders due (a preview of the invoicing "
                      "agent's proposals)")
    rm.add_argument("--today", help="as of YYYY-MM-DD (default: today)")
    rm.add_argument("--propose", action="store_true",
                    help="the invoicing agent proposes a polite reminder mail for each, into "
                    "the inbox (once per invoice per interval)")


async def dispatch(sv: Any, args: argparse.Namespace) -> int:
    """Run an ``invoices`` command with the services ``sv``; returns the exit status."""
    from solodesk.actions.invoice_pdf import EInvoiceInvalid, RenderError
    from solodesk.core.invoice import InvoiceError
    from solodesk.core.ledger import LedgerError
    from solodesk.core.money import MoneyError
    from solodesk.store.blobs import BlobCorrupt
    from solodesk.store.repos import NotFound

    try:
        action = args.action
        if action == "list":
            return _list(sv, args)
        if action == "show":
            return _show(sv, args)
        if action in ("pdf", "xml"):
            return _document(sv, args)
        if action == "customers":
            return _customers(sv, args)
        if action == "draft":
            return await _draft(sv, args)
        if action == "match":
            return await _match(sv, args)
        if action == "send":
            return await _send(sv, args)
        return await _reminders(sv, args)
    except (InvoicesError, InvoiceError, NotFound, MoneyError, RenderError, EInvoiceInvalid,
            BlobCorrupt, LedgerError) as exc:
        print(f"solodesk: {exc}", file=sys.stderr)
        return 1


def _today() -> date:
    return datetime.now(UTC).astimezone().date()


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvoicesError(f"{what} must be a date YYYY-MM-DD, not {text!r}") from None


# -- list / show / documents --------------------------------------------------------------------
def _status_map(sv: Any) -> dict[int, Any]:
    return {s.invoice_id: s for s in sv.store.invoices.states()}


def _list(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.money import format_money

    invoices = sv.store.invoices.all(year=args.year)
    states = _status_map(sv)
    today = _today()
    rows = []
    for i in invoices:
        st = states.get(i.id)
        if args.open and (st is None or not st.is_open):
            continue
        status = "credit note" if st is None else st.status.value
        if st is not None and st.is_overdue(today):
            status += f", overdue {(today - st.due_date).days} d"
        rows.append((i, st, status))
    if args.json:
        print(json.dumps([
            {
                "id": i.id, "number": i.number, "type_code": i.draft.type_code.value,
                "issue_date": i.draft.issue_date.isoformat(),
                "due_date": i.draft.due_date.isoformat() if i.draft.due_date else None,
                "customer": i.draft.customer.name, "currency": i.draft.currency,
                "grand_total_minor": i.totals.grand_total,
                "paid_minor": st.paid if st else None,
                "status": "credit note" if st is None else st.status.value,
                "cancels": i.draft.preceding_invoice or None,
                "pdf_sha256": i.pdf_sha256,
            }
            for i, st, _ in rows
        ], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no invoices" + (" open" if args.open else "") + (
            f" in {args.year}" if args.year else "")
              + " (an invoice is issued when you approve a create_invoice proposal)")
        return 0
    for i, _st, status in rows:
        print(f"{i.number:<10} {i.draft.issue_date}  {i.type_name:<11} "
              f"{i.draft.customer.name[:28]:<28} "
              f"{format_money(i.totals.grand_total, i.draft.currency):>16}  {status}")
    return 0


def _show(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.invoice import CATEGORY_NAMES, UNIT_CODES, VatCategory, format_decimal
    from solodesk.core.money import format_money
    from solodesk.core.references import format_creditor_reference

    inv = sv.store.invoices.by_number(args.number)
    st = _status_map(sv).get(inv.id)
    d, t = inv.draft, inv.totals
    payments = [] if st is None else list(sv.store.db.query(
        "SELECT date, amount, currency, bank_line_id, evidence FROM invoice_payments"
        " WHERE invoice_id = ? ORDER BY date, id", [inv.id]))
    if args.json:
        print(json.dumps({
            "id": inv.id, "number": inv.number, "action_id": inv.action_id,
            "document": d.model_dump(mode="json"),
            "totals": {
                "line_nets": list(t.line_nets), "line_total": t.line_total,
                "tax_basis_total": t.tax_basis_total, "tax_total": t.tax_total,
                "grand_total": t.grand_total, "due_payable": t.due_payable,
                "vat": [{"category": b.category.value, "rate": format_decimal(b.rate),
                         "taxable": b.taxable, "tax": b.tax} for b in t.breakdown],
            },
            "creditor_reference": inv.creditor_reference,
            "status": "credit note" if st is None else st.status.value,
            "paid_minor": st.paid if st else None,
            "cancelled_by": (st.cancelled_by or None) if st else None,
            "payments": payments,
            "reminders": [x.isoformat() for x in (st.reminders_sent if st else ())],
            "xml_sha256": inv.xml_sha256, "pdf_sha256": inv.pdf_sha256,
        }, indent=2, ensure_ascii=False))
        return 0

    def money(minor: int) -> str:
        return format_money(minor, d.currency)

    print(f"{inv.type_name} {inv.number}  ({'credit note' if st is None else st.status.value})")
    print(f"  date {d.issue_date}" + (f", due {d.due_date}" if d.due_date else "")
          + (f", delivered {d.delivery_date}" if d.delivery_date else ""))
    if d.preceding_invoice:
        print(f"  cancels invoice {d.preceding_invoice}")
    if st is not None and st.cancelled_by:
        print(f"  cancelled by credit note {st.cancelled_by}")
    print(f"  from {d.seller.name}, {', '.join(d.seller.address.lines())}"
          + (f", VAT ID {d.seller.vat_id}" if d.seller.vat_id else ""))
    print(f"  to   {d.customer.name}, {', '.join(d.customer.address.lines())}"
          + (f", VAT ID {d.customer.vat_id}" if d.customer.vat_id else "")
          + (f" <{d.customer.email}>" if d.customer.email else ""))
    if d.buyer_reference:
        print(f"  your reference {d.buyer_reference}")
    print()
    for n, (ln, net) in enumerate(zip(d.lines, t.line_nets, strict=True), start=1):
        vat = (f"{format_decimal(ln.vat_rate)} %" if ln.vat_category is VatCategory.STANDARD
               else ln.vat_category.value)
        print(f"  {n:>2}. {ln.description[:40]:<40} {format_decimal(ln.quantity):>8} "
              f"{UNIT_CODES.get(ln.unit, ln.unit):<6} x {money(ln.unit_price):>14} "
              f"{vat:>6}  {money(net):>16}")
    print()
    print(f"  {'Total net':<46} {money(t.tax_basis_total):>16}")
    for b in t.breakdown:
        label = (f"VAT {format_decimal(b.rate)} % on {money(b.taxable)}"
                 if b.category is VatCategory.STANDARD
                 else f"VAT {b.category.value} ({CATEGORY_NAMES[b.category]}) on "
                 f"{money(b.taxable)}")
        print(f"  {label:<46} {money(b.tax):>16}")
        if b.exemption_reason:
            print(f"      {b.exemption_reason}")
    print(f"  {'Total':<46} {money(t.grand_total):>16}")
    if st is not None:
        print(f"  {'Paid':<46} {money(st.paid):>16}")
        print(f"  {'Outstanding':<46} {money(max(st.outstanding, 0)):>16}")
        print(f"  payment reference {format_creditor_reference(inv.creditor_reference)}")
        for p in payments:
            src = f" (bank line {p['bank_line_id']})" if p["bank_line_id"] else ""
            print(f"  paid {p['date']}: {format_money(p['amount'], p['currency'])}{src}")
        for r in st.reminders_sent:
            print(f"  reminder sent {r}")
    print(f"  XML sha256 {inv.xml_sha256}")
    print(f"  PDF sha256 {inv.pdf_sha256 or '(not rendered yet: solodesk invoices pdf)'}")
    return 0


def _document(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.actions.invoicing import ensure_pdf

    inv = sv.store.invoices.by_number(args.number)
    if args.action == "xml":
        data, kind = sv.store.invoices.xml(inv), "EN 16931 XML"
    else:
        font_dir = sv.config.get("invoices.font_dir") or None
        inv, data = ensure_pdf(sv.store, inv, font_dir=font_dir)
        kind = "PDF/A-3 (Factur-X EN 16931)"
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    out = Path(args.output).expanduser()
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InvoicesError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {inv.type_name.lower()} {inv.number} to {out} ({kind}, {len(data):,} bytes)")
    return 0


# -- customers ----------------------------------------------------------------------------------
def _customers(sv: Any, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from solodesk.core.invoice import COUNTRY_CODES, Customer, PostalAddress
    from solodesk.core.mail import check_address

    if args.customers_action == "list":
        customers = sv.store.customers.all()
        if args.json:
            print(json.dumps([
                {"id": c.id, "source": c.source, **c.customer.model_dump(mode="json")}
                for c in customers
            ], indent=2, ensure_ascii=False))
            return 0
        if not customers:
            print("no customers yet: add one with 'solodesk invoices customers add NAME "
                  "--country CC'")
        for c in customers:
            cu = c.customer
            extra = "".join([f", VAT ID {cu.vat_id}" if cu.vat_id else "",
                             f" <{cu.email}>" if cu.email else ""])
            print(f"#{c.id:<4} {cu.name} — {', '.join(cu.address.lines())}{extra}  "
                  f"[{c.source}]")
        return 0
    country = args.country.strip().upper()
    problems = []
    if not args.name.strip():
        problems.append("name: required")
    if country not in COUNTRY_CODES:
        problems.append(f"--country: {args.country!r} is not an ISO 3166-1 alpha-2 code "
                        "(e.g. DE, FR, GB)")
    if args.email and check_address(args.email):
        problems.append(f"--email: {check_address(args.email)}")
    vat_id = args.vat_id.replace(" ", "").upper()
    if problems:
        raise InvoicesError("customer not added: " + "; ".join(problems))
    try:
        customer = Customer(
            name=args.name.strip(),
            address=PostalAddress(line1=args.line1, line2=args.line2, postcode=args.postcode,
                                  city=args.city, country=country),
            vat_id=vat_id, email=args.email.strip(),
        )
    except ValidationError as exc:  # pragma: no cover - every field is a plain string here
        raise InvoicesError(f"customer not added: {exc}") from None
    stored = sv.store.customers.add(customer)
    print(f"added customer #{stored.id} {customer.name}")
    return 0


# -- draft --------------------------------------------------------------------------------------
def _parse_line(spec: str, n: int, currency: str) -> Any:
    from solodesk.core.invoice import InvoiceLine, VatCategory
    from solodesk.core.money import MoneyError, parse_amount

    where = f"--line {n} ({spec!r})"
    parts = [p.strip() for p in spec.split(";")]
    if not 4 <= len(parts) <= 6:
        raise InvoicesError(
            f"{where}: expected DESCRIPTION;QUANTITY;UNIT PRICE;VAT RATE[;CATEGORY[;UNIT]] "
            "(the description may not contain ';')"
        )
    description, qty, price, rate = parts[:4]
    try:
        quantity = Decimal(qty.replace(",", "."))
        vat_rate = Decimal(rate.rstrip("%").strip().replace(",", ".") or "0")
    except InvalidOperation:
        raise InvoicesError(
            f"{where}: quantity and VAT rate are numbers, e.g. 2.5 and 19"
        ) from None
    try:
        unit_price = parse_amount(price, currency)
    except MoneyError as exc:
        raise InvoicesError(f"{where}: unit price: {exc}") from None
    try:
        category = VatCategory(parts[4].upper()) if len(parts) > 4 and parts[4] else (
            VatCategory.STANDARD)
    except ValueError:
        raise InvoicesError(f"{where}: VAT category {parts[4]!r} is not one of "
                            f"{' '.join(c.value for c in VatCategory)}") from None
    unit = parts[5].upper() if len(parts) > 5 and parts[5] else "C62"
    return InvoiceLine(description=description, quantity=quantity, unit_price=unit_price,
                       vat_rate=vat_rate, vat_category=category, unit=unit)


async def _draft(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.invoice import (
        CATEGORY_NAMES,
        InvoiceDraft,
        VatCategory,
        compute_totals,
        format_decimal,
        seller_from_settings,
        validate_draft,
    )
    from solodesk.core.kinds.invoice import COMPANY_KEYS
    from solodesk.core.money import check_currency, format_money

    cfg = sv.config
    currency = (args.currency or cfg.get("invoices.currency")).upper()
    check_currency(currency)
    customer = sv.store.customers.find(args.customer).customer
    lines = [_parse_line(spec, n, currency) for n, spec in enumerate(args.line, start=1)]
    issue = _date(args.date, "--date") if args.date else _today()
    days = cfg.get_int("invoices.payment_days")
    due = _date(args.due, "--due") if args.due else issue + timedelta(days=days)
    terms = args.terms if args.terms is not None else cfg.get("invoices.payment_terms").replace(
        "{days}", str((due - issue).days))
    reasons: dict[VatCategory, str] = {}
    for item in args.exemption_reason:
        cat, sep, text = item.partition("=")
        try:
            reasons[VatCategory(cat.strip().upper())] = text.strip()
        except ValueError:
            sep = ""
        if not sep or not text.strip():
            raise InvoicesError(f"--exemption-reason {item!r}: write CATEGORY=TEXT, e.g. "
                                "'E=Exempt under Article 132(1)(i) of Directive 2006/112/EC'")
    draft = InvoiceDraft(
        seller=seller_from_settings({k: cfg.get(k) for k in COMPANY_KEYS}),
        customer=customer, lines=lines, currency=currency, issue_date=issue, due_date=due,
        delivery_date=_date(args.delivery_date, "--delivery-date") if args.delivery_date
        else None,
        payment_terms=terms, buyer_reference=args.reference, note=args.note,
        exemption_reasons=reasons,
    )
    errors = validate_draft(draft)
    if any(key == "company.name" and is_default for key, _v, is_default in cfg.items()):
        errors.insert(0, f"seller.name: still the placeholder {draft.seller.name!r}; set it "
                         "with 'solodesk config set company.name ...'")
    totals = None if errors else compute_totals(draft)
    if args.json:
        print(json.dumps({
            "valid": not errors, "errors": errors, "payload": draft.model_dump(mode="json"),
            "totals": None if totals is None else {
                "line_nets": list(totals.line_nets), "tax_basis_total": totals.tax_basis_total,
                "tax_total": totals.tax_total, "grand_total": totals.grand_total,
            },
        }, indent=2, ensure_ascii=False))
        return 1 if errors else 0
    if errors:
        print("solodesk: this draft cannot be issued:", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    assert totals is not None

    def money(minor: int) -> str:
        return format_money(minor, currency)

    print(f"Draft invoice to {customer.name} ({customer.address.country}), dated {issue}, "
          f"due {due}, in {currency}")
    for n, (ln, net) in enumerate(zip(lines, totals.line_nets, strict=True), start=1):
        vat = (f"{format_decimal(ln.vat_rate)} %" if ln.vat_category is VatCategory.STANDARD
               else ln.vat_category.value)
        print(f"  {n:>2}. {ln.description[:40]:<40} {format_decimal(ln.quantity):>8} x "
              f"{money(ln.unit_price):>14} {vat:>6}  {money(net):>16}")
    print(f"  {'Total net':<66} {money(totals.tax_basis_total):>16}")
    for b in totals.breakdown:
        label = (f"VAT {format_decimal(b.rate)} % on {money(b.taxable)}"
                 if b.category is VatCategory.STANDARD
                 else f"VAT {b.category.value} ({CATEGORY_NAMES[b.category]}) on "
                 f"{money(b.taxable)}")
        print(f"  {label:<66} {money(b.tax):>16}")
    print(f"  {'Total':<66} {money(totals.grand_total):>16}")
    if not args.propose:
        print("valid: it can be issued once a create_invoice proposal carrying it is approved "
              "(add --propose to submit one)")
        return 0
    return await _propose_draft(sv, draft)


async def _propose_draft(sv: Any, draft: Any) -> int:
    import sqlite3

    from solodesk.agents.invoicing import invoicing_for
    from solodesk.core.actions import Provenance

    try:
        action = await invoicing_for(sv.runner).propose_invoice(
            draft, provenance=Provenance("cli", None, untrusted=False)
        )
    except sqlite3.IntegrityError:
        raise InvoicesError("this exact draft was proposed before; see 'solodesk inbox list'"
                            ) from None
    print(f"proposed as action #{action.id} [{action.status.value}]: {action.summary}")
    print(f"approve it with 'solodesk inbox approve {action.id}' (it gets its number then)")
    return 0


# -- payments and reminders ---------------------------------------------------------------------
async def _send(sv: Any, args: argparse.Namespace) -> int:
    import sqlite3

    from solodesk.agents.invoicing import ReminderError, invoicing_for

    number = sv.store.invoices.by_number(args.number).number
    try:
        action = await invoicing_for(sv.runner).propose_invoice_mail(number)
    except ReminderError as exc:
        raise InvoicesError(str(exc)) from None
    except sqlite3.IntegrityError:
        raise InvoicesError(f"the mail sending invoice {number} was proposed before; see "
                            "'solodesk inbox list'") from None
    print(f"proposed as action #{action.id} [{action.status.value}]: {action.summary}")
    print(f"  attached Invoice-{number}.pdf, sha256 "
          f"{action.payload['attachments'][0]['sha256']} (the approval covers these bytes)")
    return 0


async def _match(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.ledger import month_bounds
    from solodesk.core.matching import match_payment

    start = end = None
    if args.month:
        start, end = month_bounds(args.month)
    if args.propose:
        from solodesk.agents.bookkeeper import bookkeeper_for

        found = await bookkeeper_for(sv.runner).propose_payments(start=start, end=end)
        for ln, what, _aid in found:
            print(f"bank line #{ln.id} {ln.booking_date} {ln.money} from {ln.payee!r}: {what}")
        if not found:
            print("no incoming bank line matches an open invoice")
        return 0
    open_invoices = sv.store.invoices.states(open_only=True)
    recorded = {r[0] for r in sv.store.db.execute(
        "SELECT bank_line_id FROM invoice_payments WHERE bank_line_id IS NOT NULL").fetchall()}
    lines = [ln for ln in sv.store.bank.lines(start=start, end=end)
             if ln.amount > 0 and ln.id not in recorded]
    if not open_invoices:
        print("no open invoices to match")
        return 0
    shown = 0
    for ln in lines:
        result = match_payment(ln, open_invoices)
        if result.match is not None:
            shown += 1
            print(f"bank line #{ln.id} {ln.booking_date} {ln.money} from {ln.payee!r}: "
                  f"{result.match.describe()}")
        elif result.ambiguous:
            shown += 1
            print(f"bank line #{ln.id} {ln.booking_date} {ln.money}: {result.reason}")
    if not shown:
        print(f"no incoming bank line matches one of the {len(open_invoices)} open invoice(s)")
    return 0


async def _reminders(sv: Any, args: argparse.Namespace) -> int:
    from solodesk.core.matching import ReminderSchedule, reminders_due
    from solodesk.core.money import format_money

    today = _date(args.today, "--today") if args.today else _today()
    cfg = sv.config
    schedule = ReminderSchedule(
        first_after_days=cfg.get_int("invoices.reminder_first_days"),
        every_days=cfg.get_int("invoices.reminder_every_days"),
        max_reminders=cfg.get_int("invoices.reminder_max"),
    )
    if args.propose:
        from solodesk.agents.invoicing import ReminderError, invoicing_for

        try:
            outcomes = await invoicing_for(sv.runner).propose_reminders(today, schedule)
        except ReminderError as exc:
            raise InvoicesError(str(exc)) from None
        if not outcomes:
            print(f"no payment reminder due on {today}")
        for o in outcomes:
            inv = o.due.invoice
            aid = f" action #{o.action_id}" if o.action_id else ""
            print(f"{inv.number} {inv.customer_name}: "
                  f"{format_money(inv.outstanding, inv.currency)} overdue "
                  f"{o.due.days_overdue} days: {o.status}{aid}, {o.detail}")
        return 0
    due = reminders_due(sv.store.invoices.states(open_only=True), today, schedule)
    if not due:
        print(f"no payment reminder due on {today}")
    for r in due:
        inv = r.invoice
        print(f"{inv.number} {inv.customer_name}: {format_money(inv.outstanding, inv.currency)} "
              f"overdue {r.days_overdue} days (due {inv.due_date}); reminder #{r.ordinal} due "
              f"since {r.due_since}")
    return 0
