"""The double-entry ledger: accounts, transactions, postings and the reports built on them.

Amounts are signed integer minor units per ISO 4217 currency (:mod:`solodesk.core.money`), in the
plain-text-accounting sign convention (beancount, hledger): debits are positive, credits
negative, so the postings of every transaction sum to zero **per currency**; income accounts
carry negative balances and expense accounts positive ones. Reports show income, liabilities and
equity with their sign flipped, as accountants read them.

Account names are hierarchical, colon-separated, under the five roots ``Assets``,
``Liabilities``, ``Equity``, ``Income`` and ``Expenses`` (``Expenses:Software``); each further
component starts with a capital letter or digit and holds letters, digits and ``-``, the rule
beancount enforces, so every SoloDesk ledger exports to a journal beancount accepts.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from solodesk.core.money import MoneyError, check_currency, format_money


class LedgerError(ValueError):
    """A transaction, posting or account the ledger refuses; the message says why."""


class UnbalancedTransaction(LedgerError):
    """The postings do not sum to zero in some currency."""


class AccountType(enum.StrEnum):
    """The five root accounts of double-entry bookkeeping."""

    ASSETS = "Assets"
    LIABILITIES = "Liabilities"
    EQUITY = "Equity"
    INCOME = "Income"
    EXPENSES = "Expenses"


#: A small default chart for a one-person company: (account name, what it is for).
DEFAULT_CHART: tuple[tuple[str, str], ...] = (
    ("Assets:Bank", "business bank account (bank lines are booked here by default)"),
    ("Assets:Receivables", "invoices sent and not yet paid"),
    ("Assets:VAT-Reclaimable", "input VAT paid on purchases, to reclaim"),
    ("Liabilities:VAT-Payable", "output VAT charged on sales, owed to the tax office"),
    ("Liabilities:Payables", "bills received and not yet paid"),
    ("Liabilities:Credit-Card", "business credit card"),
    ("Equity:Opening-Balances", "balances brought in when the books start"),
    ("Equity:Owner-Contributions", "money the founder put into the business"),
    ("Equity:Owner-Draws", "money the founder took out of the business"),
    ("Income:Sales", "sales of products and services"),
    ("Income:Other", "interest, refunds and other income"),
    ("Expenses:Software", "software, subscriptions and hosting"),
    ("Expenses:Hardware", "computers and equipment"),
    ("Expenses:Travel", "transport and lodging"),
    ("Expenses:Meals", "business meals"),
    ("Expenses:Office", "office rent, supplies and postage"),
    ("Expenses:Telecom", "phone and internet"),
    ("Expenses:Marketing", "advertising and promotion"),
    ("Expenses:Fees:Bank", "bank and payment-provider fees"),
    ("Expenses:Fees:Professional", "accountant, lawyer and other professional fees"),
    ("Expenses:Insurance", "business insurance"),
    ("Expenses:Taxes", "taxes and duties other than VAT"),
    ("Expenses:Other", "anything else"),
)

#: The account bank lines are booked on when their bank account is not linked to another one.
DEFAULT_BANK_ACCOUNT = "Assets:Bank"


def account_type(name: str) -> AccountType:
    """The root type of a valid account name.

    Raises:
        LedgerError: the name is not a valid account name (see :func:`validate_account_name`).
    """
    validate_account_name(name)
    return AccountType(name.split(":", 1)[0])


def validate_account_name(name: str) -> str:
    """``name`` if it is a valid hierarchical account name, e.g. ``Expenses:Software``.

    Raises:
        LedgerError: the message names the faulty component and the rule.
    """
    if not isinstance(name, str) or not name:
        raise LedgerError("an account name is required, e.g. Expenses:Software")
    parts = name.split(":")
    roots = ", ".join(t.value for t in AccountType)
    if parts[0] not in {t.value for t in AccountType}:
        raise LedgerError(f"account {name!r} must start with one of {roots}")
    if len(parts) < 2:
        raise LedgerError(f"account {name!r} needs a sub-account, e.g. {parts[0]}:Something")
    for part in parts[1:]:
        if not part:
            raise LedgerError(f"account {name!r} has an empty component")
        first_ok = part[0].isdigit() or part[0].isupper() or (
            part[0].isalpha() and not part[0].isascii()
        )
        rest_ok = all(c == "-" or c.isalnum() for c in part)
        if not (first_ok and rest_ok):
            raise LedgerError(
                f"account component {part!r} of {name!r} must start with a capital letter or "
                "digit and contain only letters, digits and '-'"
            )
    return name


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of a transaction: ``amount`` minor units of ``currency`` on ``account``."""

    account: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"posting amounts are int minor units, never {self.amount!r}")


