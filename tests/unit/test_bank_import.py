"""Importing statement files into the store (a real SQLite file): one transaction per file,
duplicates skipped."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.connectors.bank.importer import import_file, import_files
from solodesk.core.bank import CsvMapping
from solodesk.store.db import connect
from solodesk.store.repos import Store
from tests.unit.test_bank_readers import CARD, GIRO

DATA = Path(__file__).resolve().parents[1] / "data" / "bank"
OFX = DATA / "ofxparse"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    yield s
    s.close()


def test_each_fixture_imports_and_reimport_adds_nothing(store: Store) -> None:
    files: list[tuple[Path, CsvMapping | None, str | None, int]] = [
        (OFX / "anzcc.ofx", None, None, 1),
        (OFX / "suncorp.ofx", None, None, 1),
        (OFX / "checking.ofx", None, None, 3),
        (OFX / "bank_medium.ofx", None, None, 3),
        (OFX / "multiple_accounts2.ofx", None, None, 0),
        (DATA / "camt053_001_02.xml", None, None, 5),
        (DATA / "camt053_001_08.xml", None, None, 6),
        (DATA / "giro_2026-05.csv", GIRO, None, 6),
        (DATA / "card_2026-05.csv", CARD, "card-4242", 4),
    ]
    total = 0
    for path, mapping, account, expected in files:
        first = import_file(path, store.bank, mapping=mapping, account=account)
        assert first.error is None, first.error
        assert (first.imported, first.duplicates) == (expected, 0), path.name
        assert first.mismatches == []
        total += expected
        again = import_file(path, store.bank, mapping=mapping, account=account)
        assert (again.imported, again.duplicates) == (0, expected), path.name
    assert store.bank.count() == total == 29
    # Amounts are stored as SQLite integers, never reals.
    types = {r[0] for r in store.db.execute("SELECT DISTINCT typeof(amount) FROM bank_lines")}
    assert types == {"integer"}
    audit = [e for e in store.audit.entries() if e["event"] == "bank_statement_imported"]
    assert len(audit) == 18 and store.audit.verify() == []


def test_the_two_identical_rows_import_once_each(store: Store) -> None:
    out = import_file(DATA / "card_2026-05.csv", store.bank, mapping=CARD, account="card")
    assert out.imported == 4
    coffee = [ln for ln in store.bank.lines() if ln.payee == "Blue Bottle Coffee"]
    assert len(coffee) == 2


def test_an_overlapping_export_adds_only_new_lines(store: Store, tmp_path: Path) -> None:
    import_file(DATA / "card_2026-05.csv", store.bank, mapping=CARD, account="card")
    later = tmp_path / "card_later.csv"
    later.write_text(
        (DATA / "card_2026-05.csv").read_text()
        + "2026-05-09,Printer paper,Office Depot,23.10,,\n",
        newline="",
    )
    out = import_file(later, store.bank, mapping=CARD, account="card")
    assert (out.imported, out.duplicates) == (1, 4)


def test_a_malformed_file_imports_nothing_and_the_others_still_import(
    store: Store, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.xml"
    # Entries 1-2 are fine, entry 3 is not: nothing of the file may be stored.
    bad.write_bytes(
        (DATA / "camt053_001_02.xml").read_bytes().replace(
            b'<Amt Ccy="EUR">12.90</Amt>', b'<Amt Ccy="EUR">12.9O</Amt>'
        )
    )
    outcomes = import_files(
        [OFX / "checking.ofx", bad, OFX / "fail_nice_decimal_error.ofx", OFX / "anzcc.ofx"],
        store.bank,
    )
    assert [(o.imported, o.error is None) for o in outcomes] == [
        (3, True), (0, False), (0, False), (1, True),
    ]
    assert outcomes[1].error == (
        f"{bad}: Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt: '12.9O' is not an amount"
    )
    assert outcomes[2].error is not None and "line 34, transaction 1" in outcomes[2].error
    assert store.bank.count() == 4
    assert {i["file"] for i in store.bank.imports()} == {
        str(OFX / "checking.ofx"), str(OFX / "anzcc.ofx"),
    }


def test_a_database_refusal_mid_file_rolls_the_whole_file_back(
    store: Store, tmp_path: Path
) -> None:
    """The last line of the file is refused by the database: the earlier ones must not stay."""
    store.db.execute(
        "CREATE TRIGGER refuse_fee BEFORE INSERT ON bank_lines WHEN NEW.amount = -500"
        " BEGIN SELECT RAISE(ABORT, 'test: refused'); END"
    )
    out = import_file(DATA / "camt053_001_02.xml", store.bank)
    assert out.error is not None and "the database refused the file" in out.error
    assert store.bank.count() == 0
    assert store.bank.imports() == []


def test_balance_mismatch_is_reported_and_recorded(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mismatch.xml"
    path.write_bytes(
        (DATA / "camt053_001_02.xml").read_bytes().replace(
            b'<Amt Ccy="EUR">3013.10</Amt>', b'<Amt Ccy="EUR">3013.00</Amt>'
        )
    )
    out = import_file(path, store.bank)
    assert out.imported == 5
    assert len(out.mismatches) == 1 and "BALANCE MISMATCH" in out.mismatches[0]
    (record,) = store.bank.imports()
    assert "BALANCE MISMATCH" in record["balance_note"]


def test_bank_lines_are_never_changed(store: Store) -> None:
    import_file(OFX / "anzcc.ofx", store.bank)
    with pytest.raises(sqlite3.IntegrityError, match="never changed"):
        store.db.execute("UPDATE bank_lines SET amount = 1")


def test_lines_query(store: Store, tmp_path: Path) -> None:
    import_file(DATA / "camt053_001_08.xml", store.bank)
    from datetime import date

    april = store.bank.lines(start=date(2026, 4, 3), end=date(2026, 4, 8))
    assert [ln.payee for ln in april] == ["Nordlicht AB", "Amazon Web Services EMEA SARL",
                                          "Hetzner Online GmbH"]
    assert [ln.account for ln in store.bank.lines(account="9876543210")] == ["9876543210"] * 2
    assert len(store.bank.lines(unbooked=True)) == 6
    one = store.bank.line(april[0].id or 0)
    assert one == april[0]


def test_import_of_a_copy_under_another_name_adds_nothing(store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "renamed.qfx"
    shutil.copy(OFX / "checking.ofx", copy)
    import_file(OFX / "checking.ofx", store.bank)
    assert (import_file(copy, store.bank).duplicates) == 3


def test_csv_mappings_are_saved_per_bank(store: Store) -> None:
    store.bank.save_mapping(GIRO)
    store.bank.save_mapping(CARD)
    assert [m.name for m in store.bank.mappings()] == ["card", "giro"]
    assert store.bank.mapping("giro") == GIRO
    from solodesk.store.bank import MappingError
    from solodesk.store.repos import NotFound

    with pytest.raises(MappingError, match="exists"):
        store.bank.save_mapping(GIRO)
    store.bank.save_mapping(GIRO.model_copy(update={"account": "DE00"}), replace=True)
    assert store.bank.mapping("giro").account == "DE00"
    store.bank.remove_mapping("card")
    with pytest.raises(NotFound, match="saved: giro"):
        store.bank.mapping("card")
    with pytest.raises(NotFound):
        store.bank.remove_mapping("card")
