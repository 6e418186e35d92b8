"""Runs of triage and chat through litellm against the scripted server: the run tree, usage per
run, the audited cost of each proposal, and ``solodesk runs``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.core.events import RunFinished, RunStarted
from solodesk.core.runs import RunStatus, Usage
from solodesk.services import Services
from tests.support.helpers import collect, import_sample, run_cli
from tests.support.openai_server import Hang, ScriptedOpenAIServer, ToolCalls

pytestmark = pytest.mark.integration

#: A phrase of each of the first three sample mails (the request quotes the mail).
MAILS = {
    "marta": "Refund for my annual Pro plan",
    "jonas": "Sync fails on Android",
    "priya": "export notes to PDF",
}
CHAT = "Please write to Lukas about the corrected invoice (turn 7f3a)."
DRAFT = {
    "to": ["Lukas Meier <lukas.meier@example.com>"],
    "subject": "Corrected invoice INV-2026-0117",
    "body": "Hi Lukas,\n\nplease find the corrected invoice with our VAT number attached.\n\nAda",
}


def reply(body: str) -> ToolCalls:
    return ToolCalls((("propose_reply", json.dumps({"body": body})),))


def proposed_cost(services: Services, action_id: int) -> dict[str, Any]:
    (entry,) = [
        e for e in services.store.audit.entries(action_id=action_id)
        if e["event"] in ("proposed", "proposal_invalid")
    ]
    detail = json.loads(entry["detail"])
    return dict(detail["cost"])


def server_usage(server: ScriptedOpenAIServer, needle: str) -> Usage:
    """What the scripted server itself counted for the requests quoting ``needle``."""
    reqs = [r for r in server.chat_requests if needle in r.text()]
    return Usage(
        len(reqs),
        sum((r.usage or {}).get("prompt_tokens", 0) for r in reqs),
        sum((r.usage or {}).get("completion_tokens", 0) for r in reqs),
        None,
    )


def test_triage_is_a_run_with_a_child_run_per_mail(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.push_when(MAILS["marta"], reply("Hi Marta, we will refund you. Ada"))
    openai_server.push_when(MAILS["jonas"], reply("Hi Jonas, please send the logs. Ada"))

    report = run(services.runner.triage(limit=2))

    assert [o.status for o in report.outcomes] == ["proposed", "proposed"]
    parent, *children = sorted(services.store.runs.list(), key=lambda r: r.id)
    assert (parent.agent, parent.parent_id, parent.status) == ("support", None, RunStatus.DONE)
    assert parent.task == "triage 2 mail"
    assert [c.parent_id for c in children] == [parent.id, parent.id]
    assert [c.status for c in children] == [RunStatus.DONE, RunStatus.DONE]
    assert children[0].task.startswith("triage mail #1: Refund")
    for outcome, child in zip(report.outcomes, children, strict=True):
        assert outcome.action_id is not None
        action = services.store.actions.get(outcome.action_id)
        assert action.run_id == child.id
        assert child.usage.model_calls == 1
        assert proposed_cost(services, action.id) == child.usage.to_json()
    # The parent made no call itself; its tree holds both mails' calls.
    assert parent.usage == Usage()
    assert services.store.runs.tree_usage(parent.id) == children[0].usage + children[1].usage
    assert all(c["run_id"] is not None for c in services.store.llm_calls.all())


def test_concurrent_triage_and_chat_each_proposal_costs_its_own_run(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    """Triage and a chat turn at once (the window runs both): each proposal's audited cost is
    exactly its own run's calls, and each run's calls are exactly what the server counted for
    that run's requests. (With one shared list of calls, the chat turn cleared or took the
    triage's calls.)"""
    import_sample(services.store)
    # Marta's first draft is refused (empty body), so her run needs two calls.
    openai_server.push_when(MAILS["marta"], reply(""))
    openai_server.push_when(MAILS["marta"], reply("Hi Marta, we will refund you. Ada"))
    openai_server.push_when(MAILS["jonas"], reply("Hi Jonas, please send the tablet logs. Ada"))
    openai_server.push_when(MAILS["priya"], reply("Hi Priya, export is under File. Ada"))
    # The chat's first draft has no recipient, so its run needs two calls too.
    openai_server.push_when(
        "turn 7f3a",
        ToolCalls((("propose_send_email", json.dumps({**DRAFT, "to": []})),), text="Drafted."),
    )
    openai_server.push_when(
        "turn 7f3a", ToolCalls((("propose_send_email", json.dumps(DRAFT)),))
    )
    openai_server.reply_delay_s = 0.3  # every request is slow, so triage and chat overlap

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(
            services.runner.triage(limit=3), services.runner.chat(CHAT)
        )

    report, (cid, _completion, chat_proposals) = run(both())

    order = ["chat" if "turn 7f3a" in r.text() else "triage" for r in openai_server.chat_requests]
    print("request order:", order)
    assert openai_server.remaining == 0
    assert [o.status for o in report.outcomes] == ["proposed"] * 3
    (chat_action,) = chat_proposals
    assert chat_action.status is ActionStatus.PENDING

    runs = {r.id: r for r in services.store.runs.list()}
    chat_run = runs[chat_action.run_id or -1]
    assert (chat_run.agent, chat_run.conversation_id) == ("manager", cid)
    assert chat_run.parent_id is None and chat_run.status is RunStatus.DONE

    proposals = [services.store.actions.get(o.action_id or -1) for o in report.outcomes]
    proposals.append(chat_action)
    for action in proposals:
        rid = action.run_id
        assert rid is not None
        own = services.store.runs.calls_usage(rid)
        assert runs[rid].usage == own
        assert proposed_cost(services, action.id) == own.to_json(), action.summary
    # Ground truth from the server: each run's tokens are those of its own requests.
    needles = [MAILS["marta"], MAILS["jonas"], MAILS["priya"], "turn 7f3a"]
    for action, needle in zip(proposals, needles, strict=True):
        assert runs[action.run_id or -1].usage == server_usage(openai_server, needle), needle
    assert runs[proposals[0].run_id or -1].usage.model_calls == 2  # Marta's retry
    triage_parent = runs[runs[proposals[0].run_id or -1].parent_id or -1]
    assert services.store.runs.tree_usage(triage_parent.id) == (
        server_usage(openai_server, MAILS["marta"]) + server_usage(openai_server, MAILS["jonas"])
        + server_usage(openai_server, MAILS["priya"])
    )
    total_calls = sum(r.usage.model_calls for r in runs.values())
    assert runs[chat_action.run_id or -1].usage.model_calls == 2  # the chat's retry
    assert total_calls == len(services.store.llm_calls.all()) == 6
    print("runs:", {r.id: (r.agent, r.parent_id, r.usage.to_json()) for r in runs.values()})


