"""What phishing looks like in a received mail's sender: pure checks, no I/O and no model call.

Signals (each a level and a one-line reason naming what was found):

- **Reply-To on another domain** than From (``medium``): replies would go elsewhere than the
  mail claims to come from (a bank notice replying to a private address).
- **Look-alike domains** (``high``) for the From and Reply-To domains, following Unicode UTS #39
  (Unicode Security Mechanisms): the *skeleton* of a domain (each character mapped to its
  confusable prototype, with the confusables data of ``confusable-homoglyphs``) equal to, or
  within :data:`MAX_EDIT_DISTANCE` edits of, the skeleton of a domain the founder knows (known
  correspondents, the founder's own domain) or that the mail itself names (in its body or its
  From); skeletons are compared case-folded, so ``aquiIlaindustries.com`` (capital I) matches
  ``aquillaindustries.com``. Also: punycode labels (``xn--``, decoded with IDNA 2008 to show
  what they display; ``medium``), labels mixing scripts (Latin with Cyrillic...; ``high``) and
  labels entirely of another script's look-alikes of Latin letters (``high``).
- **Display name that is an address** different from the real one (``high``):
  ``alice@example.com <bob@example.net>`` is from bob@example.net.
- **First contact asking for money, credentials or urgency**: a sender never seen before whose
  subject or body uses a phrase of :data:`ASKS` (English, Spanish, German, French); ``medium``,
  ``high`` when it asks for two of the three.

Two or more different signals together are all ``high``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from solodesk.core.mail import Mailbox, parse_mailboxes

#: Edits (insertions, deletions, substitutions) within which two domains look alike.
MAX_EDIT_DISTANCE = 2
#: Names shorter than this (the organisational label, without the suffix) are compared by
#: skeleton only: short names are a few edits from many others.
MIN_LABEL_FOR_DISTANCE = 5
#: At most this many domains named in a body are compared.
MAX_BODY_DOMAINS = 200

#: Phrases a first-contact mail uses to ask for money, credentials or urgency (lower case,
#: matched as whole words/phrases in the subject and body). Small on purpose: each match is
#: shown as the reason, so the founder can judge it.
ASKS: dict[str, tuple[str, ...]] = {
    "money": (
        # en
        "wire transfer", "bank transfer", "bank details", "banking details", "changed banks",
        "new bank account", "payment details", "gift card", "gift cards", "bitcoin",
        "crypto wallet", "western union", "moneygram", "send money", "outstanding payment",
        "overdue payment", "pay the invoice", "pay invoice", "iban",
        # es
        "transferencia", "datos bancarios", "cuenta bancaria", "tarjeta regalo",
        "tarjetas regalo", "pago pendiente",
        # de
        "überweisung", "bankverbindung", "kontodaten", "gutscheinkarte", "zahlung ausstehend",
        # fr
        "virement", "coordonnées bancaires", "rib", "carte cadeau", "cartes cadeaux",
        "paiement en attente",
    ),
    "credentials": (
        # en
        "password", "passcode", "login details", "log in details", "username and password",
        "verify your account", "verify your identity", "confirm your account",
        "confirm your identity", "security code", "one-time code", "verification code",
        "card details", "card number", "cvv", "pin code", "account has been suspended",
        "account has been locked", "account is suspended", "account is locked",
        # es
        "contraseña", "usuario y contraseña", "verificar su identidad", "verifique su identidad",
        "verificar su cuenta", "verifique su cuenta", "datos de su tarjeta",
        "cuenta ha sido bloqueada", "cuenta ha sido suspendida", "clave de acceso",
        # de
        "passwort", "kennwort", "zugangsdaten", "konto wurde gesperrt", "identität bestätigen",
        # fr
        "mot de passe", "identifiants", "vérifier votre compte", "vérifier votre identité",
        "compte a été bloqué", "compte a été suspendu",
    ),
    "urgency": (
        # en
        "urgent", "urgently", "immediately", "as soon as possible", "asap",
        "within 24 hours", "within 48 hours", "final notice", "last warning", "act now",
        "keep this confidential", "strictly confidential", "confidential request",
        # es
        "urgente", "urgentemente", "inmediatamente", "lo antes posible", "en 24 horas",
        "confidencial",
        # de
        "dringend", "sofort", "umgehend", "innerhalb von 24 stunden", "vertraulich",
        # fr
        "urgente", "immédiatement", "dès que possible", "sous 24 heures", "confidentiel",
    ),
}

_ASK_PATTERNS = {
    what: re.compile(
        r"(?<!\w)(" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
        + r")(?!\w)"
    )
    for what, phrases in ASKS.items()
}

_DOMAIN_IN_TEXT = re.compile(
    r"(?<![\w.@-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?![\w-])", re.I
)
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@((?:[\w-]+\.)+[a-z]{2,24})(?![\w-])", re.I)
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go",
                           "gob", "nic", "mil", "ltd", "plc"})
#: Script combinations UTS #39 allows in one label ("Highly Restrictive"), besides one script.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What the gates know about a received mail's sender.

    Attributes:
        from_header: The From header as written (decoded).
        reply_to_header: The Reply-To header as written (decoded), or ``""``.
        subject: The subject.
        body: The mail's text (the domains it names are compared with the sender's).
        first_contact: True when the sender's address was never seen before (no earlier mail
            from it, never mailed by the founder).
        known_domains: Lower-cased domains of known correspondents and the founder's own.
    """

    from_header: str
    reply_to_header: str = ""
    subject: str = ""
    body: str = ""
    first_contact: bool = False
    known_domains: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Signal:
    """One phishing signal: ``level`` is ``"medium"`` or ``"high"``."""

    level: str
    reason: str


