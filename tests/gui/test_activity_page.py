"""The Activity page: the live tree of runs produced by the real agent loop (litellm against the
scripted OpenAI-compatible server, on the GUI's qasync loop), cancel from the page, a failed run's
error, and the link from a proposal to the run that produced it.

The scripted server holds the specialists' requests (``Hang``) so that the runs are still
running while the page is checked: the assertions are on what the page shows, never on time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from pytestqt.qtbot import QtBot

from solodesk.agents.runs import RunCancelled
from solodesk.core.actions import ActionStatus
from solodesk.core.runs import RunStatus
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
from solodesk.ui.main_window import MainWindow
from solodesk.ui.pages import activity as activity_module
from solodesk.ui.pages.activity import COL_COST, COL_STATUS, COL_TASK, COL_TOKENS
from tests.gui.conftest import Drive
from tests.gui.support import MemorySecrets, show_window
from tests.support.openai_server import Hang, HttpError, ScriptedOpenAIServer, Text, ToolCalls

pytestmark = pytest.mark.gui

#: Guards against a hang only (milliseconds); nothing here depends on how fast the machine is.
HANG_GUARD_MS = 120_000

MARKETING = "Marketing specialist of"  # in the marketing card's prompt only
LEGAL = "Legal assistant of"  # in the legal card's prompt only
NEWSLETTER = "Draft our launch newsletter for the customers who asked about the app."
NDA = "Check the NDA in my documents for risky clauses."
DRAFT = {
    "to": ["Lukas Meier <lukas.meier@example.com>"],
    "subject": "Our app is live",
    "body": "Hi Lukas,\n\nthe app you asked about is live today.\n\nAda",
}


@pytest.fixture
def services(
    tmp_path: Path, drive: Drive[object], openai_server: ScriptedOpenAIServer
) -> Iterator[Services]:
    """Real services on the GUI's loop, talking to the scripted model through litellm."""
    sv = build_services(home_paths(tmp_path / "home"), secrets=MemorySecrets())
    sv.config.set("llm.model", "openai/scripted")
    sv.config.set("llm.api_base", openai_server.base_url)
    yield sv
    drive(sv.aclose(), timeout=HANG_GUARD_MS)


def delegate_both(server: ScriptedOpenAIServer) -> None:
    """The manager's first step: delegate to marketing and legal at once."""
    server.reply_tool_calls(
        [
            ("delegate", json.dumps({"agent": "marketing", "task": NEWSLETTER})),
            ("delegate", json.dumps({"agent": "legal", "task": NDA})),
        ],
        text="I'll ask marketing and legal.",
    )


def start_chat(services: Services, aloop: asyncio.AbstractEventLoop) -> asyncio.Future[object]:
    return asyncio.ensure_future(
        services.runner.chat("Draft our launch newsletter, and check the NDA for risky clauses"),
        loop=aloop,
    )


