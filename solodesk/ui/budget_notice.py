"""The budget notice above the inbox: the 80% warning of a budget, or a refused call (a paused
run), until the founder dismisses it or opens the Costs page.

The warnings are the store's (``store.budget_warnings``: once per budget scope and period,
whichever process gave them), so a warning given by ``solodesk serve`` overnight is shown when
the window opens.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

if TYPE_CHECKING:
    from solodesk.core.events import BudgetExceeded, BudgetWarning
    from solodesk.services import Services

log = logging.getLogger(__name__)

WARNING_STYLE = "QFrame#budgetNotice { background: #fff4d6; border: 1px solid #e0b84d; }"
REFUSED_STYLE = "QFrame#budgetNotice { background: #fde7e5; border: 1px solid #b3261e; }"


class BudgetNotice(QFrame):
    """A one-line notice with "Costs" and "Dismiss" buttons; hidden until there is something.

    Signals:
        open_costs(): The founder asked for the Costs page.
    """

    open_costs = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("budgetNotice")
        self.label = QLabel()
        self.label.setObjectName("budgetNoticeText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.costs_button = QPushButton("C&osts")
        self.costs_button.setToolTip("Open the Costs page: spend and budgets")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this notice (the Costs page keeps the warning)")
        for button in (self.costs_button, self.dismiss_button):
            button.setAutoDefault(False)
        self.costs_button.clicked.connect(self.open_costs)
        self.dismiss_button.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.costs_button)
        row.addWidget(self.dismiss_button)
        self.hide()

    def show_budget(self, event: BudgetExceeded | BudgetWarning) -> None:
        """Show a budget event: a refusal (red) or an 80% warning."""
        from solodesk.core.events import BudgetExceeded

        if isinstance(event, BudgetExceeded):
            self.show_text(f"Budget: {event.message}", refused=True)
        else:
            self.show_text(f"Budget warning: {event.message}", refused=False)

    def show_text(self, text: str, *, refused: bool) -> None:
        self.label.setText(text)
        self.setStyleSheet(REFUSED_STYLE if refused else WARNING_STYLE)
        self.show()

    def show_current(self, services: Services) -> None:
        """Show the latest warning given for a budget's current period, if any."""
        try:
            current = {(lim.scope, lim.period) for lim in services.runner.budget.usage()}
            given = [w for w in services.store.budget_warnings.recent(20)
                     if (w.scope, w.period) in current]
        except Exception:  # a bad time zone setting, a busy store: the notice is not vital
            log.exception("reading the budget warnings failed")
            return
        if given:
            self.show_text(f"Budget warning: {given[0].message}", refused=False)
