"""Categorising bank lines: the founder's rules first, then the founder's history, then the model.

:func:`categorise` decides which ledger account a bank line belongs on, and says who decided:

1. ``rule #N`` — the first of the founder's rules (in order) whose pattern matches the line's
   payee or description;
2. ``history`` — the account the founder approved most often before for lines with the same
   normalised payee (:func:`payee_key`);
3. ``model`` — nobody knows yet: the bookkeeper agent asks the model (issue 10's later part).

Approvals of the same categorisation that the founder did not edit are counted
(:class:`RuleOffer`): after N of them SoloDesk may offer to make it a rule; the founder decides.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from solodesk.core.ledger import LedgerError, Posting, validate_account_name


class Decider(enum.StrEnum):
    """Who decided a categorisation."""

    RULE = "rule"
    HISTORY = "history"
    MODEL = "model"


class RuleField(enum.StrEnum):
    """Which text of a bank line a rule looks at."""

    PAYEE = "payee"
    DESCRIPTION = "description"
    ANY = "any"


_NOISE = re.compile(r"[^\w\s]|\d|_", re.UNICODE)


def normalise_text(text: str) -> str:
    """Case-folded text without accents, digits or punctuation, single-spaced.

    ``"AMAZON Web Services EMEA SARL *1234"`` -> ``"amazon web services emea sarl"``.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOISE.sub(" ", plain.casefold()).split())


def payee_key(payee: str, description: str = "") -> str:
    """The key under which similar lines share their history: the normalised payee.

    Lines without a payee (some banks put everything in the remittance text) use the first
    three words of the normalised description instead.
    """
    key = normalise_text(payee)
    if key:
        return key
    return " ".join(normalise_text(description).split()[:3])


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """A founder's rule: lines whose ``field`` matches ``pattern`` go on ``account``.

    A plain pattern matches when it is contained in the text, ignoring case, accents, digits and
    punctuation (``"github"`` matches ``"GITHUB, INC. 0815"``); with ``regex`` it is a Python
    regular expression searched case-insensitively in the original text.
    """

    id: int
    pattern: str
    account: str
    field: RuleField = RuleField.ANY
    regex: bool = False
    note: str = ""

    def matches(self, payee: str, description: str) -> bool:
        """Whether the rule applies to a line with this payee and description."""
        texts = {
            RuleField.PAYEE: [payee],
            RuleField.DESCRIPTION: [description],
            RuleField.ANY: [payee, description],
        }[self.field]
        if self.regex:
            rx = re.compile(self.pattern, re.IGNORECASE)
            return any(rx.search(t) for t in texts)
        needle = self.pattern.casefold().strip()
        plain = normalise_text(self.pattern)
        return any(
            (needle and needle in t.casefold()) or (plain and plain in normalise_text(t))
            for t in texts
        )

    def describe(self) -> str:
        """One line: ``#3 payee ~ 'github' -> Expenses:Software``."""
        op = "=~" if self.regex else "~"
        note = f"   # {self.note}" if self.note else ""
        return f"#{self.id} {self.field.value} {op} {self.pattern!r} -> {self.account}{note}"


def check_rule(pattern: str, account: str, *, regex: bool) -> None:
    """Refuse a rule that could never work.

    Raises:
        LedgerError: empty pattern, invalid regular expression, or invalid account name.
    """
    if not pattern.strip():
        raise LedgerError("a rule needs a non-empty pattern")
    if regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise LedgerError(f"invalid regular expression {pattern!r}: {exc}") from None
    validate_account_name(account)


@dataclass(frozen=True, slots=True)
class PastChoice:
    """How often the founder approved ``account`` for lines of one payee key, and when last."""

    account: str
    approvals: int
    last: date


@dataclass(frozen=True, slots=True)
class Categorisation:
    """The account proposed for a bank line and who decided it.

    ``account`` is ``None`` when ``decided_by`` is :attr:`Decider.MODEL` (the model is asked).
    """

    account: str | None
    decided_by: Decider
    rule_id: int | None = None
    evidence: str = ""

    @property
    def label(self) -> str:
        """``"rule #3"``, ``"history"`` or ``"model"``, as the proposal shows it."""
        if self.decided_by is Decider.RULE:
            return f"rule #{self.rule_id}"
        return self.decided_by.value