def test_the_tree_shows_the_delegation_live_and_cancel_reaches_the_children(
    qtbot: QtBot,
    aloop: asyncio.AbstractEventLoop,
    services: Services,
    openai_server: ScriptedOpenAIServer,
) -> None:
    delegate_both(openai_server)
    openai_server.push_when(MARKETING, Hang(300))  # both specialists wait for their model
    openai_server.push_when(LEGAL, Hang(300))
    win = show_window(qtbot, services)
    page = win.activity
    model = page.model
    win.show_page("activity")
    assert not page.timer.isActive()  # nothing runs: no timer
    assert win.side_bar.text("activity") == "Activity"

    turn = start_chat(services, aloop)
    qtbot.waitUntil(lambda: len(openai_server.chat_requests) == 3, timeout=HANG_GUARD_MS)
    qtbot.waitUntil(lambda: len(model.running()) == 3, timeout=HANG_GUARD_MS)

    # The parent at the top, both children under it, expanded, all running.
    (parent,) = model.roots()
    assert model.runs[parent].agent == "manager"
    children = model.child_ids(parent)
    assert sorted(model.runs[c].agent for c in children) == ["legal", "marketing"]
    assert children == sorted(children)  # in the order they started
    assert page.view.isExpanded(model.index_of(parent))
    for run_id in (parent, *children):
        assert model.text(run_id, COL_STATUS) == "running"
    tasks = {model.runs[c].agent: model.text(c, COL_TASK) for c in children}
    assert tasks == {"marketing": NEWSLETTER, "legal": NDA}
    # The manager's first call is recorded on its run: its tokens show; a scripted model has
    # no price, so its cost is unknown.
    usage = services.store.runs.get(parent).usage
    assert usage.model_calls == 1 and usage.tokens_in > 0
    assert model.text(parent, COL_TOKENS) == f"{usage.tokens_in:,} / {usage.tokens_out:,}"
    assert model.text(parent, COL_COST) == "—"
    # The badge and the ticking timer while runs are live.
    assert win.side_bar.text("activity") == "Activity  (3)"
    assert page.timer.isActive()
    assert "3 running" in page.summary_label.text()

    # Cancel the parent from the keyboard (Delete): the children are cancelled too.
    assert page.select_run(parent)
    assert page.cancel_button.isEnabled()
    page.view.setFocus()
    qtbot.waitUntil(page.view.hasFocus)
    qtbot.keyClick(page.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(turn.done, timeout=HANG_GUARD_MS)
    with pytest.raises(RunCancelled):
        turn.result()
    qtbot.waitUntil(lambda: not model.running(), timeout=HANG_GUARD_MS)

    for run_id in (parent, *children):
        assert model.runs[run_id].status is RunStatus.CANCELLED
        assert model.text(run_id, COL_STATUS) == "cancelled"
        assert services.store.runs.get(run_id).status is RunStatus.CANCELLED
    assert win.side_bar.text("activity") == "Activity"
    assert not page.timer.isActive()
    assert not page.cancel_button.isEnabled()
    assert services.runner.runs.live() == []
    assert services.store.actions.ids() == []  # nothing was proposed


def test_cancelling_one_child_with_ctrl_period_lets_the_manager_go_on(
    qtbot: QtBot,
    aloop: asyncio.AbstractEventLoop,
    services: Services,
    openai_server: ScriptedOpenAIServer,
) -> None:
    delegate_both(openai_server)
    openai_server.push_when(MARKETING, Hang(300))
    openai_server.push_when(LEGAL, Text("No risky clauses: the NDA is mutual and ends in 2 years."))
    openai_server.reply_text("Legal found no risky clauses; the newsletter was cancelled.")
    win = show_window(qtbot, services)
    page = win.activity
    model = page.model
    win.show_page("activity")

    turn = start_chat(services, aloop)
    qtbot.waitUntil(
        lambda: any(
            r.agent == "legal" and r.status is RunStatus.DONE for r in model.runs.values()
        ),
        timeout=HANG_GUARD_MS,
    )
    marketing = next(r.id for r in model.runs.values() if r.agent == "marketing")
    assert model.runs[marketing].status is RunStatus.RUNNING
    assert win.side_bar.text("activity") == "Activity  (2)"  # the manager and marketing

    assert page.select_run(marketing)
    page.view.setFocus()
    qtbot.waitUntil(page.view.hasFocus)
    qtbot.keyClick(page.view, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(turn.done, timeout=HANG_GUARD_MS)
    turn.result()  # the turn itself ended normally

    statuses = {r.agent: r.status for r in model.runs.values()}
    assert statuses == {
        "manager": RunStatus.DONE, "marketing": RunStatus.CANCELLED, "legal": RunStatus.DONE
    }
    assert model.text(marketing, COL_STATUS) == "cancelled"
    assert win.side_bar.text("activity") == "Activity"
    # The manager was told (its last request carries the child's report).
    assert "cancelled" in openai_server.chat_requests[-1].text()


def test_a_failed_run_shows_its_error_and_a_proposal_links_to_its_run(
    qtbot: QtBot,
    aloop: asyncio.AbstractEventLoop,
    services: Services,
    openai_server: ScriptedOpenAIServer,
) -> None:
    delegate_both(openai_server)
    openai_server.push_when(
        MARKETING, ToolCalls((("propose_send_email", json.dumps(DRAFT)),))
    )
    openai_server.push_when(MARKETING, Text("Proposed the launch newsletter to Lukas."))
    openai_server.push_when(LEGAL, HttpError(400, "scripted: the model refused the request"))
    openai_server.reply_text("Marketing proposed the newsletter; legal could not check the NDA.")
    win = show_window(qtbot, services)
    page = win.activity
    model = page.model

    turn = start_chat(services, aloop)
    qtbot.waitUntil(turn.done, timeout=HANG_GUARD_MS)
    turn.result()

    # While the page is not shown it keeps no tree (issue 9: its rows grew memory turn by turn);
    # showing it reads the runs.
    assert model.runs == {} and model.rowCount() == 0
    assert win.side_bar.text("activity") == "Activity"  # nothing running
    win.show_page("activity")
    by_agent = {r.agent: r for r in model.runs.values()}
    assert set(by_agent) == {"manager", "marketing", "legal"}
    assert by_agent["legal"].status is RunStatus.FAILED
    legal = by_agent["legal"].id
    error = services.store.runs.get(legal).error
    assert error and "refused the request" in error
    # The failed run: red status, its error as the row's tooltip and in the detail pane.
    status_index = model.index_of(legal, COL_STATUS)
    assert model.text(legal, COL_STATUS) == "failed"
    assert "refused the request" in str(status_index.data(Qt.ItemDataRole.ToolTipRole))
    assert status_index.data(Qt.ItemDataRole.ForegroundRole).color().name() == "#b3261e"
    assert page.select_run(legal)
    detail = page.detail.toPlainText()
    assert "Error:" in detail and "refused the request" in detail
    assert f"run #{by_agent['manager'].id}" in detail  # its parent, as a link
    assert "Model calls:" in detail

    # The proposal: in the inbox, "Produced by run #N (marketing)".
    (action_id,) = services.store.actions.ids()
    action = services.store.actions.get(action_id)
    marketing = by_agent["marketing"].id
    assert action.run_id == marketing and action.status is ActionStatus.PENDING
    win.show_page("inbox")
    win.inbox.refresh()
    assert win.inbox.select_action(action_id)
    link = win.inbox.run_link
    assert link.isVisible()
    assert f"run #{marketing}</a> (marketing)" in link.text()

    # Following the link (as a click does) opens Activity with that run selected.
    link.linkActivated.emit(f"run:{marketing}")
    assert win.current_page() == "activity"
    assert page.selected_run_id() == marketing
    detail = page.detail.toPlainText()
    assert f"#{action_id} send_email (pending)" in detail

    # And back: the proposal's link in the detail pane selects it in the inbox.
    page.detail.anchorClicked.emit(QUrl(f"action:{action_id}"))
    assert win.current_page() == "inbox"
    assert win.inbox.selected_action_id() == action_id

    # A proposal without a run (made before runs existed) shows no link.
    win.inbox.editor.show_action(None)
    win.inbox._show_run_link(None)
    assert not link.isVisible()


def test_finished_runs_are_kept_for_a_day_and_the_page_reads_them_on_show(
    qtbot: QtBot, aloop: asyncio.AbstractEventLoop, services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = services.store.runs
    old = runs.start(agent="support", task="triage of yesterday's mail")
    runs.finish(old.id, RunStatus.DONE)
    services.store.db.execute(
        "UPDATE runs SET started_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?", [old.id]
    )
    kept = [runs.start(agent="manager", task=f"turn {i}") for i in range(5)]
    for r in kept:
        runs.finish(r.id, RunStatus.DONE)
    still = runs.start(agent="manager", task="an old turn still running")
    services.store.db.execute(
        "UPDATE runs SET started_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?", [still.id]
    )
    monkeypatch.setattr(activity_module, "MAX_ROOTS", 4)
    win: MainWindow = show_window(qtbot, services)
    page = win.activity
    win.show_page("activity")
    shown = page.model.roots()
    # Newest first; the running one is always there; the day-old finished one is not; at most 4
    # top-level runs of the last day.
    assert still.id in shown
    assert old.id not in shown
    assert shown == sorted(shown, reverse=True)
    assert len(shown) == 4
    assert [r for r in shown if r != still.id] == [r.id for r in kept][::-1][:3]
    # A run another process started shows when the page is shown again.
    other = runs.start(agent="researcher", task="from the command line")
    win.show_page("inbox")
    win.show_page("activity")
    assert other.id in page.model.roots()
    # Selecting a run that is no longer listed reads it from the store.
    assert page.select_run(old.id)
    assert page.selected_run_id() == old.id
    assert not page.select_run(9999)


def test_a_hidden_page_keeps_no_tree_but_counts_running_runs_and_its_selection(
    qtbot: QtBot, aloop: asyncio.AbstractEventLoop, services: Services,
) -> None:
    from solodesk.core.events import RunFinished, RunStarted

    runs = services.store.runs
    done = [runs.start(agent="manager", task=f"turn {i}") for i in range(3)]
    for r in done:
        runs.finish(r.id, RunStatus.DONE)
    win: MainWindow = show_window(qtbot, services)
    page = win.activity
    assert page.model.rowCount() == 0  # never shown: nothing read but what runs
    win.show_page("activity")
    assert page.model.roots() == [r.id for r in done][::-1]
    assert page.select_run(done[1].id)
    win.show_page("inbox")
    assert page.model.rowCount() == 0 and page.model.runs == {}

    # Run events while hidden: the badge follows them; no rows are made.
    live = runs.start(agent="researcher", task="look something up")
    services.bus.publish(RunStarted(run_id=live.id, parent_id=None, agent="researcher",
                                    task="look something up"))
    assert win.side_bar.text("activity") == "Activity  (1)"
    assert page.live_count == 1 and page.model.rowCount() == 0
    runs.finish(live.id, RunStatus.DONE)
    services.bus.publish(RunFinished(run_id=live.id, status="done"))
    assert win.side_bar.text("activity") == "Activity"
    assert page.model.rowCount() == 0

    # Shown again: the runs are read, the one started while hidden too; the selection is kept.
    win.show_page("activity")
    assert page.model.roots() == [live.id] + [r.id for r in done][::-1]
    assert page.selected_run_id() == done[1].id
