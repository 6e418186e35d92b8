"""Is a model's draft fit to send, and what does it promise?

Two pure checks on a drafted mail, after schema validation (``core.mail``):

* :func:`draft_problems` — reasons the draft is not a mail a person would send: it echoes our
  own texts (the system prompt, the tool descriptions, the validation feedback), it is not prose
  (JSON, markup such as ``<email>``, mostly punctuation), or it is implausibly short (fewer than
  :data:`MIN_WORDS` words or :data:`MIN_LETTERS` letters in the body). The runner treats them as
  validation errors: the draft goes back to the model, and after the retries it is recorded as
  an ``invalid`` proposal.
* :func:`find_promises` — commitments the reply makes (a refund, a discount, free service,
  compensation, a date or deadline) that neither the mail thread nor the business profile
  contains. The gates rate such a proposal ``medium`` with the phrase as the reason.

Both are heuristics over the text; they name the words they matched so the founder (and the
model, when retried) can see why.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: A body needs at least this many words...
MIN_WORDS = 2
#: ...and this many letters to be a plausible mail.
MIN_LETTERS = 15
#: Below this share of letters among the body's visible characters it is not prose.
MIN_LETTER_SHARE = 0.5
#: A run of this many words copied from one of our own texts is an echo.
ECHO_WORDS = 8

#: Phrases from our own machinery (validation feedback, tool calling, prompt framing) that a
#: reply to a customer never needs. Lower case; matched on word boundaries.
MACHINERY_PHRASES = (
    "rejected by validation",
    "failed validation",
    "validation error",
    "invalid json",
    "valid json",
    "json object",
    "json schema",
    "non-json",
    "tool call",
    "call the tool",
    "valid arguments",
    "corrected arguments",
    "untrusted data",
    "not instructions",
    "system prompt",
    "approval inbox",
    "propose_reply",
    "no_reply_needed",
    "propose_send_email",
)

_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_WORD = re.compile(r"[^\W\d_]+")
_TOKEN = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _TOKEN.findall(text)]


def _is_cjk(ch: str) -> bool:
    """A character of a script written without spaces (Han, Kana, Hangul, Thai...)."""
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER"))


def word_and_letter_count(text: str) -> tuple[int, int]:
    """Words and letters in ``text``. A character of a script written without spaces (Han,
    Kana, Hangul, Thai...) counts as a word and as three letters, about what it carries."""
    words = letters = 0
    for token in _WORD.findall(text):
        cjk = sum(1 for ch in token if _is_cjk(ch))
        words += cjk + (1 if cjk < len(token) else 0)
        letters += (len(token) - cjk) + 3 * cjk
    return words, letters


def _shingles(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _echo(text: str, sources: Iterable[frozenset[tuple[str, ...]]]) -> str | None:
    words = _words(text)
    for i in range(len(words) - ECHO_WORDS + 1):
        run = tuple(words[i : i + ECHO_WORDS])
        if any(run in s for s in sources):
            return " ".join(run)
    return None


@functools.lru_cache(maxsize=64)
def _echo_shingles(text: str) -> frozenset[tuple[str, ...]]:
    """The :data:`ECHO_WORDS`-word runs of one of our own texts (the same system prompt and
    tool descriptions come with every draft: split once, not per draft)."""
    return frozenset(_shingles(_words(text), ECHO_WORDS))


@functools.lru_cache(maxsize=1)
def _machinery_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each of :data:`MACHINERY_PHRASES` with the pattern finding it as whole words."""
    out = []
    for phrase in MACHINERY_PHRASES:
        key = " ".join(_words(phrase.replace("-", " ")))
        out.append((phrase, re.compile(rf"(?<![\w']){re.escape(key)}(?![\w'])")))
    return tuple(out)


def _machinery(text: str) -> str | None:
    low = " ".join(_words(text.replace("-", " ")))
    for phrase, pattern in _machinery_patterns():
        if pattern.search(low):
            return phrase
    return None


def _not_prose(field: str, text: str) -> str | None:
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        what = "JSON" if isinstance(value, dict | list) else "JSON or code"
        return f"{field} is not prose: it starts with {stripped[0]!r} ({what}); write plain text"
    tag = _TAG.search(stripped)
    if tag:
        return f"{field} contains markup ({tag.group(0)[:30]}); write plain text, no tags"
    visible = [ch for ch in stripped if not ch.isspace()]
    letters = sum(1 for ch in visible if ch.isalpha())
    if visible and letters / len(visible) < MIN_LETTER_SHARE:
        return f"{field} is mostly punctuation or symbols, not prose"
    return None


