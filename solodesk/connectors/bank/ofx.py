"""OFX / QFX bank and credit-card statements (OFX 1.x SGML and 2.x XML), read with ofxparse.

ofxparse (MIT) is lenient with the files real banks produce; it runs here in its strict mode
(``fail_fast``) so that a malformed transaction stops the import of the whole file, and its
errors are given the line and transaction index they came from.

* Account: ``ACCTID`` of ``BANKACCTFROM`` / ``CCACCTFROM`` (or the founder's ``--account``).
* Booking date: the calendar date of ``DTPOSTED`` as the bank wrote it (ofxparse's own value is
  shifted to UTC, which can move a midnight booking to the previous day); value date:
  ``DTAVAIL`` when present.
* Amount: ``TRNAMT`` in ``CURDEF`` (OFX 2.2, 11.4.3), exactly, via Decimal.
* Payee: ``NAME``; description: ``MEMO``; reference: ``FITID``.
* Duplicates: ``(account, FITID)`` — OFX 2.2 (3.2.1) makes FITID unique per account.
* Balances: OFX reports only the closing ``LEDGERBAL``, so the balance change is not checked.
* Investment statements (``INVSTMTRS``) are not bank statements and are left out.
"""

from __future__ import annotations

import html
import io
import re
import threading
import warnings
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import ofxparse.ofxparse as ofxparse_module
from bs4 import XMLParsedAsHTMLWarning
from ofxparse import AccountType, OfxParser
from ofxparse.ofxparse import OfxFile, OfxParserException, OfxPreprocessedFile

from solodesk.connectors.bank.errors import BankFileError
from solodesk.core.bank import Balance, BankLine, BankStatement, check_balance
from solodesk.core.money import MoneyError, check_currency, to_minor

