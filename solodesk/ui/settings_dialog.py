"""Settings: the model, outgoing mail, names, and the two secrets (kept in the keyring).

Plain settings are written to the JSON settings file through :class:`~solodesk.store.config.
Config`. ``smtp.password`` and ``llm.api_key`` are written to the
:class:`~solodesk.store.secrets.SecretStore` only when the founder types a new value; they are
never read back into the dialog (it shows only whether each is set).
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from solodesk.store.config import SETTINGS, Config, ConfigError
from solodesk.store.secrets import KNOWN_SECRETS, SecretError, SecretStore

log = logging.getLogger(__name__)

TEXT_KEYS = (
    "llm.model",
    "llm.api_base",
    "llm.local_model_path",
    "smtp.host",
    "smtp.username",
    "smtp.from",
    "company.name",
    "founder.name",
)
SECRET_KEYS = ("llm.api_key", "smtp.password")

WARNING_STYLE = (
    "QLabel { background: #fdecea; color: #8c1d18; border: 1px solid #e6a19b;"
    " border-radius: 4px; padding: 4px 6px; }"
)


class SettingsDialog(QDialog):
    """Edit settings and set secrets.

    Args:
        config: The settings file.
        secrets: The keyring access.

    The dialog applies its values when accepted (:meth:`apply`); if a value is refused the
    dialog stays open and shows why.
    """

    def __init__(self, config: Config, secrets: SecretStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SoloDesk settings")
        self.setObjectName("settingsDialog")
        self.config = config
        self.secrets = secrets
        self.fields: dict[str, QLineEdit] = {}
        self.secret_fields: dict[str, QLineEdit] = {}
        self.secret_state: dict[str, QLabel] = {}
        self.notes: list[str] = []  # non-blocking problems of the last apply

        for key in TEXT_KEYS:
            edit = QLineEdit(config.get(key))
            edit.setToolTip(SETTINGS[key].help)
            edit.setPlaceholderText(SETTINGS[key].default or "")
            self.fields[key] = edit
        self.fields["llm.model"].setPlaceholderText("local")
        self.timeout = QSpinBox()
        self.timeout.setRange(5, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setToolTip(SETTINGS["llm.timeout"].help)
        self.timeout.setValue(self._int_setting("llm.timeout"))
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setToolTip(SETTINGS["smtp.port"].help)
        self.port.setValue(self._int_setting("smtp.port"))
        self.security = QComboBox()
        self.security.addItems(list(SETTINGS["smtp.security"].choices))
        self.security.setCurrentText(config.get("smtp.security"))
        self.security.setToolTip(SETTINGS["smtp.security"].help)

        status = secrets.status()
        for key in SECRET_KEYS:
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setToolTip(KNOWN_SECRETS[key] + " — leave empty to keep the current value")
            edit.setPlaceholderText("type a new value to replace it")
            self.secret_fields[key] = edit
            self.secret_state[key] = QLabel("set" if status.get(key) else "not set")

        info = secrets.info
        self.keyring_label = QLabel(
            f"Keyring: {info.name} — {'secure' if info.secure else 'NOT secure'}"
        )
        self.keyring_label.setWordWrap(True)
        self.keyring_warning = QLabel(
            "No secure keyring is available: passwords and API keys you enter are kept in "
            "memory for this session only and are lost when SoloDesk closes. Install or unlock "
            "a Secret Service keyring (e.g. gnome-keyring) to keep them."
        )
        self.keyring_warning.setWordWrap(True)
        self.keyring_warning.setStyleSheet(WARNING_STYLE)
        self.keyring_warning.setVisible(not info.secure)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel { color: #b3261e; }")
        self.error_label.hide()

        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        model_form.addRow("&Model:", self.fields["llm.model"])
        model_form.addRow("API &base URL:", self.fields["llm.api_base"])
        model_form.addRow("API &key:", self._secret_row("llm.api_key"))
        model_form.addRow("Local model &file:", self.fields["llm.local_model_path"])
        model_form.addRow("&Timeout:", self.timeout)

        mail_box = QGroupBox("Outgoing mail (SMTP)")
        mail_form = QFormLayout(mail_box)
        mail_form.addRow("&Host:", self.fields["smtp.host"])
        mail_form.addRow("&Port:", self.port)
        mail_form.addRow("&Security:", self.security)
        mail_form.addRow("&Username:", self.fields["smtp.username"])
        mail_form.addRow("Pass&word:", self._secret_row("smtp.password"))
        mail_form.addRow("&From:", self.fields["smtp.from"])

        names_box = QGroupBox("Names used by the agents")
        names_form = QFormLayout(names_box)
        names_form.addRow("&Company:", self.fields["company.name"])
        names_form.addRow("F&ounder:", self.fields["founder.name"])

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(mail_box)
        layout.addWidget(names_box)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.keyring_warning)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def _int_setting(self, key: str) -> int:
        try:
            return self.config.get_int(key)
        except ConfigError:
            return int(SETTINGS[key].default)

    def _secret_row(self, key: str) -> QWidget:
        row = QWidget()
        layout = QFormLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addRow(self.secret_fields[key], self.secret_state[key])
        return row

    def values(self) -> dict[str, str]:
        """The plain settings as entered (no secrets)."""
        out = {key: edit.text().strip() for key, edit in self.fields.items()}
        out["llm.timeout"] = str(self.timeout.value())
        out["smtp.port"] = str(self.port.value())
        out["smtp.security"] = self.security.currentText()
        return out

    def apply(self) -> list[str]:
        """Write changed settings, and secrets that were typed in.

        Returns:
            Problems (one line each); empty if everything was saved securely.
        """
        problems: list[str] = []
        for key, value in self.values().items():
            if key == "llm.model" and not value:
                value = SETTINGS[key].default
            if value == self.config.get(key):
                continue
            try:
                self.config.set(key, value)
            except ConfigError as exc:
                problems.append(str(exc))
        for key, edit in self.secret_fields.items():
            value = edit.text()
            if not value:
                continue  # empty: keep the current secret
            try:
                stored = self.secrets.set(key, value)
            except SecretError as exc:
                problems.append(str(exc))
                continue
            edit.clear()
            self.secret_state[key].setText("set")
            if not stored:
                problems.append(
                    f"{key} is kept in memory for this session only (no secure keyring)"
                )
        return problems

    def accept(self) -> None:
        """Apply; close unless a value was refused (insecure-keyring notes do not block)."""
        problems = self.apply()
        blocking = [p for p in problems if "memory for this session" not in p]
        if blocking:
            self.error_label.setText("\n".join(blocking))
            self.error_label.show()
            return
        self.notes = problems
        super().accept()
