"""The first-run dialog: who signs the replies, from which address, with which model.

Shown once, when neither ``founder.name`` nor ``company.name`` was ever set
(:meth:`Config.first_run <solodesk.store.config.Config.first_run>`), and by ``solodesk demo``
prefilled with the demo's values. Everything in it can be changed later in Settings (Ctrl+,).
Enter saves, Esc skips; skipping records the default names, so it is not asked again.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.mail import check_address
from solodesk.store.config import FIRST_RUN_KEYS, SETTINGS, Config, ConfigError

#: Model choices offered (the field is editable: any litellm model string works).
MODEL_CHOICES = (
    ("local", "on this computer: llama.cpp + SmolLM2, no key, nothing leaves the machine"),
    ("openai/gpt-4o-mini", "OpenAI (set the API key in Settings)"),
    ("anthropic/claude-3-5-haiku-latest", "Anthropic (set the API key in Settings)"),
    ("ollama_chat/llama3.2", "a model served by Ollama on this computer"),
)


def sender_address(name: str, address: str) -> str:
    """``smtp.from`` from the typed sender: ``Name <addr>`` when only an address was typed and
    the founder's name is known, else as typed (RFC 5322 mailbox)."""
    address = address.strip()
    display, addr = parseaddr(address)
    if addr and not display and name.strip() and address == addr:
        return formataddr((name.strip(), addr))
    return address


class FirstRunDialog(QDialog):
    """Your name, your company, your sender address and the model.

    Args:
        config: The settings the answers are written to (on :meth:`accept`).
        parent: The main window.
    """

    def __init__(self, config: Config, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunDialog")
        self.setWindowTitle("Welcome to SoloDesk")
        self.config = config

        intro = QLabel(
            "Your agents draft replies in your name. Tell them who you are; you can change "
            "everything later in Settings (Ctrl+,)."
        )
        intro.setWordWrap(True)
        self.name_edit = QLineEdit(self._known("founder.name"))
        self.name_edit.setPlaceholderText("e.g. Ada Lovelace")
        self.name_edit.setToolTip("Replies are signed with this name (founder.name)")
        self.company_edit = QLineEdit(self._known("company.name"))
        self.company_edit.setPlaceholderText("e.g. Inkwell Notes")
        self.company_edit.setToolTip("The company the agents work for (company.name)")
        self.sender_edit = QLineEdit(config.get("smtp.from"))
        self.sender_edit.setPlaceholderText("ada@example.com")
        self.sender_edit.setToolTip(
            "The address your mail is sent from (smtp.from); its domain also names the "
            "Message-IDs of your mail. The SMTP server is set in Settings."
        )
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for value, what in MODEL_CHOICES:
            self.model_combo.addItem(value)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, what, Qt.ItemDataRole.ToolTipRole
            )
        self.model_combo.setCurrentText(config.get("llm.model"))
        self.model_combo.setToolTip(
            "local: runs on this computer, no key. Or any litellm model string "
            "(provider/model); its API key goes in Settings."
        )
        self.error_label = QLabel()
        self.error_label.setObjectName("firstRunError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel { color: #b3261e; }")
        self.error_label.hide()

        form = QFormLayout()
        form.addRow("Your &name:", self.name_edit)
        form.addRow("&Company:", self.company_edit)
        form.addRow("&Sender address:", self.sender_edit)
        form.addRow("&Model:", self.model_combo)

        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton(
            "&Save", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.skip_button = self.buttons.addButton(
            "S&kip for now", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.save_button.setDefault(True)
        self.skip_button.setToolTip(
            "Keep the defaults ('the founder' of 'my company'); set them later in Settings"
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)
        self.name_edit.setFocus()

    def _known(self, key: str) -> str:
        """The value if the founder (or the demo) set it; empty for a mere default."""
        return self.config.get(key) if self.config.is_set(key) else ""

    def values(self) -> dict[str, str]:
        """The settings as entered (empty names fall back to their defaults)."""
        name = self.name_edit.text().strip()
        return {
            "founder.name": name or SETTINGS["founder.name"].default,
            "company.name": self.company_edit.text().strip() or SETTINGS["company.name"].default,
            "smtp.from": sender_address(name, self.sender_edit.text()),
            "llm.model": self.model_combo.currentText().strip() or SETTINGS["llm.model"].default,
        }

    def problems(self) -> list[str]:
        """What must be fixed before saving (one line each)."""
        sender = self.values()["smtp.from"]
        if sender:
            reason = check_address(sender)
            if reason:
                return [f"Sender address: {reason}"]
        return []

    def accept(self) -> None:
        """Save the answers and close; a bad sender address keeps the dialog open."""
        problems = self.problems()
        if not problems:
            try:
                for key, value in self.values().items():
                    self.config.set(key, value)
            except ConfigError as exc:
                problems = [str(exc)]
        if problems:
            self.error_label.setText("\n".join(problems))
            self.error_label.show()
            self.sender_edit.setFocus()
            return
        super().accept()

    def skip(self) -> None:
        """Record the names as they are (the defaults), so the dialog is not shown again."""
        for key in FIRST_RUN_KEYS:
            self.config.set(key, self.config.get(key))
