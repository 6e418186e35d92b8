"""Earned autonomy on a real store: decisions made through the decisions service are read back
from the audit trail; ``solodesk policy suggest`` offers the rule after N unedited approvals in
a row (not after N-1, not with an edit in between, never for high-risk untrusted proposals);
``--accept K`` creates it, and it then auto-approves a new matching low-risk proposal."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from solodesk.core.actions import Action, ActionStatus, Provenance
from solodesk.core.kinds.mail import REPLY_EMAIL
from solodesk.services import Services
from tests.support.helpers import import_sample, run_cli

pytestmark = pytest.mark.integration

N = 3
_ids = itertools.count(1)


@pytest.fixture
def sv(services: Services) -> Services:
    services.config.set("autonomy.offer_after", str(N))
    import_sample(services.store)
    return services


def reply(sv: Services, *, to: str = "marta.kowalski@example.com") -> Action:
    """A reply by the support agent to sample mail #1 (Marta), through the real intake."""
    mail = sv.store.mail.get(1)
    payload = sv.runner._reply_payload(mail, {
        "to": [to], "cc": [], "subject": "Re: " + mail.subject,
        "body": f"Hi Marta,\n\nthank you, noted ({next(_ids)}).\n\nAda",
    })
    return sv.runner.intake.propose(
        REPLY_EMAIL, payload, agent="support",
        provenance=Provenance("mail", 1, untrusted=True), run_id=None,
    )


def approve(sv: Services, run, action: Action) -> None:
    run(sv.decisions.approve(action.id, expected_sha256=action.payload_sha256, delay_s=60))


def offers(sv: Services) -> list[dict]:
    return [o.to_json() for o in sv.store.autonomy.offers(
        after=N, rules=sv.store.policy.rules())]


def test_offered_after_n_unedited_approvals_not_after_n_minus_1(sv: Services, run) -> None:
    first = reply(sv)
    print("risk of a reply to Marta:", first.risk, first.risk_reasons)
    assert first.risk == "low"
    approved = [first]
    approve(sv, run, first)
    for _ in range(N - 2):
        a = reply(sv)
        approve(sv, run, a)
        approved.append(a)
    assert offers(sv) == []  # N-1
    last = reply(sv)
    approve(sv, run, last)
    approved.append(last)

    (offer,) = offers(sv)
    assert offer["agent"] == "support" and offer["kind"] == REPLY_EMAIL
    assert offer["pattern"] == {"fact": "recipient_domains", "value": ["example.com"]}
    assert offer["evidence"] == [a.id for a in approved]
    assert offer["untrusted"] is True and offer["max_risk"] == "low"
    assert offer["rule"] == (
        "reply_email: when agent == support and recipient_domains in example.com and "
        "risk <= low → auto_approve"
    )
    assert sv.store.policy.rules() == []  # offered, never created
    rate = next(r for r in sv.store.autonomy.rates() if r.agent == "support")
    assert (rate.unedited, rate.edited, rate.rejected, rate.rate) == (N, 0, 0, 1.0)


def test_an_edit_or_a_rejection_in_between_starts_the_run_again(sv: Services, run) -> None:
    for _ in range(N - 1):
        approve(sv, run, reply(sv))
    edited = reply(sv)
    edited = sv.decisions.edit(
        edited.id, {**edited.payload, "body": "Hi Marta,\n\nedited by Ada.\n\nAda"},
        expected_sha256=edited.payload_sha256,
    )
    approve(sv, run, edited)
    for _ in range(N - 1):
        approve(sv, run, reply(sv))
    assert offers(sv) == []  # N-1 since the edit
    rejected = reply(sv)
    sv.decisions.reject(rejected.id, reason="no")
    approve(sv, run, reply(sv))
    assert offers(sv) == []  # the rejection started it again
    rate = next(r for r in sv.store.autonomy.rates() if r.agent == "support")
    assert (rate.unedited, rate.edited, rate.rejected) == (2 * N - 1, 1, 1)
    for _ in range(N - 1):
        approve(sv, run, reply(sv))
    (offer,) = offers(sv)
    assert len(offer["evidence"]) == N


def test_never_for_high_risk_untrusted_proposals(sv: Services, run) -> None:
    outsiders = []
    for _ in range(N + 2):
        a = reply(sv, to="boss@elsewhere.example")  # not in the mail it answers: high
        assert a.risk == "high" and a.provenance.untrusted
        approve(sv, run, a)
        outsiders.append(a)
    assert offers(sv) == []
    # The approvals are counted in the rate all the same.
    rate = next(r for r in sv.store.autonomy.rates() if r.agent == "support")
    assert rate.unedited == N + 2


def test_cli_suggest_and_accept_then_the_rule_auto_approves(
    sv: Services, home: Path, run
) -> None:
    for _ in range(N):
        approve(sv, run, reply(sv))
    out = run_cli(home, "policy", "suggest")
    assert out.returncode == 0, out.stderr
    print(out.stdout)
    assert "1. support's reply_email with recipient_domains example.com: approved unedited " \
        f"{N} times in a row" in out.stdout
    assert "accept: solodesk policy suggest --accept 1" in out.stdout
    listed = json.loads(run_cli(home, "policy", "suggest", "--json").stdout)
    assert [o["number"] for o in listed] == [1]
    assert sv.store.policy.rules() == []

    bad = run_cli(home, "policy", "suggest", "--accept", "2")
    assert bad.returncode == 1 and "there is no offer 2: offers are 1 to 1" in bad.stderr
    accepted = run_cli(home, "policy", "suggest", "--accept", "1")
    assert accepted.returncode == 0, accepted.stderr
    (rule,) = sv.store.policy.rules()
    assert rule.kind == REPLY_EMAIL and rule.outcome.value == "auto_approve"
    assert [str(c) for c in rule.conditions] == [
        "agent == support", "recipient_domains in example.com", "risk <= low"
    ]
    assert rule.note.startswith(f"earned: {N} unedited approvals")
    # The rule now approves a new matching low-risk reply, in the founder's rule's name.
    new = reply(sv)
    assert new.status in (ActionStatus.SCHEDULED, ActionStatus.APPROVED)
    assert new.decided_by == f"policy rule #{rule.id}"
    # ... but never a high-risk one.
    risky = reply(sv, to="boss@elsewhere.example")
    assert risky.status is ActionStatus.PENDING
    # And the pattern is not offered again: a rule decides it now.
    assert json.loads(run_cli(home, "policy", "suggest", "--json").stdout) == []
