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
    COL_KIND,
    COL_STATUS,
    COL_SUMMARY,
    ActionIdRole,
    InboxModel,
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


def test_columns_and_untrusted_flag(filled: Services) -> None:
    model = InboxModel(filled.store)
    assert model.rowCount() == 2  # pending only
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(5)] == [
        "Age",
        "Agent",
        "Kind",
        "Summary",
        "Status",
    ]
    # newest first: the chat proposal, then the reply derived from untrusted mail
    chat_row, reply_row = 0, 1
    assert model.index(chat_row, COL_KIND).data() == "Email"
    assert model.index(reply_row, COL_KIND).data() == "Reply"
    assert model.index(reply_row, COL_SUMMARY).data().startswith("Re: Refund")
    assert model.index(reply_row, COL_STATUS).data() == "pending"
    assert "untrusted" in model.index(reply_row, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(reply_row, COL_STATUS).data(Qt.ItemDataRole.DecorationRole) is not None
    assert model.index(chat_row, COL_STATUS).data(Qt.ItemDataRole.DecorationRole) is None
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


def test_hundred_thousand_rows_load_lazily(qtbot: QtBot, gui_services: Services) -> None:
    bulk_actions(gui_services.store, 100_000)
    model = InboxModel(gui_services.store)
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
