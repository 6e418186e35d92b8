"""ISO 20022 camt.053 bank-to-customer statements (``camt.053.001.02`` and ``.001.08``).

Parsed with the standard library's ElementTree behind ``defusedxml``: no DTD, no entity
expansion, no external references, no network. The elements read are the same in every
``camt.053.001.xx`` version SoloDesk has been tested with (.02, the one of the SEPA and German DK
guides, and .08); the differences that matter are handled: an entry status is a plain code
(``<Sts>BOOK</Sts>``, .02) or a code element (``<Sts><Cd>BOOK</Cd></Sts>``, .08), and a related
party's name is ``<Cdtr><Nm>`` (.02) or ``<Cdtr><Pty><Nm>`` (.08).

* Account: ``Stmt/Acct/Id/IBAN`` (or ``Othr/Id``); currency ``Acct/Ccy`` or the entries'.
* Only booked entries (status ``BOOK``) are imported; pending and information-only ones are not.
* Booking date ``BookgDt``, value date ``ValDt`` (``Dt``, or the date part of ``DtTm`` as the
  bank wrote it); amount ``Amt`` with its ``Ccy``, negative when ``CdtDbtInd`` is ``DBIT``.
* Payee: the creditor of a debit, the debtor of a credit (``TxDtls/RltdPties``, ultimate party
  when the party has no name). Description: the remittance information (``RmtInf/Ustrd``, or the
  structured creditor reference), else ``AddtlTxInf`` / ``AddtlNtryInf``.
* Duplicates: the account servicer's reference ``AcctSvcrRef`` of the entry (or of its single
  transaction) — the bank's unique reference for the booking. ``NtryRef`` is not used: banks
  number entries per statement with it, so it repeats across statements. An entry with no
  ``AcctSvcrRef`` is keyed by its content and its occurrence count in the file, as CSV lines are.
* Balances: opening ``OPBD`` (or ``PRCD``) and closing ``CLBD``; the booked entries must add up
  to the change, and a mismatch is reported.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from solodesk.connectors.bank.errors import BankFileError
from solodesk.core.bank import Balance, BankLine, BankStatement, check_balance, content_key
from solodesk.core.money import MoneyError, check_currency, to_minor

_NS = re.compile(r"^\{(urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d\d)\}Document$")


class _Reader:
    """Namespace-aware lookups that raise a :class:`BankFileError` naming the element path."""

    def __init__(self, path: Path, ns: str) -> None:
        self.path = path
        self.ns = ns

    def q(self, steps: str) -> str:
        return "/".join(f"{{{self.ns}}}{s}" for s in steps.split("/"))

    def find(self, el: Element, steps: str) -> Element | None:
        return el.find(self.q(steps))

    def findall(self, el: Element, steps: str) -> list[Element]:
        return el.findall(self.q(steps))

    def text(self, el: Element, steps: str) -> str:
        found = self.find(el, steps)
        return (found.text or "").strip() if found is not None else ""

    def need(self, el: Element, steps: str, where: str) -> Element:
        found = self.find(el, steps)
        if found is None:
            raise BankFileError(self.path, f"{where}/{steps}", "missing")
        return found

    def date(self, el: Element, steps: str, where: str, *, required: bool) -> date | None:
        holder = self.find(el, steps)
        if holder is None:
            if required:
                raise BankFileError(self.path, f"{where}/{steps}", "missing")
            return None
        raw = self.text(holder, "Dt") or self.text(holder, "DtTm")[:10]
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise BankFileError(
                self.path, f"{where}/{steps}", f"{raw!r} is not a date (YYYY-MM-DD)"
            ) from None

    def amount(self, el: Element, steps: str, where: str) -> tuple[int, str]:
        """Signed minor units and currency of ``steps`` (an ``Amt``) and the sibling
        ``CdtDbtInd`` of ``el``."""
        amt = self.need(el, steps, where)
        currency = (amt.get("Ccy") or "").strip()
        try:
            check_currency(currency)
        except MoneyError:
            raise BankFileError(
                self.path, f"{where}/{steps}", f"currency Ccy={currency!r} is not ISO 4217"
            ) from None
        raw = (amt.text or "").strip()
        try:
            value = Decimal(raw)
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", raw):
                raise InvalidOperation
            minor = to_minor(value, currency)
        except InvalidOperation:
            raise BankFileError(
                self.path, f"{where}/{steps}", f"{raw!r} is not an amount"
            ) from None
        except MoneyError as exc:
            raise BankFileError(self.path, f"{where}/{steps}", str(exc)) from None
        indicator = self.text(el, "CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            raise BankFileError(
                self.path, f"{where}/CdtDbtInd", f"must be CRDT or DBIT, not {indicator!r}"
            )
        return (minor if indicator == "CRDT" else -minor), currency


def _party_name(r: _Reader, parties: Element, role: str) -> str:
    for steps in (f"{role}/Pty/Nm", f"{role}/Nm", f"Ultmt{role}/Pty/Nm", f"Ultmt{role}/Nm"):
        name = r.text(parties, steps)
        if name:
            return name
    return ""


def read_camt053(path: Path, data: bytes, *, account: str | None = None) -> list[BankStatement]:
    """Read every statement (``Stmt``) of a camt.053 file.

    Args:
        path: The file (for error messages and line sources).
        data: Its bytes.
        account: Use this account id instead of the file's IBAN.

    Returns:
        One :class:`BankStatement` per ``Stmt``, with its balance check.

    Raises:
        BankFileError: not well-formed XML (line and column), a DTD or entity declaration
            (refused), not camt.053, or a missing or invalid element (its path).
    """
    try:
        root = fromstring(data, forbid_dtd=True)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise BankFileError(
            path, f"line {line}, column {column}", f"not well-formed XML: {exc}"
        ) from None
    except DefusedXmlException as exc:
        raise BankFileError(
            path, "", f"refused: {exc} (camt.053 files never need DTDs or entities)"
        ) from None
    m = _NS.match(root.tag)
    if not m:
        raise BankFileError(
            path, "", f"not a camt.053 statement (root element {root.tag!r})"
        )
    r = _Reader(path, m.group(1))
    base = "Document/BkToCstmrStmt"
    holder = r.find(root, "BkToCstmrStmt")
    if holder is None:
        raise BankFileError(path, base, "missing")
    stmts = r.findall(holder, "Stmt")
    if not stmts:
        raise BankFileError(path, f"{base}/Stmt", "no statement in the file")
    out = []
    entry_no = 0
    for i, stmt in enumerate(stmts, start=1):
        where = f"{base}/Stmt[{i}]"
        acct = r.need(stmt, "Acct", where)
        acct_id = r.text(acct, "Id/IBAN") or r.text(acct, "Id/Othr/Id")
        if not acct_id:
            raise BankFileError(path, f"{where}/Acct/Id", "no IBAN or other account id")
        acct_id = account or acct_id
        acct_ccy = r.text(acct, "Ccy")
        opening = closing = None
        for k, bal in enumerate(r.findall(stmt, "Bal"), start=1):
            code = r.text(bal, "Tp/CdOrPrtry/Cd")
            if code not in ("OPBD", "PRCD", "CLBD"):
                continue
            bwhere = f"{where}/Bal[{k}]"
            minor, cur = r.amount(bal, "Amt", bwhere)
            balance = Balance(minor, cur, r.date(bal, "Dt", bwhere, required=False))
            if code == "CLBD":
                closing = balance
            elif opening is None or code == "OPBD":
                opening = balance
        lines: list[BankLine] = []
        seen: Counter[tuple[str, ...]] = Counter()
        for j, ntry in enumerate(r.findall(stmt, "Ntry"), start=1):
            entry_no += 1
            nwhere = f"{where}/Ntry[{j}]"
            status = r.text(ntry, "Sts/Cd") or r.text(ntry, "Sts")
            if status and status != "BOOK":
                continue
            amount, currency = r.amount(ntry, "Amt", nwhere)
            booked = r.date(ntry, "BookgDt", nwhere, required=True)
            assert booked is not None
            value = r.date(ntry, "ValDt", nwhere, required=False)
            txs = r.findall(ntry, "NtryDtls/TxDtls")
            role = "Cdtr" if amount < 0 else "Dbtr"
            payees: list[str] = []
            remittance: list[str] = []
            for tx in txs:
                parties = r.find(tx, "RltdPties")
                name = _party_name(r, parties, role) if parties is not None else ""
                if name and name not in payees:
                    payees.append(name)
                remittance += [
                    (u.text or "").strip() for u in r.findall(tx, "RmtInf/Ustrd") if u.text
                ]
                ref = r.text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
                if ref:
                    remittance.append(ref)
            payee = ", ".join(payees)  # a batch entry may pay several parties
            description = " ".join(remittance) or " ".join(
                t for t in [*(r.text(tx, "AddtlTxInf") for tx in txs),
                            r.text(ntry, "AddtlNtryInf")] if t
            )
            svcr_ref = r.text(ntry, "AcctSvcrRef")
            if not svcr_ref and len(txs) == 1:
                svcr_ref = r.text(txs[0], "Refs/AcctSvcrRef")
            ntry_ref = r.text(ntry, "NtryRef")
            reference = svcr_ref or ntry_ref or (
                r.text(txs[0], "Refs/EndToEndId") if len(txs) == 1 else ""
            )
            if svcr_ref:
                key = f"acctsvcrref:{svcr_ref}"
            else:
                cells = (
                    booked.isoformat(), value.isoformat() if value else "", str(amount),
                    currency, payee, description, ntry_ref,
                )
                seen[cells] += 1
                key = content_key(cells, seen[cells])
            lines.append(
                BankLine(
                    account=acct_id,
                    booking_date=booked,
                    value_date=value,
                    amount=amount,
                    currency=currency,
                    payee=payee,
                    description=description,
                    reference=reference,
                    dedup_key=key,
                    source=f"{path.name} {nwhere} (entry {entry_no})",
                )
            )
        currency = acct_ccy or (closing.currency if closing else "") or (
            lines[0].currency if lines else ""
        )
        out.append(
            BankStatement(
                account=acct_id,
                currency=currency,
                lines=tuple(lines),
                opening=opening,
                closing=closing,
                where=where,
                balance_check=check_balance(lines, opening, closing),
            )
        )
    return out
