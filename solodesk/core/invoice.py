"""Invoices after EN 16931-1 (the European e-invoice semantic model): drafts, totals, validation.

A draft (:class:`InvoiceDraft`) is what a ``create_invoice`` proposal carries: seller, customer,
lines, currency, dates, payment terms. It becomes an issued invoice when the store gives it the
next number of a gapless per-year sequence (:mod:`solodesk.store.invoices`).

Amounts are integer minor units of the invoice currency (:mod:`solodesk.core.money`), quantities
and VAT rates exact :class:`~decimal.Decimal` values (written as strings in JSON), never floats.

**Rounding.** EN 16931 fixes *where* amounts are rounded to two decimals (BR-DEC-*), not the
rounding method; its rules then check the totals exactly:

* invoice line net amount (BT-131) = quantity (BT-129) x net price (BT-146), rounded to the
  minor unit of the currency;
* VAT category taxable amount (BT-116) = sum of the line net amounts of that category and rate
  (BR-S-08 and friends: no rounding, it is a sum of rounded amounts);
* VAT category tax amount (BT-117) = BT-116 x rate / 100, rounded to the minor unit (BR-S-09
  etc.); invoice VAT total (BT-110) = sum of BT-117 (BR-CO-14);
* sum of line nets (BT-106) = sum of BT-131 (BR-CO-10); total without VAT (BT-109) = BT-106
  (no document allowances or charges); total with VAT (BT-112) = BT-109 + BT-110 (BR-CO-15);
  amount due (BT-115) = BT-112 (no prepaid amount).

The method is "half up" (a half rounds away from zero, :data:`decimal.ROUND_HALF_UP`): it is
the commercial rounding tax offices apply to VAT (e.g. Germany's UStAE 14.4, the VAT Directive's
national rules), and the one the EN 16931 schematron's XPath ``round()`` uses to check BT-117.
Banker's rounding (half even) would disagree with both on every exact half cent. VAT is
computed per category and rate on the sum of the line nets, never per line, so that a
100-line invoice carries no accumulated per-line rounding error.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from solodesk.core.mail import check_address
from solodesk.core.money import MoneyError, exponent, format_money
from solodesk.core.references import bic_error, creditor_reference, iban_error


class InvoiceError(ValueError):
    """An invoice that cannot be issued or stored; the message says why."""


class InvoiceType(enum.StrEnum):
    """Invoice type code (BT-3, UNTDID 1001) of the documents SoloDesk issues."""

    INVOICE = "380"
    CREDIT_NOTE = "381"


class VatCategory(enum.StrEnum):
    """VAT category code (BT-151/BT-118, UNTDID 5305 as restricted by EN 16931)."""

    STANDARD = "S"
    ZERO_RATED = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_COMMUNITY = "K"
    EXPORT = "G"
    NOT_SUBJECT = "O"


#: What each category means, for the PDF and the CLI.
CATEGORY_NAMES: dict[VatCategory, str] = {
    VatCategory.STANDARD: "standard rate",
    VatCategory.ZERO_RATED: "zero rated",
    VatCategory.EXEMPT: "exempt from VAT",
    VatCategory.REVERSE_CHARGE: "reverse charge",
    VatCategory.INTRA_COMMUNITY: "intra-Community supply",
    VatCategory.EXPORT: "export outside the EU",
    VatCategory.NOT_SUBJECT: "not subject to VAT",
}

#: Exemption reason text (BT-120) used when the draft gives none. ``E`` has no default: the
#: legal basis of an exemption must be named (VAT Directive art. 226(11)).
DEFAULT_EXEMPTION_REASONS: dict[VatCategory, str] = {
    VatCategory.REVERSE_CHARGE: "Reverse charge",
    VatCategory.INTRA_COMMUNITY: "Intra-Community supply",
    VatCategory.EXPORT: "Export outside the EU",
    VatCategory.NOT_SUBJECT: "Not subject to VAT",
}

#: Exemption reason codes (BT-121, CEF VATEX list) per category.
EXEMPTION_CODES: dict[VatCategory, str] = {
    VatCategory.REVERSE_CHARGE: "VATEX-EU-AE",
    VatCategory.INTRA_COMMUNITY: "VATEX-EU-IC",
    VatCategory.EXPORT: "VATEX-EU-G",
    VatCategory.NOT_SUBJECT: "VATEX-EU-O",
}

#: Categories that carry no VAT (rate 0; ``O`` carries no rate at all).
ZERO_CATEGORIES = frozenset(VatCategory) - {VatCategory.STANDARD}

#: ISO 3166-1 alpha-2 country codes (EN 16931 BR-CL-14).
COUNTRY_CODES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW XI""".split()
)

