"""The job kinds that run agents, through the real runner, litellm and the scripted
OpenAI-compatible server (which reports usage): what each proposes, the job run's tokens and cost
(the sums of its recorded calls), the job's budget pausing a run, and the 80% warning once per
budget scope and period for the home (not per process)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from solodesk import cli_jobs
from solodesk.agents.budget import BudgetGuard
from solodesk.core.actions import ActionStatus, Provenance
from solodesk.core.events import BudgetExceeded, BudgetWarning, RunFailed
from solodesk.core.kinds.ledger import RECORD_TRANSACTION
from solodesk.core.llmtypes import LLMCallRecord
from solodesk.scheduler import JobScheduler
from solodesk.services import Services
from tests.conftest import Run
from tests.support.helpers import collect, import_sample
from tests.support.invoices import draft
from tests.support.openai_server import ScriptedOpenAIServer, Text, ToolCalls

pytestmark = pytest.mark.integration

PRICED = "openai/gpt-4o-mini"  # in litellm's offline price map; served by the scripted server
ticks = itertools.count()


def reply(body: str = "Hi,\n\nthank you, I will look into it today.\n\nAda") -> ToolCalls:
    return ToolCalls((("propose_reply", json.dumps({"body": body})),))


def scheduler(sv: Services, at: str = "2026-03-24T08:00:00Z") -> JobScheduler:
    """A scheduler whose clock reads ``at`` (UTC), a millisecond later at each reading (each
    manual run has its own slot)."""
    start = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return JobScheduler(store=sv.store, config=sv.config, secrets=sv.secrets, bus=sv.bus,
                        runner=sv.runner,
                        clock=lambda: start + timedelta(milliseconds=next(ticks)))


def calls_of(sv: Services, job_run_id: int) -> list[dict[str, Any]]:
    """The recorded model calls of one job run's runs (read back with plain SQL)."""
    return [dict(r) for r in sv.store.db.query(
        "WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE job_run_id = ?"
        " UNION SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id)"
        " SELECT tokens_in, tokens_out, cost_usd FROM llm_calls"
        " WHERE run_id IN (SELECT id FROM tree)", [job_run_id])]


def test_mail_triage_triages_a_bounded_batch_into_pending_proposals(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object]
) -> None:
    sv = services
    sv.config.set("llm.model", PRICED)
    sv.config.set("jobs.triage_limit", "2")
    import_sample(sv.store)
    openai_server.push(reply(), reply())

    job_run = run(scheduler(sv).run_now("morning-mail"))  # IMAP not configured: triage only

    assert job_run.outcome == "done", job_run.detail
    assert "IMAP is not configured" in job_run.detail
    assert "triaged 2: 2 proposed" in job_run.detail and "4 left for the next run" in job_run.detail
    assert len(sv.store.mail.untriaged()) == 4
    pending = sv.store.actions.list(statuses=[ActionStatus.PENDING])
    assert job_run.proposals == len(pending) == 2  # nothing approved: a job never approves
    calls = calls_of(sv, job_run.id)
    assert len(calls) == len(openai_server.chat_requests) == 2
    assert job_run.tokens_in == sum(c["tokens_in"] for c in calls) > 0
    assert job_run.tokens_out == sum(c["tokens_out"] for c in calls) > 0
    assert job_run.cost_usd == pytest.approx(sum(c["cost_usd"] for c in calls)) and (
        job_run.cost_usd > 0)
    root = sv.store.runs.get(job_run.run_id or 0)
    assert (root.agent, root.job_run_id, root.parent_id) == ("support", job_run.id, None)
    assert {a.run_id for a in pending} <= {r.id for r in sv.store.runs.list(limit=50)
                                          if r.parent_id == root.id}
    print(f"\nmail_triage: {job_run.detail}; tokens {job_run.tokens_in}+{job_run.tokens_out}, "
          f"${job_run.cost_usd:.6f}")


