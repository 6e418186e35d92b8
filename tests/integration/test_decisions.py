"""The decisions service (``inbox.decisions``) headless, against a real SMTP server (aiosmtpd).

Approve-as-shown, edit, reject, cancel, resolve and approve_many: what is sent is exactly what
was approved, a proposal changed since it was seen is refused (and nothing is sent), and every
decision is audited with who decided and published as ``ActionResolved``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from solodesk.core.actions import ActionStatus, InvalidTransition, payload_sha256
from solodesk.core.events import ActionResolved
from solodesk.inbox.decisions import (
    InvalidEdit,
    PreflightFailed,
    StaleProposal,
    WrongState,
)
from solodesk.services import Services
from solodesk.store.repos import StaleApproval
from tests.support.helpers import collect, propose_email
from tests.support.smtp_server import SmtpSink

pytestmark = pytest.mark.integration

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]


def _audit(services: Services, action_id: int) -> list[tuple[str, str]]:
    return [(e["event"], e["actor"]) for e in services.store.audit.entries(action_id=action_id)]


def _make_unknown(services: Services, action_id: int) -> None:
    """An execution interrupted after the SMTP DATA command: may or may not have arrived."""
    actions = services.store.actions
    actions.approve(action_id, expected_sha256=actions.get(action_id).payload_sha256)
    assert actions.claim(action_id) is not None
    actions.transition(action_id, ActionStatus.UNKNOWN, actor="outbox", event="interrupted")


def test_approve_with_a_stale_sha256_is_refused_and_nothing_is_sent(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    action = propose_email(services.store)
    seen = action.payload_sha256
    # The payload changes behind the founder's back (another window, another command).
    services.decisions.edit(
        action.id, {**action.payload, "to": ["mallory@evil.example"]}, expected_sha256=seen
    )

    with pytest.raises(StaleProposal, match="changed since you viewed it") as exc:
        run(services.decisions.approve(action.id, expected_sha256=seen, delay_s=0))

    assert isinstance(exc.value, StaleApproval)  # what callers of the store already catch
    assert exc.value.action_id == action.id
    assert smtp_server.messages == []
    current = services.store.actions.get(action.id)
    assert current.status is ActionStatus.PENDING and current.approved_sha256 is None
    assert [e for e, _ in _audit(services, action.id)] == ["proposed", "edited"]


def test_edit_then_approve_sends_the_edited_bytes(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    action = propose_email(services.store)
    resolved = collect(services, ActionResolved)
    shown = {**action.payload, "body": "Hi Marta,\n\nrefunded today, edited by Ada.\n\nAda\n"}

    final = run(
        services.decisions.approve(
            action.id, expected_sha256=action.payload_sha256, payload=shown, delay_s=0
        )
    )

    assert final.status is ActionStatus.EXECUTED
    assert final.approved_sha256 == payload_sha256(shown) != action.payload_sha256
    assert len(smtp_server.messages) == 1
    sent = smtp_server.messages[0].message
    body = sent.get_body(("plain",))
    assert body is not None and "refunded today, edited by Ada." in body.get_content()
    events = _audit(services, action.id)
    assert [e for e, _ in events][:3] == ["proposed", "edited", "approved"]
    assert ("edited", "founder") in events and ("approved", "founder") in events
    assert [r.status for r in resolved if r.action_id == action.id] == [
        "pending", "approved", "executed"
    ]


def test_an_invalid_edit_is_refused_with_every_error_and_nothing_changes(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    action = propose_email(services.store)
    bad = {**action.payload, "to": ["not an address"], "subject": ""}
    with pytest.raises(InvalidEdit) as exc:
        run(services.decisions.approve(
            action.id, expected_sha256=action.payload_sha256, payload=bad, delay_s=0
        ))
    assert len(exc.value.errors) >= 2, exc.value.errors
    assert isinstance(exc.value, ValueError)
    assert services.store.actions.get(action.id).payload_sha256 == action.payload_sha256
    assert smtp_server.messages == []


def test_approve_many_skips_and_names_the_ones_that_changed(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    first, changed, third = (propose_email(services.store) for _ in range(3))
    seen = [(a.id, a.payload_sha256) for a in (first, changed, third)]
    services.decisions.edit(
        changed.id, {**changed.payload, "body": "Changed meanwhile.\n"}, expected_sha256=None
    )

    result = run(services.decisions.approve_many(seen, delay_s=0))

    assert [a.id for a in result.approved] == [first.id, third.id]
    assert all(a.status is ActionStatus.EXECUTED for a in result.approved)
    assert [i for i, _ in result.skipped] == [changed.id]
    assert "changed since you viewed it" in result.skipped[0][1]
    assert result.stopped == ""
    assert len(smtp_server.messages) == 2
    assert services.store.actions.get(changed.id).status is ActionStatus.PENDING
    print(f"approve_many: {len(result.approved)} sent, skipped {result.skipped}")


def test_approve_many_stops_when_told(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    a, b = propose_email(services.store), propose_email(services.store)
    seen = [(a.id, a.payload_sha256), (b.id, b.payload_sha256)]
    calls: list[int] = []

    def stop() -> str:
        calls.append(1)
        return "stopped: closing" if len(calls) > 1 else ""

    result = run(services.decisions.approve_many(seen, delay_s=0, stop=stop))
    assert [x.id for x in result.approved] == [a.id]
    assert result.stopped == "stopped: closing"
    assert services.store.actions.get(b.id).status is ActionStatus.PENDING
    assert len(smtp_server.messages) == 1


def test_preflight_problems_are_listed_and_nothing_is_approved(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    services.config.set("smtp.host", "")
    action = propose_email(services.store)
    with pytest.raises(PreflightFailed) as exc:
        run(services.decisions.approve(action.id, expected_sha256=action.payload_sha256))
    assert exc.value.problems and "smtp.host" in str(exc.value)
    assert services.store.actions.get(action.id).status is ActionStatus.PENDING
    assert [e for e, _ in _audit(services, action.id)] == ["proposed"]
    assert smtp_server.messages == []


def test_reject_cancel_and_resolve_are_audited_with_the_actor(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    d = services.decisions
    resolved = collect(services, ActionResolved)

    rejected = propose_email(services.store)
    d.reject(rejected.id, reason="not our customer", actor="founder")
    entry = services.store.audit.entries(action_id=rejected.id)[-1]
    assert (entry["event"], entry["actor"]) == ("rejected", "founder")
    assert "not our customer" in entry["detail"]

    blocked = propose_email(services.store)
    d.reject(blocked.id, reason="blocked by policy rule #7", actor="policy rule #7")
    assert _audit(services, blocked.id)[-1] == ("rejected", "policy rule #7")

    services.config.set("outbox.undo_seconds", "30")
    scheduled = propose_email(services.store)
    waiting = run(d.approve(scheduled.id, expected_sha256=scheduled.payload_sha256))
    assert waiting.status is ActionStatus.SCHEDULED  # the kind's undo window
    back = d.cancel(scheduled.id)
    assert back.status is ActionStatus.PENDING
    assert _audit(services, scheduled.id)[-2:] == [
        ("approved", "founder"), ("approval_cancelled", "founder")
    ]

    arrived, lost = propose_email(services.store), propose_email(services.store)
    _make_unknown(services, arrived.id)
    _make_unknown(services, lost.id)
    assert d.resolve(arrived.id, delivered=True).status is ActionStatus.EXECUTED
    assert d.resolve(lost.id, delivered=False).status is ActionStatus.FAILED
    assert _audit(services, arrived.id)[-1] == ("confirmed_delivered", "founder")
    assert _audit(services, lost.id)[-1] == ("confirmed_not_delivered", "founder")

    assert smtp_server.messages == []  # none of these decisions sent anything
    statuses = {(r.action_id, r.status) for r in resolved}
    assert {
        (rejected.id, "rejected"), (scheduled.id, "scheduled"), (scheduled.id, "pending"),
        (arrived.id, "executed"), (lost.id, "failed"),
    } <= statuses
    assert services.store.audit.verify() == []


def test_a_decision_in_the_wrong_state_says_what_to_do(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    action = propose_email(services.store)
    run(services.decisions.approve(action.id, expected_sha256=action.payload_sha256, delay_s=0))
    assert len(smtp_server.messages) == 1

    with pytest.raises(WrongState, match="is executed; it cannot become rejected: it was "
                       "already executed") as exc:
        services.decisions.reject(action.id, reason="too late")
    assert isinstance(exc.value, InvalidTransition)
    with pytest.raises(WrongState, match="cannot become approved"):
        run(services.decisions.approve(action.id, expected_sha256=None, delay_s=0))
    with pytest.raises(WrongState, match="cannot become pending"):
        services.decisions.cancel(action.id)
    with pytest.raises(WrongState, match="cannot become executed"):
        services.decisions.resolve(action.id, delivered=True)
    assert len(smtp_server.messages) == 1
    assert services.store.actions.get(action.id).status is ActionStatus.EXECUTED


def test_cli_approve_with_a_stale_sha256_is_refused_and_nothing_is_sent(
    services: Services, smtp_server: SmtpSink, run: Run[Any]
) -> None:
    from solodesk.cli import CliError, _dispatch, _parser

    action = propose_email(services.store)
    seen = action.payload_sha256
    edit = ["inbox", "edit", str(action.id), "subject", "Re: changed", "--sha256", seen]
    assert run(_dispatch(services, _parser().parse_args(edit))) == 0

    again = ["inbox", "edit", str(action.id), "subject", "Re: twice", "--sha256", seen]
    with pytest.raises(CliError, match="changed since you viewed it"):
        run(_dispatch(services, _parser().parse_args(again)))
    approve = ["inbox", "approve", str(action.id), "--now", "--sha256", seen]
    with pytest.raises(CliError, match="changed since you viewed it"):
        run(_dispatch(services, _parser().parse_args(approve)))
    assert smtp_server.messages == []
    current = services.store.actions.get(action.id)
    assert current.status is ActionStatus.PENDING
    assert current.payload["subject"] == "Re: changed"

    approve[-1] = current.payload_sha256
    assert run(_dispatch(services, _parser().parse_args(approve))) == 0
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].message["Subject"] == "Re: changed"
