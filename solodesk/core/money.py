"""Money as integer minor units with an ISO 4217 currency code, never floats.

An amount is an ``int`` count of the currency's minor unit (cents for EUR, yen for JPY, fils for
KWD) plus a three-letter ISO 4217 code. Text from files is parsed exactly through
:class:`decimal.Decimal`; an amount finer than the currency's minor unit is refused rather than
rounded. Floats are refused everywhere: a ``float`` argument raises :class:`TypeError`.

The minor-unit exponents are ISO 4217 List One ("CcyMnrUnts"), as published 2026-01-01 by the
maintenance agency (SIX); ``tests/unit/test_money.py`` cross-checks this table against the
``iso4217`` package's copy of that list. Codes whose minor unit is "N.A." (gold, SDR, test codes)
are not money here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

#: ISO 4217 List One (published 2026-01-01): currency code -> number of minor-unit digits.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
    "BAM": 2, "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2,
    "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2,
    "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2,
    "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2,
    "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0,
    "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
    "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
    "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2,
    "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2,
    "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2,
    "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2,
    "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2,
    "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2,
    "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0,
    "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2, "VES": 2, "VND": 0,
    "VUV": 0, "WST": 2, "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0, "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

#: The largest magnitude a stored amount may have (SQLite INTEGER is a signed 64-bit integer).
MAX_MINOR = 2**63 - 1

_SPACES = " \u00a0\u202f\u2009'\u2019"
_MINUS = "-\u2212"
_CODE = re.compile(r"^([A-Za-z]{3})\s*|\s*([A-Za-z]{3})$")
_SYMBOLS = {"€": ("EUR",), "£": ("GBP",), "¥": ("JPY", "CNY")}


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly; the message says why."""


def exponent(currency: str) -> int:
    """The number of minor-unit digits of ``currency`` (EUR 2, JPY 0, KWD 3, CLF 4).

    Raises:
        MoneyError: ``currency`` is not an ISO 4217 code with a minor unit.
    """
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise MoneyError(
            f"unknown currency {currency!r}: expected an ISO 4217 code such as EUR, USD or JPY"
        ) from None


def check_currency(currency: str) -> str:
    """``currency`` if it is a known ISO 4217 code.

    Raises:
        MoneyError: it is not.
    """
    exponent(currency)
    return currency