def test_a_call_that_would_cross_the_jobs_budget_pauses_the_run_until_raised(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sv = services
    sv.config.set("llm.model", PRICED)
    sv.config.set("jobs.triage_limit", "1")
    sv.store.jobs.set_budget("morning-mail", 0.00001)  # below one call's estimate
    import_sample(sv.store)
    failures = collect(sv, RunFailed)

    paused = run(scheduler(sv).run_now("morning-mail"))

    assert openai_server.chat_requests == []  # refused before it was made
    assert paused.outcome == "paused"
    assert paused.detail.startswith("paused: the job morning-mail budget of $1e-05 would be "
                                    "crossed")
    assert "solodesk jobs budget morning-mail AMOUNT" in paused.detail
    assert (paused.proposals, paused.tokens_in, paused.cost_usd) == (0, 0, 0.0)
    assert len(sv.store.mail.untriaged()) == 6  # the mail waits for the next run
    assert any(f.message.startswith("job morning-mail paused: ") for f in failures)
    assert sv.store.actions.list(statuses=[ActionStatus.PENDING]) == []

    # Visible in 'jobs history'; its exit status says it did not finish.
    code = run(cli_jobs.dispatch(sv, _args("history", name="morning-mail", limit=5, json=True)))
    (entry,) = json.loads(capsys.readouterr().out)
    assert code == 0 and entry["outcome"] == "paused" and "budget" in entry["detail"]

    # Raising the budget resumes: the next run triages the mail the paused one left.
    sv.store.jobs.set_budget("morning-mail", 1.0)
    openai_server.push(reply())
    resumed = run(scheduler(sv).run_now("morning-mail"))
    assert resumed.outcome == "done", resumed.detail
    assert resumed.proposals == 1 and len(openai_server.chat_requests) == 1
    print(f"\npaused: {paused.detail}\nresumed: {resumed.detail}")


def _args(action: str, **kw: Any) -> Any:
    import argparse

    return argparse.Namespace(action=action, **kw)


def test_the_80_percent_warning_is_given_once_per_period_for_the_home(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sv = services
    sv.config.set("llm.model", PRICED)
    sv.config.set("jobs.triage_limit", "1")
    sv.store.jobs.set_budget("morning-mail", 0.0009)  # one call (~$0.00073 estimated) is > 80%
    import_sample(sv.store)
    warned = collect(sv, BudgetWarning)
    openai_server.push(reply())

    job_run = run(scheduler(sv).run_now("morning-mail"))

    assert job_run.outcome == "done", job_run.detail
    assert [w.scope for w in warned] == ["job morning-mail"]
    (given,) = sv.store.budget_warnings.for_job_run(job_run.id)
    assert given.message == warned[0].message and given.period == f"job run {job_run.id}"
    run(cli_jobs.dispatch(sv, _args("history", name="morning-mail", limit=5, json=False)))
    out = capsys.readouterr().out
    assert f"       warning: {given.message}" in out

    # The company's daily budget: a second guard (another process, or a restart) on the same
    # home does not warn again for the same day.
    sv.config.set("budget.daily_usd", "0.0015")  # today's ~$0.00007 + 0.0012: 85%
    first = BudgetGuard(sv.store, sv.config, sv.bus)
    second = BudgetGuard(sv.store, sv.config, sv.bus)
    estimate = _estimate(0.0012)
    first.check(estimate)
    second.check(estimate)
    first.check(estimate)
    assert [w.scope for w in warned] == ["job morning-mail", "daily"]
    assert sv.store.budget_warnings.given(
        "daily", datetime.now(UTC).astimezone(_zone(sv)).date().isoformat()) is not None
    print(f"\nwarnings: {[w.message for w in warned]}")


def _zone(sv: Services) -> Any:
    from solodesk.agents.budget import founder_zone

    return founder_zone(sv.config)


def _estimate(cost: float) -> Any:
    from solodesk.core.llmtypes import CallEstimate

    return CallEstimate(PRICED, "test", None, 100, 1024, cost)


def test_bookkeeping_proposes_postings_for_new_bank_lines(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object]
) -> None:
    from tests.integration.test_money_kinds import import_lines

    sv = services
    sv.config.set("llm.model", PRICED)
    sv.store.ledger.add_rule("github", "Expenses:Software")
    import_lines(sv, (-700, "GITHUB, INC.", "Invoice 0815 Copilot"),
                 (-4_990, "Hetzner Online", "Server rent March"))
    openai_server.push(ToolCalls((("categorise_bank_line", json.dumps(
        {"account": "Expenses:Software", "reason": "server rent"})),)))
    sv.store.jobs.set_enabled("weekly-books", False)

    job_run = run(scheduler(sv).run_now("weekly-books"))

    assert job_run.outcome == "done", job_run.detail
    pending = sv.store.actions.list(statuses=[ActionStatus.PENDING])
    assert [a.kind for a in pending] == [RECORD_TRANSACTION] * job_run.proposals
    assert job_run.detail.startswith(f"{job_run.proposals} posting(s) proposed")
    calls = calls_of(sv, job_run.id)
    assert len(calls) == len(openai_server.chat_requests)
    assert job_run.cost_usd == pytest.approx(sum(c["cost_usd"] or 0 for c in calls))
    assert sv.store.runs.get(job_run.run_id or 0).agent == "bookkeeper"
    again = run(scheduler(sv, "2026-03-31T08:00:00Z").run_now("weekly-books"))
    assert (again.outcome, again.proposals) == ("done", 0)  # nothing new: nothing proposed
    print(f"\nbookkeeping: {job_run.detail}; then: {again.detail}")


def test_invoice_reminders_proposes_the_due_reminders_once(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object]
) -> None:
    from solodesk.agents.invoicing import invoicing_for

    sv = services
    sv.config.set("schedule.timezone", "Europe/Paris")
    sv.config.set("outbox.undo_seconds", "0")
    d = draft(issue_date=date(2026, 3, 2), due_date=date(2026, 3, 16))
    a = run(invoicing_for(sv.runner).propose_invoice(d, provenance=Provenance("chat", None)))
    assert run(sv.decisions.approve(a.id, expected_sha256=a.payload_sha256)).status is (
        ActionStatus.EXECUTED)

    early = run(scheduler(sv, "2026-03-20T08:00:00Z").run_now("invoice-reminders"))
    assert (early.outcome, early.proposals, early.detail) == (
        "done", 0, "no payment reminder due on 2026-03-20")
    due = run(scheduler(sv, "2026-03-24T08:00:00Z").run_now("invoice-reminders"))
    assert (due.outcome, due.proposals) == ("done", 1), due.detail
    (mail,) = sv.store.actions.list(statuses=[ActionStatus.PENDING])
    assert mail.agent == "invoicing" and mail.payload["subject"].startswith("Reminder: invoice")
    again = run(scheduler(sv, "2026-03-25T08:00:00Z").run_now("invoice-reminders"))
    assert again.proposals == 0 and "skipped" in again.detail  # once per interval
    assert openai_server.chat_requests == []  # reminders need no model
    print(f"\ninvoice_reminders: {due.detail}; next day: {again.detail}")


