"""The ``write_document`` editor: the schema form (title and text editable; the path and the
text it replaces are fixed at proposal time), with what approving will do under it: a new file,
or for an overwrite the unified diff (``difflib``) of the text as shown against the file it
replaces, updated as the founder edits."""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtWidgets import QWidget

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


def diff_html(lines: list[str]) -> str:
    """Unified diff lines as coloured HTML (added green, removed red, hunks grey)."""
    out = []
    for line in lines:
        shown = html.escape(reveal(line))
        if line.startswith(("+++", "---")):
            out.append(f"<b>{shown}</b>")
        elif line.startswith("+"):
            out.append(f"<span style='color:{_ADDED}'>{shown}</span>")
        elif line.startswith("-"):
            out.append(f"<span style='color:{_REMOVED}'>{shown}</span>")
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
        super()._build(kind)
        for name in FIXED_FIELDS:
            widget = self._widgets.get(name)
            if widget is not None and name != "path":
                self.form.setRowVisible(widget, False)

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
        if doc.overwrite:
            lines = self.diff()
            body = diff_html(lines) if lines else "<p>(no change to the text)</p>"
            what = (f"<b>Approving overwrites</b> {where} in your documents folder "
                    f"(only if it is still the file shown; new sha256 {sha}…). What changes:"
                    f"{body}")
        else:
            what = (f"<b>Approving writes a new file</b> {where} in your documents folder "
                    f"(sha256 {sha}…).")
        self.risk_label.setText(self.risk_label.text() + "<br><br>" + what)


register_editor(WRITE_DOCUMENT, DocumentEditor)
