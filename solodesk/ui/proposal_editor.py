"""The proposal editor and the source-mail pane of the inbox.

The editor shows exactly what will happen when the founder approves: every recipient in full
(the address that will be used, not just a display name), every link as ``text → target`` with
disguised ones in red, a red banner for invisible or bidirectional-control characters in the
recipients, subject or body (code point and name), and the risk level with its reasons. These
checks follow the founder's edits as they type.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.actions import EDITABLE, Action, ActionStatus, JSONObject, payload_sha256
from solodesk.core.inspect import HiddenChar, hidden_characters, links
from solodesk.core.mail import Mailbox, first_mailbox, parse_mailboxes
from solodesk.store.repos import MailRecord
from solodesk.ui.inbox_model import (
    countdown_text,
    parse_utc,
    reveal,
    risk_color,
    risk_text,
    untrusted_tooltip,
)
from solodesk.ui.mail_render import (
    CidResolver,
    SafeMailBrowser,
    address_html,
    address_notes,
    mailbox_html,
    mono_font,
    reason_html,
)

UNTRUSTED_STYLE = (
    "QLabel { background: #fff4e5; color: #7a4100; border: 1px solid #f0b35a;"
    " border-radius: 4px; padding: 4px 6px; }"
)
BANNER_STYLE = (
    "QLabel { background: #fdecea; color: #8c1d18; border: 1px solid #b3261e;"
    " border-radius: 4px; padding: 4px 6px; font-weight: bold; }"
)
ERROR_STYLE = "QLabel { color: #b3261e; }"
VIEW_TOGGLE_KEYS = "Alt+V"
VIEW_HTML = "View HTML  (Alt+V)"
VIEW_TEXT = "View text  (Alt+V)"
RED = "#b3261e"


def local_time(timestamp: str | None) -> str:
    """A store UTC timestamp as local wall-clock time (``HH:MM:SS``)."""
    when = parse_utc(timestamp or "")
    return when.astimezone().strftime("%H:%M:%S") if when else "?"


def _esc(text: str) -> str:
    return html.escape(reveal(text))


def _addresses(text: str) -> list[str]:
    """Split a comma-separated address field (display names with commas must be quoted)."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch in ",;" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return [a.strip() for a in out if a.strip()]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One To/Cc entry as it will be used: the header (``To``/``Cc``), the address mail goes
    to, the display name, and what is wrong with it (empty if nothing)."""

    header: str
    address: str
    name: str
    problem: str = ""


def recipients_of(payload: JSONObject) -> list[Recipient]:
    """Every To and Cc entry of ``payload``, each with the address it really goes to.

    A display name that looks like a different address (``"ceo@acme.example"
    <mallory@evil.example>``), an entry without an address and hidden characters are flagged.
    """
    out: list[Recipient] = []
    for header in ("to", "cc"):
        for entry in [str(v) for v in payload.get(header) or []]:
            pairs = getaddresses([entry])
            name, addr = pairs[0] if pairs else ("", "")
            problems = []
            if not addr or "@" not in addr:
                problems.append("not an email address")
            if "@" in name and name.strip().strip("'\"<>").lower() != addr.lower():
                problems.append("the name looks like a different address")
            if hidden_characters(header, entry):
                problems.append("contains hidden characters")
            out.append(
                Recipient(header.capitalize(), addr or entry, name, "; ".join(problems))
            )
    return out


def hidden_in_payload(payload: JSONObject) -> list[HiddenChar]:
    """Invisible or bidirectional-control characters in the recipients, subject and body."""
    found: list[HiddenChar] = []
    for header in ("to", "cc"):
        for i, entry in enumerate(payload.get(header) or []):
            found += hidden_characters(f"{header.capitalize()} #{i + 1}", str(entry))
    for name in ("subject", "body"):
        found += hidden_characters(name, str(payload.get(name, "")))
    return found


def hidden_summary(found: list[HiddenChar]) -> list[str]:
    """One line per (field, character): ``U+202E RIGHT-TO-LEFT OVERRIDE in subject (×2)``."""
    counts = Counter((h.field, h.codepoint, h.name) for h in found)
    return [
        f"{cp} {name} in {field}" + (f" (×{n})" if n > 1 else "")
        for (field, cp, name), n in counts.items()
    ]


class ProposalEditor(QWidget):
    """Shows one proposal: editable To/Cc/Subject/Body, what approving it will do, and
    read-only details.

    ``invalid`` proposals show their validation errors and the model's raw output instead.
    :attr:`review_area` (risk with reasons, every recipient, every link) is not in the
    editor's own layout: the inbox places it beside the editor, above the source mail.
    """

    changed = Signal()  # the founder edited a field

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action: Action | None = None
        self._loading = False

        self.title = QLabel("No proposal selected")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)

        self.hidden_banner = QLabel()
        self.hidden_banner.setObjectName("hiddenCharactersBanner")
        self.hidden_banner.setWordWrap(True)
        self.hidden_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.hidden_banner.setStyleSheet(BANNER_STYLE)
        self.hidden_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hidden_banner.hide()

        self.to_edit = QLineEdit()
        self.cc_edit = QLineEdit()
        self.subject_edit = QLineEdit()
        self.to_edit.setPlaceholderText("name@example.com, other@example.com")
        self.cc_edit.setPlaceholderText("(none)")
        mono = mono_font()
        for line in (self.to_edit, self.cc_edit):  # addresses: I and l, 0 and O differ
            line.setFont(mono)
        self.body_edit = QPlainTextEdit()
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setMinimumHeight(90)

        self.status_label = self._detail_label()
        self.agent_label = self._detail_label()
        self.agent_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.message_id_label = self._detail_label()
        self.in_reply_to_label = self._detail_label()
        self.errors_label = QLabel()
        self.errors_label.setWordWrap(True)
        self.errors_label.setStyleSheet(ERROR_STYLE)
        self.errors_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.errors_label.hide()
        self.dirty_label = QLabel("unsaved edits")
        self.dirty_label.setStyleSheet("QLabel { color: #7a4100; }")
        self.dirty_label.hide()

        # What approving will do: risk, every recipient, every link.
        self.risk_label = self._review_label()
        self.risk_label.setObjectName("riskLabel")
        self.recipients_label = self._review_label()
        self.recipients_label.setObjectName("recipientsLabel")
        self.links_label = self._review_label()
        self.links_label.setObjectName("linksLabel")
        review = QWidget()
        review_layout = QVBoxLayout(review)
        review_layout.setContentsMargins(4, 2, 4, 2)
        review_layout.setSpacing(2)
        for label in (self.risk_label, self.recipients_label, self.links_label):
            review_layout.addWidget(label)
        review_layout.addStretch(1)
        self.review_area = QScrollArea()
        self.review_area.setObjectName("reviewArea")
        self.review_area.setWidget(review)
        self.review_area.setWidgetResizable(True)
        self.review_area.setFrameShape(QFrame.Shape.StyledPanel)
        self.review_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.review_area.setMinimumHeight(self.fontMetrics().lineSpacing() * 4 + 12)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&To:", self.to_edit)
        form.addRow("&Cc:", self.cc_edit)
        form.addRow("S&ubject:", self.subject_edit)

        details = QGridLayout()
        details.setHorizontalSpacing(8)
        details.setVerticalSpacing(2)
        details.addWidget(QLabel("Status:"), 0, 0)
        details.addWidget(self.status_label, 0, 1, 1, 5)
        details.addWidget(QLabel("Agent:"), 1, 0)
        details.addWidget(self.agent_label, 1, 1)
        details.addWidget(QLabel("Message-ID:"), 1, 2)
        details.addWidget(self.message_id_label, 1, 3)
        self._in_reply_to_caption = QLabel("In-Reply-To:")
        details.addWidget(self._in_reply_to_caption, 1, 4)
        details.addWidget(self.in_reply_to_label, 1, 5)
        details.setColumnStretch(3, 3)
        details.setColumnStretch(5, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.dirty_label)
        layout.addLayout(head)
        layout.addWidget(self.hidden_banner)
        layout.addLayout(form)
        layout.addWidget(self.body_edit, 1)
        layout.addWidget(self.errors_label)
        layout.addLayout(details)

        for line in (self.to_edit, self.cc_edit, self.subject_edit):
            line.textEdited.connect(self._on_edited)
        self.body_edit.textChanged.connect(self._on_edited)
        self.show_action(None)

    @staticmethod
    def _detail_label() -> QLabel:
        label = QLabel()
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        return label

    @staticmethod
    def _review_label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setOpenExternalLinks(False)
        return label

    # -- state ---------------------------------------------------------------------------------
    @property
    def action(self) -> Action | None:
        """The proposal as loaded (before the founder's unsaved edits)."""
        return self._action

    def show_action(self, action: Action | None) -> None:
        """Load ``action`` into the fields (None clears the editor)."""
        self._loading = True
        try:
            self._action = action
            p: JSONObject = action.payload if action is not None else {}
            invalid = action is not None and action.status is ActionStatus.INVALID
            if action is None:
                self.title.setText("No proposal selected")
            else:
                self.title.setText(f"#{action.id}  {reveal(action.summary)}")
            if invalid:
                self.to_edit.setText("")
                self.cc_edit.setText("")
                self.subject_edit.setText("")
                raw = p.get("arguments") or p.get("text") or ""
                self.body_edit.setPlainText(f"Model output (not sendable):\n{raw}")
            else:
                self.to_edit.setText(", ".join(p.get("to", []) or []))
                self.cc_edit.setText(", ".join(p.get("cc", []) or []))
                self.subject_edit.setText(str(p.get("subject", "")))
                self.body_edit.setPlainText(str(p.get("body", "")))
            for w in (self.to_edit, self.cc_edit, self.subject_edit):
                w.setCursorPosition(0)
            editable = action is not None and action.status in EDITABLE
            for w in (self.to_edit, self.cc_edit, self.subject_edit):
                w.setReadOnly(not editable)
            self.body_edit.setReadOnly(not editable)
            self.setEnabled(action is not None)

            for label, key in (
                (self.message_id_label, "message_id"),
                (self.in_reply_to_label, "in_reply_to"),
            ):
                label.setText(str(p.get(key, "")) or "—")
                label.setToolTip(str(p.get(key, "")))
            has_reply_to = bool(p.get("in_reply_to"))
            self.in_reply_to_label.setVisible(has_reply_to)
            self._in_reply_to_caption.setVisible(has_reply_to)
            self.agent_label.setText(action.agent if action else "—")
            self.update_status()
            errors = list(action.errors) if action is not None else []
            self.errors_label.setText(
                "Validation errors:\n" + "\n".join(f"• {e}" for e in errors) if errors else ""
            )
            self.errors_label.setVisible(bool(errors))
            self._show_risk(action)
            self._update_checks()
            self.dirty_label.hide()
        finally:
            self._loading = False

    def update_status(self) -> None:
        """Re-render the status line (the undo-window countdown changes every second)."""
        text = self._status_text(self._action)
        self.status_label.setText(text)
        self.status_label.setToolTip(text)

    @staticmethod
    def _status_text(action: Action | None) -> str:
        if action is None:
            return "—"
        text = action.status.value
        if action.status is ActionStatus.SCHEDULED:
            text += (
                f" — {countdown_text(action.send_at)} (at {local_time(action.send_at)}) "
                "unless you undo it"
            )
        if action.decided_by and action.decided_by != "founder":
            text += f" (by {action.decided_by})"
        result = action.result or {}
        detail = result.get("detail") or result.get("reason")
        if detail:
            text += f" — {detail}"
        return text

    def _show_risk(self, action: Action | None) -> None:
        if action is None:
            self.risk_label.setText("Risk: —")
            self.risk_label.setToolTip("")
            return
        color = risk_color(action)  # as in the list: untrusted "low" is amber, not green
        reasons = "".join(
            f"<br>&nbsp;&nbsp;• {reason_html(reveal(r))}" for r in action.risk_reasons
        )
        edited = (
            " <i>(assessed when proposed or last saved; saving re-assesses it)</i>"
            if self.is_dirty()
            else ""
        )
        self.risk_label.setText(
            f"<b>Risk:</b> <b style='color:{color}'>{html.escape(risk_text(action))}</b>"
            f"{edited}{reasons}"
        )
        self.risk_label.setToolTip("; ".join(action.risk_reasons))

    def edited_payload(self) -> JSONObject:
        """The payload as shown: the loaded payload with To/Cc/Subject/Body from the fields.

        Raises:
            ValueError: no proposal is loaded.
        """
        action = self._action
        if action is None:
            raise ValueError("no proposal selected")
        if action.status is ActionStatus.INVALID:
            return dict(action.payload)
        payload = dict(action.payload)
        payload["to"] = _addresses(self.to_edit.text())
        payload["cc"] = _addresses(self.cc_edit.text())
        payload["subject"] = self.subject_edit.text()
        payload["body"] = self.body_edit.toPlainText()
        return payload

    def is_dirty(self) -> bool:
        """True if the fields differ from the loaded payload."""
        action = self._action
        if action is None or action.status is ActionStatus.INVALID:
            return False
        return self.edited_payload() != action.payload

    def shown_sha256(self) -> str | None:
        """The sha256 of the payload as shown (what an approval must match)."""
        if self._action is None:
            return None
        return payload_sha256(self.edited_payload())

    def focus_widget(self) -> QWidget:
        """Where keyboard focus goes to edit (the body)."""
        return self.body_edit

    # -- what will happen ----------------------------------------------------------------------
    def _update_checks(self) -> None:
        action = self._action
        if action is None or action.status is ActionStatus.INVALID:
            self.hidden_banner.hide()
            self.hidden_banner.setText("")
            self.recipients_label.setText("")
            self.recipients_label.setVisible(False)
            self.links_label.setText("")
            self.links_label.setVisible(False)
            return
        payload = self.edited_payload()
        found = hidden_in_payload(payload)
        hidden = hidden_summary(found)
        text = ""
        if hidden:
            text = (
                "⚠ Invisible or direction-changing characters — the text may not read as it "
                "will be sent:\n" + "\n".join(f"• {line}" for line in hidden)
            )
            if any(h.field == "subject" for h in found):
                text += f"\nSubject as sent: {reveal(str(payload.get('subject', '')))}"
        self.hidden_banner.setText(text)
        self.hidden_banner.setVisible(bool(hidden))

        rcpts = recipients_of(payload)
        lines = []
        notes: list[str] = []
        for r in rcpts:
            name = f" &nbsp;<i>({_esc(r.name)})</i>" if r.name else ""
            line = f"{r.header}: <b>{address_html(r.address)}</b>{name}"
            notes += address_notes(r.address)
            if r.problem:
                line = f"<span style='color:{RED}'>⚠ {line} — {_esc(r.problem)}</span>"
            lines.append(line)
        self.recipients_label.setToolTip("\n".join(notes))
        count = len(rcpts)
        heading = f"<b>Sends to {count} recipient{'s' if count != 1 else ''}:</b>"
        if not rcpts:
            heading = f"<b style='color:{RED}'>No recipients</b>"
        self.recipients_label.setText(heading + "".join(f"<br>&nbsp;&nbsp;{x}" for x in lines))
        self.recipients_label.setVisible(True)

        body_links = links(str(payload.get("body", "")))
        link_lines = []
        for lk in body_links:
            text = f"{_esc(lk.text)} → {_esc(lk.target)}"
            if lk.disguised:
                text = (
                    f"<span style='color:{RED}'><b>⚠ DISGUISED:</b> shows {_esc(lk.text)} "
                    f"but opens <b>{_esc(lk.target)}</b></span>"
                )
            link_lines.append(text)
        self.links_label.setText(
            f"<b>Links ({len(body_links)}):</b>"
            + "".join(f"<br>&nbsp;&nbsp;{x}" for x in link_lines)
            if body_links
            else "<b>Links:</b> none"
        )
        self.links_label.setVisible(True)

    def review_text(self) -> str:
        """The review area as plain text (risk, recipients, links), for tests and logs."""
        parts = [self.hidden_banner.text()] if self.hidden_banner.isVisibleTo(self) else []
        for label in (self.risk_label, self.recipients_label, self.links_label):
            doc = label.text().replace("<br>", "\n")
            parts.append(html.unescape(_strip_tags(doc)).replace("\xa0", " "))
        return "\n".join(p for p in parts if p)

    def _on_edited(self, *_args: Any) -> None:
        if self._loading:
            return
        self.dirty_label.setVisible(self.is_dirty())
        self._show_risk(self._action)
        self._update_checks()
        self.changed.emit()


def _strip_tags(text: str) -> str:
    out = []
    inside = False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">" and inside:
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)