def test_the_agent_kind_runs_the_jobs_card_on_its_task(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object]
) -> None:
    sv = services
    sv.config.set("llm.model", PRICED)
    sv.store.jobs.add("digest", schedule="0 18 * * 1-5", kind="agent", agent="manager",
                      task="Say what needs my attention today.", budget_usd=0.5)
    openai_server.push(Text("Nothing needs your attention today."))

    job_run = run(scheduler(sv).run_now("digest"))

    assert job_run.outcome == "done", job_run.detail
    assert job_run.detail == "manager done: Nothing needs your attention today."
    root = sv.store.runs.get(job_run.run_id or 0)
    assert (root.agent, root.job_run_id) == ("manager", job_run.id)
    assert job_run.tokens_in > 0 and job_run.cost_usd > 0
    assert len(calls_of(sv, job_run.id)) == 1

    sv.store.jobs.add("nobody", schedule="@daily", kind="agent", agent="ghost", task="t")
    failed = run(scheduler(sv).run_now("nobody"))
    assert failed.outcome == "failed" and failed.detail.startswith("no agent named 'ghost'")


def test_a_job_outside_its_run_tree_is_not_charged(
    services: Services, run: Run[object]
) -> None:
    """A call of another run (the chat, meanwhile) is not the job's: its budget refusal does not
    pause the job run, and its cost is not in the job's figures."""
    sv = services
    other = sv.store.runs.start(agent="manager", task="chat")
    sv.store.llm_calls.record(LLMCallRecord(PRICED, "chat", 100, 10, 0.5, 5, run_id=other.id))

    async def meanwhile(ctx: Any) -> Any:
        from solodesk.scheduler import JobResult

        sv.bus.publish(BudgetExceeded("daily", 1.0, 0.9, 0.2, "not the job's", other.id))
        return JobResult(detail="ok")

    from solodesk.scheduler import JobKind

    sched = scheduler(sv)
    sched.kinds = {"probe": JobKind("probe", "test", meanwhile)}
    sv.store.jobs.add("probe", schedule="@daily", kind="probe")
    job_run = run(sched.run_now("probe"))
    assert (job_run.outcome, job_run.cost_usd, job_run.run_id) == ("done", 0.0, None)


def test_a_jobs_proposals_obey_the_founders_policy_rules(
    services: Services, openai_server: ScriptedOpenAIServer, run: Run[object]
) -> None:
    """A schedule never approves: only a rule the founder wrote does, as for any proposal."""
    from solodesk.core.policy import Outcome, parse_condition

    sv = services
    sv.config.set("llm.model", PRICED)
    sv.config.set("jobs.triage_limit", "1")
    rule = sv.store.policy.add(
        kind="reply_email",
        conditions=[parse_condition("recipient_domains in example.com"),
                    parse_condition("risk <= low")],
        outcome=Outcome.AUTO_APPROVE, note="replies to customers",
    )
    import_sample(sv.store)
    openai_server.push(reply("Hi Marta, Ada will follow up.\nAda"))

    job_run = run(scheduler(sv).run_now("morning-mail"))

    assert job_run.outcome == "done" and job_run.proposals == 1, job_run.detail
    (action,) = sv.store.actions.list(limit=5)
    # approved by the rule (sent once its undo window ends), not by the job
    assert action.status in (ActionStatus.APPROVED, ActionStatus.SCHEDULED)
    assert action.decided_by == f"policy rule #{rule.id}"
