"""Bank statement lines: the common shape every statement reader produces, and CSV mappings.

A :class:`BankLine` is one booked movement on a bank account as the bank reported it: amounts are
integer minor units with an ISO 4217 currency (see :mod:`solodesk.core.money`), dates are the
bank's own calendar dates (no time zone conversion). Readers live in
``solodesk.connectors.bank``; the store keeps lines in ``bank_lines``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from solodesk.core.money import MoneyError, check_currency, format_money


@dataclass(frozen=True, slots=True)
class BankLine:
    """One booked line of a bank statement.

    Attributes:
        account: The bank account: an IBAN, or the bank's account id (OFX ``ACCTID``), or the
            id the founder gave with ``--account``.
        booking_date: The date the bank booked the line (OFX ``DTPOSTED``, camt ``BookgDt``).
        value_date: The value date, when the file has one (OFX ``DTAVAIL``, camt ``ValDt``).
        amount: Signed amount in minor units: positive is money in, negative money out.
        currency: ISO 4217 code of ``amount``.
        payee: The counterparty (OFX ``NAME``, camt creditor/debtor name, CSV payee column).
        description: Remittance text / memo.
        reference: The bank's reference for the line (OFX ``FITID``, camt ``AcctSvcrRef``,
            CSV reference column), ``""`` if none.
        dedup_key: What identifies the line when the same statement is imported again, unique
            per account (see each reader for its rule).
        source: Where the line is in its file, e.g. ``"jan.ofx line 42 (transaction 3)"``.
        id: The stored line's id (``None`` before it is stored).
    """

    account: str
    booking_date: date
    value_date: date | None
    amount: int
    currency: str
    payee: str
    description: str
    reference: str
    dedup_key: str
    source: str
    id: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"BankLine.amount is int minor units, not {self.amount!r}")
        check_currency(self.currency)

    @property
    def money(self) -> str:
        """The amount for display, e.g. ``-12.50 EUR``."""
        return format_money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class Balance:
    """A balance reported by the bank: ``amount`` minor units of ``currency`` at end of ``date``."""

    amount: int
    currency: str
    date: date | None


@dataclass(frozen=True, slots=True)
class BalanceCheck:
    """Whether the statement's lines add up to its balance change.

    ``checked`` is False when the file has no opening and closing balance to compare with (OFX
    reports only a closing balance); ``note`` then says why.
    """

    checked: bool
    ok: bool
    expected: int = 0
    actual: int = 0
    currency: str = ""
    note: str = ""

    def describe(self) -> str:
        """One line for the founder."""
        if not self.checked:
            return self.note
        if self.ok:
            return f"balance check ok: lines sum to {format_money(self.actual, self.currency)}"
        return (
            f"BALANCE MISMATCH: the balances change by "
            f"{format_money(self.expected, self.currency)} but the lines sum to "
            f"{format_money(self.actual, self.currency)} "
            f"(difference {format_money(self.expected - self.actual, self.currency)})"
            + (f"; {self.note}" if self.note else "")
        )


@dataclass(frozen=True, slots=True)
class BankStatement:
    """The lines of one account in one file, with the balances the file reports.

    Attributes:
        account: The bank account (IBAN or id).
        currency: The account's currency, ``""`` when the file does not say (a CSV with a
            currency column).
        lines: Booked lines in file order.
        opening: Opening balance (camt ``OPBD``/``PRCD``, CSV first running balance), if any.
        closing: Closing balance (camt ``CLBD``, OFX ``LEDGERBAL``, CSV last running balance).
        where: Where the statement is in the file (``"Stmt[1]"``, ``"STMTRS 1"``).
        balance_check: The result of comparing lines and balances (see :func:`check_balance`).
    """

    account: str
    currency: str
    lines: tuple[BankLine, ...]
    opening: Balance | None = None
    closing: Balance | None = None
    where: str = ""
    balance_check: BalanceCheck = field(
        default_factory=lambda: BalanceCheck(False, True, note="no balances in the file")
    )


def check_balance(
    lines: Sequence[BankLine], opening: Balance | None, closing: Balance | None
) -> BalanceCheck:
    """Compare the lines' total with ``closing - opening``.

    Every line in the file counts, including those skipped later as already imported: the check
    is about the file being complete and read correctly.
    """
    if opening is None or closing is None:
        missing = {
            (True, True): "opening and closing balances",
            (True, False): "opening balance",
            (False, True): "closing balance",
        }[(opening is None, closing is None)]
        note = f"balance change not checked: the file has no {missing}"
        return BalanceCheck(False, True, note=note)
    if opening.currency != closing.currency:
        return BalanceCheck(
            True, False, currency=closing.currency,
            note=f"opening balance in {opening.currency}, closing in {closing.currency}",
        )
    cur = closing.currency
    foreign = [ln for ln in lines if ln.currency != cur]
    actual = sum(ln.amount for ln in lines if ln.currency == cur)
    expected = closing.amount - opening.amount
    note = f"{len(foreign)} line(s) in another currency left out" if foreign else ""
    return BalanceCheck(True, expected == actual, expected, actual, cur, note)


def content_key(cells: Sequence[str], occurrence: int) -> str:
    """A duplicate key from a line's content and its occurrence count within the file.

    Two genuinely identical lines in one file get occurrences 1 and 2, so both import once; the
    same file (or an overlapping export) imported again yields the same keys.

    Args:
        cells: The line's fields as text, in a fixed order.
        occurrence: 1 for the first line with this content in the file, 2 for the second...
    """
    digest = hashlib.sha256("\x1f".join(c.strip() for c in cells).encode("utf-8")).hexdigest()
    return f"hash:{digest[:40]}:{occurrence}"


class CsvMapping(BaseModel):
    """How to read one bank's CSV export; the founder saves one per bank, by name.

    Columns are named by their header text (matched after trimming spaces; case-insensitive).
    Either ``amount`` (signed) or ``debit``/``credit`` (unsigned money out / money in) is given;
    the currency is either fixed (``currency``) or read from ``currency_column``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    date: str = Field(min_length=1, description="column of the booking date")
    date_format: str = Field("%Y-%m-%d", description="strptime format of the dates")
    amount: str | None = Field(None, description="column of the signed amount")
    debit: str | None = Field(None, description="column of money out (unsigned)")
    credit: str | None = Field(None, description="column of money in (unsigned)")
    payee: str | None = None
    description: tuple[str, ...] = Field((), description="columns joined into the description")
    reference: str | None = None
    value_date: str | None = None
    balance: str | None = Field(None, description="column of the running balance, if any")
    currency: str | None = Field(None, description="ISO 4217 code of every line")
    currency_column: str | None = None
    decimal_separator: Literal[".", ","] = "."
    account: str | None = Field(None, description="IBAN or id of the account the file is for")
    encoding: str | None = Field(None, description="text encoding (default: detected)")
    delimiter: str | None = Field(None, description="field delimiter (default: detected)")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return check_currency(v.upper())
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("date_format")
    @classmethod
    def _valid_format(cls, v: str) -> str:
        sample = date(2024, 12, 31)
        try:
            back = datetime.strptime(sample.strftime(v), v).date()
        except ValueError as exc:
            raise ValueError(f"date format {v!r} does not work: {exc}") from None
        if back != sample:
            raise ValueError(f"date format {v!r} does not give back the full date")
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("delimiter must be one character (use '\\t' for tab)")
        return v

    @model_validator(mode="after")
    def _amount_and_currency(self) -> CsvMapping:
        if self.amount is None and self.debit is None and self.credit is None:
            raise ValueError("give an amount column, or debit and/or credit columns")
        if self.amount is not None and (self.debit is not None or self.credit is not None):
            raise ValueError("give either an amount column or debit/credit columns, not both")
        if (self.currency is None) == (self.currency_column is None):
            raise ValueError("give either a fixed currency or a currency column (one of them)")
        return self

    def columns(self) -> tuple[str, ...]:
        """Every column the mapping reads, in a fixed order (also the duplicate-key order)."""
        named = [
            self.date, self.value_date, self.amount, self.debit, self.credit, self.payee,
            *self.description, self.reference, self.balance, self.currency_column,
        ]
        return tuple(c for c in named if c is not None)

    def required_columns(self) -> tuple[str, ...]:
        """Columns that must be in the header row."""
        return self.columns()
