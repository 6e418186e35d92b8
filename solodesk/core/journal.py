"""Export the ledger as a plain-text accounting journal: beancount (v3) or hledger.

Both journals hold the same accounts and transactions; amounts are written exactly from minor
units with the currency's ISO 4217 decimals (never through float). Accounts are opened (beancount
``open``) / declared (hledger ``account`` with its type) on the date of the first transaction,
currencies declared (``commodity``), transactions written in date order with their SoloDesk id as
metadata (beancount ``solodesk_id: 12``) or a tag (hledger ``solodesk-id:12``), so that
``bean-check`` and ``hledger check --strict ordereddates`` accept the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from solodesk.core.ledger import AccountType, BookedTransaction, account_type
from solodesk.core.money import exponent, format_amount

FORMATS = ("beancount", "hledger")

_HLEDGER_TYPE = {
    AccountType.ASSETS: "A",
    AccountType.LIABILITIES: "L",
    AccountType.EQUITY: "E",
    AccountType.INCOME: "R",
    AccountType.EXPENSES: "X",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _bean_string(text: str) -> str:
    escaped = _one_line(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _ordered(transactions: Sequence[BookedTransaction]) -> list[BookedTransaction]:
    return sorted(transactions, key=lambda t: (t.date, t.id))


def _start(transactions: Sequence[BookedTransaction], today: date) -> date:
    return min((t.date for t in transactions), default=today)


def _currencies(transactions: Sequence[BookedTransaction]) -> list[str]:
    return sorted({p.currency for t in transactions for p in t.postings})


def to_beancount(
    accounts: Sequence[tuple[str, str]],
    transactions: Sequence[BookedTransaction],
    *,
    today: date,
    title: str = "SoloDesk ledger",
) -> str:
    """A beancount v3 journal of ``accounts`` (name, description) and ``transactions``.

    Args:
        accounts: Every ledger account as ``(name, description)``.
        transactions: Sealed transactions.
        today: Used to open accounts when there are no transactions.
        title: The ``option "title"``.
    """
    start = _start(transactions, today).isoformat()
    out = [
        f"; {title}: {len(transactions)} transaction(s), exported by SoloDesk",
        f"option \"title\" {_bean_string(title)}",
        "",
    ]
    for cur in _currencies(transactions):
        out.append(f"{start} commodity {cur}")
    for name, description in sorted(accounts):
        out.append(f"{start} open {name}")
        if description:
            out.append(f"  description: {_bean_string(description)}")
    for t in _ordered(transactions):
        out.append("")
        out.append(f"{t.date.isoformat()} * {_bean_string(t.payee)} {_bean_string(t.narration)}")
        out.append(f"  solodesk_id: {t.id}")
        if t.bank_line_id is not None:
            out.append(f"  bank_line: {t.bank_line_id}")
        if t.action_id is not None:
            out.append(f"  action: {t.action_id}")
        for p in t.postings:
            out.append(f"  {p.account}  {format_amount(p.amount, p.currency)} {p.currency}")
    return "\n".join(out) + "\n"


def _hledger_text(text: str, *, payee: bool = False) -> str:
    # ';' would start a comment; in a payee '|' would split payee from note.
    text = _one_line(text).replace(";", ",")
    return text.replace("|", "/") if payee else text


def to_hledger(
    accounts: Sequence[tuple[str, str]],
    transactions: Sequence[BookedTransaction],
    *,
    today: date,
    title: str = "SoloDesk ledger",
) -> str:
    """An hledger journal of ``accounts`` (name, description) and ``transactions``.

    Payees and narrations become the description ``payee | narration``; a ``;`` in them is
    written as ``,`` (it would start a comment) and a ``|`` in a payee as ``/``.

    Args:
        accounts: Every ledger account as ``(name, description)``.
        transactions: Sealed transactions.
        today: Unused by hledger (accepted for symmetry with :func:`to_beancount`).
        title: The first comment line.
    """
    del today
    out = [f"; {title}: {len(transactions)} transaction(s), exported by SoloDesk", ""]
    out.append("decimal-mark .")
    out.append("")
    for cur in _currencies(transactions):
        exp = exponent(cur)
        sample = "1000." + "0" * exp
        out.append(f"commodity {sample} {cur}")
    out.append("")
    for name, description in sorted(accounts):
        kind = _HLEDGER_TYPE[account_type(name)]
        comment = f"  ; type: {kind}" + (f", {_hledger_text(description)}" if description else "")
        out.append(f"account {name}{comment}")
    for t in _ordered(transactions):
        out.append("")
        payee = _hledger_text(t.payee, payee=True)
        narration = _hledger_text(t.narration)
        desc = f"{payee} | {narration}" if payee and narration else (payee or narration)
        tags = [f"solodesk-id:{t.id}"]
        if t.bank_line_id is not None:
            tags.append(f"bank-line:{t.bank_line_id}")
        if t.action_id is not None:
            tags.append(f"action:{t.action_id}")
        out.append(f"{t.date.isoformat()} * {desc}  ; {', '.join(tags)}".replace(" *  ;", " * ;"))
        for p in t.postings:
            out.append(f"    {p.account}  {format_amount(p.amount, p.currency)} {p.currency}")
    return "\n".join(out) + "\n"


def export_journal(
    fmt: str,
    accounts: Sequence[tuple[str, str]],
    transactions: Sequence[BookedTransaction],
    *,
    today: date,
) -> str:
    """The journal in ``fmt`` (``beancount`` or ``hledger``).

    Raises:
        ValueError: unknown format.
    """
    if fmt == "beancount":
        return to_beancount(accounts, transactions, today=today)
    if fmt == "hledger":
        return to_hledger(accounts, transactions, today=today)
    raise ValueError(f"unknown journal format {fmt!r}; use {' or '.join(FORMATS)}")