class SourceMailPane(QFrame):
    """The email a proposal answers, with a visible untrusted-content marker, the sender's
    phishing signals, addresses rendered so look-alikes show (``ui.mail_render``), and a toggle
    between the mail's text and its HTML rendered safely (nothing loaded from outside)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Source")
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.untrusted_label = QLabel(
            "⚠ Derived from untrusted email. The agent read content you did not write: check "
            "recipients, links and promises before approving."
        )
        self.untrusted_label.setWordWrap(True)
        self.untrusted_label.setStyleSheet(UNTRUSTED_STYLE)
        self.untrusted_label.setObjectName("untrustedMarker")
        self.headers_label = QLabel()
        self.headers_label.setObjectName("sourceHeaders")
        self.headers_label.setWordWrap(True)
        self.headers_label.setTextFormat(Qt.TextFormat.RichText)
        self.headers_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("senderWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        self.warnings_label.setStyleSheet(BANNER_STYLE)
        # Never squeezed below its text: the mail body gives up the room instead.
        self.warnings_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.warnings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings_label.hide()
        self.view_toggle = QPushButton(VIEW_HTML)
        self.view_toggle.setObjectName("htmlToggle")
        self.view_toggle.setCheckable(True)
        self.view_toggle.setAutoDefault(False)
        self.view_toggle.setToolTip(
            "Switch between the mail's text and its HTML, rendered without loading anything "
            "from the internet or your files (Alt+V)"
        )
        self.view_toggle.toggled.connect(self._show_mode)
        self.view_shortcut = QShortcut(QKeySequence(VIEW_TOGGLE_KEYS), self)
        self.view_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.view_shortcut.activated.connect(self.toggle_view)
        self.resources_label = QLabel()
        self.resources_label.setObjectName("blockedResources")
        self.resources_label.setWordWrap(True)
        self.resources_label.setTextFormat(Qt.TextFormat.PlainText)
        self.resources_label.setStyleSheet("QLabel { color: #555; }")
        self.resources_label.hide()
        self.body_view = QPlainTextEdit()
        self.body_view.setReadOnly(True)
        self.body_view.setTabChangesFocus(True)
        self.html_view = SafeMailBrowser()
        self.html_view.setObjectName("htmlView")
        self.html_view.setTabChangesFocus(True)
        self.html_view.hide()
        self.html_view.link_hovered.connect(self._on_link_hovered)
        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.view_toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.untrusted_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.headers_label)
        layout.addWidget(self.body_view, 1)
        layout.addWidget(self.html_view, 1)
        layout.addWidget(self.resources_label)
        layout.addStretch(0)  # keeps the heading at the top when there is no body
        self.setMinimumWidth(220)
        self.mail: MailRecord | None = None
        self.warnings: list[str] = []
        self._resolve_cid: CidResolver | None = None
        self._html_shown_for: int | None = None
        self.show_source(None, None)

    def show_source(
        self,
        action: Action | None,
        mail: MailRecord | None,
        *,
        warnings: Sequence[str] = (),
        resolve_cid: CidResolver | None = None,
    ) -> None:
        """Show the source of ``action``: its mail, or where it came from if not a mail.

        Args:
            warnings: The sender's phishing signals (shown in red above the headers).
            resolve_cid: Finds a ``cid:`` part of the mail for the HTML view.
        """
        self.mail = mail
        self.warnings = list(warnings)
        self._resolve_cid = resolve_cid
        self._html_shown_for = None
        untrusted = action is not None and action.provenance.untrusted
        self.untrusted_label.setVisible(untrusted)
        if untrusted and action is not None:
            self.untrusted_label.setToolTip(untrusted_tooltip(action))
        self.warnings_label.setText(
            "⚠ The sender looks suspicious:"
            + "".join(f"<br>• {reason_html(reveal(w))}" for w in self.warnings)
            if self.warnings else ""
        )
        self.warnings_label.setVisible(bool(self.warnings))
        if mail is not None:
            self.heading.setText("In reply to")
            self.headers_label.setText(self._headers_html(mail))
            self.headers_label.setToolTip("\n".join(self._address_notes(mail)))
            self.headers_label.show()
            self.body_view.setPlainText(reveal(mail.body_text))
            has_html = bool(mail.body_html)
            self.view_toggle.setVisible(has_html)
            if not has_html and self.view_toggle.isChecked():
                self.view_toggle.setChecked(False)
            self._show_mode(self.view_toggle.isChecked() and has_html)
            return
        self.view_toggle.hide()
        self.headers_label.setToolTip("")
        self.headers_label.hide()
        self.body_view.clear()
        self.body_view.hide()
        self.html_view.clear()
        self.html_view.hide()
        self.resources_label.hide()
        if action is None:
            self.heading.setText("Source")
            self.headers_label.setText("The email a selected proposal answers is shown here.")
            self.headers_label.show()
        elif action.provenance.source == "chat":
            self.heading.setText("From your chat with the manager agent")
        elif action.provenance.source == "mail":
            self.heading.setText(f"Source email #{action.provenance.ref} is no longer stored")
        else:
            self.heading.setText(f"Source: {action.provenance.source or 'unknown'}")

    @staticmethod
    def _headers_html(mail: MailRecord) -> str:
        sender = first_mailbox(mail.from_addr)
        if not sender.addr:
            sender = Mailbox("", mail.from_email)
        lines = [f"<b>From:</b> {mailbox_html(sender)}"]
        replies = [b for b in parse_mailboxes(mail.reply_to) if b.addr]
        if replies:
            lines.append("<b>Reply-To:</b> " + ", ".join(mailbox_html(b) for b in replies))
        lines.append(f"<b>Subject:</b> {_esc(mail.subject)}")
        date = mail.date or "unknown (missing or unreadable Date header)"
        lines.append(f"<b>Date:</b> {html.escape(date)}")
        return "<br>".join(lines)

    @staticmethod
    def _address_notes(mail: MailRecord) -> list[str]:
        addrs = [first_mailbox(mail.from_addr).addr or mail.from_email]
        addrs += [b.addr for b in parse_mailboxes(mail.reply_to) if b.addr]
        return [note for a in addrs for note in address_notes(a)]

    def _show_mode(self, rendered: bool) -> None:
        """Show the text (``rendered=False``) or the HTML rendered safely."""
        mail = self.mail
        rendered = rendered and mail is not None and bool(mail.body_html)
        self.view_toggle.setText(VIEW_TEXT if rendered else VIEW_HTML)
        self.body_view.setVisible(mail is not None and not rendered)
        self.html_view.setVisible(rendered)
        if rendered and mail is not None and self._html_shown_for != mail.id:
            self.html_view.show_html(mail.body_html or "", resolve_cid=self._resolve_cid)
            self._html_shown_for = mail.id
        blocked = len(self.html_view.blocked) if rendered else 0
        self.resources_label.setText(
            f"{blocked} remote image{'s' if blocked != 1 else ''} or file"
            f"{'s' if blocked != 1 else ''} not loaded (SoloDesk never loads them: they can "
            "tell the sender you opened the mail)"
            if blocked
            else ""
        )
        self.resources_label.setToolTip("\n".join(self.html_view.blocked) if rendered else "")
        self.resources_label.setVisible(bool(blocked))

    def toggle_view(self) -> None:
        """Switch between text and HTML (Alt+V), when the shown mail has HTML."""
        if self.view_toggle.isVisible():
            self.view_toggle.toggle()

    def _on_link_hovered(self, target: str) -> None:
        self.html_view.setToolTip(f"Link target (not opened): {target}" if target else "")
