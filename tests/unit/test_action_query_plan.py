"""The inbox's id query: the index it uses (EXPLAIN QUERY PLAN) and the rows it lists.

Newest first over several statuses the query is a ``UNION ALL`` of one index read per status,
merged by SQLite: no temporary B-tree sorts the matching rows (issue 9: at 100,000 open
actions that sort was most of the inbox's open time). Nothing here is timed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from solodesk.core.actions import ActionStatus
from solodesk.store.db import connect
from solodesk.store.queries import ActionQuery
from solodesk.store.repos import Store

AGENTS = ("manager", "support", "bookkeeper")
RISKS = ("low", "medium", "high")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(connect(tmp_path / "solodesk.db"))
    rng = random.Random(9)
    rows = [
        (
            "send_email", "{}", "0" * 64, rng.choice(AGENTS), f"action {i}",
            '{"ref":null,"source":"chat","untrusted":false}',
            rng.choice(list(ActionStatus)).value, rng.choice(RISKS), rng.choice((1, 1, 2)),
            "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z",
        )
        for i in range(600)
    ]
    with s.db.conn:
        s.db.conn.executemany(
            "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance,"
            " status, risk, draft_attempts, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    yield s
    s.close()


def plan(store: Store, query: ActionQuery, **narrow: Any) -> list[str]:
    sql, params = query.select_ids(**narrow)
    return [str(r[3]) for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, params)]


def expected(store: Store, query: ActionQuery, **narrow: Any) -> list[int]:
    """The same rows the plain way: a WHERE and a sort (the reference, not the fast path)."""
    where, params = query.where(**narrow)
    sql = f"SELECT id FROM actions{where} ORDER BY {query.order_by()}"
    return [int(r[0]) for r in store.db.execute(sql, params)]


def test_open_inbox_reads_the_status_index_without_a_sort(store: Store) -> None:
    steps = plan(store, ActionQuery().checked())
    print("\n".join(steps))
    assert any("MERGE (UNION ALL)" in s for s in steps)
    assert not any("TEMP B-TREE" in s for s in steps)
    searches = [s for s in steps if s.startswith("SEARCH")]
    assert len(searches) == 4  # pending, scheduled, failed, unknown
    assert all("INDEX actions_status" in s for s in searches)


@pytest.mark.parametrize(
    ("changes", "index"),
    [
        ({"risk": "high"}, "actions_status_risk"),
        ({"agent": "support"}, "actions_status_agent"),
        ({"kind": "send_email"}, "actions_status_kind"),
        ({"status": "all", "agent": "support"}, "actions_status_agent"),
    ],
)
def test_narrowed_inbox_reads_its_index_without_a_sort(
    store: Store, changes: dict[str, Any], index: str
) -> None:
    steps = plan(store, ActionQuery(**changes).checked())
    assert not any("TEMP B-TREE" in s for s in steps), steps
    assert all(index in s for s in steps if s.startswith("SEARCH")), steps


@pytest.mark.parametrize(
    ("changes", "narrow"),
    [
        ({}, {}),
        ({"risk": "high"}, {}),
        ({"agent": "support", "risk": "low"}, {}),
        ({"status": "all"}, {}),
        ({"status": "all", "kind": "send_email"}, {}),
        ({"status": "pending"}, {}),
        ({"group_by": "risk"}, {}),
        ({"group_by": "status", "status": "all"}, {}),
        ({}, {"status": ActionStatus.PENDING}),
        ({}, {"risk": "low"}),
        ({}, {"first_draft": True}),
        ({"agent": "manager"}, {"status": ActionStatus.FAILED, "risk": "medium"}),
    ],
)
def test_query_ids_lists_the_same_rows_in_the_same_order_as_a_sorted_where(
    store: Store, changes: dict[str, Any], narrow: dict[str, Any]
) -> None:
    query = ActionQuery(**changes).checked()
    want = expected(store, query, **narrow)
    assert want  # the data set covers the case
    assert store.actions.query_ids(query, **narrow) == want


def test_query_ids_of_an_empty_filter_is_empty(store: Store) -> None:
    assert store.actions.query_ids(ActionQuery(agent="nobody").checked()) == []
