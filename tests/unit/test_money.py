"""Money: integer minor units, exact parsing from files, formatting, never a float."""

from __future__ import annotations

import ast
import decimal
from decimal import Decimal
from pathlib import Path

import iso4217
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solodesk.core import money
from solodesk.core.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    Money,
    MoneyError,
    exponent,
    format_amount,
    format_money,
    parse_amount,
    to_decimal,
    to_minor,
)


def test_exponents_match_iso_4217_list_one() -> None:
    published = {c.code: c.exponent for c in iso4217.Currency if c.exponent is not None}
    shared = published.keys() & CURRENCY_EXPONENTS.keys()
    assert len(shared) >= 160
    assert {c: CURRENCY_EXPONENTS[c] for c in shared} == {c: published[c] for c in shared}
    assert (exponent("EUR"), exponent("JPY"), exponent("KWD"), exponent("CLF")) == (2, 0, 3, 4)


def test_unknown_and_non_money_codes_are_refused() -> None:
    for code in ("EURO", "eur", "XAU", "XXX", ""):
        with pytest.raises(MoneyError, match="unknown currency"):
            exponent(code)


@pytest.mark.parametrize(
    ("text", "currency", "sep", "expected"),
    [
        ("1.234,56", "EUR", None, 123456),
        ("-12.5", "EUR", None, -1250),
        ("(12.50)", "EUR", None, -1250),
        ("1 234.56", "EUR", None, 123456),
        ("1\u00a0234,56", "EUR", None, 123456),
        ("1\u202f234.56", "EUR", None, 123456),
        ("1'234.56", "CHF", None, 123456),
        ("+7", "EUR", None, 700),
        ("12,50-", "EUR", ",", -1250),
        ("\u221212.50", "EUR", None, -1250),
        ("-1,234.56 EUR", "EUR", None, -123456),
        ("EUR 3.50", "EUR", None, 350),
        ("€ -3,50", "EUR", ",", -350),
        ("$1,000.00", "USD", None, 100000),
        ("1,234", "JPY", None, 1234),
        ("1.234", "JPY", None, 1234),
        ("1,234,567", "USD", None, 123456700),
        ("1.234.567", "EUR", None, 123456700),
        ("123.456", "KWD", None, 123456),
        ("0.0001", "CLF", None, 1),
        ("12.500", "EUR", None, 1250),
        (".5", "EUR", None, 50),
        ("1.234", "EUR", ",", 123400),
        ("1,5", "EUR", ",", 150),
        ("0", "EUR", None, 0),
    ],
)
def test_parse_amount(text: str, currency: str, sep: str | None, expected: int) -> None:
    assert parse_amount(text, currency, decimal_separator=sep) == expected


@pytest.mark.parametrize(
    ("text", "currency", "sep", "message"),
    [
        ("12.505", "EUR", None, "finer than the currency's minor unit"),
        ("1.5", "JPY", None, "finer than the currency's minor unit"),
        ("0.00001", "CLF", None, "finer than the currency's minor unit"),
        ("1,234", "EUR", None, "ambiguous"),
        ("", "EUR", None, "empty amount"),
        ("abc", "EUR", None, "is not an amount"),
        ("12.50 USD", "EUR", None, "is in USD, expected EUR"),
        ("£12", "EUR", None, "is not in EUR"),
        ("--5", "EUR", None, "more than one sign"),
        ("-(5)", "EUR", None, "more than one sign"),
        ("1,23,4", "EUR", None, "grouped in threes"),
        ("1.2.3,4", "EUR", ",", "grouped in threes"),
        ("1,234.5", "EUR", ",", "after the decimal one"),
        ("1e5", "EUR", None, "is not an amount"),
        ("NaN", "EUR", None, "is not an amount"),
        ("5", "EURO", None, "unknown currency"),
    ],
)
def test_parse_amount_refuses_with_a_reason(
    text: str, currency: str, sep: str | None, message: str
) -> None:
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, currency, decimal_separator=sep)


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(TypeError, match="never from float"):
        parse_amount(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="never float"):
        to_minor(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="never float"):
        format_amount(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(1.0, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_minor(True, "EUR")


def test_to_minor_and_back_are_exact() -> None:
    assert to_minor(Decimal("12.50"), "EUR") == 1250
    assert to_minor(Decimal("1E+3"), "EUR") == 100000
    assert to_minor(Decimal("-0.001"), "KWD") == -1
    assert to_minor(7, "JPY") == 7
    with pytest.raises(MoneyError, match="finer"):
        to_minor(Decimal("0.00010"), "EUR")
    with pytest.raises(MoneyError, match="finite"):
        to_minor(Decimal("Infinity"), "EUR")
    with pytest.raises(MoneyError, match="too large"):
        to_minor(Decimal(MAX_MINOR) + 1, "JPY")
    assert to_decimal(-123456, "EUR") == Decimal("-1234.56")
    assert str(to_decimal(5, "KWD")) == "0.005"


def test_formatting() -> None:
    assert format_amount(-123456, "EUR") == "-1234.56"
    assert format_amount(5, "EUR") == "0.05"
    assert format_amount(-5, "KWD") == "-0.005"
    assert format_amount(1234567, "JPY", group_separator=",") == "1,234,567"
    assert format_amount(123456789, "EUR", decimal_separator=",", group_separator=".") == (
        "1.234.567,89"
    )
    assert format_money(-123456, "EUR") == "-1,234.56 EUR"
    assert format_money(1234, "JPY") == "1,234 JPY"
    assert str(Money(1234567, "KWD")) == "1,234.567 KWD"


currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
amounts = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)
styles = st.sampled_from(
    [(".", ""), (".", ","), (",", "."), (",", " "), (".", "'"), (",", "\u00a0")]
)


@settings(max_examples=400, deadline=None)
@given(minor=amounts, currency=currencies, style=styles)
def test_parse_format_round_trip_never_touches_float(
    minor: int, currency: str, style: tuple[str, str]
) -> None:
    """parse(format(x)) == x over random amounts, currencies and conventions, with Python's
    FloatOperation trap on: any float mixed into a Decimal on the path would raise."""
    ctx = decimal.Context(traps=[decimal.FloatOperation, decimal.InvalidOperation])
    with decimal.localcontext(ctx):
        dec, group = style
        text = format_amount(minor, currency, decimal_separator=dec, group_separator=group)
        parsed = parse_amount(text, currency, decimal_separator=dec)
        assert type(parsed) is int and parsed == minor
        shown = format_money(minor, currency)
        assert parse_amount(shown, currency) == minor
        exact = to_decimal(minor, currency)
        assert to_minor(exact, currency) == minor
        assert parse_amount(str(exact), currency, decimal_separator=".") == minor


def test_money_module_has_no_float_on_its_path() -> None:
    """No float literal, float() call or true division anywhere in core/money.py."""
    tree = ast.parse(Path(money.__file__).read_text(encoding="utf-8"))
    floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is float]
    calls = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "float"
    ]
    divisions = [
        n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)
    ]
    assert (floats, calls, divisions) == ([], [], [])
