"""CSV exports of bank statements, read with a column mapping the founder saved for the bank.

* Encoding: the mapping's, else UTF-8 when the bytes are valid UTF-8 (with or without BOM),
  else what ``charset-normalizer`` detects (cp1252, latin-1... as banks export).
* Dialect: the mapping's delimiter, else :class:`csv.Sniffer` (``,`` ``;`` tab ``|``); when the
  sniffed dialect does not show the mapped header, the other delimiters are tried.
* Header: the first row (within the first 50) holding every mapped column, so the preamble some
  banks write above the table ("Account: ...", "Period: ...") is skipped.
* Rows: blank rows, and rows with neither date nor amount (sums, footers), are skipped; any other
  row that cannot be read stops the import of the file with its line number and column.
* Amounts with the mapping's decimal separator, exactly (:func:`~solodesk.core.money.parse_amount`);
  debit/credit columns are taken unsigned (money out / money in).
* Duplicates: a hash of the row's mapped cells plus its occurrence count within the file, so two
  genuinely identical rows both import once, and a re-import or an overlapping export adds
  nothing. Columns the mapping does not read do not count (some banks add an export timestamp).
* Balances: with a running-balance column, the first and last rows give the opening and
  closing balance (oldest-first or newest-first files), and the lines must add up to the change.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from charset_normalizer import from_bytes

from solodesk.connectors.bank.errors import BankFileError
from solodesk.core.bank import (
    Balance,
    BalanceCheck,
    BankLine,
    BankStatement,
    CsvMapping,
    check_balance,
    content_key,
)
from solodesk.core.money import MoneyError, check_currency, parse_amount

HEADER_SEARCH_ROWS = 50
_DELIMITERS = ",;\t|"


def decode(path: Path, data: bytes, encoding: str | None) -> str:
    """The file's text.

    Raises:
        BankFileError: the given encoding does not decode it, or none can be detected.
    """
    if encoding:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except (LookupError, UnicodeDecodeError) as exc:
            raise BankFileError(path, "", f"cannot decode as {encoding}: {exc}") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise BankFileError(
            path, "", "cannot tell the text encoding; set one in the mapping (--encoding)"
        )
    return str(best)


def _norm(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").split()).casefold()


def _find_header(
    text: str, mapping: CsvMapping
) -> tuple[str, int, list[str]] | None:
    """``(delimiter, row index of the header, header cells)`` or None."""
    wanted = {_norm(c) for c in mapping.required_columns()}
    candidates: list[str] = []
    if mapping.delimiter:
        candidates.append(mapping.delimiter)
    else:
        try:
            sniffed = csv.Sniffer().sniff(text[:16384], delimiters=_DELIMITERS)
            candidates.append(sniffed.delimiter)
        except csv.Error:
            pass
        candidates += [d for d in _DELIMITERS if d not in candidates]
    for delimiter in candidates:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            for index, row in enumerate(reader):
                if index >= HEADER_SEARCH_ROWS:
                    break
                if wanted <= {_norm(c) for c in row}:
                    return delimiter, index, row
        except csv.Error:
            continue
    return None


def read_csv(
    path: Path, data: bytes, mapping: CsvMapping, *, account: str | None = None
) -> list[BankStatement]:
    """Read a bank's CSV export with ``mapping``.

    Args:
        path: The file (for error messages and line sources).
        data: Its bytes.
        mapping: The founder's column mapping for this bank.
        account: The account the file is for (overrides the mapping's).

    Returns:
        One :class:`BankStatement` per currency in the file (usually one).

    Raises:
        BankFileError: no account, undecodable text, no header row with the mapped columns, or
            a row that cannot be read (its line number and column).
    """
    acct = account or mapping.account
    if not acct:
        raise BankFileError(
            path, "", "a CSV file does not name its account: pass --account IBAN, or save one "
            "in the mapping"
        )
    text = decode(path, data, mapping.encoding)
    found = _find_header(text, mapping)
    if found is None:
        shown = ", ".join(repr(c) for c in mapping.required_columns())
        raise BankFileError(
            path, "", f"no header row with the mapping {mapping.name!r}'s columns ({shown}) in "
            f"the first {HEADER_SEARCH_ROWS} lines; check the mapping or the file"
        )
    delimiter, header_index, header = found
    index: dict[str, int] = {}
    for i, heading in enumerate(header):
        index.setdefault(_norm(heading), i)

    def col(name: str | None) -> int | None:
        return None if name is None else index[_norm(name)]

    c_date, c_value = col(mapping.date), col(mapping.value_date)
    c_amount, c_debit, c_credit = col(mapping.amount), col(mapping.debit), col(mapping.credit)
    c_payee, c_ref, c_balance = col(mapping.payee), col(mapping.reference), col(mapping.balance)
    c_currency = col(mapping.currency_column)
    c_desc = [index[_norm(d)] for d in mapping.description]
    key_cols = [index[_norm(c)] for c in mapping.columns()]
    width = max(key_cols) + 1

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines: list[BankLine] = []
    balances: list[int | None] = []
    seen: Counter[tuple[str, ...]] = Counter()
    try:
        for row_index, row in enumerate(reader):
            if row_index <= header_index or not any(c.strip() for c in row):
                continue
            n = reader.line_num
            if len(row) < width:
                raise BankFileError(
                    path, f"line {n}", f"{len(row)} fields, but the header has {len(header)}"
                )

            def cell(i: int | None, row: list[str] = row) -> str:
                return row[i].strip() if i is not None else ""

            money_cells = [cell(c) for c in (c_amount, c_debit, c_credit) if c is not None]
            if not cell(c_date) and not any(money_cells):
                continue  # a sum or footer row
            where = f"line {n}"
            currency = mapping.currency or cell(c_currency).upper()
            try:
                check_currency(currency)
            except MoneyError:
                raise BankFileError(
                    path, f"{where}, column {mapping.currency_column!r}",
                    f"{cell(c_currency)!r} is not an ISO 4217 currency code",
                ) from None
            booked = _date(path, where, mapping.date, cell(c_date), mapping.date_format)
            value = None
            if c_value is not None and cell(c_value):
                value = _date(
                    path, where, mapping.value_date or "", cell(c_value), mapping.date_format
                )
            amount = _amount(path, where, mapping, row, currency, c_amount, c_debit, c_credit)
            if c_balance is not None:
                raw = cell(c_balance)
                balances.append(
                    _money(path, where, mapping.balance or "", raw, currency, mapping)
                    if raw else None
                )
            key_cells = tuple(row[i].strip() for i in key_cols)
            seen[key_cells] += 1
            lines.append(
                BankLine(
                    account=acct,
                    booking_date=booked,
                    value_date=value,
                    amount=amount,
                    currency=currency,
                    payee=cell(c_payee),
                    description=" ".join(cell(i) for i in c_desc if cell(i)),
                    reference=cell(c_ref),
                    dedup_key=content_key(key_cells, seen[key_cells]),
                    source=f"{path.name} {where}",
                )
            )
    except csv.Error as exc:
        raise BankFileError(path, f"line {reader.line_num}", f"malformed CSV: {exc}") from None
    return _statements(acct, lines, balances if c_balance is not None else None, path)


def _date(path: Path, where: str, column: str, raw: str, fmt: str) -> date:
    try:
        return datetime.strptime(raw, fmt).date()
    except ValueError:
        raise BankFileError(
            path, f"{where}, column {column!r}", f"{raw!r} is not a date in the format {fmt!r}"
        ) from None


def _money(
    path: Path, where: str, column: str, raw: str, currency: str, mapping: CsvMapping
) -> int:
    try:
        return parse_amount(raw, currency, decimal_separator=mapping.decimal_separator)
    except MoneyError as exc:
        raise BankFileError(path, f"{where}, column {column!r}", str(exc)) from None


def _amount(
    path: Path,
    where: str,
    mapping: CsvMapping,
    row: Sequence[str],
    currency: str,
    c_amount: int | None,
    c_debit: int | None,
    c_credit: int | None,
) -> int:
    if c_amount is not None:
        return _money(path, where, mapping.amount or "", row[c_amount].strip(), currency, mapping)
    debit = row[c_debit].strip() if c_debit is not None else ""
    credit = row[c_credit].strip() if c_credit is not None else ""
    if not debit and not credit:
        raise BankFileError(path, where, "neither the debit nor the credit column has an amount")
    out = abs(_money(path, where, mapping.debit or "", debit, currency, mapping)) if debit else 0
    inn = abs(_money(path, where, mapping.credit or "", credit, currency, mapping)) if credit else 0
    return inn - out


def _statements(
    account: str, lines: list[BankLine], balances: list[int | None] | None, path: Path
) -> list[BankStatement]:
    by_currency: dict[str, list[BankLine]] = defaultdict(list)
    for line in lines:
        by_currency[line.currency].append(line)
    if not by_currency:
        return [BankStatement(account, "", (), where=path.name)]
    out = []
    for currency, cur_lines in sorted(by_currency.items()):
        opening = closing = None
        check: BalanceCheck | None = None
        if balances is None:
            check = BalanceCheck(False, True, note="balance change not checked: no balance column")
        elif len(by_currency) > 1:
            check = BalanceCheck(
                False, True, note="balance change not checked: the file mixes currencies"
            )
        elif any(b is None for b in balances):
            check = BalanceCheck(
                False, True, note="balance change not checked: some rows have no balance"
            )
        else:
            opening, closing, check = _running(cur_lines, [b for b in balances if b is not None])
        out.append(
            BankStatement(
                account, currency, tuple(cur_lines), opening, closing, path.name,
                check or BalanceCheck(False, True),
            )
        )
    return out


def _running(
    lines: list[BankLine], balances: list[int]
) -> tuple[Balance, Balance, BalanceCheck]:
    """Opening and closing balance from a running-balance column, in either row order."""
    cur = lines[0].currency
    oldest_first = (
        Balance(balances[0] - lines[0].amount, cur, lines[0].booking_date),
        Balance(balances[-1], cur, lines[-1].booking_date),
    )
    newest_first = (
        Balance(balances[-1] - lines[-1].amount, cur, lines[-1].booking_date),
        Balance(balances[0], cur, lines[0].booking_date),
    )
    orders = [oldest_first, newest_first]
    if lines[0].booking_date > lines[-1].booking_date:
        orders.reverse()
    for opening, closing in orders:
        check = check_balance(lines, opening, closing)
        if check.ok:
            return opening, closing, check
    opening, closing = orders[0]
    return opening, closing, check_balance(lines, opening, closing)
