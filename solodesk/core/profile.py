"""The business profile: what every agent knows about the founder's company.

One JSON document (``store.profile`` keeps it): the company, its offering (items with a price in
minor units of an ISO 4217 currency and a unit), short notes about customers, the tone of voice,
the signature, and the founder's availability for meetings (weekdays and hours in the founder's
time zone, read by :func:`solodesk.core.calendar.parse_availability`).

Every agent sees it as *data* in its system prompt (:func:`prompt_section`, bounded to
:data:`PROMPT_CHARS`), and the promise check of a reply (``core.drafts.find_promises``) accepts
what it holds (:func:`allowance_text`: the prices, the notes).

Bad input is refused with a message naming the field and the place:
``offering[2].price_minor: must be a whole number >= 0``, ``availability: group 1 ('Mon-Fry
09:00-12:00'): 'mon-fry' is not a day or range of days``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from solodesk.core.calendar import CalendarError, WeeklyHours, parse_availability
from solodesk.core.money import MoneyError, check_currency, format_money, parse_amount

#: The top-level fields, in the order they are shown and edited.
FIELDS = ("company", "offering", "customers", "tone", "signature", "availability")
#: The most characters of the profile put into an agent's system prompt.
PROMPT_CHARS = 4000
#: The most offering items and customer notes.
MAX_ITEMS = 100


class ProfileError(ValueError):
    """Profile input that cannot be used; :attr:`errors` has one line per problem, each
    starting with the field (``offering[2].currency: ...``)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class OfferingItem(BaseModel):
    """One thing the company sells.

    Attributes:
        name: What it is (``Website audit``).
        price_minor: Its price in minor units of ``currency`` (cents for EUR), ``>= 0``.
        currency: ISO 4217 code (``EUR``).
        unit: What the price is for (``hour``, ``month``); empty: per item.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    price_minor: int = Field(ge=0, strict=True)
    currency: str = Field(min_length=3, max_length=3)
    unit: str = Field(default="", max_length=40)

    @field_validator("name", "unit")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = v.strip()
        if "\n" in v or "\r" in v:
            raise ValueError("must be one line")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        try:
            return check_currency(v.upper())
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    def text(self) -> str:
        """``Website audit: 900.00 EUR`` or ``Consulting: 120.00 EUR/hour``
        (:func:`parse_offering` reads it back)."""
        price = format_money(self.price_minor, self.currency).replace(",", "")
        return f"{self.name}: {price}" + (f"/{self.unit}" if self.unit else "")


class BusinessProfile(BaseModel):
    """The business profile (see the module docstring). Every field may be empty.

    Attributes:
        company: The company and what it does, in a sentence or two.
        offering: What it sells, at what prices.
        customers: Short notes about customers (``Acme GmbH: pays in 30 days``).
        tone: The tone of voice of everything written in the founder's name.
        signature: How mail is signed.
        availability: When the founder takes meetings, in their time zone
            (``Mon-Fri 09:00-12:00,14:00-17:00``); empty: not said.
    """

    model_config = ConfigDict(extra="forbid")

    company: str = Field(default="", max_length=2000)
    offering: list[OfferingItem] = Field(default_factory=list, max_length=MAX_ITEMS)
    customers: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    tone: str = Field(default="", max_length=2000)
    signature: str = Field(default="", max_length=1000)
    availability: str = Field(default="", max_length=500)

    @field_validator("company", "tone", "signature")
    @classmethod
    def _text(cls, v: str) -> str:
        return "\n".join(line.rstrip() for line in v.replace("\r\n", "\n").split("\n")).strip()

    @field_validator("customers")
    @classmethod
    def _notes(cls, v: list[str]) -> list[str]:
        out = []
        for i, note in enumerate(v):
            note = note.strip()
            if len(note) > 500:
                raise ValueError(f"note {i + 1} is longer than 500 characters")
            if note:
                out.append(note)
        return out

    @field_validator("availability")
    @classmethod
    def _availability(cls, v: str) -> str:
        v = " ".join(v.split())
        if v:
            try:
                parse_availability(v)
            except CalendarError as exc:
                raise ValueError(str(exc).removeprefix("availability: ")) from None
        return v

    def weekly_hours(self) -> WeeklyHours | None:
        """The availability as per-weekday windows, or None when it is not said."""
        return parse_availability(self.availability) if self.availability else None

    def is_empty(self) -> bool:
        """Whether nothing is filled in."""
        return self == BusinessProfile()

    def to_json(self) -> dict[str, Any]:
        """The stored JSON document."""
        return self.model_dump(mode="json")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "profile"


def profile_errors(exc: ValidationError) -> list[str]:
    """One line per problem, naming the field and the place (``offering[2].currency: ...``;
    list positions count from 1)."""
    out = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = (", ".join(FIELDS) if len(err["loc"]) == 1
                     else "name, price_minor, currency, unit")
            msg = f"unknown field; fields: {known}"
        out.append(f"{_loc(tuple(err['loc']))}: {msg}")
    return out


def validate_profile(data: Any) -> BusinessProfile:
    """``data`` (the JSON document) as a profile.

    Raises:
        ProfileError: it is not an object, or a field is wrong (each error names it).
    """
    if not isinstance(data, dict):
        raise ProfileError([f"profile: must be a JSON object, not {type(data).__name__}"])
    try:
        return BusinessProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(profile_errors(exc)) from None


def parse_profile_json(text: str, *, where: str = "profile") -> BusinessProfile:
    """A profile from JSON text.

    Raises:
        ProfileError: not JSON (the message gives ``where``, line and column) or not a valid
            profile.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            [f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    return validate_profile(data)


_ITEM = re.compile(r"^(?P<name>.+?):\s*(?P<price>[^/]+?)\s*(?:/\s*(?P<unit>.+))?$")


def parse_offering(text: str) -> list[OfferingItem]:
    """Offering items written as ``NAME: PRICE CURRENCY[/UNIT]``, separated by ``;`` or lines,
    e.g. ``Website audit: 900 EUR; Consulting: 120.00 EUR/hour``.

    Raises:
        ProfileError: an item is not of that form, or its price or currency is wrong; the
            message names the item by its position and text.
    """
    items: list[OfferingItem] = []
    parts = [p.strip() for p in re.split(r"[;\n]", text) if p.strip()]
    for n, part in enumerate(parts, start=1):
        where = f"offering[{n}] ({part!r})"
        m = _ITEM.match(part)
        if not m:
            raise ProfileError([f"{where}: write NAME: PRICE CURRENCY[/UNIT], e.g. "
                                "'Consulting: 120.00 EUR/hour'"])
        price = m.group("price").strip()
        code = re.search(r"([A-Za-z]{3})$", price) or re.match(r"^([A-Za-z]{3})", price)
        if code is None:
            raise ProfileError([f"{where}: the price needs its ISO 4217 currency code, e.g. "
                                "'120.00 EUR'"])
        currency = code.group(1).upper()
        try:
            check_currency(currency)
            minor = parse_amount(price, currency)
        except MoneyError as exc:
            raise ProfileError([f"{where}: {exc}"]) from None
        if minor < 0:
            raise ProfileError([f"{where}: a price cannot be negative"])
        try:
            items.append(OfferingItem(name=m.group("name"), price_minor=minor, currency=currency,
                                      unit=(m.group("unit") or "").strip()))
        except ValidationError as exc:
            raise ProfileError([f"{where}: {e.split(': ', 1)[-1]}"
                                for e in profile_errors(exc)]) from None
    return items


def set_field(profile: BusinessProfile, name: str, value: str) -> BusinessProfile:
    """A copy of ``profile`` with field ``name`` set from text as typed on a command line or
    in a form: ``offering`` as :func:`parse_offering` text (or a JSON list), ``customers`` one
    note per line or ``;`` (or a JSON list), the others as given.

    Raises:
        ProfileError: an unknown field, or a value the field refuses (naming it).
    """
    if name not in FIELDS:
        raise ProfileError([f"{name}: unknown field; fields: {', '.join(FIELDS)}"])
    parsed: Any = value
    stripped = value.strip()
    if name in ("offering", "customers") and stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ProfileError([f"{name}: not a JSON list ({exc.msg} at column {exc.colno})"]
                               ) from None
    elif name == "offering":
        parsed = [i.model_dump() for i in parse_offering(value)]
    elif name == "customers":
        parsed = [p.strip() for p in re.split(r"[;\n]", value) if p.strip()]
    return validate_profile({**profile.to_json(), name: parsed})


def profile_from_texts(texts: dict[str, str]) -> BusinessProfile:
    """A profile from one text per field (a form: :func:`field_text`'s format; a missing
    field is empty).

    Raises:
        ProfileError: every field that is wrong, each error naming its field.
    """
    profile = BusinessProfile()
    errors: list[str] = []
    for name in FIELDS:
        try:
            profile = set_field(profile, name, texts.get(name, ""))
        except ProfileError as exc:
            errors += exc.errors
    if errors:
        raise ProfileError(errors)
    return profile


def field_text(profile: BusinessProfile, name: str) -> str:
    """Field ``name`` as the text :func:`set_field` reads back (offering and customers one
    per line)."""
    if name == "offering":
        return "\n".join(i.text() for i in profile.offering)
    if name == "customers":
        return "\n".join(profile.customers)
    value = getattr(profile, name)
    return str(value)


def _quote(text: str) -> str:
    # Data, not instructions: every line is quoted, so nothing in it reads as a heading.
    return "\n".join("  > " + line for line in text.splitlines() if line.strip())


def prompt_section(profile: BusinessProfile, *, timezone: str = "",
                   limit: int = PROMPT_CHARS) -> str:
    """The profile for an agent's system prompt, as data (quoted lines), at most ``limit``
    characters (cut at a line, with a note saying so). Empty when nothing is filled in.

    Args:
        profile: The profile.
        timezone: The founder's time zone (IANA name, empty: the system's) the availability
            is in.
        limit: Most characters.
    """
    parts: list[str] = []
    if profile.company:
        parts.append("- Company:\n" + _quote(profile.company))
    if profile.offering:
        parts.append("- Offering (prices as written; never invent others):\n"
                     + "\n".join(f"  > {i.text()}" for i in profile.offering))
    if profile.customers:
        parts.append("- Customers:\n" + "\n".join(f"  > {c}" for c in profile.customers))
    if profile.tone:
        parts.append("- Tone of voice:\n" + _quote(profile.tone))
    if profile.signature:
        parts.append("- Signature:\n" + _quote(profile.signature))
    if profile.availability:
        tz = timezone or "the founder's local time"
        parts.append(f"- Available for meetings ({tz}): {profile.availability}")
    text = "\n".join(parts)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit("\n", 1)[0]
    return cut + f"\n  (profile cut at {limit} characters)"


def allowance_text(profile: BusinessProfile) -> str:
    """What the profile allows a reply to promise, as plain text (prices, notes, company)."""
    return "\n".join(
        [profile.company, *(i.text() for i in profile.offering), *profile.customers]
    ).strip()
