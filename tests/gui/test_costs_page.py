"""The Costs page: its figures are the recorded calls' sums, the same as ``solodesk costs``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from solodesk.core.llmtypes import LLMCallRecord
from solodesk.services import Services
from solodesk.store.costs import Spend
from solodesk.ui.pages.costs import SPEND_REFRESH_MS, SpendModel, days_between, period_start
from tests.gui.support import show_window
from tests.support.helpers import run_cli

# (UTC time, agent or None, model, tokens in, tokens out, cost or None)
CALLS = [
    ("2026-03-09T22:30:00.000000Z", "support", "openai/gpt-4o-mini", 1000, 200, 0.00027),
    # 23:30 UTC on the 9th is already the 10th in Paris (UTC+1 in March).
    ("2026-03-09T23:30:00.000000Z", "support", "openai/gpt-4o-mini", 2000, 100, 0.00036),
    ("2026-03-10T10:00:00.000000Z", "manager", "anthropic/claude-3-5-haiku", 500, 50, 0.0006),
    ("2026-03-10T11:00:00.000000Z", "manager", "local/smollm2", 800, 90, 0.0),
    ("2026-03-11T09:00:00.000000Z", None, "openai/gpt-4o-mini", 10, 5, None),
    ("2026-03-08T09:00:00.000000Z", "support", "openai/gpt-4o-mini", 9999, 999, 5.0),  # before
    ("2026-03-12T08:00:00.000000Z", "support", "openai/gpt-4o-mini", 100, 10, 0.0015),  # today
]
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def _seed(services: Services) -> None:
    services.config.set("schedule.timezone", "Europe/Paris")
    store = services.store
    for ts, agent, model, tin, tout, cost in CALLS:
        run_id = store.runs.start(agent=agent, task="t").id if agent else None
        store.llm_calls.record(LLMCallRecord(model, "chat", tin, tout, cost, 10, run_id=run_id))
        store.db.execute("UPDATE llm_calls SET ts = ? WHERE id = (SELECT max(id) FROM"
                         " llm_calls)", [ts])


def _rows(model: SpendModel) -> dict[str, list[str]]:
    return {
        model.index(r, 0).data(): [model.index(r, c).data() for c in range(1, 6)]
        for r in range(model.rowCount())
    }


def test_period_helpers() -> None:
    today = date(2026, 3, 12)
    assert period_start("month", today, today) == date(2026, 3, 1)
    assert period_start("30days", today, today) == date(2026, 2, 11)
    assert len(days_between(period_start("30days", today, today), today)) == 30
    assert period_start("since", today, date(2026, 1, 5)) == date(2026, 1, 5)
    with pytest.raises(ValueError, match="unknown period 'year'"):
        period_start("year", today, today)


def test_costs_page_equals_the_costs_command(
    qtbot: QtBot, gui_services: Services, aloop: object, tmp_path: Path
) -> None:
    _seed(gui_services)
    gui_services.config.set("budget.daily_usd", "0.002")
    gui_services.runner.budget.agent_budgets = {"support": 0.01}
    gui_services.runner.budget.clock = lambda: NOW
    win = show_window(qtbot, gui_services)
    page = win.costs
    page.clock = lambda: NOW
    assert "costs" in win.page_keys()
    win.show_page("costs")
    assert win.current_page() == "costs"

    page.set_period("since", date(2026, 3, 9))
    assert page.since_edit.isEnabled()
    out = run_cli(tmp_path / "home", "costs", "--since", "2026-03-09", "--json")
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert cli["timezone"] == "Europe/Paris"
    assert page.report.to_json() == {k: cli[k] for k in ("total", "by_agent", "by_model",
                                                        "by_day")}
    # What the tables show is the command's figures.
    agents = _rows(page.agent_model)
    assert set(agents) == set(cli["by_agent"])
    for name, figures in cli["by_agent"].items():
        assert agents[name][1] == f"{figures['calls']:,}"
        assert agents[name][2] == f"{figures['tokens_in']:,}"
    assert _rows(page.model_model)["openai/gpt-4o-mini"][4] == "1"  # one unpriced call
    assert set(_rows(page.day_model)) == set(cli["by_day"])
    assert [b.day for b in page.chart.bars] == days_between(date(2026, 3, 9), date(2026, 3, 12))
    assert [b.cost_usd for b in page.chart.bars] == pytest.approx(
        [cli["by_day"].get(d, {"cost_usd": 0.0})["cost_usd"] for d in days_between(
            date(2026, 3, 9), date(2026, 3, 12))]
    )
    assert "1 call had no price" in page.summary.text()
    assert "2026-03-09 (Europe/Paris)" in page.summary.text()

    # Budgets: the company's per day and the support agent's, with today's spend.
    budgets = {page.budget_model.index(r, 0).data(): r
               for r in range(page.budget_model.rowCount())}
    assert set(budgets) == {"Company, per day", "Agent support, per day"}
    daily = budgets["Company, per day"]
    assert page.budget_model.rows[daily].spent_usd == pytest.approx(0.0015)
    assert page.budget_model.index(daily, 1).data() == "2026-03-12"
    assert page.budget_model.index(daily, 4).data() == "75%"
    assert page.budget_model.index(daily, 4).data(Qt.ItemDataRole.ForegroundRole) is None
    agent = budgets["Agent support, per day"]
    assert page.budget_model.index(agent, 4).data() == "15%"
    gui_services.config.set("budget.daily_usd", "0.0018")  # 83% used: shown in red
    page.refresh()
    assert page.budget_model.index(daily, 4).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert page.budget_model.index(daily, 0).data(
        Qt.ItemDataRole.ToolTipRole) == "To change it: solodesk config set budget.daily_usd AMOUNT"

    # This month and the last 30 days: the same sums as the command from those days.
    for kind, first in (("month", "2026-03-01"), ("30days", "2026-02-11")):
        page.set_period(kind)
        assert not page.since_edit.isEnabled()
        out = run_cli(tmp_path / "home", "costs", "--since", first, "--json")
        assert out.returncode == 0, out.stderr
        assert page.report.to_json()["total"] == json.loads(out.stdout)["total"]
        assert page.report.total.calls == 7


def test_costs_page_on_a_new_home(qtbot: QtBot, gui_services: Services, aloop: object) -> None:
    win = show_window(qtbot, gui_services)
    win.show_page("costs")
    page = win.costs
    assert page.report.total == Spend()
    assert page.agent_model.rowCount() == 0
    assert page.summary.text().startswith("$0.00 spent since ")
    assert page.budget_model.rowCount() == 0
    assert "No budget set" in page.budget_note.text()
    assert page.chart.accessibleDescription() == "no spend"
    page.grab()  # the empty chart paints


def test_costs_page_says_when_the_time_zone_is_wrong(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    win = show_window(qtbot, gui_services)
    win.show_page("costs")
    gui_services.config._values["schedule.timezone"] = "Mars/Olympus"
    win.costs.refresh()
    assert win.costs.problem.isVisible()
    assert "Mars/Olympus" in win.costs.problem.text()


def test_costs_page_follows_spend_while_shown_and_lists_the_warnings(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    from solodesk.agents.budget import BudgetGuard
    from solodesk.core.llmtypes import CallEstimate

    _seed(gui_services)
    gui_services.config.set("budget.daily_usd", "0.0018")
    win = show_window(qtbot, gui_services)
    page = win.costs
    page.clock = lambda: NOW
    gui_services.runner.budget.clock = lambda: NOW
    win.show_page("costs")
    page.set_period("month")
    assert page.report.total.calls == 7
    assert not page.warnings_note.isVisible()

    # A call recorded by a run while the page is shown: the page re-reads by itself.
    store = gui_services.store
    run = store.runs.start(agent="support", task="t")
    gui_services.runner.runs.record_call(
        LLMCallRecord("openai/gpt-4o-mini", "chat", 10, 5, 0.0001, 10, run_id=run.id))
    qtbot.waitUntil(lambda: page.report.total.calls == 8)

    # The 80% warning (given by any process: here another guard on the same home) is listed.
    other = BudgetGuard(store, gui_services.config, gui_services.bus, clock=lambda: NOW)
    other.check(CallEstimate("openai/gpt-4o-mini", "test", None, 10, 10, 0.0))
    qtbot.waitUntil(page.warnings_note.isVisible)
    assert "of the daily budget of $0.0018" in page.warnings_note.text()
    assert win.message_label.fullText().startswith("Budget warning: ")

    # Hidden, the page does not re-read; shown again, it does.
    win.show_page("inbox")
    gui_services.runner.runs.record_call(
        LLMCallRecord("openai/gpt-4o-mini", "chat", 10, 5, 0.0001, 10, run_id=run.id))
    qtbot.wait(SETTLE_MS)
    assert page.report.total.calls == 8
    win.show_page("costs")
    assert page.report.total.calls == 9
    assert page.warnings_note.isVisible()  # the warning stays for its period


SETTLE_MS = 2 * SPEND_REFRESH_MS  # twice the page's debounce: a refresh would have run