def to_minor(value: Decimal | int, currency: str) -> int:
    """Convert an exact decimal amount in major units to minor units of ``currency``.

    Args:
        value: A :class:`~decimal.Decimal` (or ``int``) in major units, e.g. ``Decimal("12.50")``.
        currency: ISO 4217 code.

    Returns:
        The amount in minor units, e.g. ``1250`` for 12.50 EUR.

    Raises:
        TypeError: ``value`` is a float (or another non-exact type).
        MoneyError: unknown currency, not a finite number, finer than the minor unit
            ("12.505 EUR"), or too large to store.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"amounts are Decimal or int, never {type(value).__name__}: {value!r}")
    exp = exponent(currency)
    d = Decimal(value)
    if not d.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    sign, digits, dexp = d.as_tuple()
    assert isinstance(dexp, int)
    if dexp + exp >= 0:
        scale: int = 10 ** (dexp + exp)
        minor = int("".join(map(str, digits)) or "0") * scale
    else:
        # Digits below the minor unit must all be zero.
        keep = max(len(digits) + dexp + exp, 0)
        if any(digits[keep:]):
            raise MoneyError(
                f"{d} {currency} is finer than the currency's minor unit "
                f"({exp} decimal{'s' if exp != 1 else ''}); SoloDesk never rounds money"
            )
        minor = int("".join(map(str, digits[:keep])) or "0")
    if minor > MAX_MINOR:
        raise MoneyError(f"{d} {currency} is too large to store")
    return -minor if sign else minor


def to_decimal(minor: int, currency: str) -> Decimal:
    """The exact :class:`~decimal.Decimal` in major units of ``minor`` minor units.

    Raises:
        TypeError: ``minor`` is not an ``int``.
        MoneyError: unknown currency.
    """
    _check_int(minor)
    digits = tuple(int(c) for c in str(abs(minor)))
    return Decimal((1 if minor < 0 else 0, digits, -exponent(currency)))


def parse_amount(text: str, currency: str, *, decimal_separator: str | None = None) -> int:
    """Parse an amount as written in a bank file into minor units of ``currency``.

    Accepted: an optional sign (``-``, ``+``, U+2212, or a trailing ``-`` as some banks write
    it), or parentheses for a negative amount (``(12.50)``); digit grouping with ``,``, ``.``,
    spaces (also no-break and thin spaces) or apostrophes (``1'234.56``); the currency's own
    code before or after the number (``12.50 EUR``), or its symbol (``€``, ``£``, ``¥``, ``$``
    for dollar currencies).

    With ``decimal_separator`` (``"."`` or ``","``) the other one is the grouping separator. Without
    it: when both appear the last one is the decimal separator; one that appears several times
    groups digits; a single ``.`` is decimal; a single ``,`` is decimal unless exactly three digits
    follow, which is ambiguous ("1,234") and refused, except for currencies without a minor unit
    (JPY), where it groups.

    Examples: ``"1.234,56"`` -> 123456 (EUR), ``"-12.5"`` -> -1250, ``"(12.50)"`` -> -1250,
    ``"1 234.56"`` -> 123456, ``"1,234"`` -> 1234 (JPY).

    Args:
        text: The amount as found in the file.
        currency: ISO 4217 code of the amount.
        decimal_separator: ``"."`` or ``","`` when the file's convention is known.

    Returns:
        Minor units (``int``).

    Raises:
        TypeError: ``text`` is not a ``str`` (a float is never accepted).
        MoneyError: empty, malformed, ambiguous, another currency, or finer than the minor unit.
    """
    if not isinstance(text, str):
        raise TypeError(f"amounts are parsed from text, never from {type(text).__name__}: {text!r}")
    if decimal_separator not in (None, ".", ","):
        raise MoneyError(f"decimal separator must be '.' or ',', not {decimal_separator!r}")
    exp = exponent(currency)
    original = text
    s = text.strip()
    if not s:
        raise MoneyError("empty amount")
    s = _strip_currency(s, currency, original)
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    elif s[:1] in _MINUS:
        negative, s = True, s[1:].lstrip()
    elif s[:1] == "+":
        s = s[1:].lstrip()
    elif s[-1:] in _MINUS:
        negative, s = True, s[:-1].rstrip()
    s = _strip_currency(s, currency, original)
    if s and (s[0] in _MINUS + "+(" or s[-1] in _MINUS + ")"):
        raise MoneyError(f"amount {original!r} has more than one sign")
    for ch in _SPACES:
        s = s.replace(ch, "")
    if not s or not re.fullmatch(r"[0-9.,]+", s) or not re.search(r"[0-9]", s):
        raise MoneyError(f"{original!r} is not an amount")
    number = _normalise(s, exp, decimal_separator, original)
    try:
        d = Decimal(number)
    except InvalidOperation:  # pragma: no cover - _normalise only returns digits and one dot
        raise MoneyError(f"{original!r} is not an amount") from None
    try:
        minor = to_minor(d, currency)
    except MoneyError as exc:
        hint = ""
        if decimal_separator is None and re.fullmatch(r"[0-9]*\.[0-9]{3}", s):
            hint = " (if '.' groups thousands here, set the decimal separator to ',')"
        raise MoneyError(f"{original!r}: {exc}{hint}") from None
    return -minor if negative else minor


def _strip_currency(s: str, currency: str, original: str) -> str:
    for symbol, codes in _SYMBOLS.items():
        if symbol in s:
            if currency not in codes:
                raise MoneyError(f"amount {original!r} is not in {currency}")
            s = s.replace(symbol, "").strip()
    if "$" in s:
        if not currency.endswith("D"):
            raise MoneyError(f"amount {original!r} is not in {currency}")
        s = s.replace("$", "").strip()
    m = _CODE.search(s) if re.search(r"[0-9]", s) else None
    if m:
        code = (m.group(1) or m.group(2)).upper()
        if code != currency:
            raise MoneyError(f"amount {original!r} is in {code}, expected {currency}")
        s = (s[: m.start()] + s[m.end() :]).strip()
    return s


def _normalise(s: str, exp: int, decimal_separator: str | None, original: str) -> str:
    """Digits with at most one ``.`` as decimal point; grouping validated (groups of three)."""
    if decimal_separator is None:
        if "." in s and "," in s:
            decimal_separator = "." if s.rfind(".") > s.rfind(",") else ","
        elif s.count(".") > 1:
            decimal_separator = ","
        elif s.count(",") > 1:
            decimal_separator = "."
        elif "," in s:
            after = s.split(",")[1]
            if len(after) == 3 and exp != 0:
                raise MoneyError(
                    f"ambiguous amount {original!r}: is ',' the decimal or the thousands "
                    "separator? Set the decimal separator"
                )
            decimal_separator = "." if len(after) == 3 else ","
        elif "." in s and exp == 0 and len(s.split(".")[1]) == 3:
            decimal_separator = ","
        else:
            decimal_separator = "."
    group = "," if decimal_separator == "." else "."
    if s.count(decimal_separator) > 1:
        raise MoneyError(f"{original!r} has more than one decimal separator {decimal_separator!r}")
    whole, _, frac = s.partition(decimal_separator)
    if group in frac:
        raise MoneyError(f"{original!r}: grouping separator {group!r} after the decimal one")
    if group in whole:
        parts = whole.split(group)
        if not (1 <= len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:])):
            raise MoneyError(f"{original!r}: digits are not grouped in threes")
        whole = "".join(parts)
    if not whole and not frac:
        raise MoneyError(f"{original!r} is not an amount")
    return f"{whole or '0'}.{frac or '0'}"


def format_amount(
    minor: int, currency: str, *, decimal_separator: str = ".", group_separator: str = ""
) -> str:
    """Minor units as a plain decimal string in major units, e.g. ``-123456`` EUR -> ``-1234.56``.

    Args:
        minor: Amount in minor units.
        currency: ISO 4217 code (decides the number of decimals).
        decimal_separator: ``"."`` or ``","``.
        group_separator: Thousands separator (``""`` for none, ``","``, ``"."``, ``" "``, ``"'"``).

    Raises:
        TypeError: ``minor`` is not an ``int``.
        MoneyError: unknown currency.
    """
    _check_int(minor)
    exp = exponent(currency)
    digits = str(abs(minor)).rjust(exp + 1, "0")
    whole, frac = (digits[:-exp], digits[-exp:]) if exp else (digits, "")
    if group_separator:
        head = len(whole) % 3 or 3
        whole = group_separator.join(
            [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
        )
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}{decimal_separator}{frac}" if exp else f"{sign}{whole}"


def format_money(minor: int, currency: str) -> str:
    """An amount for display: grouped, with its code, e.g. ``-1,234.56 EUR``, ``1,234 JPY``.

    :func:`parse_amount` reads it back exactly.
    """
    return f"{format_amount(minor, currency, group_separator=',')} {currency}"


def _check_int(minor: int) -> None:
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units are int, never {type(minor).__name__}: {minor!r}")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount: ``minor`` units of ``currency`` (ISO 4217)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        _check_int(self.minor)
        check_currency(self.currency)

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)
