"""Settings: the model, outgoing mail, names, and the two secrets (kept in the keyring).

Plain settings are written to the JSON settings file through :class:`~solodesk.store.config.
Config`. Every value is checked as it is typed (:func:`~solodesk.store.config.check`: the error
shows under the field) and again on Save; if one value is not allowed, nothing is saved and the
dialog stays open. Values in the settings file that are not allowed are listed at the top, and
the fields show them (or the default, for numbers) so Save replaces them. ``smtp.password`` and
``llm.api_key`` are written to the :class:`~solodesk.store.secrets.SecretStore` only when the
founder types a new value; they are never read back into the dialog (it shows only whether
each is set).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from solodesk.store.config import (
    SETTINGS,
    Config,
    ConfigError,
    IntValue,
    InvalidSetting,
    check,
)
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
INT_KEYS = (
    "llm.timeout",
    "llm.local_timeout",
    "llm.local_threads",
    "llm.validation_retries",
    "smtp.port",
    "smtp.timeout",
    "outbox.undo_seconds",
)
SECRET_KEYS = ("llm.api_key", "smtp.password")
#: On/off settings, shown as check boxes: key, label.
BOOL_KEYS = (
    ("ui.close_to_tray", "&Keep running in the tray when the window is closed"),
    ("ui.do_not_disturb", "Do &Not Disturb (no notifications, only the count on the tray icon)"),
)

ERROR_STYLE = "QLabel { color: #b3261e; }"
INVALID_STYLE = "QLineEdit { border: 1px solid #b3261e; }"
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

        self.field_errors: dict[str, QLabel] = {}
        for key in TEXT_KEYS:
            edit = QLineEdit(config.raw(key))
            edit.setObjectName(f"setting:{key}")
            edit.setToolTip(f"{SETTINGS[key].help}\nAllowed: {SETTINGS[key].allowed()}")
            edit.setPlaceholderText(SETTINGS[key].default or "")
            self.fields[key] = edit
            label = QLabel()
            label.setObjectName(f"error:{key}")
            label.setWordWrap(True)
            label.setStyleSheet(ERROR_STYLE)
            label.hide()
            self.field_errors[key] = label
            edit.textChanged.connect(lambda _text, k=key: self._check_field(k))
        self.fields["llm.model"].setPlaceholderText("local")
        self.spins: dict[str, QSpinBox] = {key: self._spin(key) for key in INT_KEYS}
        self.timeout = self.spins["llm.timeout"]
        self.port = self.spins["smtp.port"]
        self.security = QComboBox()
        self.security.addItems(list(SETTINGS["smtp.security"].choices))
        self.security.setCurrentText(self._valid_or_default("smtp.security"))
        self.security.setToolTip(SETTINGS["smtp.security"].help)
        self.checks: dict[str, QCheckBox] = {}
        for key, text in BOOL_KEYS:
            box = QCheckBox(text)
            box.setObjectName(f"setting:{key}")
            box.setToolTip(SETTINGS[key].help)
            box.setChecked(self._valid_or_default(key) == "true")
            self.checks[key] = box
        self.file_problems = QLabel(self._file_problems_text())
        self.file_problems.setObjectName("settingsFileProblems")
        self.file_problems.setWordWrap(True)
        self.file_problems.setTextFormat(Qt.TextFormat.PlainText)
        self.file_problems.setStyleSheet(WARNING_STYLE)
        self.file_problems.setVisible(bool(config.problems))

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
        self._text_row(model_form, "&Model:", "llm.model")
        self._text_row(model_form, "API &base URL:", "llm.api_base")
        model_form.addRow("API &key:", self._secret_row("llm.api_key"))
        self._text_row(model_form, "Local model &file:", "llm.local_model_path")
        model_form.addRow("&Timeout:", self.timeout)
        model_form.addRow("Validation &retries:", self.spins["llm.validation_retries"])

        mail_box = QGroupBox("Outgoing mail (SMTP)")
        mail_form = QFormLayout(mail_box)
        self._text_row(mail_form, "&Host:", "smtp.host")
        mail_form.addRow("&Port:", self.port)
        mail_form.addRow("&Security:", self.security)
        self._text_row(mail_form, "&Username:", "smtp.username")
        mail_form.addRow("Pass&word:", self._secret_row("smtp.password"))
        self._text_row(mail_form, "&From:", "smtp.from")
        mail_form.addRow("SMTP time&out:", self.spins["smtp.timeout"])
        mail_form.addRow("&Undo window:", self.spins["outbox.undo_seconds"])

        names_box = QGroupBox("Names used by the agents")
        names_form = QFormLayout(names_box)
        self._text_row(names_form, "&Company:", "company.name")
        self._text_row(names_form, "F&ounder:", "founder.name")

        desktop_box = QGroupBox("Desktop")
        desktop_layout = QVBoxLayout(desktop_box)
        for box in self.checks.values():
            desktop_layout.addWidget(box)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        # The forms scroll when the screen is too small for them; the rest stays in view.
        forms = QWidget()
        forms_layout = QVBoxLayout(forms)
        forms_layout.setContentsMargins(0, 0, 0, 0)
        forms_layout.addWidget(model_box)
        forms_layout.addWidget(mail_box)
        forms_layout.addWidget(names_box)
        forms_layout.addWidget(desktop_box)
        forms_layout.addStretch(1)
        self.forms_scroll = QScrollArea()
        self.forms_scroll.setWidget(forms)
        self.forms_scroll.setWidgetResizable(True)
        self.forms_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.forms_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._forms = forms

        layout = QVBoxLayout(self)
        layout.addWidget(self.file_problems)
        layout.addWidget(self.forms_scroll, 1)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.keyring_warning)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        self._fit_to_screen()

    def _fit_to_screen(self) -> None:
        """As tall as the forms need, but no taller than the screen (the forms then scroll)."""
        wanted = self.sizeHint().height() - self.forms_scroll.sizeHint().height()
        wanted += self._forms.sizeHint().height() + 8
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        limit = int(screen.height() * 0.9) if screen is not None else wanted
        self.resize(max(self.minimumWidth(), self.sizeHint().width()), min(wanted, limit))

    def _valid_or_default(self, key: str) -> str:
        """The stored value, or the default if the file holds a value that is not allowed."""
        try:
            return self.config.get(key)
        except ConfigError:
            return SETTINGS[key].default

    def _spin(self, key: str) -> QSpinBox:
        kind = SETTINGS[key].type
        assert isinstance(kind, IntValue)
        spin = QSpinBox()
        spin.setObjectName(f"setting:{key}")
        spin.setRange(kind.minimum, kind.maximum)
        if kind.unit == "seconds":
            spin.setSuffix(" s")
        spin.setToolTip(f"{SETTINGS[key].help}\nAllowed: {SETTINGS[key].allowed()}")
        spin.setValue(int(self._valid_or_default(key)))
        return spin

    def _file_problems_text(self) -> str:
        problems = self.config.problems
        if not problems:
            return ""
        lines = [f"The settings file {self.config.path} has values that are not allowed:"]
        for p in problems:
            lines.append(f"• {p.key} = {p.value!r}")
        lines.append(
            "Numbers and choices show their default here; correct the other fields. Save "
            "writes what is shown."
        )
        return "\n".join(lines)

    def _text_row(self, form: QFormLayout, label: str, key: str) -> None:
        form.addRow(label, self.fields[key])
        form.addRow("", self.field_errors[key])
        self._check_field(key)

    def _check_field(self, key: str) -> str | None:
        """Check one text field as typed; show the error under it. Returns the error."""
        edit, label = self.fields[key], self.field_errors[key]
        value = edit.text()
        if key == "llm.model" and not value.strip():
            value = SETTINGS[key].default
        try:
            check(key, value)
        except InvalidSetting as exc:
            label.setText(f"This value {exc.reason}")  # the field says which key
            label.setToolTip(str(exc))
            label.show()
            edit.setStyleSheet(INVALID_STYLE)
            return str(exc)
        label.hide()
        edit.setStyleSheet("")
        return None

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
        if not out["llm.model"]:
            out["llm.model"] = SETTINGS["llm.model"].default
        for key, spin in self.spins.items():
            out[key] = str(spin.value())
        out["smtp.security"] = self.security.currentText()
        for key, box in self.checks.items():
            out[key] = "true" if box.isChecked() else "false"
        return out

    def errors(self) -> dict[str, str]:
        """Every field whose value is not allowed, with why (shown under the field)."""
        out = {}
        for key in self.fields:
            error = self._check_field(key)
            if error:
                out[key] = error
        for key, value in self.values().items():
            if key not in out:
                try:
                    check(key, value)
                except ConfigError as exc:
                    out[key] = str(exc)
        return out

    def apply(self) -> list[str]:
        """Write changed settings, and secrets that were typed in.

        Returns:
            Problems (one line each); empty if everything was saved securely.
        """
        errors = self.errors()
        if errors:  # nothing is saved, not even the valid values or the secrets
            return list(errors.values())
        changed = {
            key: value
            for key, value in self.values().items()
            if value != self.config.raw(key) or self.config.problem(key)
        }
        if changed:
            try:
                self.config.set_many(changed)
            except ConfigError as exc:
                return str(exc).splitlines()
        problems: list[str] = []
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
            marked = [k for k in self.fields if self.field_errors[k].isVisibleTo(self)]
            others = [p for p in blocking if not any(p.startswith(f"{k} ") for k in marked)]
            self.error_label.setText(
                "Nothing was saved: correct the values marked in red."
                + "".join(f"\n{p}" for p in others)
            )
            self.error_label.setToolTip("\n".join(blocking))
            self.error_label.show()
            first = next((k for k in self.fields if self.field_errors[k].isVisibleTo(self)), None)
            if first is not None:
                self.fields[first].setFocus()
            return
        self.notes = problems
        super().accept()
