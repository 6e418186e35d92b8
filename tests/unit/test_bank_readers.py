"""Statement readers on real and realistic files: OFX (ofxparse's fixtures), camt.053, CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from solodesk.connectors.bank.camt import read_camt053
from solodesk.connectors.bank.csvfile import read_csv
from solodesk.connectors.bank.errors import BankFileError
from solodesk.connectors.bank.importer import detect_format, read_statement_file
from solodesk.connectors.bank.ofx import read_ofx
from solodesk.core.bank import CsvMapping

DATA = Path(__file__).resolve().parents[1] / "data" / "bank"
OFX = DATA / "ofxparse"

GIRO = CsvMapping(
    name="giro",
    date="Buchungstag",
    value_date="Wertstellung",
    amount="Betrag (EUR)",
    payee="Auftraggeber / Begünstigter",
    description=("Buchungstext", "Verwendungszweck"),
    reference="Kundenreferenz",
    balance="Saldo (EUR)",
    currency="EUR",
    date_format="%d.%m.%Y",
    decimal_separator=",",
    account="DE12120300001020304050",
)
CARD = CsvMapping(
    name="card",
    date="Date",
    debit="Debit",
    credit="Credit",
    payee="Payee",
    description=("Description",),
    reference="Reference",
    currency="USD",
)


def ofx(name: str, data: bytes | None = None) -> list:  # type: ignore[type-arg]
    path = OFX / name
    return read_ofx(path, path.read_bytes() if data is None else data)


# -- OFX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "account", "currency", "amounts", "closing"),
    [
        ("anzcc.ofx", "1234123412341234", "AUD", [-550], -12345),
        ("suncorp.ofx", "123456789", "AUD", [-1685], 123412),
        ("checking.ofx", "1452687~7", "USD", [1, -3451, -2500], 10099),
        ("bank_medium.ofx", "12300 000012345678", "CAD", [-660, -31667, -2200], 38234),
    ],
)
def test_ofx_statements_from_several_banks(
    name: str, account: str, currency: str, amounts: list[int], closing: int
) -> None:
    (stmt,) = ofx(name)
    assert (stmt.account, stmt.currency) == (account, currency)
    assert [ln.amount for ln in stmt.lines] == amounts
    assert all(type(ln.amount) is int and ln.currency == currency for ln in stmt.lines)
    assert stmt.closing is not None and stmt.closing.amount == closing
    assert stmt.opening is None and not stmt.balance_check.checked
    assert "no opening balance" in stmt.balance_check.describe()
    assert all(ln.dedup_key == f"fitid:{ln.reference}" for ln in stmt.lines)


def test_ofx_fields_dates_and_sources() -> None:
    (stmt,) = ofx("bank_medium.ofx")
    first = stmt.lines[0]
    # DTPOSTED 20090401122017.000[-5:EST]: the bank's own calendar date.
    assert first.booking_date == date(2009, 4, 1)
    assert first.payee == "MCDONALD'S #112"
    assert first.description == "POS MERCHANDISE;MCDONALD'S #112"
    assert first.reference == "0000123456782009040100001"
    assert first.source == "bank_medium.ofx line 15, transaction 1"
    (suncorp,) = ofx("suncorp.ofx")
    assert suncorp.lines[0].payee == "EFTPOS WDL HANDYWAY ALDI STORE"  # CDATA, trimmed
    (checking,) = ofx("checking.ofx")
    assert [ln.source for ln in checking.lines] == [
        "checking.ofx line 46, transaction 1",
        "checking.ofx line 54, transaction 2",
        "checking.ofx line 62, transaction 3",
    ]


def test_ofx_keeps_the_banks_date_where_a_utc_shift_would_move_it() -> None:
    data = (OFX / "suncorp.ofx").read_bytes().replace(
        b"<DTPOSTED>20131215</DTPOSTED>", b"<DTPOSTED>20131215000000[+10:AEST]</DTPOSTED>"
    )
    (stmt,) = read_ofx(OFX / "suncorp.ofx", data)
    assert stmt.lines[0].booking_date == date(2013, 12, 15)


def test_ofx_with_non_ascii_payee_in_utf8_xml() -> None:
    data = (OFX / "suncorp.ofx").read_bytes().replace(
        b"EFTPOS WDL HANDYWAY ALDI STORE  ]]>", "Café Müller Köln]]>".encode()
    ).replace(b'encoding="us-ascii"', b'encoding="UTF-8"')
    (stmt,) = read_ofx(OFX / "suncorp.ofx", data)
    assert stmt.lines[0].payee == "Café Müller Köln"


def test_ofx_with_several_accounts() -> None:
    stmts = ofx("multiple_accounts2.ofx")
    assert [(s.account, s.closing.amount if s.closing else None) for s in stmts] == [
        ("9100", 11100),
        ("9200", 22200),
    ]
    assert all(not s.lines for s in stmts)


def test_ofx_account_override() -> None:
    path = OFX / "anzcc.ofx"
    (stmt,) = read_ofx(path, path.read_bytes(), account="ANZ-card")
    assert stmt.account == "ANZ-card" and stmt.lines[0].account == "ANZ-card"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fail_nice_decimal_error.ofx",
         "line 34, transaction 1: Invalid Transaction Amount: '$120'"),
        ("fail_nice_date_missing.ofx", "line 33, transaction 1: Missing Transaction Date"),
        ("ofx-v102-empty-tags.ofx", "line 23: <CURDEF> is empty"),
        ("fidelity.ofx", "investment statements (INVSTMTRS) are not imported"),
    ],
)
def test_malformed_ofx_names_file_and_place(name: str, message: str) -> None:
    with pytest.raises(BankFileError) as err:
        ofx(name)
    assert str(err.value).startswith(str(OFX / name))
    assert message in str(err.value)


def test_ofx_sub_minor_amount_is_refused_with_its_place() -> None:
    data = (OFX / "checking.ofx").read_bytes().replace(b"<TRNAMT>-34.51", b"<TRNAMT>-34.515")
    with pytest.raises(BankFileError, match=r"line 54, transaction 2: TRNAMT: .*finer"):
        read_ofx(OFX / "checking.ofx", data)


def test_not_ofx_at_all() -> None:
    with pytest.raises(BankFileError, match="not a readable OFX file|no bank"):
        read_ofx(Path("x.ofx"), b"OFXHEADER:100\nthis is not ofx\n")


# -- camt.053 -----------------------------------------------------------------------------------
def test_camt053_001_02() -> None:
    path = DATA / "camt053_001_02.xml"
    (stmt,) = read_camt053(path, path.read_bytes())
    assert (stmt.account, stmt.currency) == ("DE89370400440532013000", "EUR")
    assert [ln.amount for ln in stmt.lines] == [-4900, 238000, -1290, -500, -30000]
    # The pending entry (Sts PDNG) is not booked and not imported.
    assert all(ln.booking_date < date(2026, 4, 1) for ln in stmt.lines)
    assert stmt.opening is not None and stmt.opening.amount == 100000  # PRCD
    assert stmt.closing is not None and stmt.closing.amount == 301310
    assert stmt.balance_check.checked and stmt.balance_check.ok
    gh, acme, db, fee, batch = stmt.lines
    assert (gh.payee, gh.description) == ("GitHub, Inc.", "GitHub Team subscription March 2026")
    assert gh.value_date == date(2026, 3, 2) and gh.dedup_key == "acctsvcrref:2026030200012345"
    assert (acme.payee, acme.description) == ("Acme Werkzeuge GmbH", "RF18INV2026007")
    assert db.description == "Kartenzahlung DB Fernverkehr Berlin Hbf KARTENZAHLUNG"
    assert (fee.payee, fee.description) == ("", "Kontofuehrungsentgelt Maerz 2026")
    assert batch.payee == "Lena Schmidt Design, Copy und Text Berlin"
    assert gh.source == "camt053_001_02.xml Document/BkToCstmrStmt/Stmt[1]/Ntry[1] (entry 1)"


def test_camt053_001_08_two_accounts_and_identical_entries() -> None:
    path = DATA / "camt053_001_08.xml"
    eur, usd = read_camt053(path, path.read_bytes())
    assert (eur.account, eur.currency, usd.account, usd.currency) == (
        "SE4550000000058398257466", "EUR", "9876543210", "USD",
    )
    assert eur.balance_check.ok and usd.balance_check.ok
    assert eur.balance_check.actual == 159315 - 50000
    coffee1, coffee2, nordlicht, hetzner = eur.lines
    assert coffee1.payee == "Café Müller" and coffee1.amount == coffee2.amount == -380
    # No AcctSvcrRef: content hash plus occurrence, so both identical entries import.
    assert coffee1.dedup_key.endswith(":1") and coffee2.dedup_key.endswith(":2")
    assert coffee1.dedup_key[:-2] == coffee2.dedup_key[:-2]
    assert nordlicht.dedup_key == "acctsvcrref:N2026040300001"  # the entry's, not the tx's
    assert hetzner.dedup_key == "acctsvcrref:N2026040700042"  # the single tx's
    assert hetzner.booking_date == date(2026, 4, 7)  # from DtTm, as written
    assert hetzner.payee == "Hetzner Online GmbH"


def test_camt_balance_mismatch_is_reported() -> None:
    path = DATA / "camt053_001_02.xml"
    data = path.read_bytes().replace(
        b'<Amt Ccy="EUR">3013.10</Amt>', b'<Amt Ccy="EUR">3013.00</Amt>'
    )
    (stmt,) = read_camt053(path, data)
    check = stmt.balance_check
    assert check.checked and not check.ok
    assert (check.expected, check.actual) == (201300, 201310)
    assert "BALANCE MISMATCH" in check.describe() and "-0.10 EUR" in check.describe()


@pytest.mark.parametrize(
    ("old", "new", "place", "reason"),
    [
        (b'<Amt Ccy="EUR">12.90</Amt>', b'<Amt Ccy="EUR">12.905</Amt>',
         "Stmt[1]/Ntry[3]/Amt", "finer than the currency's minor unit"),
        (b'<Amt Ccy="EUR">12.90</Amt>', b'<Amt Ccy="EUR">-12.90</Amt>',
         "Stmt[1]/Ntry[3]/Amt", "is not an amount"),
        (b'<Amt Ccy="EUR">49.00</Amt>\n        <CdtDbtInd>DBIT</CdtDbtInd>',
         b'<Amt Ccy="EUR">49.00</Amt>\n        <CdtDbtInd>DEBIT</CdtDbtInd>',
         "Stmt[1]/Ntry[1]/CdtDbtInd", "must be CRDT or DBIT"),
        (b'<Amt Ccy="EUR">5.00</Amt>', b'<Amt Ccy="EURO">5.00</Amt>',
         "Stmt[1]/Ntry[4]/Amt", "not ISO 4217"),
        (b"<Dt>2026-03-12</Dt>", b"<Dt>2026-02-30</Dt>",
         "Stmt[1]/Ntry[3]/BookgDt", "is not a date"),
        (b"<IBAN>DE89370400440532013000</IBAN>", b"<BIC>X</BIC>",
         "Stmt[1]/Acct/Id", "no IBAN"),
    ],
)
def test_malformed_camt_names_the_element_path(
    old: bytes, new: bytes, place: str, reason: str
) -> None:
    path = DATA / "camt053_001_02.xml"
    data = path.read_bytes()
    assert old in data
    with pytest.raises(BankFileError) as err:
        read_camt053(path, data.replace(old, new, 1))
    assert err.value.place == f"Document/BkToCstmrStmt/{place}"
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}: Document/BkToCstmrStmt/{place}: ")


def test_camt_not_well_formed_gives_line_and_column() -> None:
    path = DATA / "camt053_001_08.xml"
    data = path.read_bytes().replace(b"</AcctSvcrRef>", b"</AcctSvcrReff>", 1)
    with pytest.raises(BankFileError, match=r"line \d+, column \d+: not well-formed XML"):
        read_camt053(path, data)


def test_camt_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol2;</Document>'
    )
    with pytest.raises(BankFileError, match="refused"):
        read_camt053(Path("bomb.xml"), bomb)


def test_other_xml_is_not_camt053() -> None:
    with pytest.raises(BankFileError, match="not a camt.053 statement"):
        read_camt053(
            Path("pain.xml"),
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>',
        )


# -- CSV ----------------------------------------------------------------------------------------
def test_csv_german_bank_export() -> None:
    path = DATA / "giro_2026-05.csv"
    (stmt,) = read_csv(path, path.read_bytes(), GIRO)
    assert stmt.account == "DE12120300001020304050" and stmt.currency == "EUR"
    assert [ln.amount for ln in stmt.lines] == [-5949, 108089, -8925, -380, -380, 119000]
    adobe = stmt.lines[0]
    assert adobe.payee == "Adobe Systems Software Ireland Ltd"
    assert adobe.description == "Lastschrift Creative Cloud Mai 2026"
    assert adobe.reference == "ADB260530" and adobe.booking_date == date(2026, 5, 30)
    assert stmt.lines[3].payee == "Café Müller"  # cp1252 detected
    assert stmt.lines[5].value_date == date(2026, 5, 4)
    assert adobe.source == "giro_2026-05.csv line 7"
    # Newest first with a running balance: opening 2,000.00, closing 4,114.55.
    assert stmt.opening is not None and stmt.opening.amount == 200000
    assert stmt.closing is not None and stmt.closing.amount == 411455
    assert stmt.balance_check.checked and stmt.balance_check.ok


def test_csv_debit_credit_and_identical_rows() -> None:
    path = DATA / "card_2026-05.csv"
    (stmt,) = read_csv(path, path.read_bytes(), CARD, account="card-4242")
    assert [ln.amount for ln in stmt.lines] == [-450, -450, 150000, -1298]
    a, b = stmt.lines[:2]
    assert a.dedup_key != b.dedup_key and a.dedup_key[:-2] == b.dedup_key[:-2]
    assert stmt.lines[2].description == "Consulting, May"
    assert not stmt.balance_check.checked


def test_csv_keys_ignore_unmapped_columns_and_survive_reexport() -> None:
    path = DATA / "giro_2026-05.csv"
    data = path.read_bytes()
    (first,) = read_csv(path, data, GIRO)
    changed = data.replace(b'"IE11ZZZ0000000123"', b'"IE11ZZZ9999999999"')  # unmapped column
    (again,) = read_csv(path, changed, GIRO)
    assert [ln.dedup_key for ln in first.lines] == [ln.dedup_key for ln in again.lines]


def test_csv_needs_an_account() -> None:
    path = DATA / "card_2026-05.csv"
    with pytest.raises(BankFileError, match="pass --account"):
        read_csv(path, path.read_bytes(), CARD)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b'"05.05.2026";"05.05.2026";"Kartenzahlung"',
         b'"31.02.2026";"05.05.2026";"Kartenzahlung"',
         "line 10, column 'Buchungstag': '31.02.2026' is not a date in the format '%d.%m.%Y'"),
        (b'"-89,25"', b'"-89,255"', "line 9, column 'Betrag (EUR)': '-89,255': "),
        (b'"-89,25"', b'"zwei Euro"',
         "line 9, column 'Betrag (EUR)': 'zwei Euro' is not an amount"),
        (b'"Saldo (EUR)"', b'"Kontostand"', "no header row with the mapping 'giro'"),
    ],
)
def test_malformed_csv_names_line_and_column(old: bytes, new: bytes, message: str) -> None:
    path = DATA / "giro_2026-05.csv"
    data = path.read_bytes()
    assert old in data
    with pytest.raises(BankFileError) as err:
        read_csv(path, data.replace(old, new, 1), GIRO)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_csv_short_row() -> None:
    path = DATA / "card_2026-05.csv"
    data = path.read_bytes() + b"2026-05-07,Lunch\n"
    with pytest.raises(BankFileError, match=r"line 6: 2 fields, but the header has 6"):
        read_csv(path, data, CARD, account="card")


def test_csv_balance_mismatch_is_reported() -> None:
    path = DATA / "giro_2026-05.csv"
    data = path.read_bytes().replace(b'"1.080,89";"4.174,04"', b'"1.080,98";"4.174,04"')
    (stmt,) = read_csv(path, data, GIRO)
    assert stmt.balance_check.checked and not stmt.balance_check.ok


# -- detection ----------------------------------------------------------------------------------
def test_format_detection() -> None:
    assert detect_format((OFX / "checking.ofx").read_bytes()) == "ofx"
    assert detect_format((OFX / "anzcc.ofx").read_bytes()) == "ofx"
    assert detect_format((DATA / "camt053_001_08.xml").read_bytes()) == "camt053"
    assert detect_format((DATA / "giro_2026-05.csv").read_bytes()) == "csv"


def test_csv_without_mapping_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BankFileError, match="pass --mapping NAME"):
        read_statement_file(DATA / "card_2026-05.csv")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\n")
    with pytest.raises(BankFileError, match="the file is empty"):
        read_statement_file(empty)
    with pytest.raises(BankFileError, match="cannot read"):
        read_statement_file(tmp_path / "missing.ofx")
