"""The ledger in SQLite: balance per currency enforced by the database, bookings exactly once."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from solodesk.connectors.bank.importer import import_file
from solodesk.core.actions import Provenance
from solodesk.core.kinds.mail import SEND_EMAIL
from solodesk.core.ledger import (
    DEFAULT_CHART,
    LedgerError,
    Posting,
    Transaction,
    UnbalancedTransaction,
)
from solodesk.store.db import connect
from solodesk.store.ledger import AlreadyBooked, CategoryChoice
from solodesk.store.repos import NotFound, Store

DATA = Path(__file__).resolve().parents[1] / "data" / "bank"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "solodesk.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(connect(db_path))
    yield s
    s.close()


def action(store: Store, n: int = 1) -> int:
    """A stored action id (the ledger's action_id references the actions table)."""
    a = store.actions.propose(
        kind=SEND_EMAIL,
        payload={"n": n},
        agent="bookkeeper",
        summary=f"stand-in for a record_transaction proposal {n}",
        provenance=Provenance("chat", None),
        idempotency_key=f"k{n}",
    )
    return a.id


def software(amount: int = 4900, currency: str = "EUR") -> list[Posting]:
    return [
        Posting("Assets:Bank", -amount, currency),
        Posting("Expenses:Software", amount, currency),
    ]


GH = Transaction(date(2026, 3, 2), "GitHub, Inc.", "Team plan March")


# -- accounts -----------------------------------------------------------------------------------
def test_default_chart_and_editing(store: Store) -> None:
    names = [a.name for a in store.ledger.accounts()]
    assert names == sorted(n for n, _ in DEFAULT_CHART)
    added = store.ledger.add_account("Expenses:Software:Hosting", description="servers")
    assert (added.type, added.description) == ("Expenses", "servers")
    with pytest.raises(LedgerError, match="exists already"):
        store.ledger.add_account("Expenses:Software")
    for bad in ("Software", "Expenses", "Expenses:software", "Expenses:Soft ware", "Costs:X"):
        with pytest.raises(LedgerError):
            store.ledger.add_account(bad)
    store.ledger.rename_account("Expenses:Software:Hosting", "Expenses:Hosting")
    assert store.ledger.account("Expenses:Hosting").description == "servers"
    with pytest.raises(NotFound, match="books accounts add"):
        store.ledger.account("Expenses:Software:Hosting")


def test_a_used_account_keeps_its_type(store: Store) -> None:
    store.ledger.record(GH, software(), source_line_id=None, action_id=None)
    with pytest.raises(LedgerError, match="keeps its type"):
        store.ledger.rename_account("Expenses:Software", "Income:Software")
    store.ledger.rename_account("Expenses:Software", "Expenses:Tools")  # same type: fine
    assert store.ledger.transactions()[0].postings[1].account == "Expenses:Tools"


def test_bank_account_links(store: Store) -> None:
    assert store.ledger.bank_account_for("DE89370400440532013000") == "Assets:Bank"
    store.ledger.add_account("Assets:Bank:Savings")
    store.ledger.link_bank_account("DE89370400440532013000", "Assets:Bank:Savings")
    assert store.ledger.bank_account_for("DE89370400440532013000") == "Assets:Bank:Savings"
    with pytest.raises(LedgerError, match="Assets or Liabilities"):
        store.ledger.link_bank_account("X", "Expenses:Office")


# -- recording ----------------------------------------------------------------------------------
def test_record_a_balanced_transaction(store: Store) -> None:
    booked = store.ledger.record(GH, software(), source_line_id=None, action_id=None)
    assert booked.postings == tuple(software())
    assert store.ledger.get(booked.id) == booked
    assert store.ledger.transactions() == [booked]
    sealed = store.db.execute("SELECT sealed FROM ledger_transactions").fetchone()[0]
    assert sealed == 1
    (entry,) = [e for e in store.audit.entries() if e["event"] == "ledger_transaction_recorded"]
    assert '"Expenses:Software",4900,"EUR"' in entry["detail"]
    assert store.audit.verify() == []


def test_python_refuses_unbalanced_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(UnbalancedTransaction, match="-0.01 EUR"):
        store.ledger.record(
            GH,
            [Posting("Assets:Bank", -4901, "EUR"), Posting("Expenses:Software", 4900, "EUR")],
            source_line_id=None,
            action_id=None,
        )
    with pytest.raises(LedgerError, match="at least two postings"):
        store.ledger.record(GH, software()[:1], source_line_id=None, action_id=None)
    with pytest.raises(LedgerError, match="not in the chart"):
        store.ledger.record(
            GH,
            [Posting("Assets:Bank", -1, "EUR"), Posting("Expenses:Yachts", 1, "EUR")],
            source_line_id=None,
            action_id=None,
        )
    with pytest.raises(TypeError):
        Posting("Assets:Bank", 12.5, "EUR")  # type: ignore[arg-type]
    assert store.db.execute("SELECT count(*) FROM ledger_transactions").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM ledger_postings").fetchone()[0] == 0


def test_multi_currency_transactions_balance_per_currency(store: Store) -> None:
    postings = [
        Posting("Assets:Bank", -1000, "EUR"),
        Posting("Expenses:Travel", 1000, "EUR"),
        Posting("Assets:Bank", -150000, "JPY"),
        Posting("Expenses:Travel", 150000, "JPY"),
    ]
    store.ledger.record(GH, postings, source_line_id=None, action_id=None)
    mixed = [
        Posting("Assets:Bank", -1000, "EUR"),
        Posting("Expenses:Travel", 1000, "USD"),
    ]
    with pytest.raises(UnbalancedTransaction, match="-10.00 EUR, 10.00 USD"):
        store.ledger.record(GH, mixed, source_line_id=None, action_id=None)


# -- the database itself refuses ----------------------------------------------------------------
def _raw_transaction(conn: sqlite3.Connection, postings: list[tuple[int, int, str]]) -> int:
    """Insert an unsealed transaction and postings ``(account_id, amount, currency)`` raw."""
    cur = conn.execute(
        "INSERT INTO ledger_transactions (date, payee, narration, created_at)"
        " VALUES ('2026-03-01', 'raw', 'raw SQL', '2026-03-01T00:00:00+00:00')"
    )
    txn = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
        " VALUES (?, ?, ?, ?)",
        [(txn, a, amount, cur_) for a, amount, cur_ in postings],
    )
    return txn