@dataclass(frozen=True, slots=True)
class Transaction:
    """What a ledger entry says: its date, payee and narration (postings are given apart)."""

    date: date
    payee: str = ""
    narration: str = ""


@dataclass(frozen=True, slots=True)
class BookedTransaction:
    """A transaction stored (sealed) in the ledger.

    Attributes:
        id: Row id.
        date: Booking date.
        payee: Counterparty.
        narration: What it was for.
        postings: Its postings (they balance per currency).
        bank_line_id: The bank line it books, if any (a line is booked at most once).
        action_id: The approved proposal that created it, if any.
        created_at: UTC timestamp of recording.
    """

    id: int
    date: date
    payee: str
    narration: str
    postings: tuple[Posting, ...]
    bank_line_id: int | None
    action_id: int | None
    created_at: str


def check_transaction(transaction: Transaction, postings: Sequence[Posting]) -> None:
    """Refuse a transaction the ledger must not hold.

    Raises:
        UnbalancedTransaction: the postings do not sum to zero per currency (the message lists
            each currency's residual).
        LedgerError: fewer than two postings, an invalid account name or currency, a zero
            posting, or a missing date.
    """
    if not isinstance(transaction.date, date):
        raise LedgerError(f"transaction date must be a date, not {transaction.date!r}")
    if len(postings) < 2:
        raise LedgerError("a transaction needs at least two postings")
    sums: dict[str, int] = defaultdict(int)
    for p in postings:
        validate_account_name(p.account)
        try:
            check_currency(p.currency)
        except MoneyError as exc:
            raise LedgerError(f"posting to {p.account}: {exc}") from None
        if p.amount == 0:
            raise LedgerError(f"posting to {p.account} has a zero amount")
        sums[p.currency] += p.amount
    residual = {c: s for c, s in sums.items() if s}
    if residual:
        shown = ", ".join(f"{format_money(s, c)}" for c, s in sorted(residual.items()))
        raise UnbalancedTransaction(
            f"unbalanced transaction: postings sum to {shown} instead of zero per currency"
        )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """The sum of an account's postings in one currency over some period."""

    account: str
    currency: str
    amount: int


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of ``month`` (``YYYY-MM``) and the first day of the month after.

    Raises:
        LedgerError: ``month`` is not ``YYYY-MM``.
    """
    try:
        year_s, mon_s = month.split("-")
        if len(year_s) != 4 or len(mon_s) != 2:
            raise ValueError
        start = date(int(year_s), int(mon_s), 1)
    except ValueError:
        raise LedgerError(f"month must be YYYY-MM, e.g. 2026-03, not {month!r}") from None
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One account line of a report, with the amount as the report shows it."""

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class ProfitAndLoss:
    """Income and expenses of a period in one currency, both shown positive when normal."""

    currency: str
    income: tuple[ReportLine, ...]
    expenses: tuple[ReportLine, ...]

    @property
    def total_income(self) -> int:
        """Sum of income (positive when the business earned)."""
        return sum(r.amount for r in self.income)

    @property
    def total_expenses(self) -> int:
        """Sum of expenses (positive when the business spent)."""
        return sum(r.amount for r in self.expenses)

    @property
    def net(self) -> int:
        """Income minus expenses: the period's profit (negative: a loss)."""
        return self.total_income - self.total_expenses


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    """Assets, liabilities and equity at a date in one currency.

    ``earnings`` is the cumulative income minus expenses not yet closed into equity; with it,
    ``total_assets == total_liabilities + total_equity`` always holds for a balanced ledger.
    """

    currency: str
    assets: tuple[ReportLine, ...]
    liabilities: tuple[ReportLine, ...]
    equity: tuple[ReportLine, ...]
    earnings: int

    @property
    def total_assets(self) -> int:
        """Sum of asset balances."""
        return sum(r.amount for r in self.assets)

    @property
    def total_liabilities(self) -> int:
        """Sum of liabilities (shown positive)."""
        return sum(r.amount for r in self.liabilities)

    @property
    def total_equity(self) -> int:
        """Equity accounts plus current earnings (shown positive)."""
        return sum(r.amount for r in self.equity) + self.earnings


def _by_currency(balances: Iterable[AccountBalance]) -> dict[str, list[AccountBalance]]:
    out: dict[str, list[AccountBalance]] = defaultdict(list)
    for b in balances:
        if b.amount:
            out[b.currency].append(b)
    return out


