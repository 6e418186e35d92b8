"""A budget's refusal and its 80% warning show in the window's status bar."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from solodesk.core.events import BudgetExceeded, BudgetWarning
from solodesk.services import Services
from solodesk.ui.main_window import MainWindow
from tests.gui.support import show_window


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


def test_budget_events_show_a_notice_above_the_inbox(window: MainWindow) -> None:
    notice = window.budget_notice
    assert not notice.isVisible()  # a new home: no warning given
    window.services.bus.publish(
        BudgetWarning("job morning-mail", 0.5, 0.41, "82% of the job morning-mail budget"))
    assert notice.isVisible()
    assert notice.label.text() == "Budget warning: 82% of the job morning-mail budget"
    window.services.bus.publish(BudgetExceeded(
        "daily", 1.0, 0.99, 0.02, "the daily budget of $1.00 would be crossed: ...", 3))
    assert notice.label.text().startswith("Budget: the daily budget of $1.00")
    notice.costs_button.click()
    assert window.current_page() == "costs"
    window.show_page("inbox")
    notice.dismiss_button.click()
    assert not notice.isVisible()


def test_a_warning_given_by_another_process_shows_when_the_window_opens(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    gui_services.config.set("budget.daily_usd", "1")
    day = gui_services.runner.budget.limits(None)[0].period
    # given earlier by 'solodesk serve' (its own process): recorded in the store
    assert gui_services.store.budget_warnings.record(
        "daily", day, limit_usd=1.0, spent_usd=0.85, message="85% of the daily budget of $1.00")
    win = show_window(qtbot, gui_services)
    assert win.budget_notice.isVisible()
    assert win.budget_notice.label.text() == "Budget warning: 85% of the daily budget of $1.00"
