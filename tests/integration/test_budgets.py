"""USD budgets checked before every model call, against the scripted OpenAI server (which reports
usage) and litellm's offline price map; windows in the founder's time zone; per job; per agent;
the local model at price 0."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from solodesk.agents.budget import BudgetGuard
from solodesk.core.events import BudgetExceeded, BudgetWarning, EventBus
from solodesk.core.llmtypes import CallEstimate, LLMCallRecord, OverBudget
from solodesk.core.runs import RunStatus
from solodesk.llm.gateway import Gateway, ModelTarget, import_litellm
from solodesk.llm.local import LOCAL_MODEL_NAME
from solodesk.services import Services
from solodesk.store.repos import Store
from tests.support.helpers import collect, import_sample
from tests.support.openai_server import ScriptedOpenAIServer, ToolCalls

pytestmark = pytest.mark.integration

PRICED = "openai/gpt-4o-mini"  # in litellm's offline price map; served by the scripted server


def reply(body: str = "Hi,\n\nthank you, I will look into it today.\n\nAda") -> ToolCalls:
    return ToolCalls((("propose_reply", json.dumps({"body": body})),))


def seed_call(store: Store, ts: str, cost: float, *, run_id: int | None = None) -> None:
    """A recorded call at ``ts`` (UTC) costing ``cost`` USD."""
    store.llm_calls.record(LLMCallRecord(PRICED, "seed", 100, 10, cost, 5, run_id=run_id))
    store.db.execute("UPDATE llm_calls SET ts = ? WHERE id = (SELECT max(id) FROM llm_calls)",
                     [ts])


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_call_that_would_cross_the_daily_budget_is_not_made_and_the_run_pauses(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("llm.model", PRICED)
    services.config.set("budget.daily_usd", "0.0001")  # below one call's estimate
    exceeded = collect(services, BudgetExceeded)
    mail_ids = import_sample(services.store)
    untriaged = len(services.store.mail.untriaged())

    report = run(services.runner.triage(limit=1))

    assert openai_server.chat_requests == []  # refused before it was made
    assert len(services.store.mail.untriaged()) == untriaged  # the mail stays untriaged
    assert [o.status for o in report.outcomes] == ["failed"]
    assert len(exceeded) == 1
    assert exceeded[0].scope == "daily"
    assert "was not made" in exceeded[0].message and "budget.daily_usd" in exceeded[0].message
    runs = services.store.runs.list(limit=10)
    assert {r.status for r in runs} == {RunStatus.PAUSED}  # the command and the mail's run
    assert services.store.llm_calls.all() == []  # no call recorded: none was made
    print(f"\nrefused: {exceeded[0].message}")

    # Raising the budget and running again resumes: the same mail is triaged now.
    services.config.set("budget.daily_usd", "1")
    openai_server.push(reply())
    again = run(services.runner.triage(limit=1))
    assert [o.status for o in again.outcomes] == ["proposed"]
    assert again.outcomes[0].mail_id == mail_ids[0]
    assert len(openai_server.chat_requests) == 1
    (call,) = services.store.llm_calls.all()
    assert call["cost_usd"] and call["cost_usd"] > 0  # priced from litellm's map


def test_the_80_percent_warning_comes_once_per_period(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("llm.model", PRICED)
    services.config.set("budget.daily_usd", "0.01")
    seed_call(services.store, now_stamp(), 0.0085)  # 85% spent already today
    warned = collect(services, BudgetWarning)
    exceeded = collect(services, BudgetExceeded)
    import_sample(services.store)
    openai_server.push(reply(), reply())

    report = run(services.runner.triage(limit=2))

    assert [o.status for o in report.outcomes] == ["proposed", "proposed"]
    assert exceeded == []
    assert len(openai_server.chat_requests) == 2
    assert [w.scope for w in warned] == ["daily"]  # once, not once per call
    print(f"\nwarning: {warned[0].message}")


def _guard(store: Store, tz: str, at: str, **kw: object) -> tuple[BudgetGuard, EventBus]:
    from solodesk.store.config import Config

    config: Config = kw.pop("config")  # type: ignore[assignment]
    config.set("schedule.timezone", tz)
    bus = EventBus()
    clock = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return BudgetGuard(store, config, bus, clock=lambda: clock, **kw), bus  # type: ignore[arg-type]


def estimate(cost: float, run_id: int | None = None) -> CallEstimate:
    return CallEstimate(PRICED, "test", run_id, 100, 1024, cost)


def test_day_and_month_windows_are_the_founders(services: Services) -> None:
    store, config = services.store, services.config
    seed_call(store, "2026-03-09T22:30:00.000000Z", 1.0)  # 23:30 on the 9th in Paris
    seed_call(store, "2026-03-09T23:30:00.000000Z", 2.0)  # 00:30 on the 10th in Paris
    seed_call(store, "2026-03-31T21:30:00.000000Z", 4.0)  # 23:30 on 31 March in Paris
    seed_call(store, "2026-03-31T22:30:00.000000Z", 8.0)  # 00:30 on 1 April in Paris
    config.set("budget.daily_usd", "100")
    config.set("budget.monthly_usd", "100")

    guard, _ = _guard(store, "Europe/Paris", "2026-03-10T10:00:00Z", config=config)
    spent = {lim.scope: lim.spent_usd for lim in guard.limits(None)}
    assert spent["daily"] == pytest.approx(2.0)  # the Paris day, not the UTC day (3.0)
    assert spent["monthly"] == pytest.approx(7.0)  # March in Paris: not the 8.0 (1 April)

    guard, _ = _guard(store, "Europe/Paris", "2026-03-31T23:00:00Z", config=config)
    spent = {lim.scope: lim.spent_usd for lim in guard.limits(None)}
    assert spent["daily"] == pytest.approx(8.0)  # 1 April in Paris
    assert spent["monthly"] == pytest.approx(8.0)  # April in Paris (March in UTC: 15.0)

    guard, _ = _guard(store, "UTC", "2026-03-31T23:00:00Z", config=config)
    spent = {lim.scope: lim.spent_usd for lim in guard.limits(None)}
    assert spent["daily"] == pytest.approx(12.0)
    assert spent["monthly"] == pytest.approx(15.0)

    # The monthly budget refuses a call the daily one allows.
    config.set("budget.monthly_usd", "15.5")
    guard, bus = _guard(store, "UTC", "2026-03-31T23:00:00Z", config=config)
    with pytest.raises(OverBudget) as refused:
        guard.check(estimate(0.6))
    assert refused.value.scope == "monthly"
    guard.check(estimate(0.4))  # fits


def test_a_jobs_budget_covers_its_run_tree_only(services: Services) -> None:
    store, config = services.store, services.config
    job = store.jobs.add("digest", schedule="0 7 * * *", kind="mail_sync", budget_usd=0.05)
    first = store.jobs.claim(job, "2026-03-10T06:00:00Z", now=now_stamp())
    second = store.jobs.claim(job, "2026-03-11T06:00:00Z", now=now_stamp())
    assert first is not None and second is not None
    root = store.runs.start(agent="support", task="job digest", job_run_id=first.id)
    child = store.runs.start(agent="support", task="a mail", parent_id=root.id)
    seed_call(store, now_stamp(), 0.03, run_id=child.id)
    other = store.runs.start(agent="support", task="job digest", job_run_id=second.id)

    guard, bus = _guard(store, "UTC", "2026-03-10T10:00:00Z", config=config)
    exceeded: list[BudgetExceeded] = []
    bus.subscribe(BudgetExceeded, exceeded.append)
    guard.check(estimate(0.01, child.id))  # 0.04 of 0.05
    with pytest.raises(OverBudget) as refused:
        guard.check(estimate(0.03, child.id))  # 0.06 > 0.05
    assert refused.value.scope == "job digest"
    assert exceeded[0].run_id == child.id
    guard.check(estimate(0.03, other.id))  # the next job run has its own budget


def test_an_agents_budget_from_its_card(services: Services) -> None:
    store, config = services.store, services.config
    support = store.runs.start(agent="support", task="t")
    manager = store.runs.start(agent="manager", task="t")
    seed_call(store, "2026-03-10T09:00:00.000000Z", 0.9, run_id=support.id)
    guard, _ = _guard(store, "UTC", "2026-03-10T10:00:00Z", config=config,
                      agent_budgets={"support": 1.0})
    with pytest.raises(OverBudget) as refused:
        guard.check(estimate(0.2, support.id))
    assert refused.value.scope == "agent support"
    guard.check(estimate(0.2, manager.id))  # the manager has no budget of its own


def test_the_local_model_counts_tokens_at_price_zero(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    litellm = import_litellm()
    local = Gateway(ModelTarget(f"openai/{LOCAL_MODEL_NAME}", api_base="http://127.0.0.1:1",
                                max_tokens=256, free=True))
    est = local.estimate(litellm, [{"role": "user", "content": "Hello there, how are you?"}],
                         (), purpose="chat", run_id=None)
    assert est.tokens_in > 0 and est.tokens_out == 256
    assert est.cost_usd == 0.0 and est.priced
    priced = Gateway(ModelTarget(PRICED, max_tokens=256)).estimate(
        litellm, [{"role": "user", "content": "Hello there, how are you?"}], (),
        purpose="chat", run_id=None)
    assert priced.tokens_in == est.tokens_in and priced.cost_usd > 0 and priced.priced
    print(f"\nestimates: local {est}, priced {priced}")
    # The local model is free for the guard: a budget of 0 lets it through.
    guard = BudgetGuard(services.store, services.config, EventBus())
    services.config.set("budget.daily_usd", "0")
    guard.check(est)


def test_a_model_without_a_price_is_refused_under_a_budget_until_its_price_is_set(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    """A model litellm cannot price (a self-hosted or renamed one) would run unchecked at "$0":
    while a budget applies it is refused with what to do; with its price set it runs, and its
    recorded cost is that price times the tokens."""
    model = services.config.get("llm.model")
    litellm = import_litellm()
    est = Gateway(ModelTarget(model, max_tokens=256)).estimate(
        litellm, [{"role": "user", "content": "Hello"}], (), purpose="chat", run_id=None)
    assert not est.priced, f"{model} is in litellm's price list: pick an unpriced name"

    services.config.set("budget.daily_usd", "5")
    exceeded = collect(services, BudgetExceeded)
    import_sample(services.store)
    report = run(services.runner.triage(limit=1))
    assert [o.status for o in report.outcomes] == ["failed"]
    assert openai_server.chat_requests == []
    (event,) = exceeded
    assert "has no price" in event.message and "llm.price_in_usd_per_mtok" in event.message
    print(f"\nrefused: {event.message}")

    services.config.set("llm.price_in_usd_per_mtok", "2")
    services.config.set("llm.price_out_usd_per_mtok", "8")
    openai_server.push(reply())
    report = run(services.runner.triage(limit=1))
    assert [o.status for o in report.outcomes] == ["proposed"]
    (call,) = services.store.llm_calls.all()
    expected = (call["tokens_in"] * 2 + call["tokens_out"] * 8) / 1_000_000
    assert call["cost_usd"] == pytest.approx(expected) and expected > 0

    # A self-hosted model priced at 0 runs even with no budget left beyond what was spent.
    services.config.set("llm.price_in_usd_per_mtok", "0")
    services.config.set("llm.price_out_usd_per_mtok", "0")
    services.config.set("budget.daily_usd", f"{expected + 0.000001:.6f}")
    openai_server.push(reply())
    report = run(services.runner.triage(limit=1))
    assert [o.status for o in report.outcomes] == ["proposed"]


def test_a_chat_turn_over_budget_keeps_the_message_and_can_be_retried(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    services.config.set("llm.model", PRICED)
    services.config.set("budget.daily_usd", "0.0001")
    with pytest.raises(OverBudget):
        run(services.runner.chat("Please draft a note to Lukas about the invoice."))
    assert openai_server.chat_requests == []
    (paused,) = services.store.runs.list(limit=5)
    assert (paused.agent, paused.status) == ("manager", RunStatus.PAUSED)
    assert "budget" in (paused.error or "")

    services.config.set("budget.daily_usd", "")  # empty: no limit
    openai_server.reply_text("Here is a draft.")
    cid, completion, _ = run(services.runner.chat("Please draft a note to Lukas again."))
    assert completion.text == "Here is a draft."
    texts = [m["content"] for m in services.store.chat.messages(cid)]
    assert texts[-1] == "Here is a draft."
    assert len(openai_server.chat_requests) == 1


def test_the_command_line_says_why_triage_stopped(
    home, openai_server: ScriptedOpenAIServer
) -> None:
    from solodesk.store.config import Config
    from solodesk.store.db import connect
    from solodesk.store.paths import home_paths
    from tests.support.helpers import run_cli

    paths = home_paths(home).ensure()
    cfg = Config(paths.config_file)
    for key, value in {"llm.model": PRICED, "llm.api_base": openai_server.base_url,
                       "budget.daily_usd": "0.0001"}.items():
        cfg.set(key, value)
    store = Store(connect(paths.database))
    try:
        import_sample(store)
    finally:
        store.close()
    out = run_cli(home, "mail", "triage", "--limit", "1")
    print(f"\n{out.stderr}")
    assert "budget: the daily budget of $0.0001 would be crossed" in out.stderr
    assert out.stderr.count("would be crossed") == 1  # said once, not again as an error
    assert "budget.daily_usd" in out.stderr
    assert "Traceback" not in out.stderr
    assert openai_server.chat_requests == []
    listed = run_cli(home, "runs", "list")
    assert "paused" in listed.stdout


def test_applies_exactly_when_some_budget_limits_the_call(services: Services) -> None:
    """``BudgetGuard.applies`` (the gateway skips the estimate when it is False) agrees with
    ``limits`` for: no budget, an agent's, a job's, the company's daily one."""
    store, config = services.store, services.config
    job = store.jobs.add("digest", schedule="0 7 * * *", kind="mail_sync", budget_usd=0.05)
    free_job = store.jobs.add("sync", schedule="0 8 * * *", kind="mail_sync")
    claimed = store.jobs.claim(job, "2026-03-10T06:00:00Z", now=now_stamp())
    unbudgeted = store.jobs.claim(free_job, "2026-03-10T06:00:00Z", now=now_stamp())
    assert claimed is not None and unbudgeted is not None
    root = store.runs.start(agent="manager", task="job digest", job_run_id=claimed.id)
    runs = {
        "none": None,
        "manager": store.runs.start(agent="manager", task="t").id,
        "support": store.runs.start(agent="support", task="t").id,
        "job child": store.runs.start(agent="manager", task="a mail", parent_id=root.id).id,
        "unbudgeted job": store.runs.start(agent="manager", task="sync",
                                           job_run_id=unbudgeted.id).id,
    }
    guard, _ = _guard(store, "UTC", "2026-03-10T10:00:00Z", config=config,
                      agent_budgets={"support": 1.0})
    applies = {name: guard.applies(r) for name, r in runs.items()}
    assert applies == {name: bool(guard.limits(r)) for name, r in runs.items()}
    assert applies == {"none": False, "manager": False, "support": True, "job child": True,
                       "unbudgeted job": False}
    config.set("budget.daily_usd", "2")
    assert all(guard.applies(r) for r in runs.values())


def test_the_gateway_skips_the_estimate_when_no_budget_applies(
    openai_server: ScriptedOpenAIServer, run
) -> None:
    checked: list[CallEstimate] = []
    asked: list[int | None] = []
    answer = {"applies": False}

    def applies(run_id: int | None) -> bool:
        asked.append(run_id)
        return answer["applies"]

    gateway = Gateway(ModelTarget(PRICED, api_base=openai_server.base_url, api_key="k"),
                      before_call=checked.append, budget_applies=applies)
    openai_server.reply_text("one")
    assert run(gateway.complete([{"role": "user", "content": "hi"}], run_id=7)).text == "one"
    assert asked == [7] and checked == []
    answer["applies"] = True
    openai_server.reply_text("two")
    assert run(gateway.complete([{"role": "user", "content": "hi"}], run_id=8)).text == "two"
    assert asked == [7, 8] and [c.run_id for c in checked] == [8]
    assert checked[0].tokens_in > 0
