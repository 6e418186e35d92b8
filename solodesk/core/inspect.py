"""What the founder must see before approving: links in full and hidden characters.

Invisible and bidirectional-control characters (Unicode TR9 explicit formatting characters,
zero-width characters, BOM, soft hyphen, tag characters) can make text read differently from
what is sent; links in Markdown or HTML form can hide their real target.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Characters that change how text is displayed without being visible.
SUSPICIOUS: dict[str, str] = {
    "\u00ad": "SOFT HYPHEN",
    "\u061c": "ARABIC LETTER MARK",
    "\u180e": "MONGOLIAN VOWEL SEPARATOR",
    "\u200b": "ZERO WIDTH SPACE",
    "\u200c": "ZERO WIDTH NON-JOINER",
    "\u200d": "ZERO WIDTH JOINER",
    "\u200e": "LEFT-TO-RIGHT MARK",
    "\u200f": "RIGHT-TO-LEFT MARK",
    "\u202a": "LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2060": "WORD JOINER",
    "\u2061": "FUNCTION APPLICATION",
    "\u2062": "INVISIBLE TIMES",
    "\u2063": "INVISIBLE SEPARATOR",
    "\u2064": "INVISIBLE PLUS",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
    "\ufeff": "ZERO WIDTH NO-BREAK SPACE (BOM)",
}


@dataclass(frozen=True, slots=True)
class HiddenChar:
    """One suspicious character: where it is (field and 0-based index) and what it is."""

    field: str
    index: int
    codepoint: str  # "U+202E"
    name: str


def hidden_characters(field: str, text: str) -> list[HiddenChar]:
    """Invisible or bidirectional-control characters in ``text`` (also Unicode tag chars)."""
    found: list[HiddenChar] = []
    for i, ch in enumerate(text):
        name = SUSPICIOUS.get(ch)
        if name is None and 0xE0000 <= ord(ch) <= 0xE007F:
            name = unicodedata.name(ch, "TAG CHARACTER")
        if name is not None:
            found.append(HiddenChar(field, i, f"U+{ord(ch):04X}", name))
    return found


_MD_LINK = re.compile(r"\[([^\]\n]{0,200})\]\((\S+?)\)")
_HTML_LINK = re.compile(r"""<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>""", re.I | re.S)
_URL = re.compile(r"""\b(?:https?|ftp|mailto):[^\s<>"'\]\)]+""", re.I)


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a body: the text shown and the real target."""

    text: str
    target: str

    @property
    def disguised(self) -> bool:
        """True when the shown text looks like a different URL or domain than the target."""
        shown = self.text.strip().lower()
        if not re.match(r"^(https?://|www\.|[\w-]+\.[a-z]{2,})", shown):
            return False
        host = re.sub(r"^[a-z]+://", "", self.target.lower()).split("/")[0]
        shown_host = re.sub(r"^[a-z]+://", "", shown).split("/")[0]
        return host != shown_host


def links(text: str) -> list[Link]:
    """Every link in ``text``: Markdown ``[text](url)``, HTML ``<a href>`` and bare URLs."""
    found: list[tuple[int, Link]] = []
    spans: list[tuple[int, int]] = []
    for m in _MD_LINK.finditer(text):
        found.append((m.start(), Link(m.group(1), m.group(2))))
        spans.append(m.span())
    for m in _HTML_LINK.finditer(text):
        found.append((m.start(), Link(re.sub(r"<[^>]+>", "", m.group(2)), m.group(1))))
        spans.append(m.span())
    seen = {link.target for _pos, link in found}
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        inside = any(a <= m.start() < b for a, b in spans)
        if not inside and url not in seen:
            found.append((m.start(), Link(url, url)))
            seen.add(url)
    return [link for _pos, link in sorted(found, key=lambda item: item[0])]
