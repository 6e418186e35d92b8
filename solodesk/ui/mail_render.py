"""Showing received mail safely: addresses that reveal look-alikes, and HTML without remote content.

- :func:`address_html` renders an addr-spec in a monospace font (``I`` and ``l``, ``0`` and
  ``O`` differ) with every non-ASCII character (a Cyrillic ``а`` in ``pаypal``) and every
  capital letter in the domain (``aquiIla``: domains ignore case, so a capital there only
  serves to look like another letter) on a coloured background; :func:`address_notes` names
  each such character by code point for the tooltip. Punycode domains are shown with what they
  display as.
- :class:`SafeMailBrowser` renders a mail's HTML with Qt's rich-text engine (which runs no
  scripts) and loads no resource by itself: http/https/ftp/file/data and every other scheme are
  refused; ``cid:`` (RFC 2392) is resolved only from the message's own parts. Links are not
  followed; hovering one shows its target.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QFont, QFontDatabase, QFontInfo, QImage, QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

from solodesk.core.inspect import hidden_characters
from solodesk.core.mail import Mailbox
from solodesk.core.phishing import unicode_domain

MONO = "font-family:'DejaVu Sans Mono','Liberation Mono',monospace"
CONFUSABLE_STYLE = "background-color:#ffc9c9;color:#8c1d18;font-weight:bold"
CAPITAL_STYLE = "background-color:#ffe08a;color:#5c3b00;font-weight:bold"

CidResolver = Callable[[str], "tuple[str, bytes] | None"]


_MONO_FAMILIES = ("DejaVu Sans Mono", "Liberation Mono", "Noto Mono", "Menlo", "Consolas",
                  "Courier New")


def mono_font() -> QFont:
    """A fixed-pitch font for addresses: the system's, else the first installed of a few
    common monospace families (some systems' default reports no fixed pitch)."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if QFontInfo(font).fixedPitch():
        return font
    for family in _MONO_FAMILIES:
        candidate = QFont(family, font.pointSize())
        if QFontInfo(candidate).fixedPitch():
            return candidate
    return font


def _suspicious(addr: str, *, domain_from: int | None = None) -> list[tuple[int, str, str]]:
    """``(index, style, note)`` for each character of ``addr`` to highlight: non-ASCII and
    hidden characters anywhere, capital letters in the domain (from ``domain_from``; by default
    after the last ``@``)."""
    start = domain_from if domain_from is not None else addr.rfind("@") + 1 if "@" in addr \
        else len(addr)
    out: list[tuple[int, str, str]] = []
    hidden = {h.index for h in hidden_characters("", addr)}
    for i, ch in enumerate(addr):
        code = f"U+{ord(ch):04X}"
        if i in hidden or not ch.isascii():
            name = unicodedata.name(ch, "UNNAMED CHARACTER")
            out.append((i, CONFUSABLE_STYLE, f"'{ch}' {code} {name} (not a plain ASCII letter)"))
        elif i >= start and ch.isupper():
            out.append(
                (i, CAPITAL_STYLE,
                 f"'{ch}' {code} capital letter in the domain (domains ignore case; a capital "
                 f"here can pass for another letter, like I for l)")
            )
    return out


def _mono(text: str, *, domain_from: int) -> str:
    """``text`` in monospace; characters of :func:`_suspicious` (the domain starting at
    ``domain_from``) on a coloured background, hidden characters as numeric references."""
    marks = {i: style for i, style, _note in _suspicious(text, domain_from=domain_from)}
    hidden = {h.index for h in hidden_characters("", text)}
    parts = []
    for i, ch in enumerate(text):
        shown = f"&#x{ord(ch):X};" if i in hidden else html.escape(ch)
        parts.append(f"<span style=\"{marks[i]}\">{shown}</span>" if i in marks else shown)
    return f"<span style=\"{MONO}\">{''.join(parts)}</span>"


def address_html(addr: str) -> str:
    """``addr`` as rich text: monospace, suspicious characters highlighted, punycode decoded."""
    text = _mono(addr, domain_from=addr.rfind("@") + 1 if "@" in addr else len(addr))
    domain = addr.rsplit("@", 1)[1] if "@" in addr else ""
    shown_domain, problem = unicode_domain(domain)
    if problem:
        text += f" <i>({html.escape(problem)})</i>"
    elif shown_domain != domain:
        local = addr.rsplit("@", 1)[0]
        text += " <i>displays as</i> " + address_html(f"{local}@{shown_domain}")
    return text


_TOKEN = re.compile(
    r"[\w.+-]+@(?:[\w-]+\.)+[\w-]{2,}|(?<![\w@.-])(?:[\w-]+\.)+[^\W\d_]{2,}(?![\w-])"
)


def reason_html(text: str) -> str:
    """A one-line reason (risk, sender warning) as rich text, with every address and domain in
    it rendered like :func:`address_html` (monospace, look-alike characters highlighted)."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        token = m.group(0)
        at = token.rfind("@")
        out.append(_mono(token, domain_from=at + 1 if at >= 0 else 0))
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def address_notes(addr: str) -> list[str]:
    """One line per highlighted character of ``addr`` (for tooltips)."""
    notes = [f"{addr}: {note}" for _i, _style, note in _suspicious(addr)]
    domain = addr.rsplit("@", 1)[1] if "@" in addr else ""
    shown, _problem = unicode_domain(domain)
    if shown != domain:
        notes.append(f"{domain} is punycode for {shown}")
        notes += [f"{shown}: {note}" for _i, _style, note in _suspicious("@" + shown)]
    return notes


def mailbox_html(box: Mailbox) -> str:
    """``Name <addr>`` with the address rendered by :func:`address_html`; a display name that
    looks like another address is marked as not being the address."""
    addr = address_html(box.addr) if box.addr else "<i>(no address)</i>"
    if not box.name:
        return addr
    name = html.escape(box.name)
    if box.name_address:
        return (
            f"{addr} <span style='color:#b3261e'>⚠ display name “{name}” is not this "
            "address</span>"
        )
    return f"{name} &lt;{addr}&gt;"


class SafeMailBrowser(QTextBrowser):
    """A read-only HTML view of a mail that loads nothing from outside the message.

    Attributes:
        blocked: Every resource the HTML asked for and did not get (remote images, local
            files...), once each, in order.
        loaded: The ``cid:`` resources resolved from the message.

    Signals:
        link_hovered(str): The target of the link under the mouse (``""`` when none).
    """

    link_hovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.setSearchPaths([])
        self.blocked: list[str] = []
        self.loaded: list[str] = []
        self._cid: CidResolver | None = None
        self.highlighted.connect(lambda url: self.link_hovered.emit(url.toString()))

    def show_html(self, source: str, *, resolve_cid: CidResolver | None = None) -> None:
        """Render ``source``; resources are asked for while it is laid out (see
        :attr:`blocked`)."""
        self.blocked = []
        self.loaded = []
        self._cid = resolve_cid
        self.setHtml(source)
        self.document().size()  # lay it out now, so blocked/loaded are complete

    def loadResource(self, type_: int, name: QUrl | str) -> object:  # noqa: N802 - Qt API
        """Qt asks here for every image, stylesheet or page the HTML names."""
        name = QUrl(name) if isinstance(name, str) else name
        if name.scheme().lower() == "cid" and self._cid is not None:
            content_id = name.toString()[4:]
            found = self._cid(content_id)
            if found is not None and type_ == QTextDocument.ResourceType.ImageResource.value:
                image = QImage.fromData(found[1])
                if not image.isNull():
                    if name.toString() not in self.loaded:
                        self.loaded.append(name.toString())
                    return image
        if name.toString() not in self.blocked:  # Qt asks again on every layout
            self.blocked.append(name.toString())
        return None