#: Units of measure (UN/ECE Recommendation 20) offered by the CLI; any 2-3 character code passes.
UNIT_CODES: dict[str, str] = {
    "C62": "unit", "H87": "piece", "HUR": "hour", "DAY": "day", "MON": "month", "ANN": "year",
    "MIN": "minute", "KGM": "kg", "MTR": "m", "LTR": "l", "KWH": "kWh", "LS": "lump sum",
}

MAX_QUANTITY_DECIMALS = 4
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(
            f"{value!r} is a float: write quantities and rates as exact strings, e.g. '1.5'"
        )
    return value


class PostalAddress(BaseModel):
    """A postal address (BG-5 seller, BG-8 buyer). ``country`` is ISO 3166-1 alpha-2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line1: str = ""
    line2: str = ""
    postcode: str = ""
    city: str = ""
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. DE")

    def lines(self) -> list[str]:
        """The address as printed, line by line."""
        town = " ".join(p for p in (self.postcode, self.city) if p)
        return [p for p in (self.line1, self.line2, town, self.country) if p]


class Customer(BaseModel):
    """The buyer (BG-7): name, postal address, VAT identifier (BT-48), e-mail (BT-49)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    address: PostalAddress
    vat_id: str = ""
    email: str = ""


class Seller(BaseModel):
    """The seller (BG-4): the founder's company, from the ``company.*`` settings for now.

    ``vat_id`` is BT-31, ``tax_id`` the tax registration number (BT-32), ``iban``/``bic`` the
    payment account (BT-84/BT-86), ``email`` the electronic address (BT-34).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    address: PostalAddress
    vat_id: str = ""
    tax_id: str = ""
    legal_id: str = ""
    iban: str = ""
    bic: str = ""
    email: str = ""


class InvoiceLine(BaseModel):
    """One invoice line (BG-25).

    Attributes:
        description: Item name (BT-153).
        quantity: Invoiced quantity (BT-129), exact, at most 4 decimals; may be negative (a
            return) but not zero.
        unit_price: Net price per unit (BT-146) in minor units of the invoice currency, >= 0
            (BR-27).
        vat_rate: VAT rate in percent (BT-152), e.g. ``Decimal("19")``; 0 for every category
            but ``S``.
        vat_category: VAT category code (BT-151).
        unit: Unit of measure (BT-130, UN/ECE Rec. 20), default ``C62`` (one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    quantity: Decimal
    unit_price: int
    vat_rate: Decimal = Decimal("0")
    vat_category: VatCategory = VatCategory.STANDARD
    unit: str = "C62"

    _exact = field_validator("quantity", "vat_rate", mode="before")(_no_float)

    @field_validator("unit_price", mode="before")
    @classmethod
    def _minor_units(cls, value: Any) -> Any:
        if isinstance(value, float | Decimal | str) or isinstance(value, bool):
            raise ValueError(f"unit_price is an int in minor units (cents), not {value!r}")
        return value


class InvoiceDraft(BaseModel):
    """An invoice (type 380) or credit note (type 381) before it has a number.

    Attributes:
        type_code: 380 invoice or 381 credit note (BT-3).
        seller: The founder's company (BG-4).
        customer: The buyer (BG-7).
        lines: At least one line (BG-25).
        currency: ISO 4217 code (BT-5) with at most 2 decimals (EN 16931 amounts have 2).
        issue_date: Invoice date (BT-2).
        due_date: Payment due date (BT-9); required for invoices.
        delivery_date: Actual delivery date (BT-72); required for intra-Community supplies (K).
        payment_terms: Payment terms text (BT-20).
        buyer_reference: The buyer's reference (BT-10), e.g. their purchase order or cost
            centre; payments quoting it are matched to the invoice.
        preceding_invoice: For a credit note: the number of the invoice it cancels (BT-25).
        preceding_invoice_date: That invoice's date (BT-26).
        note: Free text printed on the invoice (BT-22).
        exemption_reasons: Exemption reason text (BT-120) per VAT category, overriding
            :data:`DEFAULT_EXEMPTION_REASONS`; required for category ``E``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_code: InvoiceType = InvoiceType.INVOICE
    seller: Seller
    customer: Customer
    lines: list[InvoiceLine]
    currency: str = "EUR"
    issue_date: date
    due_date: date | None = None
    delivery_date: date | None = None
    payment_terms: str = ""
    buyer_reference: str = ""
    preceding_invoice: str = ""
    preceding_invoice_date: date | None = None
    note: str = ""
    exemption_reasons: dict[VatCategory, str] = Field(default_factory=dict)

    def exemption_reason(self, category: VatCategory) -> str:
        """The exemption reason text for ``category`` (``""`` for ``S`` and ``Z``)."""
        return self.exemption_reasons.get(category) or DEFAULT_EXEMPTION_REASONS.get(
            category, ""
        )

    @property
    def is_credit_note(self) -> bool:
        """Whether this is a credit note (type 381)."""
        return self.type_code is InvoiceType.CREDIT_NOTE


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """One VAT breakdown (BG-23): a category and rate with its taxable and tax amounts.

    Attributes:
        category: VAT category code (BT-118).
        rate: VAT rate in percent (BT-119); 0 for the zero categories.
        taxable: Taxable amount (BT-116), minor units.
        tax: Tax amount (BT-117), minor units.
        exemption_reason: BT-120 text, ``""`` for S and Z.
        exemption_code: BT-121 VATEX code, ``""`` when none applies.
    """

    category: VatCategory
    rate: Decimal
    taxable: int
    tax: int
    exemption_reason: str = ""
    exemption_code: str = ""


@dataclass(frozen=True, slots=True)
class Totals:
    """The document totals (BG-22), all in minor units of the invoice currency.

    Attributes:
        line_nets: Each line's net amount (BT-131), in line order.
        line_total: Sum of line net amounts (BT-106).
        tax_basis_total: Invoice total without VAT (BT-109).
        tax_total: Invoice total VAT amount (BT-110).
        grand_total: Invoice total with VAT (BT-112).
        due_payable: Amount due for payment (BT-115).
        breakdown: VAT breakdown per category and rate (BG-23), sorted by category then rate.
    """

    line_nets: tuple[int, ...]
    line_total: int
    tax_basis_total: int
    tax_total: int
    grand_total: int
    due_payable: int
    breakdown: tuple[VatBreakdown, ...]


def round_half_up(value: Decimal) -> int:
    """``value`` rounded to an integer, a half away from zero (commercial rounding)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def line_net(line: InvoiceLine) -> int:
    """BT-131 of ``line``: quantity x unit price, rounded half up to the minor unit."""
    return round_half_up(line.quantity * line.unit_price)


def compute_totals(draft: InvoiceDraft) -> Totals:
    """The totals of ``draft`` per EN 16931 (see the module docstring for the rounding rules).

    Raises:
        decimal.InvalidOperation: a quantity or rate is not finite (use :func:`validate_draft`
            first to get an error naming the field).
    """
    nets = tuple(line_net(ln) for ln in draft.lines)
    groups: dict[tuple[VatCategory, Decimal], int] = defaultdict(int)
    for ln, net in zip(draft.lines, nets, strict=True):
        rate = ln.vat_rate if ln.vat_category is VatCategory.STANDARD else Decimal(0)
        groups[(ln.vat_category, rate.normalize())] += net
    order = list(VatCategory)
    breakdown = tuple(
        VatBreakdown(
            category=cat,
            rate=rate,
            taxable=taxable,
            tax=round_half_up(taxable * rate / 100) if cat is VatCategory.STANDARD else 0,
            exemption_reason=draft.exemption_reason(cat),
            exemption_code=EXEMPTION_CODES.get(cat, ""),
        )
        for (cat, rate), taxable in sorted(groups.items(), key=lambda kv: (order.index(
            kv[0][0]), kv[0][1]))
    )
    line_total = sum(nets)
    tax_total = sum(b.tax for b in breakdown)
    grand = line_total + tax_total
    return Totals(nets, line_total, line_total, tax_total, grand, grand, breakdown)


def _bad_text(value: str, *, one_line: bool) -> str | None:
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        return "contains control characters"
    if one_line and "\n" in value:
        return "must be one line"
    return None


def _check_address(errors: list[str], where: str, address: PostalAddress) -> None:
    if address.country not in COUNTRY_CODES:
        errors.append(
            f"{where}.country: {address.country!r} is not an ISO 3166-1 alpha-2 country code "
            "(e.g. DE, FR, GB)"
        )
    for name in ("line1", "line2", "postcode", "city"):
        problem = _bad_text(getattr(address, name), one_line=True)
        if problem:
            errors.append(f"{where}.{name}: {problem}")


def _check_vat_id(errors: list[str], where: str, vat_id: str) -> None:
    if vat_id and not _VAT_ID.match(vat_id):
        errors.append(
            f"{where}: {vat_id!r} is not a VAT identifier: it starts with the country prefix "
            "and has no spaces, e.g. DE123456789 (EN 16931 BR-CO-9)"
        )
    elif vat_id and vat_id[:2] not in COUNTRY_CODES | {"EL"}:
        errors.append(f"{where}: {vat_id!r} does not start with a country prefix (BR-CO-9)")


def validate_draft(draft: InvoiceDraft) -> list[str]:
    """Everything that stops ``draft`` from being issued as an EN 16931 invoice.

    Checks the fields the norm requires, the VAT category rules (BR-S/Z/E/AE/IC/G/O-*), the
    payment account, the dates, and that the amounts fit the currency.

    Returns:
        One-line errors, each starting with the field path (``customer.address.country``,
        ``lines[2].vat_rate``); empty when the draft may be issued.
    """
    errors: list[str] = []
    s, c = draft.seller, draft.customer
    # Parties (BR-6, BR-7, BR-8, BR-9, BR-10, BR-11).
    for where, party_name in (("seller.name", s.name), ("customer.name", c.name)):
        if not party_name.strip():
            hint = " (set it with 'solodesk config set company.name ...')" if where.startswith(
                "seller") else ""
            errors.append(f"{where}: required{hint}")
        elif _bad_text(party_name, one_line=True):
            errors.append(f"{where}: {_bad_text(party_name, one_line=True)}")
    _check_address(errors, "seller.address", s.address)
    _check_address(errors, "customer.address", c.address)
    _check_vat_id(errors, "seller.vat_id", s.vat_id)
    _check_vat_id(errors, "customer.vat_id", c.vat_id)
    for where, email in (("seller.email", s.email), ("customer.email", c.email)):
        if email:
            reason = check_address(email)
            if reason:
                errors.append(f"{where}: {reason}")
    # Payment account (BR-50, BR-61): a SoloDesk invoice is paid by credit transfer.
    if not s.iban:
        if not draft.is_credit_note:
            errors.append(
                "seller.iban: required so the customer can pay by bank transfer (set it with "
                "'solodesk config set company.iban ...')"
            )
    else:
        problem = iban_error(s.iban)
        if problem:
            errors.append(f"seller.iban: {problem}")
    if s.bic and bic_error(s.bic):
        errors.append(f"seller.bic: {bic_error(s.bic)}")
    # Currency (BR-5; BR-DEC-*: amounts have at most two decimals).
    try:
        if exponent(draft.currency) > 2:
            errors.append(
                f"currency: {draft.currency} has {exponent(draft.currency)} decimals; EN 16931 "
                "amounts have at most 2"
            )
    except MoneyError as exc:
        errors.append(f"currency: {exc}")
    # Dates (BR-CO-25: a due date or payment terms when an amount is due).
    if not draft.is_credit_note and draft.due_date is None:
        errors.append("due_date: required (when the customer must have paid)")
    if draft.due_date is not None and draft.due_date < draft.issue_date:
        errors.append(
            f"due_date: {draft.due_date} is before the issue date {draft.issue_date}"
        )
    for name in ("payment_terms", "note"):
        problem = _bad_text(getattr(draft, name), one_line=False)
        if problem:
            errors.append(f"{name}: {problem}")
    if _bad_text(draft.buyer_reference, one_line=True):
        errors.append(f"buyer_reference: {_bad_text(draft.buyer_reference, one_line=True)}")
    # Credit notes cancel an invoice (BG-3).
    if draft.is_credit_note and not draft.preceding_invoice.strip():
        errors.append("preceding_invoice: a credit note names the invoice it cancels")
    if not draft.is_credit_note and draft.preceding_invoice:
        errors.append("preceding_invoice: only a credit note (type 381) refers to an invoice")
    # Lines (BR-16, BR-22, BR-25, BR-26, BR-27).
    if not draft.lines:
        errors.append("lines: at least one line is required")
    categories = set()
    for i, ln in enumerate(draft.lines, start=1):
        where = f"lines[{i}]"
        categories.add(ln.vat_category)
        if not ln.description.strip():
            errors.append(f"{where}.description: required (what is billed)")
        elif _bad_text(ln.description, one_line=False):
            errors.append(f"{where}.description: {_bad_text(ln.description, one_line=False)}")
        q = ln.quantity
        if not q.is_finite():
            errors.append(f"{where}.quantity: {q} is not a number")
        elif q == 0:
            errors.append(f"{where}.quantity: 0 bills nothing; remove the line")
        elif -int(q.normalize().as_tuple().exponent) > MAX_QUANTITY_DECIMALS:
            errors.append(
                f"{where}.quantity: {q} has more than {MAX_QUANTITY_DECIMALS} decimals"
            )
        if ln.unit_price < 0:
            errors.append(
                f"{where}.unit_price: must not be negative (BR-27); bill a negative quantity "
                "or issue a credit note"
            )
        r = ln.vat_rate
        if not r.is_finite() or r < 0 or r >= 100:
            errors.append(f"{where}.vat_rate: {r} is not a VAT rate in percent (0 to 100)")
        elif ln.vat_category is VatCategory.STANDARD and r == 0:
            errors.append(
                f"{where}.vat_rate: category S (standard rate) needs a rate above 0; use Z "
                "for zero-rated items (BR-S-05)"
            )
        elif ln.vat_category is not VatCategory.STANDARD and r != 0:
            errors.append(
                f"{where}.vat_rate: category {ln.vat_category.value} "
                f"({CATEGORY_NAMES[ln.vat_category]}) carries no VAT; the rate must be 0"
            )
        if not re.fullmatch(r"[A-Z0-9]{2,3}", ln.unit):
            errors.append(f"{where}.unit: {ln.unit!r} is not a UN/ECE Rec. 20 unit code (C62)")
    _check_categories(errors, draft, categories)
    if not errors and not draft.is_credit_note and compute_totals(draft).grand_total < 0:
        errors.append("lines: the total is negative; issue a credit note instead")
    return errors


def _check_categories(errors: list[str], draft: InvoiceDraft, cats: set[VatCategory]) -> None:
    s, c = draft.seller, draft.customer
    seller_tax_id = bool(s.vat_id or s.tax_id)
    if cats & {VatCategory.STANDARD, VatCategory.ZERO_RATED, VatCategory.EXEMPT} and not (
        seller_tax_id
    ):
        errors.append(
            "seller.vat_id: the seller's VAT identifier or tax number is required for VAT "
            "categories S, Z and E (BR-S-02, BR-Z-02, BR-E-02); set company.vat_id or "
            "company.tax_id"
        )
    for cat in (VatCategory.REVERSE_CHARGE, VatCategory.INTRA_COMMUNITY, VatCategory.EXPORT):
        if cat not in cats:
            continue
        code = cat.value
        if not s.vat_id:
            errors.append(
                f"seller.vat_id: required for category {code} ({CATEGORY_NAMES[cat]}); set "
                "company.vat_id"
            )
        if cat is not VatCategory.EXPORT and not c.vat_id:
            errors.append(
                f"customer.vat_id: required for category {code} ({CATEGORY_NAMES[cat]})"
            )
    if VatCategory.INTRA_COMMUNITY in cats:
        if draft.delivery_date is None:
            errors.append(
                "delivery_date: required for an intra-Community supply (K) (BR-IC-11)"
            )
        if c.address.country == s.address.country:
            errors.append(
                "customer.address.country: an intra-Community supply (K) goes to another "
                "country than the seller's"
            )
    if VatCategory.EXEMPT in cats and not draft.exemption_reasons.get(VatCategory.EXEMPT):
        errors.append(
            "exemption_reasons.E: name the legal basis of the exemption (BR-E-10), e.g. "
            "'Exempt under Article 132(1)(i) of Directive 2006/112/EC'"
        )
    only_o = cats == {VatCategory.NOT_SUBJECT}
    if not (s.vat_id and not only_o) and not s.legal_id:
        why = "an invoice not subject to VAT carries no VAT identifier" if only_o and (
            s.vat_id) else "there is no VAT identifier"
        errors.append(
            f"seller.legal_id: the company's legal registration number is required when {why} "
            "(BR-CO-26); set company.legal_id (trade register number, SIREN...)"
        )
    if VatCategory.NOT_SUBJECT in cats and len(cats) > 1:
        errors.append(
            "lines: an invoice with items not subject to VAT (O) cannot have other VAT "
            "categories (BR-O-11); issue two invoices"
        )


def parse_draft(data: Mapping[str, Any]) -> tuple[InvoiceDraft | None, list[str]]:
    """Read a draft from JSON-shaped data (a stored payload) and validate it.

    Returns:
        ``(draft, [])`` when it may be issued, else ``(draft or None, errors)``; each error
        starts with the field path.
    """
    try:
        draft = InvoiceDraft.model_validate(dict(data))
    except ValidationError as exc:
        return None, [
            f"{'.'.join(str(p) for p in e['loc']) or 'invoice'}: {e['msg']}"
            for e in exc.errors()
        ]
    errors = validate_draft(draft)
    return draft, errors


def draft_summary(draft: InvoiceDraft) -> str:
    """One line for the inbox, e.g. ``Invoice to Acme SARL: 1,517.16 EUR (2 lines), due
    2026-03-16``; ``"Credit note cancelling 2026-0001 ..."`` for a credit note.

    The draft need not be valid (an invalid proposal is shown too).
    """
    try:
        total = format_money(compute_totals(draft).grand_total, draft.currency)
    except (MoneyError, ArithmeticError):
        total = f"? {draft.currency}"
    n = len(draft.lines)
    what = (f"Credit note cancelling {draft.preceding_invoice} for" if draft.is_credit_note
            else "Invoice to")
    due = f", due {draft.due_date.isoformat()}" if draft.due_date else ""
    return f"{what} {draft.customer.name}: {total} ({n} line{'s' if n != 1 else ''}){due}"


def invoice_number(year: int, sequence: int) -> str:
    """The number of the ``sequence``-th document of ``year``: ``2026-0001`` (4 digits, more
    after 9999)."""
    return f"{year:04d}-{sequence:04d}"


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    """A stored invoice or credit note: never changed, never deleted.

    Attributes:
        id: Row id.
        number: Its number from the gapless sequence, e.g. ``2026-0001`` (BT-1).
        draft: Everything it says.
        totals: Its totals (computed once, at issue).
        action_id: The approved proposal that issued it (``None`` when issued by hand).
        customer_id: The customer list entry it was billed to.
        xml_sha256: sha256 of its EN 16931 CII XML (stored in ``blobs``).
        pdf_sha256: sha256 of its PDF/A-3 (stored in ``blobs``), ``None`` until rendered.
        created_at: UTC timestamp of issue.
    """

    id: int
    number: str
    draft: InvoiceDraft
    totals: Totals
    action_id: int | None
    customer_id: int | None
    xml_sha256: str
    pdf_sha256: str | None
    created_at: str

    @property
    def creditor_reference(self) -> str:
        """The ISO 11649 structured reference the customer quotes when paying (BT-83)."""
        return creditor_reference(self.number)

    @property
    def type_name(self) -> str:
        """``Invoice`` or ``Credit note``."""
        return "Credit note" if self.draft.is_credit_note else "Invoice"

    def money(self, minor: int) -> str:
        """``minor`` formatted in the invoice's currency."""
        return format_money(minor, self.draft.currency)


def credit_note_for(invoice: IssuedInvoice, *, issue_date: date, reason: str = "") -> (
    InvoiceDraft
):
    """The draft of a credit note (381) cancelling ``invoice`` in full.

    Same seller, customer, lines and currency; it refers to the invoice (BT-25/BT-26). Amounts
    stay positive: in EN 16931 the type code says it is a credit.
    """
    d = invoice.draft
    note = f"Cancels invoice {invoice.number} of {d.issue_date.isoformat()}"
    if reason:
        note += f": {reason}"
    return d.model_copy(
        update={
            "type_code": InvoiceType.CREDIT_NOTE,
            "issue_date": issue_date,
            "due_date": None,
            "payment_terms": "",
            "preceding_invoice": invoice.number,
            "preceding_invoice_date": d.issue_date,
            "note": note,
        }
    )


def seller_from_settings(get: Mapping[str, str]) -> Seller:
    """The seller from the ``company.*`` settings (a mapping of setting key to value)."""

    def v(key: str) -> str:
        return (get.get(key) or "").strip()

    return Seller(
        name=v("company.name"),
        address=PostalAddress(
            line1=v("company.address_line1"),
            line2=v("company.address_line2"),
            postcode=v("company.postcode"),
            city=v("company.city"),
            country=v("company.country").upper(),
        ),
        vat_id=v("company.vat_id").replace(" ", "").upper(),
        tax_id=v("company.tax_id"),
        legal_id=v("company.legal_id"),
        iban=v("company.iban").replace(" ", "").upper(),
        bic=v("company.bic").replace(" ", "").upper(),
        email=v("company.email"),
    )


def format_decimal(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros: ``19``, ``7.5``, ``0.25``."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
