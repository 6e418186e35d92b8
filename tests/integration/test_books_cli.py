"""``solodesk bank`` and ``solodesk books`` in a subprocess; exported journals checked by
``bean-check`` (beancount 3) and ``hledger check``."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from solodesk.core.categorise import categorise, postings_for
from solodesk.core.ledger import Posting, Transaction
from solodesk.store.db import connect
from solodesk.store.ledger import CategoryChoice
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import run_cli

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "bank"
OFX = DATA / "ofxparse"
GIRO_ARGS = [
    "--date", "Buchungstag", "--date-format", "%d.%m.%Y", "--amount", "Betrag (EUR)",
    "--payee", "Auftraggeber / Begünstigter", "--description", "Buchungstext",
    "--description", "Verwendungszweck", "--reference", "Kundenreferenz",
    "--value-date", "Wertstellung", "--balance", "Saldo (EUR)", "--currency", "EUR",
    "--decimal", ",", "--account", "DE12120300001020304050",
]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    paths = home_paths(home).ensure()
    s = Store(connect(paths.database))
    yield s
    s.close()


def test_bank_import_prints_per_file_and_fails_only_the_bad_one(home: Path, store: Store,
                                                                 tmp_path: Path) -> None:
    bad = tmp_path / "broken.xml"
    bad.write_bytes(
        (DATA / "camt053_001_08.xml").read_bytes().replace(b"3.80", b"3.805", 1)
    )
    r = run_cli(home, "bank", "import", str(OFX / "checking.ofx"), str(bad),
                str(DATA / "camt053_001_02.xml"))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        f"{OFX / 'checking.ofx'}: imported 3, skipped 0 duplicates (ofx)",
        "  1452687~7: balance change not checked: the file has no opening balance",
        f"{DATA / 'camt053_001_02.xml'}: imported 5, skipped 0 duplicates (camt053)",
        "  DE89370400440532013000: balance check ok: lines sum to 2,013.10 EUR",
        "total: imported 8, skipped 0 duplicates, 1 file(s) not imported",
    ]
    assert r.stderr.strip() == (
        f"solodesk: {bad}: Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/Amt: 3.805 EUR is finer than "
        "the currency's minor unit (2 decimals); SoloDesk never rounds money "
        "(nothing imported from this file)"
    )
    assert "Traceback" not in r.stderr
    again = run_cli(home, "bank", "import", str(DATA / "camt053_001_02.xml"))
    assert ok(again).splitlines()[0].endswith("imported 0, skipped 5 duplicates (camt053)")
    assert store.bank.count() == 8


def test_csv_import_with_a_saved_mapping(home: Path, store: Store) -> None:
    no_mapping = run_cli(home, "bank", "import", str(DATA / "giro_2026-05.csv"))
    assert no_mapping.returncode == 1 and "pass --mapping NAME" in no_mapping.stderr
    unknown = run_cli(home, "bank", "import", str(DATA / "giro_2026-05.csv"), "--mapping", "x")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "solodesk: no CSV mapping named 'x' (saved: none saved yet)"
    ok(run_cli(home, "bank", "mappings", "add", "giro", *GIRO_ARGS))
    dup = run_cli(home, "bank", "mappings", "add", "giro", *GIRO_ARGS)
    assert dup.returncode == 1 and "exists" in dup.stderr
    bad = run_cli(home, "bank", "mappings", "add", "bad", "--date", "D", "--amount", "A")
    assert bad.returncode == 1
    assert "give either a fixed currency or a currency column" in bad.stderr
    assert "giro: {" in ok(run_cli(home, "bank", "mappings", "list"))
    out = ok(run_cli(home, "bank", "import", str(DATA / "giro_2026-05.csv"), "--mapping", "giro"))
    assert "imported 6, skipped 0 duplicates (csv)" in out
    assert "balance check ok: lines sum to 2,114.55 EUR" in out
    ok(run_cli(home, "bank", "mappings", "remove", "giro"))
    assert "no CSV mappings" in ok(run_cli(home, "bank", "mappings", "list"))


def test_rules_and_categorised_lines(home: Path, store: Store) -> None:
    ok(run_cli(home, "bank", "import", str(DATA / "camt053_001_02.xml")))
    out = ok(run_cli(home, "books", "rules", "add", "github", "Expenses:Software",
                     "--field", "payee"))
    assert out.strip() == "added #1 payee ~ 'github' -> Expenses:Software"
    bad = run_cli(home, "books", "rules", "add", "(x", "Expenses:Other", "--regex")
    assert bad.returncode == 1 and "invalid regular expression" in bad.stderr
    missing = run_cli(home, "books", "rules", "add", "x", "Expenses:Yachts")
    assert missing.returncode == 1
    assert "'solodesk books accounts add Expenses:Yachts'" in missing.stderr
    assert ok(run_cli(home, "books", "rules", "list")).strip() == (
        "#1 payee ~ 'github' -> Expenses:Software"
    )
    # Book the DB line once by hand (as an approval would), so history decides the next time.
    (db_line,) = [ln for ln in store.bank.lines() if ln.payee == "DB Vertrieb GmbH"]
    assert db_line.id is not None
    store.ledger.record(
        Transaction(db_line.booking_date, db_line.payee, "train"),
        postings_for(db_line.amount, "EUR", bank_account="Assets:Bank",
                     category="Expenses:Travel"),
        source_line_id=db_line.id, action_id=None,
        category=CategoryChoice("Expenses:Travel", "founder", edited=False),
    )
    lines = json.loads(ok(run_cli(home, "bank", "lines", "--json")))
    by_payee = {ln["payee"]: ln for ln in lines}
    assert (by_payee["GitHub, Inc."]["account"], by_payee["GitHub, Inc."]["decided_by"]) == (
        "Expenses:Software", "rule #1",
    )
    assert by_payee["DB Vertrieb GmbH"]["booked"] >= 1
    assert by_payee["Acme Werkzeuge GmbH"]["decided_by"] == "model"
    assert by_payee["GitHub, Inc."]["amount_minor"] == -4900
    text = ok(run_cli(home, "bank", "lines", "--unbooked", "--month", "2026-03"))
    assert "→ Expenses:Software (by rule #1)" in text and "DB Vertrieb" not in text
    assert "needs the model" in text
    ok(run_cli(home, "books", "rules", "remove", "1"))
    gone = run_cli(home, "books", "rules", "remove", "1")
    assert gone.returncode == 1 and "no categorisation rule #1" in gone.stderr
    assert "no categorisation approved unedited 3 times" in ok(
        run_cli(home, "books", "rules", "offers")
    )


def test_accounts(home: Path) -> None:
    out = ok(run_cli(home, "books", "accounts", "list"))
    assert "Assets:Bank" in out and "Expenses:Software" in out and "Liabilities:VAT-Payable" in out
    ok(run_cli(home, "books", "accounts", "add", "Expenses:Software:Hosting",
               "--description", "servers"))
    ok(run_cli(home, "books", "accounts", "add", "Assets:Bank:Savings"))
    ok(run_cli(home, "books", "accounts", "link", "DE89370400440532013000", "Assets:Bank:Savings"))
    out = ok(run_cli(home, "books", "accounts", "list"))
    assert "Expenses:Software:Hosting        servers" in out
    assert "Assets:Bank:Savings" in out and "[bank: DE89370400440532013000]" in out
    bad = run_cli(home, "books", "accounts", "add", "Expenses:software")
    assert bad.returncode == 1 and "capital letter" in bad.stderr


# -- a whole ledger: every fixture imported and booked ------------------------------------------
def _book_everything(store: Store) -> int:
    """Book every imported line (rules, then history, else Income/Expenses:Other) plus
    opening balances, as approvals of the later record_transaction proposals would."""
    store.ledger.add_rule("github|hetzner|adobe|aws|amazon web", "Expenses:Software", regex=True)
    store.ledger.add_rule("DB Vertrieb", "Expenses:Travel")
    store.ledger.add_rule("Kontofuehrung", "Expenses:Fees:Bank")
    store.ledger.add_rule("cafe|coffee|espresso", "Expenses:Meals", regex=True)
    for line in store.bank.lines():
        assert line.id is not None
        c = categorise(line.payee, line.description, rules=store.ledger.rules(),
                       history=store.ledger.history_for(line.payee, line.description))
        account = c.account or ("Income:Other" if line.amount > 0 else "Expenses:Other")
        store.ledger.record(
            Transaction(line.booking_date, line.payee, line.description[:80]),
            postings_for(line.amount, line.currency, bank_account="Assets:Bank",
                         category=account),
            source_line_id=line.id, action_id=None,
            category=CategoryChoice(account, c.label, edited=c.account is None),
        )
    store.ledger.record(
        Transaction(date(2009, 1, 1), "", "opening balances"),
        [
            Posting("Assets:Bank", 100000, "EUR"),
            Posting("Equity:Opening-Balances", -100000, "EUR"),
            Posting("Assets:Bank", 5000, "JPY"),
            Posting("Equity:Opening-Balances", -5000, "JPY"),
        ],
        source_line_id=None, action_id=None,
    )
    return len(store.ledger.transactions())


@pytest.fixture
def full_home(home: Path, store: Store) -> Path:
    ok(run_cli(home, "bank", "mappings", "add", "giro", *GIRO_ARGS))
    ok(run_cli(home, "bank", "mappings", "add", "card", "--date", "Date", "--debit", "Debit",
               "--credit", "Credit", "--payee", "Payee", "--description", "Description",
               "--reference", "Reference", "--currency", "USD", "--account", "card-4242"))
    for path, extra in [
        (OFX / "anzcc.ofx", []), (OFX / "suncorp.ofx", []), (OFX / "checking.ofx", []),
        (OFX / "bank_medium.ofx", []), (DATA / "camt053_001_02.xml", []),
        (DATA / "camt053_001_08.xml", []), (DATA / "giro_2026-05.csv", ["--mapping", "giro"]),
        (DATA / "card_2026-05.csv", ["--mapping", "card"]),
    ]:
        ok(run_cli(home, "bank", "import", str(path), *extra))
    assert store.bank.count() == 29
    assert _book_everything(store) == 30
    return home


def _hledger() -> str | None:
    found = shutil.which("hledger")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("hledger is missing on CI: .ci/run installs the Debian package 'hledger'")
    return found


def _bean_check() -> str:
    found = shutil.which("bean-check", path=str(Path(sys.executable).parent)) or shutil.which(
        "bean-check"
    )
    assert found, "bean-check comes with beancount in the 'test' extra"
    return found


def test_reports(full_home: Path, store: Store) -> None:
    pnl = ok(run_cli(full_home, "books", "report", "pnl", "--month", "2026-03"))
    assert pnl.splitlines()[0] == "Profit and loss, 2026-03 (EUR)"
    assert "Income:Other" in pnl and "2,380.00 EUR" in pnl
    assert "Expenses:Software" in pnl and "49.00 EUR" in pnl
    assert "Expenses:Fees:Bank" in pnl and "5.00 EUR" in pnl
    net = next(ln for ln in pnl.splitlines() if ln.startswith("Net"))
    assert net.split()[-2:] == ["2,013.10", "EUR"]  # the camt statement's balance change
    april = ok(run_cli(full_home, "books", "report", "pnl", "--month", "2026-04"))
    assert "(EUR)" in april and "(USD)" in april
    sheet = ok(run_cli(full_home, "books", "report", "balance", "--month", "2026-05"))
    assert sheet.splitlines()[0] == "Balance sheet at 2026-05-31 (AUD)"
    blocks = sheet.split("\n\n")
    assert len(blocks) == 5  # AUD, CAD, EUR, JPY, USD
    for block in blocks:
        totals = {
            ln.rsplit("  ", 1)[0].strip(): ln.split()[-2]
            for ln in block.splitlines()
            if ln.startswith("Total")
        }
        assert totals["Total assets"] == totals["Total liabilities and equity"], block
    empty = ok(run_cli(full_home, "books", "report", "pnl", "--month", "1999-01"))
    assert empty.strip() == "Profit and loss, 1999-01: no income or expenses booked"
    bad = run_cli(full_home, "books", "report", "pnl", "--month", "March")
    assert bad.returncode == 1 and "YYYY-MM" in bad.stderr
    reg = ok(run_cli(full_home, "books", "register", "--month", "2026-03",
                     "--account", "Expenses:Software"))
    assert "GitHub, Inc." in reg and "= 49.00 EUR" in reg and "Acme" not in reg


def test_exported_journals_pass_bean_check_and_hledger_check(
    full_home: Path, store: Store, tmp_path: Path
) -> None:
    bean = tmp_path / "books.beancount"
    out = ok(run_cli(full_home, "books", "export", "--format", "beancount", "-o", str(bean)))
    assert "wrote 30 transaction(s)" in out
    checked = subprocess.run([_bean_check(), str(bean)], capture_output=True, text=True,
                             timeout=120, check=False)
    print(f"bean-check exit {checked.returncode}: {checked.stdout}{checked.stderr}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == ""

    journal = tmp_path / "books.journal"
    ok(run_cli(full_home, "books", "export", "--format", "hledger", "-o", str(journal)))
    hledger = _hledger()
    if hledger is None:
        pytest.skip("hledger is not installed (apt-get install hledger); CI installs it")
    checked = subprocess.run(
        [hledger, "-f", str(journal), "check", "--strict", "ordereddates"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    print(f"hledger check exit {checked.returncode}: {checked.stdout}{checked.stderr}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # hledger's own balances equal the ledger's, account by account, to the minor unit.
    bal = subprocess.run(
        [hledger, "-f", str(journal), "balance", "--flat", "--no-total", "-O", "csv"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    theirs: dict[tuple[str, str], str] = {}
    for row in list(csv.reader(io.StringIO(bal.stdout)))[1:]:
        account, amounts = row[0], row[1]
        for amount in amounts.split(", "):
            number, currency = amount.rsplit(" ", 1)
            theirs[(account, currency)] = number
    from solodesk.core.money import format_amount

    ours = {
        (b.account, b.currency): format_amount(b.amount, b.currency)
        for b in store.ledger.balances()
        if b.amount
    }
    assert theirs == ours


def test_export_errors_and_stdout(home: Path, tmp_path: Path) -> None:
    out = ok(run_cli(home, "books", "export", "--format", "beancount", "-o", "-"))
    assert out.startswith("; SoloDesk ledger: 0 transaction(s)")
    bad = run_cli(home, "books", "export", "--format", "hledger", "-o",
                  str(tmp_path / "missing" / "dir" / "x.journal"))
    assert bad.returncode == 1 and "cannot write" in bad.stderr
    empty = tmp_path / "empty.beancount"
    ok(run_cli(home, "books", "export", "--format", "beancount", "-o", str(empty)))
    checked = subprocess.run([_bean_check(), str(empty)], capture_output=True, text=True,
                             timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