def test_raw_sql_cannot_store_an_unbalanced_transaction(db_path: Path, store: Store) -> None:
    """Another program with the database file and plain SQL: the triggers still refuse."""
    bank = store.ledger.account_id("Assets:Bank")
    sw = store.ledger.account_id("Expenses:Software")
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    try:
        conn.execute("BEGIN")
        txn = _raw_transaction(conn, [(bank, -4901, "EUR"), (sw, 4900, "EUR")])
        with pytest.raises(sqlite3.IntegrityError, match="unbalanced transaction"):
            conn.execute("UPDATE ledger_transactions SET sealed = 1 WHERE id = ?", [txn])
        conn.execute("ROLLBACK")

        conn.execute("BEGIN")
        txn = _raw_transaction(conn, [(bank, -100, "EUR"), (sw, 100, "USD")])
        with pytest.raises(sqlite3.IntegrityError, match="unbalanced transaction"):
            conn.execute("UPDATE ledger_transactions SET sealed = 1 WHERE id = ?", [txn])
        conn.execute("ROLLBACK")

        conn.execute("BEGIN")
        txn = _raw_transaction(conn, [])
        with pytest.raises(sqlite3.IntegrityError, match="at least two postings"):
            conn.execute("UPDATE ledger_transactions SET sealed = 1 WHERE id = ?", [txn])
        conn.execute("ROLLBACK")

        with pytest.raises(sqlite3.IntegrityError, match="inserted unsealed"):
            conn.execute(
                "INSERT INTO ledger_transactions (date, created_at, sealed)"
                " VALUES ('2026-03-01', 'x', 1)"
            )
        conn.execute("BEGIN")
        txn = _raw_transaction(conn, [])
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
                " VALUES (?, ?, 12.5, 'EUR')",
                [txn, bank],
            )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
                " VALUES (?, ?, '12.50', 'EUR')",
                [txn, bank],
            )
        conn.execute("ROLLBACK")

        # An unsealed leftover (written by hand, never sealed) is invisible to reports.
        _raw_transaction(conn, [(bank, -7, "EUR"), (sw, 3, "EUR")])
    finally:
        conn.close()
    assert store.ledger.transactions() == []
    assert store.ledger.balances() == []


def test_sealed_transactions_are_final(db_path: Path, store: Store) -> None:
    booked = store.ledger.record(GH, software(), source_line_id=None, action_id=None)
    bank = store.ledger.account_id("Assets:Bank")
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        for sql, params in [
            ("UPDATE ledger_postings SET amount = amount + 1 WHERE transaction_id = ?",
             [booked.id]),
            ("DELETE FROM ledger_postings WHERE transaction_id = ?", [booked.id]),
            ("INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
             " VALUES (?, ?, 5, 'EUR')", [booked.id, bank]),
            ("UPDATE ledger_transactions SET sealed = 0 WHERE id = ?", [booked.id]),
            ("UPDATE ledger_transactions SET date = '2020-01-01' WHERE id = ?", [booked.id]),
            ("DELETE FROM ledger_transactions WHERE id = ?", [booked.id]),
        ]:
            with pytest.raises(sqlite3.IntegrityError, match="ledger: "):
                conn.execute(sql, params)
    finally:
        conn.close()
    assert store.ledger.get(booked.id) == booked


