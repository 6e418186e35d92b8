"""The Agents page: every agent card, what it may do, and editing a card.

The list shows each agent (name, role, model, the action kinds it may propose, where its card
comes from: shipped, the founder's override, or added) and each card that could not be loaded
(in red, with the file and field at fault). The detail pane shows the selected card whole.
"Edit card…" opens the card's TOML in a dialog; saving checks it (``agents.cards.save_card``)
and keeps the dialog open with the reason when it is broken, so nothing is written and nothing
typed is lost. A shipped card is saved as the founder's override in ``DATA/agents``; "Restore
shipped" removes that override. Below the card, its approval record per action kind and the
policy rules it has earned (``ui.autonomy_view``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontDatabase, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from solodesk.agents.cards import CardSet, founder_path, save_card
from solodesk.core.autonomy import Offer, Rate, offers, rates
from solodesk.core.cards import AgentCard, CardError
from solodesk.core.policy import Outcome as PolicyOutcome
from solodesk.ui.autonomy_view import record_html
from solodesk.ui.table_model import Index, ReadOnlyTableModel

if TYPE_CHECKING:
    from solodesk.services import Services

log = logging.getLogger(__name__)

ERROR_BRUSH = QBrush(QColor("#b3261e"))
ERROR_STYLE = "QLabel { color: #b3261e; }"
EDIT_KEYS = "Ctrl+E"


class CardsModel(ReadOnlyTableModel):
    """The loaded cards, then the broken ones."""

    COLUMNS = ("Name", "Role", "Model", "Kinds", "Source")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cards: list[AgentCard] = []
        self.errors: list[CardError] = []
        self.default_model = ""

    def set_cards(self, cards: CardSet, default_model: str) -> None:
        self.beginResetModel()
        self.cards, self.errors = list(cards), list(cards.errors)
        self.default_model = default_model
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.cards) + len(self.errors)

    def card_at(self, row: int) -> AgentCard | CardError | None:
        if 0 <= row < len(self.cards):
            return self.cards[row]
        if len(self.cards) <= row < self.row_total():
            return self.errors[row - len(self.cards)]
        return None

    def row_of(self, name: str) -> int:
        return next((i for i, c in enumerate(self.cards) if c.name == name), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.card_at(index.row())
        col = index.column()
        if isinstance(item, CardError):
            if role == Qt.ItemDataRole.DisplayRole:
                return (Path(item.source).stem, "cannot be loaded", "", "", "broken")[col]
            if role == Qt.ItemDataRole.ForegroundRole:
                return ERROR_BRUSH
            if role == Qt.ItemDataRole.ToolTipRole:
                return str(item)
            return None
        if item is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                item.name,
                item.role,
                item.model or f"{self.default_model} (setting)",
                ", ".join(item.kinds) or "—",
                item.origin,
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.description or item.role
        return None


def card_html(card: AgentCard, *, default_parallel: str, record: str = "") -> str:
    """The card whole, as the detail pane shows it (text escaped); ``record`` (HTML, the
    agent's approval record) goes between the card's table and its prompt."""
    import html

    def esc(text: object) -> str:
        return html.escape(str(text))

    rows = [
        ("Role", card.role),
        ("Description", card.description or "—"),
        ("Model", card.model or "the llm.model setting"),
        ("Tools", ", ".join(card.tools) or "—"),
        ("May propose", ", ".join(card.kinds) or "nothing (reports only)"),
        ("Step limit", f"{card.max_steps} model calls per run"),
    ]
    if card.delegates:
        rows.append(("Delegations at once", str(card.max_parallel or default_parallel)))
    if card.budget_usd is not None:
        rows.append(("Budget", f"${card.budget_usd:.2f} per day"))
    if card.first_tool:
        rows.append(("First tool", f"{card.first_tool} (the local model's first call)"))
    if card.keywords:
        rows.append(("Keywords", ", ".join(card.keywords)))
    rows.append(("Card", f"{card.origin}: {card.source}"))
    table = "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (
        f"<h2>{esc(card.name)}</h2><table cellspacing='4'>{table}</table>{record}"
        f"<h3>Prompt</h3><pre style='white-space: pre-wrap'>{esc(card.prompt)}</pre>"
    )


class CardEditDialog(QDialog):
    """The TOML of one card, checked on save.

    Args:
        path: Where the founder's card is saved.
        text: The text to start from (the card's file).
        name: The agent's name, which must not change (None for a broken card).
    """

    def __init__(
        self, path: Path, text: str, *, name: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("cardEditDialog")
        self.setWindowTitle(f"Edit agent card — {name or path.name}")
        self.path, self.name = path, name
        self.saved: AgentCard | None = None
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("cardText")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setPlainText(text)
        self.editor.setAccessibleName("Card TOML")
        self.where = QLabel(f"Saved to {path}")
        self.where.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("cardError")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(760, 640)

    def save(self) -> None:
        """Check and write the card; on an error show why and stay open (nothing written)."""
        try:
            self.saved = save_card(self.path, self.editor.toPlainText(), name=self.name)
        except CardError as exc:
            where = f"field '{exc.field}': " if exc.field else ""
            self.error.setText(f"Not saved — {where}{exc.reason}")
            self.error.setVisible(True)
            return
        except OSError as exc:
            self.error.setText(f"Not saved — cannot write {self.path}: {exc}")
            self.error.setVisible(True)
            return
        self.accept()


class AgentsPage(QWidget):
    """The Agents page.

    Signals:
        message(str, bool): A one-line status for the window's status bar, and whether it is
            an error.
    """

    message = Signal(str, bool)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agentsPage")
        self.services = services
        self.rates: list[Rate] = []
        self.offers: list[Offer] = []
        self.cards = CardSet()
        self.model = CardsModel(self)
        self.table = QTableView()
        self.table.setObjectName("agentsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in (0, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Agents")
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_current())
        self.table.doubleClicked.connect(lambda *_: self.edit_current())
        self.detail = QTextBrowser()
        self.detail.setObjectName("agentDetail")
        self.detail.setOpenLinks(False)
        self.edit_button = QPushButton("&Edit card…")
        self.edit_button.setObjectName("editCard")
        self.edit_button.setShortcut(QKeySequence(EDIT_KEYS))
        self.edit_button.setToolTip(f"Edit the selected card ({EDIT_KEYS})")
        self.edit_button.clicked.connect(self.edit_current)
        self.restore_button = QPushButton("&Restore shipped")
        self.restore_button.setObjectName("restoreCard")
        self.restore_button.setToolTip("Remove your override and use the shipped card again")
        self.restore_button.clicked.connect(self.restore_current)
        self.accept_button = QPushButton("&Accept earned rule…")
        self.accept_button.setObjectName("acceptEarnedRule")
        self.accept_button.setToolTip(
            "Create the policy rule this agent's unedited approvals have earned (you see the "
            "rule and its evidence first)"
        )
        self.accept_button.clicked.connect(self.accept_current)
        self.summary = QLabel()
        self.summary.setObjectName("agentsSummary")
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.accept_button)
        top.addWidget(self.restore_button)
        top.addWidget(self.edit_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setSizes([240, 360])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._loaded = False

    # -- data ----------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """Read the cards again (shipped, then ``DATA/agents``) and keep the selection."""
        current = self.current()
        keep = select or (current.name if isinstance(current, AgentCard) else None)
        self.cards = self.services.cards()
        self._read_record()
        self.model.set_cards(self.cards, self.services.config.get("llm.model"))
        n, broken = len(self.cards.cards), len(self.cards.errors)
        self.summary.setText(
            f"{n} agents" + (f", {broken} card(s) cannot be loaded" if broken else "")
        )
        row = self.model.row_of(keep) if keep else -1
        self.table.selectRow(row if row >= 0 else 0)
        self._show_current()

    def _read_record(self) -> None:
        """The founder's decisions on every agent's proposals, and the earned rules."""
        store, config = self.services.store, self.services.config
        try:
            decided = store.autonomy.decided()
            self.rates = rates(decided)
            self.offers = offers(decided, after=config.get_int("autonomy.offer_after"),
                                 rules=store.policy.rules())
        except Exception:  # a display aid: the cards are shown whatever happens here
            log.warning("could not read the approval record", exc_info=True)
            self.rates, self.offers = [], []

    def current(self) -> AgentCard | CardError | None:
        """The selected card (or broken card), if any."""
        index = self.table.currentIndex()
        return self.model.card_at(index.row()) if index.isValid() else None

    def _show_current(self) -> None:
        item = self.current()
        if isinstance(item, AgentCard):
            default = self.services.config.get("agents.max_parallel") + " (setting)"
            self.detail.setHtml(card_html(
                item, default_parallel=default,
                record=record_html(item.name, self.rates, self.offers),
            ))
        elif isinstance(item, CardError):
            import html

            self.detail.setHtml(
                f"<h2>Card cannot be loaded</h2><p>{html.escape(str(item))}</p>"
                "<p>Edit it to fix it; the other agents work meanwhile.</p>"
            )
        else:
            self.detail.clear()
        self.edit_button.setEnabled(item is not None)
        self.accept_button.setEnabled(bool(self.offers_of(item)))
        self.restore_button.setEnabled(
            isinstance(item, AgentCard) and item.origin == "override"
        )

    # -- actions -------------------------------------------------------------------------------
    def offers_of(self, item: AgentCard | CardError | None) -> list[Offer]:
        """The earned rules offered for ``item``'s agent."""
        if not isinstance(item, AgentCard):
            return []
        return [o for o in self.offers if o.agent == item.name]

    def accept_current(self) -> None:
        """Ask which earned rule of the selected agent to create (when it has several), show
        it with its evidence, and create it when the founder confirms."""
        mine = self.offers_of(self.current())
        if not mine:
            return
        offer = mine[0]
        if len(mine) > 1:
            labels = [o.describe() for o in mine]
            choice, ok = QInputDialog.getItem(
                self, "Accept earned rule", "Which rule?", labels, 0, False
            )
            if not ok:
                return
            offer = mine[labels.index(choice)]
        ids = ", ".join(f"#{a}" for a in offer.evidence)
        answer = QMessageBox.question(
            self, "Accept earned rule",
            f"{offer.describe()} (evidence: {ids}).\n\nCreate this policy rule?\n\n"
            f"{offer.rule_text()}",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.accept_offer(offer)

    def accept_offer(self, offer: Offer) -> None:
        """Create ``offer``'s rule (the founder decided) and say so."""
        try:
            rule = self.services.store.policy.add(
                kind=offer.kind, conditions=list(offer.conditions),
                outcome=PolicyOutcome.AUTO_APPROVE, note=offer.note,
            )
        except Exception as exc:
            self.message.emit(f"The rule was not created: {exc}", True)
            return
        self.message.emit(f"Policy rule added: {rule.describe()}", False)
        self.refresh()

    def edit_dialog(self) -> CardEditDialog | None:
        """The edit dialog for the selected card (not shown), or None."""
        item = self.current()
        if isinstance(item, AgentCard):
            path = founder_path(item, self.services.paths.data_dir)
            text = Path(item.source).read_text(encoding="utf-8")
            return CardEditDialog(path, text, name=item.name, parent=self)
        if isinstance(item, CardError):
            path = Path(item.source)
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            return CardEditDialog(path, text, name=None, parent=self)
        return None

    def edit_current(self) -> None:
        """Edit the selected card in a dialog; reload the cards after a save."""
        dialog = self.edit_dialog()
        if dialog is None:
            return
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.saved is not None:
            self.message.emit(f"Agent card {dialog.saved.name} saved to {dialog.path}", False)
            self.refresh(select=dialog.saved.name)

    def restore_current(self) -> None:
        """Remove the founder's override of the selected card (after asking)."""
        item = self.current()
        if not isinstance(item, AgentCard) or item.origin != "override":
            return
        answer = QMessageBox.question(
            self, "Restore shipped card",
            f"Remove your card {item.source} and use the shipped {item.name} card again?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.remove_override(item)

    def remove_override(self, card: AgentCard) -> None:
        """Delete the override file of ``card`` and reload."""
        try:
            Path(card.source).unlink()
        except OSError as exc:
            self.message.emit(f"Could not remove {card.source}: {exc}", True)
            return
        self.message.emit(f"Agent {card.name} uses the shipped card again", False)
        self.refresh(select=card.name)