# -- UTS #39 ------------------------------------------------------------------------------------
def _clean(glyph: str) -> str:
    return glyph.replace("\u200e", "")  # the data wraps right-to-left glyphs in LRM marks


@lru_cache(maxsize=8192)
def _prototype(ch: str) -> str:
    """The confusable prototype of one character (UTS #39 confusables.txt mapping)."""
    from confusable_homoglyphs import confusables  # ~1 MB of data: loaded when first needed

    entries = confusables.confusables_data.get(ch)
    if not entries:
        return ch
    if len(entries) > 1:
        return ch  # a prototype: its entries are the characters that map to it
    other = _clean(entries[0]["c"])
    back = confusables.confusables_data.get(other)
    if back and len(back) == 1 and _clean(back[0]["c"]) == ch:
        return min(ch, other)  # a prototype with one source: either way, the same skeleton
    return other


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``: NFD, each character to its prototype, NFD again.

    Two strings with the same skeleton are visually confusable (``paypa1`` and ``paypal``,
    ``аpple`` with a Cyrillic а and ``apple``).
    """
    nfd = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(_prototype(c) for c in nfd))


def scripts(label: str) -> set[str]:
    """The Unicode scripts (ISO 15924 aliases, e.g. ``LATIN``, ``CYRILLIC``) of the letters in
    ``label``, without ``COMMON`` and ``INHERITED`` (digits, hyphens, marks)."""
    from confusable_homoglyphs import categories

    return set(categories.unique_aliases(label)) - {"COMMON", "INHERITED", "UNKNOWN"}


def is_mixed_script(label: str) -> bool:
    """True when ``label`` mixes scripts beyond what UTS #39 "Highly Restrictive" allows."""
    found = scripts(label)
    return len(found) > 1 and not any(found <= allowed for allowed in _ALLOWED_MIXES)


def edit_distance(a: str, b: str, *, limit: int = MAX_EDIT_DISTANCE) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def organisational_domain(domain: str) -> str:
    """The registrable part of a domain, approximately (``mail.shop.example.co.uk`` →
    ``example.co.uk``): the last two labels, three under a two-letter country code's
    ``co``/``com``/``org``... (no public suffix list is shipped). Case is kept."""
    labels = [x for x in domain.rstrip(".").split(".") if x]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2].lower() in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def unicode_domain(domain: str) -> tuple[str, str]:
    """``(display form, problem)``: punycode labels decoded (IDNA 2008, UTS #46 mapping);
    ``problem`` is ``""`` or why it could not be decoded."""
    if not any(label.lower().startswith("xn--") for label in domain.split(".")):
        return domain, ""
    import idna

    try:
        return idna.decode(domain), ""
    except (idna.IDNAError, UnicodeError) as exc:
        return domain, f"invalid punycode ({exc})"


def _codepoints(label: str) -> str:
    out = []
    for ch in dict.fromkeys(c for c in label if not c.isascii()):
        out.append(f"{ch} U+{ord(ch):04X} {unicodedata.name(ch, 'UNNAMED')}")
    return ", ".join(out)


def domains_in_text(text: str) -> list[str]:
    """Domains a text names (URLs, addresses, bare host names) as written, first ones first,
    each once (compared case-insensitively)."""
    found: dict[str, str] = {}
    for m in _EMAIL_IN_TEXT.finditer(text):
        found.setdefault(m.group(1).casefold(), m.group(1))
    for m in _DOMAIN_IN_TEXT.finditer(text):
        domain = m.group(0).rstrip(".")
        found.setdefault(domain.casefold(), domain)
        if len(found) >= MAX_BODY_DOMAINS:
            break
    return list(found.values())[:MAX_BODY_DOMAINS]


# -- signals ------------------------------------------------------------------------------------
def _domain_shape_signals(domain: str, where: str) -> list[Signal]:
    """Punycode, mixed scripts and whole-script look-alikes in one domain."""
    out: list[Signal] = []
    shown, problem = unicode_domain(domain)
    if problem:
        out.append(Signal("high", f"{where} domain {domain} has {problem}"))
    elif shown != domain:
        out.append(
            Signal("medium", f"{where} domain {domain} is punycode; it displays as {shown}")
        )
    for label in shown.split("."):
        if label.isascii():
            continue
        if is_mixed_script(label):
            mix = " + ".join(sorted(s.title() for s in scripts(label)))
            out.append(
                Signal(
                    "high",
                    f"{where} domain {shown} mixes scripts in '{label}' ({mix}): "
                    f"{_codepoints(label)}",
                )
            )
        elif skeleton(label).isascii() and "LATIN" not in scripts(label):
            out.append(
                Signal(
                    "high",
                    f"{where} domain {shown}: '{label}' is made of letters that look like "
                    f"Latin '{skeleton(label)}' ({_codepoints(label)})",
                )
            )
    return out


