"""The devil's advocate's critique of the shown proposal: a small panel above the editor.

It shows the verdict (reject in red, revise in amber, approve in green, unknown in grey) with
its reason and the concerns, or that the critique is running, or why there is none (a failed
critique: the proposal is unchanged), or the raw answer of an unreadable one. Hidden for a
proposal that was not critiqued. Everything the model wrote is escaped (it may quote untrusted
mail).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from solodesk.core.actions import Action
from solodesk.core.critique import Critique

VERDICT_COLORS = {
    "reject": "#b3261e",
    "revise": "#7a4100",
    "approve": "#1e6b2f",
    "unknown": "#555555",
}
PANEL_STYLE = (
    "QFrame#critiquePanel { background: #f6f4fb; border: 1px solid #b9b0d6;"
    " border-radius: 4px; }"
)


def _esc(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def critique_html(action: Action) -> str:
    """The panel's text for ``action`` ('' when it was not critiqued)."""
    data = action.critique
    if data is None:
        return ""
    if data.get("state") == "running":
        return "<b>Devil's advocate:</b> <i>reviewing this proposal…</i>"
    critique = Critique.from_json(data)
    if critique is None:
        return ""
    run = f" <small>(run #{critique.run_id})</small>" if critique.run_id is not None else ""
    head = f"<b>Devil's advocate</b>{run}: "
    if critique.error:
        return (head + f"<span style='color:#555555'>no critique — {_esc(critique.error)}. "
                "The proposal is unchanged.</span>")
    color = VERDICT_COLORS.get(critique.verdict, VERDICT_COLORS["unknown"])
    parts = [head + f"<b style='color:{color}'>{html.escape(critique.verdict.upper())}</b>"]
    if critique.verdict == "unknown":
        parts[0] += " <i>(the answer could not be read; as written:)</i>"
        parts.append(f"<span style='color:#555555'>{_esc(critique.raw[:1500])}</span>")
    elif critique.why:
        parts[0] += f" — {_esc(critique.why)}"
    if critique.concerns:
        parts.append("".join(f"• {_esc(c)}<br>" for c in critique.concerns).removesuffix("<br>"))
    elif critique.verdict != "unknown":
        parts.append("<i>No concerns found.</i>")
    if critique.payload_sha256 and critique.payload_sha256 != action.payload_sha256:
        parts.append("<i>This critique is of an earlier version: the proposal was edited "
                     "since.</i>")
    return "<br>".join(parts)


class CritiquePanel(QFrame):
    """The critique of the shown proposal (hidden when there is none)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("critiquePanel")
        self.setStyleSheet(PANEL_STYLE)
        self.label = QLabel()
        self.label.setObjectName("critiqueText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.label)
        self.show_action(None)

    def show_action(self, action: Action | None) -> None:
        """Show ``action``'s critique, or hide the panel."""
        text = critique_html(action) if action is not None else ""
        self.label.setText(text)
        self.label.setToolTip(
            "The devil's advocate critiques high-risk proposals before you decide. It can "
            "raise the risk, never lower it, and never approves."
        )
        self.setVisible(bool(text))

    def text(self) -> str:
        """The panel as plain text (for tests and logs)."""
        doc = self.label.text().replace("<br>", "\n")
        out, inside = [], False
        for ch in doc:
            if ch == "<":
                inside = True
            elif ch == ">" and inside:
                inside = False
            elif not inside:
                out.append(ch)
        return html.unescape("".join(out))
