"""Every keyboard shortcut of the window, in one place, and the help dialog that lists them.

Keys are portable text (``QKeySequence`` objects need a ``QGuiApplication``); :func:`native`
turns them into the platform's spelling for buttons and tooltips.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# -- the inbox ---------------------------------------------------------------------------------
APPROVE_KEYS = "Ctrl+Return"
APPROVE_LOW_RISK_KEYS = "Ctrl+Shift+Return"
REJECT_KEYS = ("Ctrl+Delete", "Ctrl+Backspace")
SAVE_KEYS = "Ctrl+S"
UNDO_KEYS = "Ctrl+Z"
NEXT_KEYS = ("J", "Down")
PREVIOUS_KEYS = ("K", "Up")
EDIT_KEYS = ("E", "F2")
BACK_TO_LIST_KEYS = "Esc"
# -- the window --------------------------------------------------------------------------------
HELP_KEYS = ("F1", "Ctrl+/")
POLICY_KEYS = "Ctrl+Shift+P"
AUDIT_KEYS = "Ctrl+Shift+A"
IMPORT_FILE_KEYS = "Ctrl+O"
IMPORT_FOLDER_KEYS = "Ctrl+Shift+O"
TRIAGE_KEYS = "Ctrl+T"
SETTINGS_KEYS = "Ctrl+,"
REFRESH_KEYS = "F5"
QUIT_KEYS = "Ctrl+Q"
CHAT_STOP_KEYS = "Esc"
CHAT_EARLIER_KEYS = "Alt+Up"
#: The pages, in side-bar order: Ctrl+1 is the inbox.
PAGE_KEYS = tuple(f"Ctrl+{n}" for n in range(1, 10))
# -- the pages ---------------------------------------------------------------------------------
BANK_IMPORT_KEYS = "Ctrl+Shift+B"
JOB_RUN_KEYS = "Ctrl+R"
CANCEL_RUN_KEYS = ("Delete", "Ctrl+.")


def native(keys: str) -> str:
    """``keys`` as the platform writes it (``Ctrl+Return`` → ``Ctrl+Return`` / ``⌘↩``)."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


def _any(keys: str | tuple[str, ...]) -> str:
    return " or ".join(native(k) for k in ((keys,) if isinstance(keys, str) else keys))


def help_rows() -> list[tuple[str, str, str]]:
    """``(where, keys, what)`` for every shortcut, in the order the help dialog lists them."""
    return [
        ("Inbox list", _any(NEXT_KEYS), "Next (older) proposal"),
        ("Inbox list", _any(PREVIOUS_KEYS), "Previous (newer) proposal"),
        ("Inbox list", "Shift+Down / Shift+Up, Ctrl+A", "Select several proposals"),
        ("Inbox list", _any(EDIT_KEYS), "Edit the selected proposal (focus its body)"),
        ("Inbox", native(APPROVE_KEYS), "Approve what is shown (or every selected proposal)"),
        (
            "Inbox",
            native(APPROVE_LOW_RISK_KEYS),
            "Approve all visible low-risk proposals (asks first, with the count)",
        ),
        ("Inbox", _any(REJECT_KEYS), "Reject (asks for one reason; Enter confirms)"),
        ("Inbox", native(SAVE_KEYS), "Save the edit without approving"),
        (
            "Window",
            native(UNDO_KEYS),
            "Undo send: cancel the latest approval in its undo window (also while typing; "
            "with no send pending it undoes typing)",
        ),
        ("Editor", native(BACK_TO_LIST_KEYS), "Back to the list (edits are kept)"),
        ("Source mail", "Alt+V", "Switch between the mail's text and its HTML (loads nothing "
         "from outside the mail)"),
        ("Chat", "Enter", "Send the message"),
        ("Chat", native(CHAT_STOP_KEYS), "Stop the reply being written"),
        ("Chat", native(CHAT_EARLIER_KEYS), "Show earlier messages of a long conversation"),
        ("Window", native(TRIAGE_KEYS), "Triage imported mail"),
        ("Window", native(IMPORT_FILE_KEYS), "Import a mail file"),
        ("Window", native(IMPORT_FOLDER_KEYS), "Import a mail folder"),
        ("Window", native(POLICY_KEYS), "Policy rules"),
        ("Window", native(AUDIT_KEYS), "Audit trail"),
        ("Window", native(SETTINGS_KEYS), "Settings"),
        ("Window", native(REFRESH_KEYS), "Refresh the inbox"),
        (
            "Window",
            ", ".join(native(k) for k in PAGE_KEYS),
            "Go to page 1…9 (Inbox, Books, Jobs… in the side bar's order)",
        ),
        ("Window", native(BANK_IMPORT_KEYS), "Import a bank statement (OFX/QFX, camt.053, CSV)"),
        ("Jobs page", native(JOB_RUN_KEYS), "Run the selected job now"),
        ("Activity page", _any(CANCEL_RUN_KEYS),
         "Cancel the selected run and every run it started"),
        ("Memory page", native(SAVE_KEYS), "Save the business profile"),
        ("Memory page", native("Ctrl+F"), "Search the facts"),
        ("Memory page", native("Del"), "Forget the selected fact (it stays in the store)"),
        ("Window", _any(HELP_KEYS), "This list of shortcuts"),
        ("Window", native(QUIT_KEYS), "Quit"),
    ]


class ShortcutsDialog(QDialog):
    """A read-only table of every keyboard shortcut (opened with F1 or Ctrl+/)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        rows = help_rows()
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        for r, (where, keys, what) in enumerate(rows):
            for c, text in enumerate((where, keys, what)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        intro = QLabel(
            "Triage without the mouse: J/K to move, Ctrl+Return to approve, Ctrl+Delete to "
            "reject, E to edit and Esc to come back, Ctrl+Z to undo a send."
        )
        intro.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def listed_keys(self) -> list[str]:
        """The Keys column (tests compare it with the bound shortcuts)."""
        items = (self.table.item(r, 1) for r in range(self.table.rowCount()))
        return [item.text() for item in items if item is not None]