_XML_ENCODING = re.compile(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_HAS_ENCODING_HEADER = re.compile(rb"^\s*ENCODING\s*:", re.IGNORECASE | re.MULTILINE)


_PREPROCESS_LOCK = threading.Lock()


class _Located(OfxParserException):  # type: ignore[misc]
    """An ofxparse error with the line (and transaction) it is about."""

    def __init__(self, tag: Any, message: str, *, transaction: bool = False) -> None:
        super().__init__(message)
        self.line = getattr(tag, "sourceline", None)
        self.transaction_index = (
            len(tag.find_all_previous("stmttrn")) + 1 if transaction and tag is not None else None
        )
        self.message = message


class _PreprocessedFile(OfxPreprocessedFile):  # type: ignore[misc]
    """ofxparse 0.21's SGML preprocessing (close every element that never has a closing tag in
    the file), with the closing tags in a set: ofxparse looks each opening tag up in a list of
    every closing tag in the file, which made reading O(n²) in the number of transactions
    (53% of reading a 5,000-line statement, 55% at 10,000). Output is identical."""

    fh: Any

    def __init__(self, fh: Any) -> None:
        OfxFile.__init__(self, fh)
        if self.fh is None:
            return
        ofx_string = self.fh.read()
        closing_tags = {t.upper() for t in re.findall(r"(?i)</([a-z0-9_\.]+)>", ofx_string)}
        last_open_tag = None
        tokens = re.split(r"(?i)(</?[a-z0-9_\.]+>)", ofx_string)
        new_fh = io.StringIO()
        for token in tokens:
            is_closing_tag = token.startswith("</")
            is_processing_tag = token.startswith("<?")
            is_cdata = token.startswith("<!")
            is_tag = token.startswith("<") and not is_cdata
            is_open_tag = is_tag and not is_closing_tag and not is_processing_tag
            if is_tag and last_open_tag is not None:
                new_fh.write(f"</{last_open_tag}>")
                last_open_tag = None
            if is_open_tag:
                tag_name = re.findall(r"(?i)<([a-z0-9_\.]+)>", token)[0]
                if tag_name.upper() not in closing_tags:
                    last_open_tag = tag_name
            new_fh.write(token)
        new_fh.seek(0)
        self.fh = new_fh


def _raw(tag: Any, name: str) -> str:
    found = tag.find(name)
    if found is None or not found.contents:
        return ""
    return str(found.contents[0]).strip()


def _keep(soups: list[Any], soup: Any) -> Any:
    """Record ``soup`` (the parse tree ofxparse builds) in ``soups`` and return it.

    A BeautifulSoup tree is a web of reference cycles (parent, sibling and next-element links):
    about 35 objects per statement line, 175,000 for a 5,000-line statement. Left to the cyclic
    garbage collector, the next full collection frees them all in one call holding the GIL, on
    the GUI thread in the app (about 200 ms while a 5,000-line statement imported in a worker
    thread). :meth:`_LocatingParser.parse` destroys the tree instead (``decompose``: it unlinks
    every element, so reference counting frees them as it goes, on the importing thread).
    """
    soups.append(soup)
    return soup


def _destroy(soup: Any) -> None:
    """Unlink every element of a BeautifulSoup tree (``decompose`` each top-level element: the
    root itself is not in its elements' ``next_element`` chain, so decomposing it alone leaves
    the tree whole)."""
    for element in list(soup.contents):
        element.decompose()
    soup.decompose()


class _LocatingParser(OfxParser):  # type: ignore[misc]
    """ofxparse's parser, keeping each transaction's source line and raw dates."""

    @classmethod
    def parse(cls, file_handle: Any, *args: Any, **kwargs: Any) -> Any:
        """``OfxParser.parse`` with :class:`_PreprocessedFile` (linear) for its preprocessing,
        and the parse tree destroyed before returning (:func:`_keep`).

        ofxparse looks its preprocessing class and its tree builder up by module name at each
        call; they are swapped for this call only, under a lock, and put back.
        """
        with _PREPROCESS_LOCK:
            saved = ofxparse_module.OfxPreprocessedFile, ofxparse_module.soup_maker
            soups: list[Any] = []
            ofxparse_module.OfxPreprocessedFile = _PreprocessedFile
            ofxparse_module.soup_maker = lambda fh: _keep(soups, saved[1](fh))
            try:
                return super().parse(file_handle, *args, **kwargs)
            finally:
                ofxparse_module.OfxPreprocessedFile, ofxparse_module.soup_maker = saved
                for soup in soups:
                    _destroy(soup)

    @classmethod
    def parseTransaction(cls, txn_ofx: Any) -> Any:  # noqa: N802 - ofxparse's name
        try:
            txn = super().parseTransaction(txn_ofx)
        except Exception as exc:  # ofxparse raises several types; all are located here
            raise _Located(txn_ofx, str(exc).split("\n")[0].strip(), transaction=True) from exc
        txn.solodesk_line = txn_ofx.sourceline
        txn.solodesk_dtposted = _raw(txn_ofx, "dtposted")
        txn.solodesk_dtavail = _raw(txn_ofx, "dtavail")
        return txn

    @classmethod
    def parseBalance(cls, statement: Any, stmt_ofx: Any, bal_tag_name: str, *args: Any) -> Any:  # noqa: N802
        try:
            return super().parseBalance(statement, stmt_ofx, bal_tag_name, *args)
        except _Located:
            raise
        except Exception as exc:
            tag = stmt_ofx.find(bal_tag_name) or stmt_ofx
            raise _Located(tag, f"{bal_tag_name.upper()}: {exc}".strip()) from exc

    @classmethod
    def parseStatement(cls, stmt_ofx: Any) -> Any:  # noqa: N802
        for name in ("curdef", "dtstart", "dtend"):
            tag = stmt_ofx.find(name)
            if tag is not None and not str(tag.get_text()).strip():
                raise _Located(tag, f"<{name.upper()}> is empty")
        try:
            return super().parseStatement(stmt_ofx)
        except _Located:
            raise
        except Exception as exc:
            raise _Located(stmt_ofx, f"statement: {exc}".strip()) from exc


def _ascii_safe(data: bytes) -> bytes:
    """OFX 2.x (XML) with non-ASCII text, made readable by ofxparse.

    ofxparse decodes a file without an OFX 1 ``ENCODING`` header as strict ASCII; an XML file
    in UTF-8 with "Café" in a payee would fail. Decode it as its XML declaration says (UTF-8 by
    default) and write non-ASCII characters as character references, which the HTML parser
    behind ofxparse turns back into the same characters. Line numbers are unchanged.
    """
    if _HAS_ENCODING_HEADER.search(data[:2048]) or data.isascii():
        return data
    m = _XML_ENCODING.search(data[:512])
    encoding = m.group(1).decode("ascii") if m else "utf-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"the file is not valid {encoding}: {exc}") from None
    # Character references are not decoded inside CDATA: write CDATA sections as escaped text.
    text = _CDATA.sub(lambda m: html.escape(m.group(1), quote=False), text)
    return text.encode("ascii", "xmlcharrefreplace")


def _date(raw: str) -> date:
    return date(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]))


def _nth_line(text: str, tags: Sequence[str], n: int) -> int:
    """The line of the ``n``-th (1-based) opening tag among ``tags`` in ``text``."""
    pattern = re.compile("|".join(f"<{t}>" for t in tags), re.IGNORECASE)
    for i, m in enumerate(pattern.finditer(text), start=1):
        if i == n:
            return text.count("\n", 0, m.start()) + 1
    return 1


