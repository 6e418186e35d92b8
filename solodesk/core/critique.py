"""The devil's advocate's critique of a proposal: its shape, a tolerant parser of the model's
answer, and how it may change the proposal's risk (raise it, never lower it).

The ``devils_advocate`` card (``resources/agents/devils_advocate.toml``) answers::

    Concerns:
    - one concern per line, most serious first (or "none found")
    Verdict: approve | revise | reject
    Why: one sentence.

:func:`parse_critique` reads that shape (also a JSON object with ``concerns``, ``verdict`` and
``why``, bold markers, numbered lists, other capitalisations); an answer it cannot read keeps
its raw text with verdict ``unknown``. A critique never approves anything: :func:`raised_risk`
may only raise the risk of the proposal it is attached to (``reject`` makes it high, ``revise``
at least medium) and never lowers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from solodesk.core.risk import Risk

#: The verdicts a critique can carry; ``unknown``: the answer could not be read, or the
#: critique failed (:attr:`Critique.error`).
VERDICTS = ("approve", "revise", "reject", "unknown")
#: The agent card that critiques.
CRITIC_AGENT = "devils_advocate"
#: Characters of the model's raw answer kept with a critique.
RAW_CHARS = 4000
#: Concerns kept, and characters of each.
MAX_CONCERNS = 20
CONCERN_CHARS = 500
WHY_CHARS = 1000
#: The prefix of the risk reason a critique adds.
REASON_PREFIX = "devil's advocate: "

_VERDICT_LINE = re.compile(r"^\W*verdict\W*[:=\-]\s*(.*)$", re.IGNORECASE)
_WHY_LINE = re.compile(r"^\W*(why|reason|because)\W*[:=\-]\s*(.*)$", re.IGNORECASE)
_CONCERNS_LINE = re.compile(r"^\W*concerns?\W*[:=\-]?\s*(.*)$", re.IGNORECASE)
_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.*)$")
_WORDS = re.compile(r"\b(approve|approved|revise|revised|reject|rejected)\b", re.IGNORECASE)
_TEMPLATE = re.compile(r"\b(approve|revise|reject)\s*[|/]\s*(approve|revise|reject)\b",
                       re.IGNORECASE)
_NONE = re.compile(r"^\W*(none|none found|no concerns?|nothing)\W*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Critique:
    """A critique as attached to a proposal (the action's ``critique`` column, JSON).

    Attributes:
        verdict: ``approve``, ``revise``, ``reject`` or ``unknown``.
        concerns: What may be wrong, most serious first (may be empty).
        why: The one-sentence reason of the verdict ('' if none was given).
        raw: The model's answer as written (at most :data:`RAW_CHARS`), kept when it could not
            be read, and for the record.
        error: Why there is no critique ('' when there is one): the model failed, the budget
            was reached, the run was cancelled... The proposal is left as it was.
        run_id: The devil's advocate's run (None when it never started).
        payload_sha256: The payload it critiqued (an edit later makes it a critique of an
            earlier version).
    """

    verdict: str = "unknown"
    concerns: tuple[str, ...] = ()
    why: str = ""
    raw: str = ""
    error: str = ""
    run_id: int | None = None
    payload_sha256: str = ""
    parsed: bool = field(default=True)

    @classmethod
    def failed(cls, error: str, *, run_id: int | None = None, payload_sha256: str = "") -> Critique:
        """No critique: ``error`` says why (the proposal stays as it was)."""
        return cls(error=error[:WHY_CHARS], run_id=run_id, payload_sha256=payload_sha256,
                   parsed=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "concerns": list(self.concerns),
            "why": self.why,
            "raw": self.raw,
            "error": self.error,
            "run_id": self.run_id,
            "payload_sha256": self.payload_sha256,
            "parsed": self.parsed,
        }

    @classmethod
    def from_json(cls, data: Any) -> Critique | None:
        """The critique stored as JSON (a dict or its text); None for nothing or garbage."""
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else None
            except ValueError:
                return None
        if not isinstance(data, dict):
            return None
        verdict = str(data.get("verdict") or "unknown")
        run_id = data.get("run_id")
        return cls(
            verdict=verdict if verdict in VERDICTS else "unknown",
            concerns=tuple(str(c) for c in data.get("concerns") or () if str(c).strip()),
            why=str(data.get("why") or ""),
            raw=str(data.get("raw") or ""),
            error=str(data.get("error") or ""),
            run_id=run_id if isinstance(run_id, int) else None,
            payload_sha256=str(data.get("payload_sha256") or ""),
            parsed=bool(data.get("parsed", True)),
        )

    @property
    def ok(self) -> bool:
        """A critique was made (it may still be unreadable: verdict ``unknown``)."""
        return not self.error

    def lines(self, *, current_sha256: str = "") -> list[str]:
        """The critique as plain lines (``inbox show``): verdict, why, concerns, or the note
        of a failed critique, or the raw answer of an unreadable one. ``current_sha256``: the
        proposal's payload now (a critique of an earlier version says so)."""
        out: list[str] = []
        if self.error:
            out.append(f"no critique: {self.error} (the proposal is unchanged)")
            return out
        if self.verdict == "unknown":
            out.append("verdict: unknown (the answer could not be read; as written:)")
            out += [f"  {line}" for line in (self.raw or "(empty)").splitlines()[:40]]
        else:
            out.append(f"verdict: {self.verdict}" + (f" — {self.why}" if self.why else ""))
            if self.concerns:
                out.append("concerns:")
                out += [f"  - {c}" for c in self.concerns]
            else:
                out.append("concerns: none found")
        if current_sha256 and self.payload_sha256 and current_sha256 != self.payload_sha256:
            out.append("(this critique is of an earlier version: the proposal was edited since)")
        return out


def _clean(text: str, limit: int) -> str:
    text = text.strip().strip("*_`").strip()
    return text[:limit]


def _verdict_of(text: str) -> str:
    """The verdict word ``text`` starts with (the first of approve/revise/reject), or
    ``unknown`` when there is none, or when the model copied the template's
    ``approve | revise | reject`` (it has not decided)."""
    if _TEMPLATE.search(text):
        return "unknown"
    m = _WORDS.search(text)
    if m is None:
        return "unknown"
    return {"app": "approve", "rev": "revise", "rej": "reject"}[m.group(1).lower()[:3]]


def _from_json(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start:end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) and "verdict" in data else None


def parse_critique(
    text: str, *, run_id: int | None = None, payload_sha256: str = ""
) -> Critique:
    """Read the devil's advocate's answer (see the module docstring).

    Never raises: an answer without a readable verdict gives verdict ``unknown`` with the raw
    text (and whatever concerns could be read).
    """
    raw = text.strip()[:RAW_CHARS]
    data = _from_json(raw)
    if data is not None:
        given = data.get("concerns") or []
        if isinstance(given, str):
            given = [given]
        items = [_clean(str(c), CONCERN_CHARS) for c in given if str(c).strip()]
        items = [c for c in items if not _NONE.match(c)]
        return Critique(
            verdict=_verdict_of(str(data.get("verdict") or "")),
            concerns=tuple(items[:MAX_CONCERNS]),
            why=_clean(str(data.get("why") or data.get("reason") or ""), WHY_CHARS),
            raw=raw, run_id=run_id, payload_sha256=payload_sha256,
        )
    verdict = "unknown"
    why = ""
    concerns: list[str] = []
    section = ""
    for line in raw.splitlines():
        if not line.strip():
            continue
        m = _VERDICT_LINE.match(line)
        if m:
            verdict = _verdict_of(m.group(1))
            section = "verdict"
            continue
        m = _WHY_LINE.match(line)
        if m:
            why = m.group(2)
            section = "why"
            continue
        m = _CONCERNS_LINE.match(line)
        if m and not _ITEM.match(line):
            rest = m.group(1).strip()
            if rest and not _NONE.match(rest):
                concerns.append(rest)
            section = "concerns"
            continue
        item = _ITEM.match(line)
        if section == "concerns" and item:
            if not _NONE.match(item.group(1)):
                concerns.append(item.group(1))
        elif section == "why":
            why += " " + line.strip()
    items = [_clean(c, CONCERN_CHARS) for c in concerns]
    return Critique(
        verdict=verdict,
        concerns=tuple(c for c in items if c)[:MAX_CONCERNS],
        why=_clean(why, WHY_CHARS),
        raw=raw, run_id=run_id, payload_sha256=payload_sha256,
    )


def raised_risk(
    level: Risk, reasons: Sequence[str], critique: Critique
) -> tuple[Risk, list[str]]:
    """The risk of a proposal once ``critique`` is attached: ``reject`` makes it high,
    ``revise`` at least medium, with a reason starting :data:`REASON_PREFIX`; ``approve``,
    ``unknown`` and a failed critique change nothing. Never lower than ``level``."""
    out = list(reasons)
    if critique.error:
        return level, out
    gist = critique.why or (critique.concerns[0] if critique.concerns else "")
    if critique.verdict == "reject":
        out.append(f"{REASON_PREFIX}reject" + (f" — {gist}" if gist else ""))
        return max(level, Risk.HIGH), out
    if critique.verdict == "revise":
        out.append(f"{REASON_PREFIX}revise" + (f" — {gist}" if gist else ""))
        return max(level, Risk.MEDIUM), out
    return level, out
