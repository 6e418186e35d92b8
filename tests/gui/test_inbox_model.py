"""InboxModel: a lazy table model over the store's proposals."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from solodesk.core.actions import ActionStatus
from solodesk.services import Services
from solodesk.ui.inbox_model import (
    CACHE_SIZE,
    COL_AGENT,
    COL_KIND,
    COL_RISK,
    COL_STATUS,
    COL_SUMMARY,
    RISK_COLORS,
    ActionIdRole,
    InboxModel,
    RiskLevelRole,
    format_age,
)
from tests.gui.support import bulk_actions, insert_mail, propose_reply, propose_send, record_invalid

pytestmark = pytest.mark.gui


@pytest.fixture
def filled(gui_services: Services) -> Services:
    store = gui_services.store
    mail_id = insert_mail(store)
    propose_reply(store, mail_id, n=1)
    propose_send(store, n=2)
    record_invalid(store)
    rejected = propose_send(store, n=4)
    store.actions.reject(rejected.id, reason="not now")
    return gui_services


def test_model_passes_qt_model_tester(qtmodeltester: ModelTester, filled: Services) -> None:
    model = InboxModel(filled.store)
    qtmodeltester.check(model)
    model.set_filter("all")
    qtmodeltester.check(model)


def test_columns_risk_and_untrusted_flag(filled: Services) -> None:
    model = InboxModel(filled.store)
    assert model.rowCount() == 2  # open: pending and scheduled (none scheduled here)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(6)] == [
        "Age",
        "Agent",
        "Kind",
        "Risk",
        "Summary",
        "Status",
    ]
    # newest first: the chat proposal, then the reply derived from untrusted mail
    chat_row, reply_row = 0, 1
    assert model.index(chat_row, COL_KIND).data() == "Email"
    assert model.index(reply_row, COL_KIND).data() == "Reply"
    assert model.index(reply_row, COL_SUMMARY).data().startswith("Re: Refund")
    assert model.index(reply_row, COL_STATUS).data() == "pending"
    # the risk column: level and the untrusted mark as one signal, colour, reasons
    assert model.index(chat_row, COL_RISK).data() == "medium"
    assert model.index(reply_row, COL_RISK).data() == "low · untrusted"
    assert model.index(reply_row, COL_RISK).data(RiskLevelRole) == "low"
    brush = model.index(chat_row, COL_RISK).data(Qt.ItemDataRole.ForegroundRole)
    assert brush.color().name() == RISK_COLORS["medium"]
    # untrusted lifts "low" from green to amber: never an all-clear beside a warning
    brush = model.index(reply_row, COL_RISK).data(Qt.ItemDataRole.ForegroundRole)
    assert brush.color().name() == RISK_COLORS["medium"] != RISK_COLORS["low"]
    tip = model.index(reply_row, COL_RISK).data(Qt.ItemDataRole.ToolTipRole)
    assert "Derived from untrusted mail" in tip and "Shown in amber" in tip
    assert "starts a new conversation" in model.index(chat_row, COL_RISK).data(
        Qt.ItemDataRole.ToolTipRole
    )
    # no separate icon: the text says it
    assert model.index(reply_row, COL_RISK).data(Qt.ItemDataRole.DecorationRole) is None
    assert model.index(chat_row, COL_RISK).data(Qt.ItemDataRole.DecorationRole) is None
    assert model.index(reply_row, 0).data(ActionIdRole) == model.action_id(reply_row)


def test_filters(filled: Services) -> None:
    model = InboxModel(filled.store)
    assert {model.action(r).status for r in range(model.rowCount())} == {ActionStatus.PENDING}
    model.set_filter("all")
    assert model.rowCount() == 4
    model.set_filter("invalid")
    assert model.rowCount() == 1
    assert model.action(0).errors
    model.set_filter("rejected")
    assert model.rowCount() == 1
    with pytest.raises(ValueError, match="unknown inbox filter"):
        model.set_filter("spam")


def test_refresh_inserts_and_removes_rows_keeping_the_selection(
    qtbot: QtBot, filled: Services
) -> None:
    store = filled.store
    model = InboxModel(store)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    keep_id = model.action_id(1)
    view.selectionModel().setCurrentIndex(
        model.index(1, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    gone_id = model.action_id(0)

    store.actions.reject(gone_id)
    new = propose_send(store, n=9)
    with qtbot.waitSignals([model.rowsRemoved, model.rowsInserted], timeout=1000):
        model.refresh()
    assert [model.action_id(r) for r in range(model.rowCount())] == [new.id, keep_id]
    selected = view.selectionModel().selectedRows()
    assert [model.action_id(i.row()) for i in selected] == [keep_id]
    assert model.row_of(keep_id) == 1 and model.row_of(gone_id) is None


def test_age_format() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert format_age("2026-01-10T11:59:30.000000Z", now=now) == "now"
    assert format_age("2026-01-10T11:55:00.000000Z", now=now) == "5m"
    assert format_age("2026-01-10T09:00:00.000000Z", now=now) == "3h"
    assert format_age("2026-01-08T12:00:00.000000Z", now=now) == "2d"
    assert format_age("2025-06-01T12:00:00.000000Z", now=now) == "2025-06-01"
    assert format_age("garbage", now=now) == "?"


@pytest.fixture
def mixed(gui_services: Services) -> Services:
    """Proposals from two agents, of both kinds, at every risk level, one scheduled."""
    store = gui_services.store
    mail_id = insert_mail(store)
    propose_reply(store, mail_id, n=1)  # support, reply, low
    propose_send(store, n=2)  # manager, email, medium
    propose_reply(store, mail_id, n=3, risk="high", risk_reasons=["many recipients"])
    propose_send(store, n=4, risk="low", risk_reasons=[], agent="billing")
    scheduled = propose_send(store, n=5, risk="high", risk_reasons=["moves money"])
    store.actions.approve(scheduled.id, delay_s=60)
    rejected = propose_send(store, n=6, risk="low", risk_reasons=[])
    store.actions.reject(rejected.id)
    return gui_services


def _ids(model: InboxModel) -> list[int]:
    return [model.action_id(r) for r in range(model.rowCount())]  # type: ignore[misc]


def test_filters_by_agent_kind_and_risk(qtmodeltester: ModelTester, mixed: Services) -> None:
    model = InboxModel(mixed.store)
    assert _ids(model) == [5, 4, 3, 2, 1]  # open: pending and scheduled, newest first
    model.set_filters(risk="high")
    assert _ids(model) == [5, 3]
    qtmodeltester.check(model)
    model.set_filters(risk=None, agent="support")
    assert _ids(model) == [3, 1]
    model.set_filters(agent=None, kind="send_email")
    assert _ids(model) == [5, 4, 2]
    model.set_filters(kind="reply_email", risk="low")
    assert _ids(model) == [1]
    model.set_filters(kind=None, risk=None, status="all")
    assert _ids(model) == [6, 5, 4, 3, 2, 1]
    model.set_filters(status="pending", agent="billing")
    assert _ids(model) == [4]
    assert model.filters.describe() == "agent billing"
    assert model.agents() == ["billing", "manager", "support"]
    with pytest.raises(ValueError, match="risk must be"):
        model.set_filters(risk="extreme")
    with pytest.raises(ValueError, match="cannot group by"):
        model.set_filters(group_by="colour")
    with pytest.raises(ValueError, match="unknown action kind"):
        model.set_filters(kind="wire_money")


def test_group_by_makes_groups_contiguous(qtmodeltester: ModelTester, mixed: Services) -> None:
    model = InboxModel(mixed.store)
    model.set_filters(group_by="risk")
    risks = [model.index(r, COL_RISK).data(RiskLevelRole) for r in range(model.rowCount())]
    assert risks == ["high", "high", "medium", "low", "low"]  # most urgent first
    assert _ids(model) == [5, 3, 2, 4, 1]  # then newest first within a group
    qtmodeltester.check(model)
    model.set_filters(group_by="agent")
    agents = [model.index(r, COL_AGENT).data() for r in range(model.rowCount())]
    assert agents == ["billing", "manager", "manager", "support", "support"]
    model.set_filters(group_by="kind", status="all")
    kinds = [model.index(r, COL_KIND).data() for r in range(model.rowCount())]
    assert kinds == ["Reply", "Reply", "Email", "Email", "Email", "Email"]
    model.set_filters(group_by="status")
    statuses = [model.action(r).status.value for r in range(model.rowCount())]  # type: ignore
    assert statuses == ["pending"] * 4 + ["scheduled", "rejected"]
    qtmodeltester.check(model)
    # row_of follows the grouped order
    assert all(model.row_of(model.action_id(r)) == r for r in range(model.rowCount()))  # type: ignore


def test_a_row_moving_to_another_group_resets_instead_of_a_wrong_diff(
    qtbot: QtBot, mixed: Services
) -> None:
    store = mixed.store
    model = InboxModel(store)
    model.set_filters(group_by="risk")
    with store.db.conn:  # #1 (low) becomes high: it moves up, past rows that stay
        store.db.conn.execute("UPDATE actions SET risk = 'high' WHERE id = 1")
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.refresh()
    assert _ids(model) == [5, 3, 1, 2, 4]


def test_scheduled_rows_count_down_with_data_changed_on_the_status_cell(
    qtbot: QtBot, mixed: Services
) -> None:
    model = InboxModel(mixed.store)
    row = model.row_of(5)
    assert row is not None
    text = model.index(row, COL_STATUS).data()
    assert text.startswith("sending in ") and text.endswith(" s") or ":" in text
    assert "undo" in model.index(row, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)
    changed: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda tl, br, _roles=(): changed.append((tl.row(), tl.column(), br.row(), br.column()))
    )
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    queries = model.queries
    for r in range(model.rowCount()):  # as the view does when it paints
        model.index(r, COL_STATUS).data()
    assert model.tick() == 1
    assert changed == [(row, COL_STATUS, row, COL_STATUS)]
    assert resets == [] and model.queries == queries  # no re-query, no reset


def test_countdown_text() -> None:
    from datetime import UTC, datetime

    from solodesk.ui.inbox_model import countdown_text

    now = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
    assert countdown_text("2026-01-10T12:00:07.000000Z", now=now) == "sending in 7 s"
    assert countdown_text("2026-01-10T12:00:06.200000Z", now=now) == "sending in 7 s"
    assert countdown_text("2026-01-10T12:01:05.000000Z", now=now) == "sending in 1:05"
    assert countdown_text("2026-01-10T11:59:59.000000Z", now=now) == "sending…"
    assert countdown_text(None, now=now) == "scheduled"


def test_hundred_thousand_rows_load_lazily_and_filter_fast(
    qtbot: QtBot, gui_services: Services
) -> None:

    store = gui_services.store
    bulk_actions(store, 100_000)
    with store.db.conn:  # a mix of risks and agents
        store.db.conn.execute("UPDATE actions SET risk = 'high' WHERE id % 10 = 0")
        store.db.conn.execute("UPDATE actions SET agent = 'support' WHERE id % 3 = 0")
    model = InboxModel(store)
    assert model.rowCount() == 100_000
    assert model.fetches == 0
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(800, 400)
    view.setModel(model)
    view.show()
    qtbot.waitExposed(view)
    for row in (50_000, 99_999, 0):
        view.scrollTo(model.index(row, 0))
        qtbot.wait(10)
    assert model.action(99_999) is not None
    assert model.cached <= CACHE_SIZE
    assert 0 < model.fetches < 1_000
    model.refresh()
    assert model.cached == 0 and model.rowCount() == 100_000
    for name, changes in (
        ("risk", {"risk": "high"}),
        ("agent", {"risk": None, "agent": "support"}),
        ("group", {"agent": None, "group_by": "risk"}),
    ):
        model.set_filters(**changes)
        if name == "risk":
            assert model.rowCount() == 10_000
        if name == "agent":
            assert model.rowCount() == 33_333
        view.scrollTo(model.index(model.rowCount() - 1, 0))
        qtbot.wait(5)
    assert model.rowCount() == 100_000
    assert model.index(0, COL_RISK).data(RiskLevelRole) == "high"
    assert model.index(99_999, COL_RISK).data(RiskLevelRole) == "low"
    assert model.cached <= CACHE_SIZE and model.fetches < 1_000
    # (speed is measured and printed by tests/bench/bench_inbox.py, not asserted here)
    assert model.row_of(model.action_id(50_000)) == 50_000  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "narrow"),
    [("open", {"risk": "high"}), ("all", {"risk": "high"}), ("open", {"kind": "reply_email"}),
     ("all", {"agent": "support"}), ("pending", {"risk": "low"})],
)
def test_narrowing_filters_seek_an_index_instead_of_scanning(
    services: Services, status: str, narrow: dict[str, str]
) -> None:
    # At 1,000,000 stored actions the single-column risk index walked every row of that risk in
    # every status (about a second); the (status, X, id) indexes seek each status.
    from solodesk.ui.inbox_model import InboxFilter

    where, params = InboxFilter(status=status, **narrow).checked().where()
    plan = " / ".join(
        str(row[3])
        for row in services.store.db.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM actions{where} ORDER BY id DESC", params
        )
    )
    column = next(iter(narrow))
    if status != "all" or column != "agent":
        assert f"INDEX actions_status_{column} (status=? AND {column}=?)" in plan, plan
    # Every row of one agent is wanted under "all": its (agent, id) index is as good.
    assert "SEARCH actions USING" in plan and "SCAN" not in plan, plan