# -- bank lines are booked once -----------------------------------------------------------------
def _line(store: Store, payee: str) -> int:
    import_file(DATA / "camt053_001_02.xml", store.bank)
    (line,) = [ln for ln in store.bank.lines() if ln.payee == payee]
    assert line.id is not None
    return line.id


def test_a_bank_line_is_booked_exactly_once(store: Store) -> None:
    line = _line(store, "GitHub, Inc.")
    first, second = action(store, 1), action(store, 2)
    booked = store.ledger.record(GH, software(), source_line_id=line, action_id=first)
    assert booked.bank_line_id == line and booked.action_id == first
    # The same approval executed again (an outbox retry): the same booking, nothing new.
    assert store.ledger.record(GH, software(), source_line_id=line, action_id=first) == booked
    # Another approval for the same line: refused.
    with pytest.raises(AlreadyBooked, match=f"already booked by transaction #{booked.id}"):
        store.ledger.record(GH, software(), source_line_id=line, action_id=second)
    assert len(store.ledger.transactions()) == 1
    assert store.bank.lines(unbooked=True) and line not in [
        ln.id for ln in store.bank.lines(unbooked=True)
    ]
    # And in raw SQL the link is unique too.
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store.db.execute(
            "INSERT INTO ledger_transactions (date, bank_line_id, created_at)"
            " VALUES ('2026-03-02', ?, 'x')",
            [line],
        )


def test_a_booking_must_carry_the_lines_amount(store: Store) -> None:
    line = _line(store, "GitHub, Inc.")
    with pytest.raises(LedgerError, match="no posting carries bank line"):
        store.ledger.record(GH, software(4800), source_line_id=line, action_id=None)
    with pytest.raises(NotFound):
        store.ledger.record(GH, software(), source_line_id=99999, action_id=None)


