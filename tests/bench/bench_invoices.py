"""Benchmark: issue invoices (number + XML in one transaction), render their Factur-X PDF/A-3,
and match a statement of payments against many open invoices.

Prints invoices per second, PDF size and rendering time for a 1-line and a 200-line invoice,
and bank lines matched per second. Asserts nothing about time.

Run: .venv/bin/python tests/bench/bench_invoices.py [INVOICES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from solodesk.actions.invoice_pdf import render_invoice_pdf
from solodesk.core.bank import BankLine
from solodesk.core.matching import match_payment
from solodesk.store.db import connect
from solodesk.store.repos import Store
from tests.support.invoices import GLOBEX, draft, line


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(connect(Path(tmp) / "solodesk.db"))
        began = time.perf_counter()
        issued = [
            store.invoices.issue(
                draft(customer=GLOBEX.model_copy(update={"name": f"Customer {n % 50}"})),
                action_id=None,
            )
            for n in range(count)
        ]
        took = time.perf_counter() - began
        print(f"issue: {count} invoices (number + CII XML + audit, one transaction each) in "
              f"{took:.2f} s = {count / took:.0f}/s; last {issued[-1].number}")

        for lines in (1, 200):
            d = draft(lines=[line(f"Item {i}", "1", 1000 + i) for i in range(lines)])
            inv = store.invoices.issue(d, action_id=None)
            began = time.perf_counter()
            pdf = render_invoice_pdf(inv, store.invoices.xml(inv))
            took = time.perf_counter() - began
            print(f"render: {lines}-line invoice -> {len(pdf):,} bytes PDF/A-3 in {took:.2f} s")

        states = store.invoices.states(open_only=True)
        bank = [
            BankLine(account="DE89370400440532013000", booking_date=date(2026, 3, 20),
                     value_date=None, amount=inv.totals.due_payable, currency="EUR",
                     payee=inv.draft.customer.name, description=f"Invoice {inv.number}",
                     reference="", dedup_key=str(n), source="bench")
            for n, inv in enumerate(issued[:500])
        ]
        began = time.perf_counter()
        matched = sum(1 for ln in bank if match_payment(ln, states).match is not None)
        took = time.perf_counter() - began
        print(f"match: {len(bank)} bank lines against {len(states)} open invoices: {matched} "
              f"matched in {took:.2f} s = {len(bank) / took:.0f} lines/s")
        store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
