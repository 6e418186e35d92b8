"""The ``write_document`` editor: the schema form (title and text editable; the path and the
text it replaces are fixed at proposal time). For an overwrite a "Changes" pane under the text
shows the unified diff (``difflib``) of the text as shown against the file it replaces, updated
as the founder edits; the review under the editor says what approving does (a new file, or an
overwrite with how many lines change)."""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtWidgets import QTextBrowser, QWidget

from solodesk.core.kinds.document import (
    WRITE_DOCUMENT,
    WriteDocumentPayload,
    content_sha256,
    diff_lines,
)
from solodesk.ui.editors import register_editor
from solodesk.ui.editors.schema_form import SchemaFormEditor
from solodesk.ui.inbox_model import reveal

#: Fields shown but never edited here (fixed when the agent proposed).
FIXED_FIELDS = ("path", "expected_previous_sha256", "previous_content")
_ADDED, _REMOVED, _HUNK = "#1b7f3b", "#b3261e", "#6b6b6b"
#: The anchor of the diff's first changed line (the Changes pane scrolls to it).
FIRST_CHANGE = "first-change"


def diff_html(lines: list[str]) -> str:
    """Unified diff lines as coloured HTML (added green, removed red, hunks grey), with an
    anchor :data:`FIRST_CHANGE` at the first changed line."""
    out = []
    anchor = f"<a name='{FIRST_CHANGE}'></a>"
    for line in lines:
        shown = html.escape(reveal(line))
        if line.startswith(("+++", "---")):
            out.append(f"<b>{shown}</b>")
        elif line.startswith("+"):
            out.append(f"{anchor}<span style='color:{_ADDED}'>{shown}</span>")
            anchor = ""
        elif line.startswith("-"):
            out.append(f"{anchor}<span style='color:{_REMOVED}'>{shown}</span>")
            anchor = ""
        elif line.startswith("@@"):
            out.append(f"<span style='color:{_HUNK}'>{shown}</span>")
        else:
            out.append(shown)
    return "<pre>" + "\n".join(out) + "</pre>"


class DocumentEditor(SchemaFormEditor):
    """:class:`SchemaFormEditor` for ``write_document`` (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.changed.connect(self._show_risk)

    def _build(self, kind: str) -> None:
        rebuilt = kind != self._kind
        super()._build(kind)
        if not rebuilt:
            return
        for name in FIXED_FIELDS:
            widget = self._widgets.get(name)
            if widget is not None and name != "path":
                self.form.setRowVisible(widget, False)
        self.diff_view = QTextBrowser()
        self.diff_view.setObjectName("diff_view")
        self.diff_view.setOpenLinks(False)
        self.diff_view.setToolTip("What approving changes in the file: - removed, + added")
        self.diff_view.setMinimumHeight(140)
        self.form.addRow("Changes:", self.diff_view)

    def show_action(self, action: Any) -> None:
        super().show_action(action)
        path = self._widgets.get("path")
        if path is not None and hasattr(path, "setReadOnly"):
            path.setReadOnly(True)

    def diff(self) -> list[str]:
        """The unified diff of the text as shown against the file it replaces (empty for a
        new file or when nothing is loaded)."""
        action = self.action
        if action is None:
            return []
        try:
            doc = WriteDocumentPayload.model_validate(self.edited_payload())
        except ValueError:
            return []
        if not doc.overwrite:
            return []
        return diff_lines(doc.previous_content or "", doc.content, doc.path)

    def review_text(self) -> str:
        """The review area as plain text (tags dropped)."""
        text = self.risk_label.text().replace("<br>", "\n")
        return html.unescape(re.sub(r"<[^>]+>", "", text))

    def _show_risk(self) -> None:
        super()._show_risk()
        action = self.action
        if action is None:
            return
        try:
            doc = WriteDocumentPayload.model_validate(self.edited_payload())
        except ValueError:
            return
        where = html.escape(reveal(doc.path))
        sha = content_sha256(doc.content)[:12]
        view = getattr(self, "diff_view", None)
        if view is not None:
            self.form.setRowVisible(view, doc.overwrite)
        if doc.overwrite:
            lines = self.diff()
            added = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
            removed = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
            if view is not None:
                view.setHtml(diff_html(lines) if lines else "(no change to the text)")
                view.scrollToAnchor(FIRST_CHANGE)
            what = (f"<b>Approving overwrites</b> {where} in your documents folder, only if "
                    f"it is still the file the diff was made against: {added} line(s) added, "
                    f"{removed} removed (see Changes; new sha256 {sha}…).")
        else:
            what = (f"<b>Approving writes a new file</b> {where} in your documents folder "
                    f"(sha256 {sha}…).")
        self.risk_label.setText(self.risk_label.text() + "<br><br>" + what)


register_editor(WRITE_DOCUMENT, DocumentEditor)
