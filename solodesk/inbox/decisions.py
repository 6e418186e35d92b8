"""The founder's decisions on proposals: one headless service for the GUI and the command line.

:class:`Decisions` approves exactly what was shown (the sha256 of the payload the founder saw;
an edit saved first makes a new payload and hash that the approval then covers), edits
(validated, risk re-assessed, new hash), rejects with a reason, cancels an approval in its undo
window, and resolves an interrupted (``unknown``) execution as delivered or not delivered. Each
decision is audited with who decided (``founder``, or ``policy rule #N``) and published as an
:class:`~solodesk.core.events.ActionResolved` event, which also wakes the outbox scheduler
(``actions.scheduler``).

Before an approval the kind's preflight (``actions.executors``: SMTP set up, a password in the
keyring...) must find nothing missing; a placeholder Message-ID (made while ``smtp.from`` was
unset) is then re-issued on the founder's domain, as an audited change the approval covers. The
undo window is the kind's (``KindSpec.undo_window``, ``outbox.undo_seconds``).

Errors are typed (:class:`DecisionError` and its subclasses), say what to do, and keep the
built-in types callers already catch: :class:`StaleProposal` is a ``StaleApproval``,
:class:`WrongState` an ``InvalidTransition``, :class:`InvalidEdit` a ``ValueError``. Nothing is
changed when one is raised.

The GUI (``ui/inbox_view.py``) and the command line (``solodesk inbox ...``, ``solodesk outbox
run``) call only this service for decisions; ``tests/unit/test_decisions_only.py`` fails if
either calls the store's decision methods directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from solodesk.core import kinds as K
from solodesk.core.actions import (
    APPROVABLE,
    Action,
    ActionStatus,
    ApproveNow,
    InvalidTransition,
    JSONObject,
    payload_sha256,
)
from solodesk.core.events import ActionResolved, EventBus
from solodesk.core.kinds import validate_payload
from solodesk.core.mail import is_placeholder_message_id, new_message_id
from solodesk.inbox.gates import Gates
from solodesk.store.config import Config
from solodesk.store.repos import StaleApproval, Store

log = logging.getLogger(__name__)

#: Who decides when the founder does (the audit log's ``actor``).
FOUNDER = "founder"


class ExecuteFn(Protocol):
    """Executes one approved action through the outbox (``Outbox.execute``); raises a
    LookupError (``NotClaimed``) if it is not claimable. With ``approve`` it approves it
    first, in the transaction that claims it."""

    def __call__(self, action_id: int, *, approve: ApproveNow | None = None) -> Awaitable[Action]:
        ...


PreflightFn = Callable[[Action], list[str]]
"""Why an action cannot be executed now (missing settings, no password...); empty if it can."""


class DecisionError(Exception):
    """A decision was refused; nothing changed. The message says why and what to do.

    Attributes:
        action_id: The proposal the decision was about.
    """

    def __init__(self, action_id: int, message: str) -> None:
        super().__init__(message)
        self.action_id = action_id


class StaleProposal(DecisionError, StaleApproval):
    """The proposal changed since the founder saw it (its payload sha256 is not the one shown):
    nothing was approved or saved. Review it again and decide on what is shown now."""

    def __init__(self, action_id: int, *, seen: str | None = None, now: str | None = None) -> None:
        super().__init__(
            action_id,
            f"action {action_id}: the proposal changed since you viewed it; review it again",
        )
        self.seen = seen
        self.now = now


class PreflightFailed(DecisionError, ValueError):
    """Executing the action cannot work yet (e.g. SMTP is not set up): nothing was approved
    and it stays as it was.

    Attributes:
        problems: What is missing, one line each, each naming what to set.
    """

    def __init__(self, action_id: int, problems: list[str]) -> None:
        super().__init__(
            action_id, "sending cannot work yet, so it stays as it is: " + "; ".join(problems)
        )
        self.problems = problems


class InvalidEdit(DecisionError, ValueError):
    """The edited payload does not pass its kind's validation; nothing was saved.

    Attributes:
        errors: One line per problem (``field: what is wrong``).
    """

    def __init__(self, action_id: int, errors: list[str]) -> None:
        super().__init__(action_id, "; ".join(errors))
        self.errors = errors


#: What to do about an action in each status, when a decision does not apply to it.
_STATE_HINTS = {
    ActionStatus.INVALID: "it failed validation and can only be rejected",
    ActionStatus.PENDING: "it waits for your decision (approve, edit or reject it)",
    ActionStatus.SCHEDULED: "it is approved and in its undo window; cancel it first to change it",
    ActionStatus.APPROVED: "it is approved and waits for the outbox",
    ActionStatus.EXECUTING: "it is being executed now; wait for the outcome",
    ActionStatus.EXECUTED: "it was already executed; nothing is left to decide",
    ActionStatus.FAILED: "nothing was executed; approve it again or edit it",
    ActionStatus.UNKNOWN: (
        "it may or may not have arrived; resolve it as delivered or not delivered first"
    ),
    ActionStatus.REJECTED: "it was rejected; nothing is left to decide",
}


class WrongState(DecisionError, InvalidTransition):
    """The decision does not apply to the action's current status; nothing changed.

    Attributes:
        current: The action's status.
        target: The status the decision would have moved it to.
    """

    def __init__(self, action_id: int, current: ActionStatus, target: ActionStatus) -> None:
        InvalidTransition.__init__(self, action_id, current, target)
        self.args = (f"{self.args[0]}: {_STATE_HINTS[current]}",)


@contextmanager
def _typed(action_id: int) -> Iterator[None]:
    """Re-raise the store's refusals as this module's typed errors."""
    try:
        yield
    except DecisionError:
        raise
    except InvalidTransition as exc:
        raise WrongState(action_id, exc.current, exc.target) from None
    except StaleApproval:
        raise StaleProposal(action_id) from None


@dataclass(slots=True)
class ManyApproved:
    """What :meth:`Decisions.approve_many` did.

    Attributes:
        approved: The approved actions in their new status (``scheduled``, or
            ``executed``/``failed``/``unknown`` when executed at once).
        skipped: ``(action id, why)`` for each one not approved (changed since it was seen,
            no longer approvable, preflight problems...); nothing changed for those.
        stopped: Why the batch stopped before the end ("" if it did not).
    """

    approved: list[Action] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    stopped: str = ""


class Decisions:
    """The founder's (and policy rules') decisions on the proposals in ``store``.

    Args:
        store: The database.
        config: Settings (``outbox.undo_seconds``, ``smtp.from`` for Message-IDs).
        bus: Where :class:`ActionResolved` is published after each decision.
        execute: The outbox's execute function (``Outbox.execute``).
        preflight: Says why an action could not be executed now (checked before every
            approval); None checks nothing.
        gates: Risk and policy (one is made on ``store`` and ``config`` if None): an edit is
            re-assessed with it.
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        bus: EventBus,
        *,
        execute: ExecuteFn,
        preflight: PreflightFn | None = None,
        gates: Gates | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.bus = bus
        self.execute = execute
        self.preflight = preflight
        self.gates = gates or Gates(store, config)

    # -- reading -------------------------------------------------------------------------------
    def undo_seconds(self, kind: str | None = None) -> float:
        """The undo window of an approval of ``kind``, in seconds (0: executed at once)."""
        return self.gates.undo_seconds(kind)

    def problems(self, action: Action) -> list[str]:
        """What would stop ``action`` from being executed now (the kind's preflight)."""
        return self.preflight(action) if self.preflight is not None else []

    def _get(self, action_id: int) -> Action:
        return self.store.actions.get(action_id)

    def _resolved(self, action: Action, detail: str) -> Action:
        self.bus.publish(ActionResolved(action.id, action.status.value, detail))
        return action

    # -- approving -----------------------------------------------------------------------------
    async def approve(
        self,
        action_id: int,
        *,
        expected_sha256: str | None,
        payload: JSONObject | None = None,
        actor: str = FOUNDER,
        delay_s: float | None = None,
    ) -> Action:
        """Approve exactly what was shown, and execute it now or after the undo window.

        With ``payload`` (what an editor shows, possibly edited) whose sha256 differs from
        ``expected_sha256``, the edit is saved first (:meth:`edit`: validated, re-assessed, a
        new hash) and the approval covers the edited payload. Before approving, the kind's
        preflight must find nothing missing; a placeholder Message-ID is re-issued (audited).

        Args:
            action_id: The proposal.
            expected_sha256: The sha256 (hex) of the stored payload the founder saw; None
                approves the payload as stored now (a command that shows it afterwards).
            payload: The payload as shown, if the founder may have edited it.
            actor: Who decides (``founder``, ``policy rule #N``): audited.
            delay_s: The undo window in seconds; None: the kind's (:meth:`undo_seconds`).
                With 0 the action is approved and claimed in one transaction and executed now.

        Returns:
            The action: ``scheduled`` (in its undo window), or its execution outcome
            (``executed``, ``failed``, ``unknown``).

        Raises:
            StaleProposal: the stored payload is not ``expected_sha256``; nothing approved.
            InvalidEdit: the shown payload is invalid; nothing saved or approved.
            PreflightFailed: executing cannot work yet; nothing approved.
            WrongState: the action is not approvable (already decided...).
            NotFound: no such action.
            NotClaimed: approved, but another process is executing it (a LookupError).
        """
        if payload is not None and payload_sha256(payload) != expected_sha256:
            expected_sha256 = self.edit(
                action_id, payload, expected_sha256=expected_sha256, actor=actor
            ).payload_sha256
        current = self._get(action_id)
        if expected_sha256 is not None and current.payload_sha256 != expected_sha256:
            raise StaleProposal(action_id, seen=expected_sha256, now=current.payload_sha256)
        if current.status not in APPROVABLE:
            raise WrongState(action_id, current.status, ActionStatus.APPROVED)
        problems = self.problems(current)
        if problems:
            raise PreflightFailed(action_id, problems)
        with _typed(action_id):
            current = self._reissue_message_id(current, actor)
        sha = current.payload_sha256
        delay = self.undo_seconds(current.kind) if delay_s is None else delay_s
        if delay <= 0:
            # Executed now: approved and claimed in one transaction (one durable commit
            # before the effect).
            def approved(action: Action) -> None:
                # Approved and claimed at once: announced as approved (it is executing now).
                self.bus.publish(ActionResolved(action.id, ActionStatus.APPROVED.value, ""))

            with _typed(action_id):
                final = await self.execute(
                    action_id,
                    approve=ApproveNow(sha, actor=actor, on_approved=approved),
                )
            return self._resolved(final, str((final.result or {}).get("detail", "")))
        with _typed(action_id):
            action = self.store.actions.approve(
                action_id, expected_sha256=sha, actor=actor, delay_s=delay
            )
        self._resolved(action, action.send_at or "")
        if action.status is ActionStatus.SCHEDULED:
            return action
        return await self.execute_approved(action_id)

    def _reissue_message_id(self, action: Action, actor: str) -> Action:
        """Replace a placeholder Message-ID with one on the founder's domain (audited)."""
        message_id = action.payload.get("message_id")
        domain = self.gates.own_domain()
        if not isinstance(message_id, str) or not is_placeholder_message_id(message_id):
            return action
        if not domain:
            return action
        payload = {**action.payload, "message_id": new_message_id(domain)}
        return self.store.actions.reissue_message_id(
            action.id, payload, expected_sha256=action.payload_sha256
        )

    async def approve_many(
        self,
        seen: Sequence[tuple[int, str]],
        *,
        actor: str = FOUNDER,
        delay_s: float | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
        stop: Callable[[], str] | None = None,
    ) -> ManyApproved:
        """Approve several proposals, each exactly as the founder saw it.

        Each goes through :meth:`approve` with the sha256 it had when the founder confirmed;
        one that changed meanwhile, is no longer approvable or cannot be executed is skipped
        and named, and the others go on.

        Args:
            seen: ``(action id, payload sha256 as seen)`` in the order to approve.
            actor: Who decides: audited on each.
            delay_s: The undo window; None: each kind's.
            guard: Entered around each approval (the GUI's "do not quit mid-send").
            stop: Checked before each approval; a non-empty reason stops the batch there
                (the rest stay as they are).

        Returns:
            What was approved and what was skipped, with why.
        """
        result = ManyApproved()
        for action_id, sha in seen:
            reason = stop() if stop is not None else ""
            if reason:
                result.stopped = reason
                break
            try:
                with guard() if guard is not None else _nothing():
                    final = await self.approve(
                        action_id, expected_sha256=sha, actor=actor, delay_s=delay_s
                    )
            except (DecisionError, LookupError, ValueError) as exc:
                result.skipped.append((action_id, str(exc)))
                continue
            except Exception as exc:  # a busy database, a locked keyring: the next may work
                log.exception("approving #%s failed", action_id)
                result.skipped.append((action_id, f"{type(exc).__name__}: {exc}"))
                continue
            result.approved.append(final)
        return result

    async def execute_approved(self, action_id: int) -> Action:
        """Execute one approved action whose undo window is over, through the outbox, and
        announce the outcome (the outbox scheduler's and ``solodesk outbox run``'s step).

        Raises:
            NotClaimed: it is not claimable (not approved, not yet due, or already taken).
        """
        final = await self.execute(action_id)
        return self._resolved(final, str((final.result or {}).get("detail", "")))

    async def run_due(self) -> list[Action]:
        """Execute every action whose approval is due; those claimed elsewhere are skipped."""
        done: list[Action] = []
        for action_id in self.store.actions.due():
            try:
                done.append(await self.execute_approved(action_id))
            except LookupError:  # the outbox's NotClaimed: another task got it first
                continue
        return done

    # -- other decisions (synchronous: one transaction each) -----------------------------------
    def edit(
        self,
        action_id: int,
        payload: JSONObject,
        *,
        expected_sha256: str | None,
        actor: str = FOUNDER,
    ) -> Action:
        """Replace an editable proposal's payload: validated by its kind, risk re-assessed,
        a new sha256; it is ``pending`` again (an edit always needs a new approval).

        Args:
            expected_sha256: The sha256 of the stored payload the edit started from; None:
                whatever is stored now.

        Raises:
            StaleProposal: the stored payload is not ``expected_sha256``; nothing saved.
            InvalidEdit: the payload fails validation (every error listed); nothing saved.
            WrongState: the proposal is no longer editable.
            NotFound: no such action.
        """
        current = self._get(action_id)
        if expected_sha256 is not None and current.payload_sha256 != expected_sha256:
            raise StaleProposal(action_id, seen=expected_sha256, now=current.payload_sha256)
        errors = validate_payload(current.kind, payload)
        if errors:
            raise InvalidEdit(action_id, errors)
        risk = self.gates.assess(
            current.kind, payload, current.provenance, draft_attempts=current.draft_attempts
        )
        with _typed(action_id):
            action = self.store.actions.edit(
                action_id,
                payload,
                actor=actor,
                risk=risk.level.label,
                risk_reasons=risk.reasons,
                summary=K.summary(current.kind, payload),
            )
        return self._resolved(action, "edited")

    def reject(self, action_id: int, *, reason: str = "", actor: str = FOUNDER) -> Action:
        """Reject (or dismiss) a proposal, with the reason (audited).

        Raises:
            WrongState: it is already executed, being executed, or rejected.
            NotFound: no such action.
        """
        with _typed(action_id):
            action = self.store.actions.reject(action_id, reason=reason, actor=actor)
        return self._resolved(action, reason)

    def cancel(self, action_id: int, *, actor: str = FOUNDER) -> Action:
        """Undo an approval during its undo window: ``pending`` again, nothing executed.

        Raises:
            WrongState: too late (it is being executed or was executed), or not approved.
            NotFound: no such action.
        """
        with _typed(action_id):
            action = self.store.actions.cancel(action_id, actor=actor)
        return self._resolved(action, "approval cancelled")

    def resolve(self, action_id: int, *, delivered: bool, actor: str = FOUNDER) -> Action:
        """Settle an interrupted (``unknown``) execution on the founder's word: delivered
        (``executed``) or not delivered (``failed``: nothing arrived; it may be approved
        again).

        Raises:
            WrongState: the action is not ``unknown``.
            NotFound: no such action.
        """
        with _typed(action_id):
            if delivered:
                action = self.store.actions.transition(
                    action_id,
                    ActionStatus.EXECUTED,
                    actor=actor,
                    event="confirmed_delivered",
                    expect=[ActionStatus.UNKNOWN],
                )
                return self._resolved(action, f"confirmed delivered by the {actor}")
            action = self.store.actions.resolve_not_delivered(action_id, actor=actor)
        return self._resolved(action, f"not delivered, said the {actor}")


@contextmanager
def _nothing() -> Iterator[None]:
    yield