def test_a_failed_triage_ends_its_runs_failed(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.error(401, "invalid api key")  # the provider refuses: not retried

    report = run(services.runner.triage(limit=1))

    assert [o.status for o in report.outcomes] == ["failed"]
    parent, child = sorted(services.store.runs.list(), key=lambda r: r.id)
    assert child.status is RunStatus.FAILED and child.error
    assert child.usage.model_calls == 1  # the failed call counts, with its run
    assert parent.status is RunStatus.FAILED and parent.error == child.error


def test_runs_cli_lists_and_shows_runs(
    services: Services, openai_server: ScriptedOpenAIServer, run, home
) -> None:
    import_sample(services.store)
    openai_server.push_when(MAILS["marta"], reply("Hi Marta, we will refund you. Ada"))
    report = run(services.runner.triage(limit=1))
    action_id = report.outcomes[0].action_id
    parent, child = sorted(services.store.runs.list(), key=lambda r: r.id)

    listed = run_cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[child.id]["parent"] == parent.id and rows[parent.id]["parent"] is None
    assert rows[child.id]["proposals"] == [action_id]
    assert rows[child.id]["tokens_in"] == child.usage.tokens_in > 0
    assert rows[child.id]["status"] == "done"

    shown = run_cli(home, "runs", "show", str(parent.id), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["children"] == [child.id]
    assert data["tree_usage"] == child.usage.to_json()
    assert data["calls"] == []  # the parent made no call itself

    text = run_cli(home, "runs", "show", str(child.id))
    assert text.returncode == 0, text.stderr
    assert f"(parent #{parent.id})" in text.stdout
    assert f"#{action_id} pending" in text.stdout
    assert "triage" in text.stdout

    # From the proposal to its run: `inbox show` names the run and its agent.
    inbox = run_cli(home, "inbox", "show", str(action_id))
    assert inbox.returncode == 0, inbox.stderr
    assert f"\n  run: #{child.id} (support)\n" in inbox.stdout
    as_json = run_cli(home, "inbox", "show", str(action_id), "--json")
    assert json.loads(as_json.stdout)["run_id"] == child.id

    missing = run_cli(home, "runs", "show", "999")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "solodesk: no run with id 999; 'solodesk runs list' shows the runs"
    )


async def _until(check: Any) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), 120)  # a hang guard only


def test_cancelling_one_mails_run_puts_it_back_and_triage_goes_on(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.push_when(MAILS["marta"], Hang(60))  # the model never answers for Marta
    openai_server.push_when(MAILS["jonas"], reply("Hi Jonas, please send the tablet logs. Ada"))
    started = collect(services, RunStarted)
    runs = services.runner.runs

    async def scenario() -> Any:
        task = asyncio.ensure_future(services.runner.triage(limit=2))
        await _until(lambda: any("Refund" in e.task for e in started))
        marta_run = next(e.run_id for e in started if "Refund" in e.task)
        await _until(lambda: any(MAILS["marta"] in r.text() for r in openai_server.chat_requests))
        assert runs.cancel(marta_run) == [marta_run]
        return await task

    report = run(scenario())

    assert [o.status for o in report.outcomes] == ["cancelled", "proposed"]
    assert services.store.mail.get(report.outcomes[0].mail_id).triage_status == "new"
    parent, marta, jonas = sorted(services.store.runs.list(), key=lambda r: r.id)
    assert (marta.status, jonas.status, parent.status) == (
        RunStatus.CANCELLED, RunStatus.DONE, RunStatus.DONE
    )
    assert marta.usage.model_calls == 1  # the cancelled call is counted, with its run
    assert services.store.runs.calls(marta.id)[0]["error"] == "cancelled"
    assert runs.live() == []


def test_cancelling_the_triage_run_cancels_the_mail_in_progress(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    import_sample(services.store)
    openai_server.push_when(MAILS["marta"], Hang(60))
    started = collect(services, RunStarted)
    finished = collect(services, RunFinished)
    runs = services.runner.runs

    async def scenario() -> Any:
        task = asyncio.ensure_future(services.runner.triage(limit=2))
        await _until(lambda: any(MAILS["marta"] in r.text() for r in openai_server.chat_requests))
        parent = next(e.run_id for e in started if e.parent_id is None)
        assert sorted(runs.cancel(parent)) == sorted(runs.live())
        return await task

    report = run(scenario())

    assert report.outcomes == []  # nothing finished; the report so far is returned
    assert services.store.mail.untriaged(limit=10)[0].id == 1  # Marta's mail is back
    assert {r.status for r in services.store.runs.list()} == {RunStatus.CANCELLED}
    assert [e.status for e in finished] == ["cancelled", "cancelled"]  # child, then parent
    assert len(openai_server.chat_requests) == 1  # Jonas's mail was never started
