"""The outbox: the only place approved actions are executed, each at most once.

The outbox is the same for every action kind; what differs is the kind's executor
(``actions.executors``: ``register_executor(kind, fn)``). An approved action is claimed with a
conditional update (``approved -> executing``) in a ``BEGIN IMMEDIATE`` transaction that records
the claim's owner (this process); only the claimer executes it. Before executing, the payload's
sha256 is recomputed and compared with the hash recorded at approval, in a keyed home the
approval's MAC is verified (``core.trust``) and a spent approval refused, every blob the payload
names (``KindSpec.blobs``) is re-hashed, and the payload is validated again: any mismatch is
refused (``failed``, audited, nothing executed). The executor's
:class:`~solodesk.actions.executors.ExecutionOutcome` is recorded by the claim's owner. Mail
cannot be deduplicated by the SMTP server, so a send interrupted once its data had started
becomes ``unknown`` and is never re-sent automatically; one that stopped earlier is ``failed``
(see ``actions.smtp``). At start, :meth:`Outbox.reconcile` marks as ``unknown`` only rows left
``executing`` by a process that is gone; another process's live send is left to that process.

Before a claim the outbox makes sure the outcome can be recorded: the home's key must be usable
(keyed homes) and the disk must have room (``store.reserve``); when recording an outcome finds the
disk full, the reserve file is released and the outcome recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from solodesk.actions import smtp
from solodesk.actions.executors import (
    ExecutionContext,
    ExecutionInterrupted,
    ExecutionOutcome,
    executor_for,
)
from solodesk.actions.executors.mail import SMTP
from solodesk.core import kinds as K
from solodesk.core import trust as T
from solodesk.core.actions import Action, ActionStatus, ApproveNow, payload_sha256
from solodesk.store.blobs import BlobCorrupt, BlobRepo
from solodesk.store.db import DiskFull
from solodesk.store.owner import Owner
from solodesk.store.repos import NotFound, Store, approval_of
from solodesk.store.reserve import DiskReserve

log = logging.getLogger(__name__)

_EVENTS = {"done": "executed", "failed": "execution_failed", "unknown": "execution_unknown"}
_TARGETS = {
    "done": ActionStatus.EXECUTED,
    "failed": ActionStatus.FAILED,
    "unknown": ActionStatus.UNKNOWN,
}

SendFn = Callable[[Action], Awaitable[smtp.SendOutcome]]


class NotClaimed(LookupError):
    """The action was not ``approved`` when the outbox tried to claim it (already handled)."""


class Outbox:
    """Executes approved actions.

    Args:
        store: The database.
        send_mail: Sends a mail action and returns the outcome (normally :meth:`smtp_sender`);
            the mail executor's ``smtp`` transport. On cancellation it raises
            :class:`smtp.SendInterrupted` saying how far it got.
        reserve: The data folder's free-space check and reserve file (None: no check).
        transports: More named transports for other kinds' executors.

    Attributes:
        interrupted: Actions whose send was cancelled in this process (for a closing message).
        warnings: One line per event the founder should hear about (e.g. the disk reserve was
            used to record an outcome).
    """

    def __init__(
        self,
        store: Store,
        send_mail: SendFn,
        *,
        reserve: DiskReserve | None = None,
        transports: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.transports: dict[str, Any] = dict(transports or {})
        self.transports[SMTP] = send_mail
        self.reserve = reserve
        self.interrupted: list[Action] = []
        self.warnings: list[str] = []

    @property
    def send_mail(self) -> SendFn:
        """The mail executor's transport (``transports["smtp"]``)."""
        send: SendFn = self.transports[SMTP]
        return send

    @send_mail.setter
    def send_mail(self, send: SendFn) -> None:
        self.transports[SMTP] = send

    @staticmethod
    def smtp_sender(
        settings: Callable[[], smtp.SmtpSettings],
        password: Callable[[], str | None],
        *,
        blobs: BlobRepo | None = None,
    ) -> SendFn:
        """A ``send_mail`` that sends over SMTP in a daemon thread (:func:`smtp.send_async`).

        ``settings`` and ``password`` are called at send time, so settings changed in the UI
        apply to the next send. Nothing can have been sent when either fails (an invalid or
        mistyped setting, a locked keyring): that is a ``failed`` outcome, never ``unknown``.
        A payload with ``attachments`` is built with ``actions.mime.build_mime`` from the bytes
        in ``blobs`` (re-hashed; a mismatch or missing bytes is ``failed``, nothing sent).
        """

        async def send(action: Action) -> smtp.SendOutcome:
            try:
                s = settings()
            except Exception as exc:  # SmtpConfigError, ConfigError (e.g. smtp.port 587x)
                return smtp.SendOutcome("failed", f"{exc}; nothing was sent", stage="SETUP")
            try:
                pw = password() if s.username else None
            except Exception as exc:  # SecretError: the keyring is locked or failing
                return smtp.SendOutcome(
                    "failed", f"cannot read smtp.password: {exc}; nothing was sent",
                    stage="SETUP",
                )
            refs = action.payload.get("attachments") or []
            if not refs:
                return await smtp.send_async(action.payload, s, pw)
            try:
                build = _mime_builder(action, blobs)
            except Exception as exc:  # NotFound, BlobCorrupt, AttachmentMismatch, schema
                return smtp.SendOutcome(
                    "failed", f"cannot attach the approved files: {exc}; nothing was sent",
                    stage="SETUP",
                )
            return await smtp.send_async(action.payload, s, pw, build=build)

        return send

    @staticmethod
    def smtp_message_sender(
        settings: Callable[[], smtp.SmtpSettings],
        password: Callable[[], str | None],
    ) -> Callable[[Mapping[str, Any], Callable[[str], Any]], Awaitable[smtp.SendOutcome]]:
        """A transport that sends a message its executor builds (``build(from_addr)``), to the
        To and Cc of ``envelope`` (a mail payload: ``to``, ``cc``, ``message_id``), over SMTP
        in a daemon thread; settings and password are read at send time as in
        :meth:`smtp_sender`. Used by kinds whose mail is not a plain ``send_email`` (the iMIP
        invitation of ``send_invitation``)."""

        async def send(
            envelope: Mapping[str, Any], build: Callable[[str], Any]
        ) -> smtp.SendOutcome:
            try:
                s = settings()
            except Exception as exc:
                return smtp.SendOutcome("failed", f"{exc}; nothing was sent", stage="SETUP")
            try:
                pw = password() if s.username else None
            except Exception as exc:
                return smtp.SendOutcome(
                    "failed", f"cannot read smtp.password: {exc}; nothing was sent",
                    stage="SETUP",
                )
            return await smtp.send_async(envelope, s, pw, build=build)

        return send

    def reconcile(self) -> list[int]:
        """Mark actions left ``executing`` by a process that is gone as ``unknown``; returns
        their ids. Claims of live processes are left alone."""
        return self.store.actions.reconcile()

    async def execute(self, action_id: int, *, approve: ApproveNow | None = None) -> Action:
        """Claim and execute one approved action.

        With ``approve``, the action is approved here, in the transaction that claims it (one
        durable commit before SMTP instead of two, :meth:`ActionRepo.approve`). If the checks
        before a claim fail (locked keyring, no disk space), it is approved alone, as an
        approval followed by a failed execution always was, and the error is raised.

        Returns:
            The action in its final status (``executed``, ``failed`` or ``unknown``).

        Raises:
            NotClaimed: the action is not ``approved`` (e.g. already sent, or never approved).
            TrustUnavailable: the home is keyed and the keyring is locked or unavailable
                (nothing was claimed or sent).
            NoSpace: too little free disk space to record the outcome (nothing was claimed).
            StoreBusy, DiskFull: the database could not be written (nothing was sent).
            NotFound, StaleApproval, InvalidTransition: from the approval (nothing was sent).
        """
        actions = self.store.actions
        try:
            key = self.store.trust.key()  # a keyed home with a locked keyring stops here
            if self.reserve is not None:
                self.reserve.check(f"#{action_id}")
        except Exception:
            if approve is not None:  # the approval stands (or says why it cannot)
                self._approved(
                    actions.approve(
                        action_id, expected_sha256=approve.expected_sha256, actor=approve.actor
                    ),
                    approve,
                )
            raise
        owner = Owner.current()
        claimed: Action | None
        if approve is not None:
            claimed = actions.approve(
                action_id,
                expected_sha256=approve.expected_sha256,
                actor=approve.actor,
                claim_owner=owner,
            )
            self._approved(claimed, approve)
        else:
            claimed = actions.claim(action_id, owner=owner)
        if claimed is None:
            current = actions.get(action_id)
            raise NotClaimed(f"action {action_id} is {current.status.value}; nothing to execute")
        action = claimed
        refusal = self._refusal(action, key)
        if refusal is not None:
            event, result = refusal
            return self._finish(action_id, ActionStatus.FAILED, owner, event, result)
        registration = executor_for(action.kind)
        if registration is None:
            outcome = ExecutionOutcome(
                "failed", f"no executor for {action.kind} actions; nothing was done"
            )
            return self._record(action_id, owner, outcome)
        ctx = ExecutionContext(self.store, self.transports)
        try:
            with actions.lease(action_id, owner):
                outcome = await registration.execute(action, ctx)
        except ExecutionInterrupted as exc:
            # Cancelled (Ctrl-C, the window closing): record how far it got, then stop.
            final = self._record(action_id, owner, exc.outcome, event="execution_interrupted")
            self.interrupted.append(final)
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            # An executor that cannot say how far it got: the effect may have happened.
            final = self._record(
                action_id,
                owner,
                ExecutionOutcome("unknown", "interrupted while sending"),
                event="execution_unknown",
            )
            self.interrupted.append(final)
            raise
        except Exception as exc:  # a bug in an executor must not leave the row executing
            outcome = ExecutionOutcome("unknown", f"{type(exc).__name__}: {exc}")
        return self._record(action_id, owner, outcome)

    @staticmethod
    def _approved(action: Action, approve: ApproveNow) -> None:
        if approve.on_approved is not None:
            approve.on_approved(action)

    def _refusal(self, action: Action, key: bytes | None) -> tuple[str, dict[str, str]] | None:
        """Why a claimed action must not be executed, as ``(event, result)``; None if it may."""
        actual = payload_sha256(action.payload)
        if actual != action.approved_sha256 or actual != action.payload_sha256:
            return "hash_mismatch", {
                "status": "failed",
                "detail": "the payload differs from what was approved; it was not executed."
                " Review it and approve it again.",
                "approved_sha256": action.approved_sha256 or "",
                "actual_sha256": actual,
            }
        if key is not None:
            approval = approval_of(action)
            if approval is None or not T.verify_approval(key, approval, action.approval_mac):
                return "approval_not_verified", {
                    "status": "failed",
                    "detail": "its approval is not signed with this home's key (it was not "
                    "approved in SoloDesk, or the database was changed outside SoloDesk); it "
                    "was not executed. Review it and approve it again.",
                }
            if self.store.actions.used_approvals(action) > 1:
                return "approval_already_used", {
                    "status": "failed",
                    "detail": "this approval was already used for an earlier send (the "
                    "database was changed outside SoloDesk); it was not executed again. "
                    "Review it and approve it again.",
                }
        errors = K.validate_payload(action.kind, action.payload)
        if errors:
            return "execution_failed", {
                "status": "failed",
                "detail": "invalid payload: " + "; ".join(errors),
            }
        for name, sha in K.blobs_of(action.kind, action.payload).items():
            try:
                self.store.blobs.get(sha)  # re-hashes the stored bytes
            except (NotFound, BlobCorrupt) as exc:
                return "blob_mismatch", {
                    "status": "failed",
                    "detail": f"{name}: {exc}; it was not executed",
                }
        return None

    def _record(
        self,
        action_id: int,
        owner: Owner,
        outcome: ExecutionOutcome,
        *,
        event: str | None = None,
    ) -> Action:
        result: dict[str, str] = {"status": outcome.status, "detail": outcome.detail}
        result.update(outcome.data)
        return self._finish(
            action_id, _TARGETS[outcome.status], owner, event or _EVENTS[outcome.status], result
        )

    def _finish(
        self,
        action_id: int,
        target: ActionStatus,
        owner: Owner,
        event: str,
        result: dict[str, str],
    ) -> Action:
        """Record an outcome; when the disk is full, release the reserve and record it."""
        actions = self.store.actions
        try:
            return actions.finish(action_id, target, owner=owner, event=event, result=result)
        except DiskFull:
            if self.reserve is None or not self.reserve.release():
                raise DiskFull(
                    f"the disk holding the database is full: the outcome of #{action_id} "
                    f"({result['status']}: {result['detail']}) could not be recorded. Free some "
                    "space, then run 'solodesk inbox show "
                    f"{action_id}' (it will show as unknown: resolve it with 'solodesk inbox "
                    f"resolve {action_id} --delivered' or '--not-delivered')"
                ) from None
        final = actions.finish(action_id, target, owner=owner, event=event, result=result)
        self.warnings.append(
            f"the disk holding {self.reserve.data_dir} is full: the outcome of #{action_id} "
            "was recorded using SoloDesk's disk reserve. Free some space before sending more"
        )
        return final


def _mime_builder(action: Action, blobs: BlobRepo | None) -> Callable[[str], Any]:
    """The message builder of a mail with attachments: the approved bytes from ``blobs``.

    Raises:
        LookupError: no blob store was given; NotFound, BlobCorrupt, AttachmentMismatch: the
            bytes are missing or not the approved ones; pydantic.ValidationError: bad refs.
    """
    from solodesk.actions.mime import build_mime, load_attachments
    from solodesk.core.attachments import AttachmentRef

    if blobs is None:
        raise LookupError("no attachment store is set up")
    refs = [AttachmentRef.model_validate(r) for r in action.payload.get("attachments") or []]
    attachments = load_attachments(blobs, refs)
    payload = dict(action.payload)
    return lambda sender: build_mime(payload, sender, attachments)