@lru_cache(maxsize=65536)
def _label_and_skeleton(domain: str) -> tuple[str, str]:
    """The organisation's name in ``domain`` (punycode decoded) and its case-folded skeleton."""
    shown, _problem = unicode_domain(domain)
    label = organisational_domain(shown).split(".")[0]
    return label, skeleton(label).casefold()


def _lookalike(domain: str, references: Iterable[tuple[str, str]]) -> Signal | None:
    """A signal if ``domain`` looks like one of ``references`` (``(domain, where named)``).

    The organisations' names (the registrable label, ``aquillaindustries`` in
    ``www.aquillaindustries.com``) are compared by case-folded skeleton; the same name under
    another suffix (``example.org``, ``example.com``) is not a look-alike.
    """
    own_label, own_skeleton = _label_and_skeleton(domain)
    for ref, named in references:
        other_label, other_skeleton = _label_and_skeleton(ref)
        if not other_label or other_label.casefold() == own_label.casefold():
            continue
        if abs(len(other_skeleton) - len(own_skeleton)) > MAX_EDIT_DISTANCE:
            continue
        if other_skeleton == own_skeleton:
            return Signal("high", f"{domain} looks like {ref} ({named}) but is another domain")
        if min(len(own_label), len(other_label)) < MIN_LABEL_FOR_DISTANCE:
            continue
        distance = edit_distance(own_skeleton, other_skeleton)
        if distance <= MAX_EDIT_DISTANCE:
            return Signal(
                "high",
                f"{domain} is {distance} character{'s' if distance > 1 else ''} away from "
                f"{ref} ({named})",
            )
    return None


def _asks(text: str) -> dict[str, str]:
    """``{what: first matching phrase}`` for money, credentials and urgency."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    found: dict[str, str] = {}
    for what, pattern in _ASK_PATTERNS.items():
        m = pattern.search(folded)
        if m:
            found[what] = m.group(1)
    return found


def sender_signals(facts: SenderFacts) -> list[Signal]:
    """Every phishing signal about a received mail's sender (see the module docstring).

    Returns:
        Signals in a stable order; empty when nothing looks wrong.
    """
    signals: list[Signal] = []
    senders = [b for b in parse_mailboxes(facts.from_header) if b.addr][:1]
    replies = [b for b in parse_mailboxes(facts.reply_to_header) if b.addr]
    sender = senders[0] if senders else Mailbox("", "")
    from_domain = sender.domain

    for header, boxes in (("From", senders), ("Reply-To", replies)):
        for box in boxes:
            if box.name_address:
                signals.append(
                    Signal(
                        "high",
                        f"{header} display name shows {box.name_address} but the address is "
                        f"{box.addr}",
                    )
                )

    if from_domain:
        home = organisational_domain(from_domain).casefold()
        other = sorted(
            {b.domain for b in replies
             if b.domain and organisational_domain(b.domain).casefold() != home}
        )
        if other:
            signals.append(
                Signal(
                    "medium",
                    f"replies go to {', '.join(other)}, not {from_domain.lower()} "
                    "(Reply-To domain differs from From)",
                )
            )

    checked: list[tuple[str, str]] = []
    for header, box in [("From", sender)] + [("Reply-To", b) for b in replies]:
        if box.domain and box.domain.casefold() not in {d.casefold() for d, _ in checked}:
            checked.append((box.domain, header))
    # The sender's own domains are never references for each other (a body that names the
    # Reply-To domain must not make From look like a copy of it); Reply-To is compared with From.
    own = {d.casefold() for d, _ in checked}
    references: list[tuple[str, str]] = [
        (d, "a known correspondent's domain") for d in sorted(facts.known_domains)
        if d.casefold() not in own
    ]
    references += [
        (d, "named in the mail") for d in domains_in_text(facts.body) if d.casefold() not in own
    ]
    for domain, header in checked:
        signals += _domain_shape_signals(domain, header)
        refs = list(references)
        if header == "Reply-To" and from_domain:
            refs.insert(0, (from_domain, "the From domain"))
        found = _lookalike(domain, refs)
        if found is not None:
            signals.append(Signal(found.level, f"{header} look-alike domain: {found.reason}"))

    if facts.first_contact and sender.addr:
        asks = _asks(f"{facts.subject}\n{facts.body}")
        if asks:
            what = ", ".join(f"{k} ('{v}')" for k, v in asks.items())
            signals.append(
                Signal(
                    "high" if len(asks) >= 2 else "medium",
                    f"first contact from {sender.addr} asks for {what}",
                )
            )

    if len(signals) >= 2:
        signals = [Signal("high", s.reason) for s in signals]
    return signals
