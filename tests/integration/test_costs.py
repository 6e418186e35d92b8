"""``solodesk costs``: spend per agent, model and day equals the sum of the recorded calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from solodesk.core.llmtypes import LLMCallRecord
from solodesk.store.config import Config
from solodesk.store.db import connect
from solodesk.store.paths import home_paths
from solodesk.store.repos import Store
from tests.support.helpers import run_cli

pytestmark = pytest.mark.integration

# (UTC time, agent or None, model, tokens in, tokens out, cost or None)
CALLS = [
    ("2026-03-09T22:30:00.000000Z", "support", "openai/gpt-4o-mini", 1000, 200, 0.00027),
    # 23:30 UTC on the 9th is already the 10th in Paris (UTC+1 in March).
    ("2026-03-09T23:30:00.000000Z", "support", "openai/gpt-4o-mini", 2000, 100, 0.00036),
    ("2026-03-10T10:00:00.000000Z", "manager", "anthropic/claude-3-5-haiku", 500, 50, 0.0006),
    ("2026-03-10T11:00:00.000000Z", "manager", "local/smollm2", 800, 90, 0.0),
    ("2026-03-11T09:00:00.000000Z", None, "openai/gpt-4o-mini", 10, 5, None),
    ("2026-03-08T09:00:00.000000Z", "support", "openai/gpt-4o-mini", 9999, 999, 5.0),  # before
]


def _seed(home: Path) -> None:
    paths = home_paths(home).ensure()
    Config(paths.config_file).set("schedule.timezone", "Europe/Paris")
    store = Store(connect(paths.database))
    try:
        for ts, agent, model, tin, tout, cost in CALLS:
            run_id = store.runs.start(agent=agent, task="t").id if agent else None
            store.llm_calls.record(LLMCallRecord(model, "chat", tin, tout, cost, 10,
                                                 run_id=run_id))
            store.db.execute("UPDATE llm_calls SET ts = ? WHERE id = (SELECT max(id) FROM"
                             " llm_calls)", [ts])
    finally:
        store.close()


def test_costs_equal_the_sum_of_the_recorded_calls(home: Path) -> None:
    _seed(home)
    out = run_cli(home, "costs", "--since", "2026-03-09", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    counted = CALLS[:5]
    expected_total = sum(c[5] or 0.0 for c in counted)
    assert got["total"]["calls"] == 5
    assert got["total"]["cost_usd"] == pytest.approx(expected_total)
    assert got["total"]["tokens_in"] == sum(c[3] for c in counted)
    assert got["total"]["unpriced_calls"] == 1
    for table in ("by_agent", "by_model", "by_day"):
        assert sum(v["cost_usd"] for v in got[table].values()) == pytest.approx(expected_total)
        assert sum(v["calls"] for v in got[table].values()) == 5
    assert got["by_agent"]["support"]["cost_usd"] == pytest.approx(0.00063)
    assert got["by_agent"]["(no run)"]["calls"] == 1
    assert got["by_model"]["local/smollm2"] == {
        "calls": 1, "tokens_in": 800, "tokens_out": 90, "cost_usd": 0.0, "unpriced_calls": 0}
    # Days are the founder's: Paris.
    assert got["by_day"]["2026-03-09"]["calls"] == 1
    assert got["by_day"]["2026-03-10"]["calls"] == 3
    assert got["by_day"]["2026-03-11"]["calls"] == 1

    text = run_cli(home, "costs", "--since", "2026-03-09")
    assert text.returncode == 0, text.stderr
    assert f"${expected_total:>11.6f}" in text.stdout
    assert "per agent:" in text.stdout and "per day:" in text.stdout

    bad = run_cli(home, "costs", "--since", "last week")
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "solodesk: --since must be a date YYYY-MM-DD, 'today' or 'yesterday', not 'last week'")
    today = run_cli(home, "costs", "--since", "today", "--json")
    assert today.returncode == 0, today.stderr
    assert json.loads(today.stdout)["since"] == datetime.now(UTC).astimezone(
        ZoneInfo("Europe/Paris")).date().isoformat()
