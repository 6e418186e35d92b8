"""A budget's refusal and its 80% warning show in the window's status bar."""

from __future__ import annotations

from solodesk.core.events import BudgetExceeded, BudgetWarning
from solodesk.ui.main_window import MainWindow


def test_budget_events_show_in_the_status_bar(window: MainWindow) -> None:
    bus = window.services.bus
    bus.publish(BudgetWarning("daily", 1.0, 0.8, "85% of the daily budget of $1.00"))
    assert window.message_label.fullText() == "Budget warning: 85% of the daily budget of $1.00"
    assert "b3261e" not in window.message_label.styleSheet()
    bus.publish(BudgetExceeded(
        "monthly", 5.0, 4.99, 0.02,
        "the monthly budget of $5.00 would be crossed: ... the run is paused. Raise it "
        "(solodesk config set budget.monthly_usd AMOUNT) and run again to resume", 7,
    ))
    assert window.message_label.fullText().startswith("Budget: the monthly budget of $5.00")
    assert "budget.monthly_usd" in window.message_label.toolTip()
    assert "b3261e" in window.message_label.styleSheet()