def test_two_processes_booking_the_same_line_book_it_once(db_path: Path, store: Store) -> None:
    """Two connections (as the GUI and a CLI command would) race to book one line."""
    line = _line(store, "GitHub, Inc.")
    ids = [action(store, 1), action(store, 2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def book(action_id: int) -> None:
        other = Store(connect(db_path))
        try:
            barrier.wait()
            other.ledger.record(GH, software(), source_line_id=line, action_id=action_id)
            outcomes.append("booked")
        except AlreadyBooked:
            outcomes.append("already booked")
        finally:
            other.close()

    threads = [threading.Thread(target=book, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already booked", "booked"]
    assert len(store.ledger.transactions()) == 1


# -- reports read sealed postings ---------------------------------------------------------------
def test_balances_by_period(store: Store) -> None:
    store.ledger.record(GH, software(4900), source_line_id=None, action_id=None)
    store.ledger.record(
        Transaction(date(2026, 4, 1), "Acme", "invoice 7"),
        [Posting("Assets:Bank", 238000, "EUR"), Posting("Income:Sales", -238000, "EUR")],
        source_line_id=None,
        action_id=None,
    )
    march = store.ledger.balances(start=date(2026, 3, 1), end=date(2026, 4, 1))
    assert [(b.account, b.amount) for b in march] == [
        ("Assets:Bank", -4900), ("Expenses:Software", 4900),
    ]
    everything = store.ledger.balances()
    assert sum(b.amount for b in everything) == 0
    assert [t.payee for t in store.ledger.transactions(start=date(2026, 4, 1))] == ["Acme"]


# -- categorisation data ------------------------------------------------------------------------
def test_rules_are_stored_in_order_and_audited(store: Store) -> None:
    r1 = store.ledger.add_rule("github", "Expenses:Software")
    r2 = store.ledger.add_rule(r"^DB ", "Expenses:Travel", regex=True, position=1)
    assert [r.id for r in store.ledger.rules()] == [r2.id, r1.id]
    with pytest.raises(LedgerError, match="invalid regular expression"):
        store.ledger.add_rule("(unclosed", "Expenses:Other", regex=True)
    with pytest.raises(LedgerError, match="not in the chart"):
        store.ledger.add_rule("x", "Expenses:Yachts")
    with pytest.raises(LedgerError, match="non-empty pattern"):
        store.ledger.add_rule("  ", "Expenses:Other")
    store.ledger.remove_rule(r1.id)
    with pytest.raises(NotFound):
        store.ledger.remove_rule(r1.id)
    events = [e["event"] for e in store.audit.entries()]
    assert events.count("ledger_rule_added") == 2 and "ledger_rule_removed" in events


def test_history_and_rule_offers(store: Store, tmp_path: Path) -> None:
    """Three monthly Hetzner lines approved unedited make an offer; an edited one does not
    count; a payee a rule already covers is not offered."""
    rows = ["Date,Payee,Amount"]
    for month in (1, 2, 3, 4):
        rows.append(f"2026-0{month}-07,Hetzner Online GmbH,-89.25")
        rows.append(f"2026-0{month}-09,Slack Technologies,-8.75")
    csv_path = tmp_path / "lines.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    from solodesk.core.bank import CsvMapping

    mapping = CsvMapping(name="t", date="Date", amount="Amount", payee="Payee", currency="EUR")
    assert import_file(csv_path, store.bank, mapping=mapping, account="acc").imported == 8
    n = 0
    for line in store.bank.lines():
        assert line.id is not None
        n += 1
        hetzner = line.payee.startswith("Hetzner")
        account = "Expenses:Software" if hetzner else "Expenses:Telecom"
        edited = hetzner and line.booking_date.month == 4
        store.ledger.record(
            Transaction(line.booking_date, line.payee, ""),
            [Posting("Assets:Bank", line.amount, "EUR"), Posting(account, -line.amount, "EUR")],
            source_line_id=line.id,
            action_id=action(store, n),
            category=CategoryChoice(account, "model", edited),
        )
    history = store.ledger.history_for("HETZNER ONLINE GMBH")
    assert [(h.account, h.approvals, h.last) for h in history] == [
        ("Expenses:Software", 4, date(2026, 4, 7)),
    ]
    offers = store.ledger.rule_offers(3)
    assert [(o.payee_key, o.account, o.unedited, o.edited_elsewhere) for o in offers] == [
        ("slack technologies", "Expenses:Telecom", 4, 0),
        ("hetzner online gmbh", "Expenses:Software", 3, 1),
    ]
    assert offers[0].example_payee == "Slack Technologies"
    assert store.ledger.rule_offers(5) == []
    store.ledger.add_rule("slack", "Expenses:Telecom", field=offers[0].suggested_rule()[0])
    assert [o.payee_key for o in store.ledger.rule_offers(3)] == ["hetzner online gmbh"]


# -- register and monthly totals (the GUI's Books page) ------------------------------------------
def test_register_ids_rows_monthly_totals_and_unbooked(store: Store) -> None:
    def book(day: date, account: str, amount: int, currency: str = "EUR") -> None:
        store.ledger.record(
            Transaction(day, "P", "n"),
            [Posting(account, amount, currency), Posting("Assets:Bank", -amount, currency)],
            source_line_id=None, action_id=None,
        )

    store.ledger.add_account("Expenses:Software:Hosting")
    store.ledger.add_account("Expenses:SoftwareOld")  # a longer name is not a sub-account
    book(date(2026, 4, 30), "Income:Sales", -50_000)
    book(date(2026, 4, 2), "Expenses:Software:Hosting", 1_000)
    book(date(2026, 5, 1), "Expenses:Software", 2_000)
    book(date(2026, 5, 1), "Expenses:SoftwareOld", 3_000)
    book(date(2026, 5, 9), "Income:Sales", -700, "JPY")
    ids = store.ledger.register_ids()
    rows = store.ledger.register_rows(ids)
    assert len(rows) == 10
    assert [(r.date.isoformat(), r.transaction_id) for r in rows[::2]] == [
        ("2026-04-02", 2), ("2026-04-30", 1), ("2026-05-01", 3), ("2026-05-01", 4),
        ("2026-05-09", 5),
    ]
    software = store.ledger.register_rows(store.ledger.register_ids(account="Expenses:Software"))
    assert [(r.account, r.amount) for r in software] == [
        ("Expenses:Software:Hosting", 1_000), ("Expenses:Software", 2_000)
    ]
    may = store.ledger.register_ids(start=date(2026, 5, 1), end=date(2026, 6, 1))
    assert len(may) == 6
    assert store.ledger.register_rows(list(reversed(may[:2]))) == list(
        reversed(store.ledger.register_rows(may[:2]))
    )  # in the order asked
    assert store.ledger.register_rows([999_999]) == []
    totals = store.ledger.monthly_totals()
    assert [(t.month, t.currency, t.income, t.expenses) for t in totals] == [
        ("2026-04", "EUR", 50_000, 1_000),
        ("2026-05", "EUR", 0, 5_000),
        ("2026-05", "JPY", 700, 0),
    ]
    assert store.ledger.monthly_totals(start=date(2026, 5, 1))[0].month == "2026-05"
    assert store.bank.count_unbooked() == 0
