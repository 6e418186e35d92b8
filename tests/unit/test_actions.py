"""The action state machine and the payload hash."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from solodesk.core.actions import (
    APPROVABLE,
    EDITABLE,
    FINAL,
    FINISHED,
    RECORDABLE,
    TRANSITIONS,
    UNDOABLE,
    WAITING,
    ActionStatus,
    InvalidTransition,
    can_transition,
    canonical_json,
    payload_sha256,
    sources,
)

S = ActionStatus
ALL_PAIRS = list(itertools.product(ActionStatus, ActionStatus))


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(ActionStatus)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=str)
def test_can_transition_reads_the_table(current: ActionStatus, target: ActionStatus) -> None:
    assert can_transition(current, target) is (target in TRANSITIONS[current])


@pytest.mark.parametrize("target", list(ActionStatus))
def test_sources_are_the_allowed_moves_into_a_status(target: ActionStatus) -> None:
    assert sources(target) == {c for c, targets in TRANSITIONS.items() if target in targets}


@pytest.mark.parametrize("status", [S.EXECUTED, S.REJECTED])
def test_terminal_statuses_have_no_way_out(status: ActionStatus) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert status in FINAL


def test_executing_can_never_go_back_to_approved() -> None:
    # Going back would allow a second send of the same approval.
    for status in (S.EXECUTING, S.UNKNOWN, S.EXECUTED):
        for target in (S.APPROVED, S.SCHEDULED, S.PENDING):
            assert not can_transition(status, target), (status, target)


def test_only_pending_and_failed_are_editable() -> None:
    assert EDITABLE == {S.PENDING, S.FAILED}
    # An edit of a failed action makes it pending again: the table allows that move.
    assert all(can_transition(s, S.PENDING) for s in EDITABLE - {S.PENDING})


def test_derived_sets() -> None:
    assert APPROVABLE == {S.PENDING, S.FAILED}
    assert FINISHED == {S.EXECUTED, S.FAILED, S.UNKNOWN}
    assert WAITING == {S.APPROVED, S.SCHEDULED}
    assert UNDOABLE == {S.SCHEDULED}
    assert RECORDABLE == {S.EXECUTING, S.UNKNOWN}


def test_invalid_transition_message_names_both_statuses() -> None:
    exc = InvalidTransition(7, S.EXECUTED, S.APPROVED)
    assert str(exc) == "action 7 is executed; it cannot become approved"
    assert (exc.action_id, exc.current, exc.target) == (7, S.EXECUTED, S.APPROVED)


def test_canonical_json_is_sorted_compact_and_keeps_unicode() -> None:
    payload = {"subject": "Grüße", "to": ["b@example.com"], "body": "x\ny", "cc": []}
    assert canonical_json(payload) == (
        '{"body":"x\\ny","cc":[],"subject":"Grüße","to":["b@example.com"]}'
    )


def test_payload_sha256_is_sha256_of_canonical_utf8() -> None:
    payload = {"subject": "Grüße", "to": ["b@example.com"]}
    expected = hashlib.sha256(
        '{"subject":"Grüße","to":["b@example.com"]}'.encode()
    ).hexdigest()
    assert payload_sha256(payload) == expected


def test_payload_sha256_ignores_key_order_and_nesting_order_of_keys() -> None:
    a = {"to": ["x@example.com"], "meta": {"b": 1, "a": 2}, "subject": "s"}
    b = {"subject": "s", "meta": {"a": 2, "b": 1}, "to": ["x@example.com"]}
    assert payload_sha256(a) == payload_sha256(b)


@pytest.mark.parametrize(
    "changed",
    [
        {"to": ["y@example.com"], "subject": "s"},
        {"to": ["x@example.com"], "subject": "s "},
        {"to": ["x@example.com", "y@example.com"], "subject": "s"},
        {"to": ["x@example.com"], "subject": "s", "cc": []},
    ],
)
def test_payload_sha256_changes_with_any_change(changed: dict[str, object]) -> None:
    assert payload_sha256({"to": ["x@example.com"], "subject": "s"}) != payload_sha256(changed)


def test_list_order_matters() -> None:
    # Recipient order is part of what the founder approved.
    assert payload_sha256({"to": ["a@x.com", "b@x.com"]}) != payload_sha256(
        {"to": ["b@x.com", "a@x.com"]}
    )