def read_ofx(path: Path, data: bytes, *, account: str | None = None) -> list[BankStatement]:
    """Read the bank and credit-card statements of an OFX/QFX file.

    Args:
        path: The file (for error messages and line sources).
        data: Its bytes.
        account: Use this account id instead of the file's ``ACCTID``.

    Returns:
        One :class:`BankStatement` per bank or credit-card account in the file.

    Raises:
        BankFileError: the file is not OFX, a transaction is malformed (the error names the
            line and the transaction's index), or the file has no bank statement.
    """
    try:
        with warnings.catch_warnings():
            # ofxparse feeds OFX 2 XML to bs4's HTML parser (on purpose: it is lenient) and
            # calls bs4's old findAll name.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            ofx = _LocatingParser.parse(io.BytesIO(_ascii_safe(data)), fail_fast=True)
    except _Located as exc:
        place = f"line {exc.line}" if exc.line else ""
        if exc.transaction_index:
            place += f", transaction {exc.transaction_index}"
        raise BankFileError(path, place.lstrip(", "), exc.message or "malformed OFX") from None
    except Exception as exc:  # ofxparse raises bare ValueError, IndexError, AttributeError...
        reason = str(exc).split("\n")[0].strip() or type(exc).__name__
        raise BankFileError(path, "", f"not a readable OFX file: {reason}") from None
    text = data.decode("latin-1")
    statements: list[BankStatement] = []
    counter = 0
    # ofxparse lists STMTRS accounts, then CCSTMTRS, then investment and ACCTINFO ones (an
    # account list without transactions): only the first are statements.
    statement_count = len(re.findall(r"<(?:CC)?STMTRS>", text, re.IGNORECASE))
    bank_accounts = [
        a
        for a in ofx.accounts[:statement_count]
        if a.type in (AccountType.Bank, AccountType.CreditCard)
    ]
    if not bank_accounts:
        why = ""
        if re.search(r"<INVSTMTRS>", text, re.IGNORECASE):
            why = "; investment statements (INVSTMTRS) are not imported"
        raise BankFileError(
            path, "", f"no bank or credit-card statement in this OFX file (nothing to import){why}"
        )
    for n, acc in enumerate(bank_accounts, start=1):
        stmt = acc.statement
        where = f"line {_nth_line(text, ('STMTRS', 'CCSTMTRS'), n)} (statement {n})"
        acct_id = account or (acc.account_id or "").strip()
        if not acct_id:
            raise BankFileError(path, where, "the statement has no account id (ACCTID)")
        raw_cur = (acc.curdef or getattr(stmt, "currency", "") or "").strip().upper()
        try:
            currency = check_currency(raw_cur)
        except MoneyError:
            raise BankFileError(
                path, where, f"the statement's currency (CURDEF) {raw_cur!r} is not ISO 4217"
            ) from None
        lines = []
        for txn in stmt.transactions:
            counter += 1
            place = f"line {txn.solodesk_line}, transaction {counter}"
            try:
                booked = _date(txn.solodesk_dtposted)
                value = _date(txn.solodesk_dtavail) if txn.solodesk_dtavail else None
            except ValueError:
                raise BankFileError(
                    path, place, f"invalid date {txn.solodesk_dtposted!r} (DTPOSTED/DTAVAIL)"
                ) from None
            amount_value = txn.amount if isinstance(txn.amount, Decimal) else Decimal(txn.amount)
            try:
                amount = to_minor(amount_value, currency)
            except MoneyError as exc:
                raise BankFileError(path, place, f"TRNAMT: {exc}") from None
            fitid = str(txn.id).strip()
            lines.append(
                BankLine(
                    account=acct_id,
                    booking_date=booked,
                    value_date=value,
                    amount=amount,
                    currency=currency,
                    payee=(txn.payee or "").strip(),
                    description=(txn.memo or "").strip(),
                    reference=fitid,
                    dedup_key=f"fitid:{fitid}",
                    source=f"{path.name} {place}",
                )
            )
        closing = None
        balance = getattr(stmt, "balance", None)
        if balance is not None:
            try:
                closing_amount = to_minor(Decimal(balance), currency)
            except MoneyError as exc:
                raise BankFileError(path, where, f"LEDGERBAL: {exc}") from None
            when = getattr(stmt, "balance_date", None)
            closing = Balance(closing_amount, currency, when.date() if when else None)
        statements.append(
            BankStatement(
                account=acct_id,
                currency=currency,
                lines=tuple(lines),
                opening=None,
                closing=closing,
                where=where,
                balance_check=check_balance(lines, None, closing),
            )
        )
    return statements
