"""The outbox: the only place approved actions are executed, each at most once.

An approved action is claimed with a conditional update (``approved -> executing``) in a
transaction; only the claimer executes it. Before executing, the payload's sha256 is recomputed
and compared with the hash recorded at approval; a mismatch is refused. Mail cannot be
deduplicated by the SMTP server, so an interrupted send becomes ``unknown`` and is never re-sent
automatically; at start, :meth:`Outbox.reconcile` marks rows left ``executing`` as ``unknown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from solodesk.actions import smtp
from solodesk.core.actions import Action, ActionKind, ActionStatus, payload_sha256
from solodesk.core.mail import validate_payload
from solodesk.store.repos import Store

_EVENTS = {"sent": "executed", "failed": "execution_failed", "unknown": "execution_unknown"}

SendFn = Callable[[Action], Awaitable[smtp.SendOutcome]]


class NotClaimed(LookupError):
    """The action was not ``approved`` when the outbox tried to claim it (already handled)."""


class Outbox:
    """Executes approved actions.

    Args:
        store: The database.
        send_mail: Sends a mail action and returns the outcome (normally :meth:`smtp_sender`).
    """

    def __init__(self, store: Store, send_mail: SendFn) -> None:
        self.store = store
        self.send_mail = send_mail

    @staticmethod
    def smtp_sender(
        settings: Callable[[], smtp.SmtpSettings], password: Callable[[], str | None]
    ) -> SendFn:
        """A ``send_mail`` that sends over SMTP in a worker thread.

        ``settings`` and ``password`` are called at send time, so settings changed in the UI
        apply to the next send.
        """

        async def send(action: Action) -> smtp.SendOutcome:
            try:
                s = settings()
            except smtp.SmtpConfigError as exc:
                return smtp.SendOutcome("failed", str(exc))
            pw = password() if s.username else None
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, smtp.send, action.payload, s, pw)

        return send

    def reconcile(self) -> list[int]:
        """Mark actions left ``executing`` by a crash as ``unknown``; returns their ids."""
        return self.store.actions.reconcile()

    async def execute(self, action_id: int) -> Action:
        """Claim and execute one approved action.

        Returns:
            The action in its final status (``executed``, ``failed`` or ``unknown``).

        Raises:
            NotClaimed: the action is not ``approved`` (e.g. already sent, or never approved).
        """
        actions = self.store.actions
        action = actions.claim(action_id)
        if action is None:
            current = actions.get(action_id)
            raise NotClaimed(f"action {action_id} is {current.status.value}; nothing to execute")
        actual = payload_sha256(action.payload)
        if actual != action.approved_sha256 or actual != action.payload_sha256:
            return actions.transition(
                action_id,
                ActionStatus.FAILED,
                actor="outbox",
                event="hash_mismatch",
                result={
                    "status": "failed",
                    "detail": "the payload differs from what was approved; it was not executed."
                    " Review it and approve it again.",
                    "approved_sha256": action.approved_sha256,
                    "actual_sha256": actual,
                },
            )
        errors = validate_payload(action.kind, action.payload)
        if errors:
            return actions.transition(
                action_id,
                ActionStatus.FAILED,
                actor="outbox",
                event="execution_failed",
                result={"status": "failed", "detail": "invalid payload: " + "; ".join(errors)},
            )
        if action.kind in (ActionKind.SEND_EMAIL, ActionKind.REPLY_EMAIL):
            try:
                outcome = await self.send_mail(action)
            except asyncio.CancelledError:
                # Shutdown mid-send: we cannot know whether the server accepted it.
                actions.transition(
                    action_id,
                    ActionStatus.UNKNOWN,
                    actor="outbox",
                    event="execution_unknown",
                    result={"status": "unknown", "detail": "interrupted while sending"},
                )
                raise
            except Exception as exc:  # a bug in a sender must not leave the row executing
                outcome = smtp.SendOutcome("unknown", f"{type(exc).__name__}: {exc}")
        else:  # pragma: no cover - every kind has an executor
            outcome = smtp.SendOutcome("failed", f"no executor for {action.kind}")
        target = {
            "sent": ActionStatus.EXECUTED,
            "failed": ActionStatus.FAILED,
            "unknown": ActionStatus.UNKNOWN,
        }[outcome.status]
        result = {"status": outcome.status, "detail": outcome.detail}
        if outcome.refused:
            result["refused"] = ", ".join(outcome.refused)
        return actions.transition(
            action_id,
            target,
            actor="outbox",
            event=_EVENTS[outcome.status],
            result=result,
        )