def categorise(
    payee: str,
    description: str,
    *,
    rules: Sequence[CategoryRule],
    history: Sequence[PastChoice],
) -> Categorisation:
    """Decide the account of a bank line: rules, then history, then the model.

    Args:
        payee: The line's payee.
        description: The line's description / remittance text.
        rules: The founder's rules in evaluation order (first match wins).
        history: The founder's past approved categorisations for this line's
            :func:`payee_key`; the account approved most often wins, ties go to the most
            recent.

    Returns:
        A :class:`Categorisation`; for the model, ``account`` is ``None``.
    """
    for rule in rules:
        if rule.matches(payee, description):
            return Categorisation(
                rule.account, Decider.RULE, rule.id, f"matches {rule.describe()}"
            )
    if history:
        best = max(history, key=lambda h: (h.approvals, h.last))
        others = [h for h in history if h is not best]
        also = ""
        if others:
            also = "; also " + ", ".join(f"{h.account} ×{h.approvals}" for h in others)
        times = "once" if best.approvals == 1 else f"{best.approvals} times"
        return Categorisation(
            best.account,
            Decider.HISTORY,
            None,
            f"you approved {best.account} {times} for this payee "
            f"(last {best.last.isoformat()}){also}",
        )
    return Categorisation(None, Decider.MODEL, None, "no rule and no history: ask the model")


def postings_for(
    amount: int, currency: str, *, bank_account: str, category: str
) -> tuple[Posting, Posting]:
    """The two postings that book a bank line of ``amount`` on ``category``.

    Money in (positive) debits the bank and credits the category; money out the reverse.
    """
    return (Posting(bank_account, amount, currency), Posting(category, -amount, currency))


@dataclass(frozen=True, slots=True)
class RuleOffer:
    """Evidence that a rule would have decided as the founder did, N times unedited.

    Attributes:
        payee_key: The normalised payee.
        example_payee: A payee as the bank wrote it.
        account: The account the founder kept approving.
        unedited: Approvals of exactly this categorisation that the founder did not edit.
        edited_elsewhere: Approvals for this payee that went to another account, or were edited.
    """

    payee_key: str
    example_payee: str
    account: str
    unedited: int
    edited_elsewhere: int

    def suggested_rule(self) -> tuple[RuleField, str, str]:
        """The rule that would have decided these: ``(field, pattern, account)``."""
        return RuleField.PAYEE, self.payee_key, self.account


def reason_problems(reason: str, *, account: str, echoes: Sequence[str] = ()) -> list[str]:
    """Why a model's reason for booking a bank line on ``account`` is not usable (empty if it
    is): empty, words lifted from our instructions (a short reason found whole in them, or a run
    of :data:`~solodesk.core.drafts.ECHO_WORDS` words), talk about our tools, or JSON/markup
    instead of a sentence. Whether the
    reason is *right* is the founder's call: a model-decided posting is always medium risk.

    Args:
        reason: The model's one-sentence reason.
        account: The account it chose, e.g. ``Expenses:Fees:Bank``.
        echoes: Our own texts the model saw (its prompt, the tool's descriptions).

    Returns:
        One-line problems, phrased as instructions the model can act on when asked again.
    """
    from solodesk.core.drafts import draft_problems

    words = " ".join(re.findall(r"\w+", reason.lower()))
    if not words:
        return [f"reason: must not be empty; say in one sentence why this line belongs on "
                f"{account}"]
    if any(f" {words} " in " {} ".format(" ".join(re.findall(r"\w+", e.lower())))
                        for e in echoes):
        return [f"reason: {reason!r} is not a reason but words of your instructions; say in "
                f"one sentence why this line belongs on {account}"]
    return [
        "reason" + p[len("body"):].replace(", not to the recipient", "").replace(
            "write the mail itself", "say why, in your own words")
        for p in draft_problems("reason", reason, echoes=echoes)
        if p.startswith("body") and "implausibly short" not in p
    ]
