"""Benchmark: import a generated 5,000-line statement in each format (OFX, camt.053, CSV).

Prints lines per second and peak Python memory (tracemalloc) for reading, for storing (one
transaction per file) and for a re-import that skips every line as a duplicate. Asserts nothing
about time.

Run: .venv/bin/python tests/bench/bench_bank.py [LINES]
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from solodesk.connectors.bank.importer import import_file, read_statement_file
from solodesk.core.bank import CsvMapping
from solodesk.core.money import format_amount
from solodesk.store.db import connect
from solodesk.store.repos import Store

PAYEES = ["GitHub, Inc.", "Hetzner Online GmbH", "Café Müller", "Deutsche Bahn", "Acme GmbH",
          "Stripe Payments Europe", "Adobe Systems", "Office Depot", "Nordlicht AB", "AWS EMEA"]
START = date(2025, 1, 1)
T = TypeVar("T")


def _rows(n: int) -> list[tuple[date, int, str, str]]:
    rng = random.Random(10)
    return [
        (START + timedelta(days=i * 365 // n), rng.randint(-250_000, 300_000) or 1,
         rng.choice(PAYEES), f"reference {i} invoice {rng.randint(1000, 9999)}")
        for i in range(n)
    ]


def write_ofx(path: Path, n: int) -> None:
    rows = _rows(n)
    txns = "".join(
        f"<STMTTRN><TRNTYPE>{'CREDIT' if a > 0 else 'DEBIT'}<DTPOSTED>{d:%Y%m%d}120000"
        f"<TRNAMT>{format_amount(a, 'EUR')}<FITID>BENCH{i:08d}<NAME>{p}<MEMO>{m}</STMTTRN>\n"
        for i, (d, a, p, m) in enumerate(rows)
    )
    path.write_text(
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:UTF-8\nCHARSET:NONE\n"
        "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX><SIGNONMSGSRSV1><SONRS>"
        "<STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>20260101<LANGUAGE>ENG</SONRS>"
        "</SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO"
        "</STATUS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>1<ACCTID>DE00BENCH<ACCTTYPE>CHECKING"
        "</BANKACCTFROM><BANKTRANLIST><DTSTART>20250101<DTEND>20251231\n"
        f"{txns}</BANKTRANLIST><LEDGERBAL><BALAMT>0.00<DTASOF>20251231</LEDGERBAL></STMTRS>"
        "</STMTTRNRS></BANKMSGSRSV1></OFX>\n",
        encoding="utf-8",
    )


def write_camt(path: Path, n: int) -> None:
    rows = _rows(n)
    total = sum(a for _, a, _, _ in rows)
    entries = "".join(
        f"<Ntry><Amt Ccy=\"EUR\">{format_amount(abs(a), 'EUR')}</Amt>"
        f"<CdtDbtInd>{'CRDT' if a > 0 else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><Dt>{d.isoformat()}</Dt></BookgDt><AcctSvcrRef>B{i:08d}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><RltdPties><{'Dbtr' if a > 0 else 'Cdtr'}><Pty><Nm>{p}</Nm></Pty>"
        f"</{'Dbtr' if a > 0 else 'Cdtr'}></RltdPties><RmtInf><Ustrd>{m}</Ustrd></RmtInf>"
        "</TxDtls></NtryDtls></Ntry>\n"
        for i, (d, a, p, m) in enumerate(rows)
    )

    def bal(code: str, minor: int) -> str:
        return (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">"
            f"{format_amount(abs(minor), 'EUR')}</Amt><CdtDbtInd>{'CRDT' if minor >= 0 else 'DBIT'}"
            "</CdtDbtInd><Dt><Dt>2025-12-31</Dt></Dt></Bal>"
        )

    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr><Stmt>"
        "<Id>BENCH</Id><Acct><Id><IBAN>DE00BENCH</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{bal('OPBD', 10_000_000)}{bal('CLBD', 10_000_000 + total)}\n{entries}"
        "</Stmt></BkToCstmrStmt></Document>\n",
        encoding="utf-8",
    )


CSV_MAPPING = CsvMapping(
    name="bench", date="Buchungstag", date_format="%d.%m.%Y", amount="Betrag",
    payee="Empfänger", description=("Verwendungszweck",), balance="Saldo", currency="EUR",
    decimal_separator=",", account="DE00BENCH",
)


def write_csv(path: Path, n: int) -> None:
    rows = _rows(n)
    balance = 10_000_000
    out = ["Buchungstag;Empfänger;Verwendungszweck;Betrag;Saldo"]
    for d, a, p, m in rows:
        balance += a
        fmt = {"decimal_separator": ",", "group_separator": "."}
        out.append(f"{d:%d.%m.%Y};{p};{m};{format_amount(a, 'EUR', **fmt)};"
                   f"{format_amount(balance, 'EUR', **fmt)}")
    path.write_bytes(("\r\n".join(out) + "\r\n").encode("cp1252"))


def timed(label: str, n: int, fn: Callable[[], T]) -> T:
    t = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t
    print(f"  {label:<38} {dt:7.2f} s  {n / dt:>9,.0f} lines/s")
    return result


def peak_memory(label: str, fn: Callable[[], object]) -> None:
    """Peak Python allocations of ``fn`` (a separate run: tracemalloc slows code down)."""
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<38} peak {peak / 2**20:6.1f} MiB (tracemalloc)")


def bench_format(
    folder: Path, fmt: str, writer: Callable[[Path, int], None], mapping: CsvMapping | None,
    n: int,
) -> None:
    path = folder / f"statement.{fmt}"
    writer(path, n)
    print(f"{fmt}: {n} lines, {path.stat().st_size / 2**20:.1f} MiB file")
    store = Store(connect(folder / f"{fmt}.db"))
    try:
        timed("read (parse only)", n, lambda: read_statement_file(path, mapping=mapping))
        peak_memory("read (parse only)", lambda: read_statement_file(path, mapping=mapping))
        first = timed("import (read + store, one transaction)", n,
                      lambda: import_file(path, store.bank, mapping=mapping))
        again = timed("re-import (every line a duplicate)", n,
                      lambda: import_file(path, store.bank, mapping=mapping))
        print(f"  imported {first.imported}, then skipped {again.duplicates}; "
              f"{first.checks[0][1].describe()}")
    finally:
        store.close()


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_format(Path(tmp), "ofx", write_ofx, None, n)
        bench_format(Path(tmp), "camt053", write_camt, None, n)
        bench_format(Path(tmp), "csv", write_csv, CSV_MAPPING, n)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak resident set size of the whole run: {rss / 1024:.0f} MiB")


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