def draft_problems(subject: str, body: str, *, echoes: Sequence[str] = ()) -> list[str]:
    """Why a drafted mail is not fit to send (empty if it is).

    Args:
        subject: The drafted subject line.
        body: The drafted plain-text body.
        echoes: Our own texts the model saw (system prompt, tool descriptions, validation
            feedback): a run of :data:`ECHO_WORDS` words copied from one is an echo.

    Returns:
        One-line reasons, phrased as instructions the model can act on when retried.
    """
    problems: list[str] = []
    sources = [_echo_shingles(t) for t in echoes if t]
    for field, text in (("subject", subject), ("body", body)):
        phrase = _machinery(text)
        if phrase is not None:
            problems.append(
                f"{field} talks about the tool or its validation ({phrase!r}), not to the "
                "recipient: write the mail itself"
            )
            continue
        copied = _echo(text, sources)
        if copied is not None:
            problems.append(
                f"{field} repeats your instructions ({copied!r}...): write the mail itself"
            )
            continue
        not_prose = _not_prose(field, text)
        if not_prose is not None:
            problems.append(not_prose)
    if not any(p.startswith("body") for p in problems):
        words, letters = word_and_letter_count(body)
        if words < MIN_WORDS or letters < MIN_LETTERS:
            problems.append(
                f"body is implausibly short ({words} word{'s' if words != 1 else ''}, "
                f"{letters} letters): write the whole reply"
            )
    return problems


# -- promises -----------------------------------------------------------------------------------

_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|a|an)"

#: (what is promised, pattern). Matched case-insensitively on word boundaries.
PROMISE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a refund",
        re.compile(r"\b(?:refund(?:ed|s|ing)?|reimburs\w*|money back|pay you back)\b", re.I),
    ),
    (
        "a discount",
        re.compile(
            r"\b(?:discount\w*|\d{1,3}\s?%\s?off|coupons?|promo(?:tional)? codes?|vouchers?|"
            r"reduced price|special price)\b",
            re.I,
        ),
    ),
    (
        "free service",
        re.compile(
            rf"\b(?:free (?:of charge|months?|weeks?|years?|upgrades?|access|subscription|plan)|"
            rf"{_NUMBER} (?:months?|weeks?|years?) (?:for )?free|complimentary|"
            r"at no (?:extra |additional )?(?:cost|charge))\b",
            re.I,
        ),
    ),
    (
        "compensation",
        re.compile(
            r"\b(?:compensat\w*|credit(?:ed)? (?:to )?your account|account credit|"
            r"store credit|gift cards?|make it up to you)\b",
            re.I,
        ),
    ),
    (
        "a date or deadline",
        re.compile(
            rf"\b(?:(?:by|before|until|on) (?:{_WEEKDAY}|tomorrow|tonight|"
            r"(?:the )?end of (?:the |this |next )?(?:day|week|month|year)|"
            rf"next (?:week|month|{_WEEKDAY}))|"
            r"within \d+ (?:hours?|(?:business |working )?days?|weeks?|months?)|"
            rf"(?:{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH})\b|"
            r"\d{4}-\d{2}-\d{2}|tomorrow|next week|next month)",
            re.I,
        ),
    ),
)

_NEGATION = re.compile(
    r"\b(?:no|not|never|cannot|can't|cant|won't|unable|without|nor|don't|do not)\b", re.I
)


@dataclass(frozen=True, slots=True)
class Promise:
    """A commitment found in a reply: what (``a refund``...) and the words that make it."""

    what: str
    phrase: str

    @property
    def reason(self) -> str:
        """The risk reason: ``promises a refund not in the mail or business profile: "..."``."""
        quoted = f"\u201c{self.phrase}\u201d"
        return f"promises {self.what} not in the mail or business profile: {quoted}"


def _normalize(text: str) -> str:
    return " ".join(_words(text))


def _negated(body: str, start: int) -> bool:
    """True if one of the six words before ``start``, in the same clause, negates it (``we
    cannot offer a refund``; not ``No problem, we will refund you``)."""
    clause = re.split(r"[.,;:!?\n]", body[max(0, start - 80) : start])[-1]
    return any(_NEGATION.fullmatch(w) for w in _TOKEN.findall(clause)[-6:])


def find_promises(body: str, *, thread: str, profile: str) -> list[Promise]:
    """Commitments in ``body`` that the allowed texts do not contain.

    A refund, discount, free service or compensation is allowed when the thread or the profile
    speaks of the same kind of thing (one of the same patterns matches there); a date or
    deadline only when the same words appear there. A negated mention (``we cannot offer a
    refund``) is no promise.

    Args:
        body: The reply's plain-text body.
        thread: The mail(s) it answers (or the founder's own request, for a chat proposal).
        profile: The business profile: what the founder allows (refund policy, prices...).

    Returns:
        One :class:`Promise` per kind of commitment, in the order of first appearance.
    """
    allowed = f"{thread}\n{profile}"
    allowed_norm = _normalize(allowed)
    found: list[tuple[int, Promise]] = []
    for what, pattern in PROMISE_PATTERNS:
        for match in pattern.finditer(body):
            if _negated(body, match.start()):
                continue
            phrase = match.group(0)
            if what == "a date or deadline":
                if _normalize(phrase) in allowed_norm:
                    continue
            elif pattern.search(allowed):
                continue
            found.append((match.start(), Promise(what, _context(body, match))))
            break
    return [p for _pos, p in sorted(found, key=lambda x: x[0])]


def _context(body: str, match: re.Match[str]) -> str:
    """The matched words with up to three words of the same clause on each side."""
    left = re.split(r"[.,;:!?\n]", body[max(0, match.start() - 60) : match.start()])[-1]
    right = re.split(r"[.,;:!?\n]", body[match.end() : match.end() + 60])[0]
    return " ".join([*left.split()[-3:], match.group(0), *right.split()[:3]])
