"""Payment identifiers checked with ISO 7064 MOD 97-10: IBANs and structured creditor references.

* IBAN, ISO 13616-1: two-letter country code, two check digits, up to 30 alphanumerics
  (the BBAN). Valid when the rearranged number is 1 modulo 97.
* Structured creditor reference ("RF reference"), ISO 11649: ``RF``, two check digits and 1 to 21
  alphanumerics chosen by the creditor. Same check as the IBAN. Printed in groups of four
  (``RF18 5390 0754 7034``); spaces are not part of the reference.

Pure functions; nothing here knows about invoices except that an invoice number can be turned
into a reference (:func:`creditor_reference`).
"""

from __future__ import annotations

import re

_ALNUM = re.compile(r"^[0-9A-Z]+$")
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}$")
_BIC_SHAPE = re.compile(r"^[A-Z]{4}[A-Z]{2}[0-9A-Z]{2}([0-9A-Z]{3})?$")
MAX_RF_BODY = 21


def compact(text: str) -> str:
    """``text`` upper-cased without spaces (also no-break and thin spaces) or dashes."""
    return re.sub(r"[\s\-\u00a0\u202f\u2009]", "", text).upper()


def _mod97(alnum: str) -> int:
    """ISO 7064 MOD 97-10 of an upper-case alphanumeric string (letters A=10 ... Z=35)."""
    digits = "".join(str(int(c, 36)) for c in alnum)
    return int(digits) % 97


def iban_error(iban: str) -> str | None:
    """Why ``iban`` is not a valid IBAN (ISO 13616), or ``None`` when it is.

    Spaces are allowed (``DE89 3704 0044 0532 0130 00``); the check is on the compact form.
    """
    value = compact(iban)
    if not _IBAN_SHAPE.match(value):
        return (
            f"{iban!r} is not an IBAN: expected a country code, two check digits and the "
            "account number, e.g. DE89 3704 0044 0532 0130 00"
        )
    if _mod97(value[4:] + value[:4]) != 1:
        return f"{iban!r} is not a valid IBAN: its check digits do not match (a typo?)"
    return None


def bic_error(bic: str) -> str | None:
    """Why ``bic`` is not a BIC (ISO 9362: 8 or 11 characters), or ``None``."""
    if not _BIC_SHAPE.match(compact(bic)):
        return f"{bic!r} is not a BIC: expected 8 or 11 characters, e.g. COBADEFFXXX"
    return None


def creditor_reference(base: str) -> str:
    """The ISO 11649 structured creditor reference for ``base``.

    Args:
        base: The creditor's own reference, e.g. an invoice number ``"2026-0001"``; spaces and
            dashes are dropped, letters upper-cased; 1 to 21 alphanumerics must remain.

    Returns:
        The reference in its compact electronic form, e.g. ``"RF4520260001"``.

    Raises:
        ValueError: ``base`` has other characters, or is empty or too long once compacted.
    """
    body = compact(base)
    if not body or len(body) > MAX_RF_BODY or not _ALNUM.match(body):
        raise ValueError(
            f"{base!r} cannot become a creditor reference: 1 to {MAX_RF_BODY} letters or "
            "digits are needed"
        )
    check = 98 - _mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def is_creditor_reference(text: str) -> bool:
    """Whether ``text`` (spaces allowed) is a valid ISO 11649 reference with correct check
    digits."""
    value = compact(text)
    if not re.fullmatch(r"RF[0-9]{2}[0-9A-Z]{1,21}", value):
        return False
    return _mod97(value[4:] + value[:4]) == 1


def format_creditor_reference(reference: str) -> str:
    """The printed form: groups of four, e.g. ``RF45 2026 0001``."""
    value = compact(reference)
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def find_creditor_references(text: str) -> list[str]:
    """Every valid ISO 11649 reference written in ``text``, compact, in order of appearance.

    A reference may be printed with spaces between its groups. Since the words after it may be
    glued on when spaces are ignored, each candidate is tried from its longest to its shortest
    length and the longest one whose check digits are right is taken; a reference with wrong
    check digits (a typo) is not returned.
    """
    found: list[str] = []
    upper = text.upper()
    for m in re.finditer(r"(?<![0-9A-Z])RF\s?[0-9]\s?[0-9]", upper):
        chars: list[str] = []
        pos = m.end()
        while pos < len(upper) and len(chars) < MAX_RF_BODY:
            ch = upper[pos]
            if ch.isascii() and ch.isalnum():
                chars.append(ch)
            elif ch != " ":
                break
            pos += 1
        head = compact(m.group(0))
        for n in range(len(chars), 0, -1):
            candidate = head + "".join(chars[:n])
            if is_creditor_reference(candidate):
                found.append(candidate)
                break
    return found