def profit_and_loss(balances: Iterable[AccountBalance]) -> list[ProfitAndLoss]:
    """P&L per currency from the period's account balances (other account types are ignored).

    Args:
        balances: Sums of postings per (account, currency) over the period.

    Returns:
        One :class:`ProfitAndLoss` per currency with income or expenses, sorted by currency.
    """
    out = []
    for cur, items in sorted(_by_currency(balances).items()):
        income = [
            ReportLine(b.account, -b.amount)
            for b in items
            if account_type(b.account) is AccountType.INCOME
        ]
        expenses = [
            ReportLine(b.account, b.amount)
            for b in items
            if account_type(b.account) is AccountType.EXPENSES
        ]
        if income or expenses:
            out.append(
                ProfitAndLoss(
                    cur,
                    tuple(sorted(income, key=lambda r: r.account)),
                    tuple(sorted(expenses, key=lambda r: r.account)),
                )
            )
    return out


def balance_sheet(balances: Iterable[AccountBalance]) -> list[BalanceSheet]:
    """Balance sheet per currency from cumulative account balances up to a date.

    Args:
        balances: Sums of every posting per (account, currency) up to the date.
    """
    out = []
    for cur, items in sorted(_by_currency(balances).items()):
        lines: dict[AccountType, list[ReportLine]] = defaultdict(list)
        earnings = 0
        for b in sorted(items, key=lambda b: b.account):
            kind = account_type(b.account)
            if kind is AccountType.ASSETS:
                lines[kind].append(ReportLine(b.account, b.amount))
            elif kind in (AccountType.LIABILITIES, AccountType.EQUITY):
                lines[kind].append(ReportLine(b.account, -b.amount))
            else:
                earnings -= b.amount
        out.append(
            BalanceSheet(
                cur,
                tuple(lines[AccountType.ASSETS]),
                tuple(lines[AccountType.LIABILITIES]),
                tuple(lines[AccountType.EQUITY]),
                earnings,
            )
        )
    return out


@dataclass(slots=True)
class _Table:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, minor: int | None = None, currency: str = "") -> None:
        self.rows.append((label, "" if minor is None else format_money(minor, currency)))

    def accounts(self, title: str, lines: Sequence[ReportLine], currency: str) -> None:
        """A section: its title, then one indented row per account line."""
        self.add(title)
        for line in lines:
            self.add(f"  {line.account}", line.amount, currency)

    def render(self) -> str:
        width = max((len(a) for a, _ in self.rows), default=0)
        amount = max((len(b) for _, b in self.rows), default=0)
        return "\n".join(
            f"{a.ljust(width)}  {b.rjust(amount)}".rstrip() for a, b in self.rows
        )


def render_pnl(reports: Sequence[ProfitAndLoss], *, period: str) -> str:
    """The P&L as text, one block per currency (amounts formatted with their currency)."""
    if not reports:
        return f"Profit and loss, {period}: no income or expenses booked"
    blocks = []
    for r in reports:
        t = _Table()
        t.add(f"Profit and loss, {period} ({r.currency})")
        t.accounts("Income", r.income, r.currency)
        t.add("Total income", r.total_income, r.currency)
        t.accounts("Expenses", r.expenses, r.currency)
        t.add("Total expenses", r.total_expenses, r.currency)
        t.add("Net profit" if r.net >= 0 else "Net loss", r.net, r.currency)
        blocks.append(t.render())
    return "\n\n".join(blocks)


def render_balance_sheet(sheets: Sequence[BalanceSheet], *, at: date) -> str:
    """The balance sheet as text, one block per currency."""
    if not sheets:
        return f"Balance sheet at {at.isoformat()}: nothing booked yet"
    blocks = []
    for s in sheets:
        t = _Table()
        t.add(f"Balance sheet at {at.isoformat()} ({s.currency})")
        t.accounts("Assets", s.assets, s.currency)
        t.add("Total assets", s.total_assets, s.currency)
        t.accounts("Liabilities", s.liabilities, s.currency)
        t.add("Total liabilities", s.total_liabilities, s.currency)
        t.accounts("Equity", s.equity, s.currency)
        t.add("  Current earnings (income - expenses)", s.earnings, s.currency)
        t.add("Total equity", s.total_equity, s.currency)
        t.add("Total liabilities and equity", s.total_liabilities + s.total_equity, s.currency)
        blocks.append(t.render())
    return "\n\n".join(blocks)
