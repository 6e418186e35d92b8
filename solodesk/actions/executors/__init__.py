"""Executors per action kind: what the outbox runs for an approved, claimed action.

An executor is registered once per kind (``register_executor(kind, fn, preflight=...)``) and is
``async fn(action, ctx) -> ExecutionOutcome``. The outbox does everything that is the same for
every kind before calling it (the claim with its owner, the approval's hash and MAC, a spent
approval, the disk reserve, the re-hash of every blob the payload names, the kind's validation)
and records the outcome as the claim's owner (``actions.outbox``). An executor never retries on
its own: a definite failure is ``failed``; an effect that may or may not have happened is
``unknown`` and waits for the founder.

A preflight check registered with the executor says, before an approval, everything that would
stop the execution (the mail kinds: ``actions.smtp.preflight``); the approval is refused with
those reasons and nothing changes.

Importing this package registers the built-in executors (``executors/mail.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from solodesk.core.actions import Action
from solodesk.store.config import Config
from solodesk.store.repos import Store
from solodesk.store.secrets import SecretStore

#: How an execution ended: ``done`` (the effect happened), ``failed`` (it definitely did not),
#: ``unknown`` (it may have: never retried automatically).
OutcomeStatus = Literal["done", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """What one execution did (the generic result; SMTP keeps its own ``SendOutcome``).

    Attributes:
        status: ``done``, ``failed`` or ``unknown``.
        detail: One line for the founder, without secrets.
        data: More fields recorded in the action's result (strings), e.g. the SMTP ``stage``;
            a ``status`` entry names the success in the kind's words (mail: ``sent``).
    """

    status: OutcomeStatus
    detail: str
    data: Mapping[str, str] = field(default_factory=dict)


class ExecutionInterrupted(Exception):
    """Raised by an executor whose task was cancelled, saying how far it got (its outcome is
    recorded, then the cancellation goes on)."""

    def __init__(self, outcome: ExecutionOutcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass(slots=True)
class ExecutionContext:
    """What an executor may use.

    Attributes:
        store: The database (blobs through ``store.blobs``: re-hashed on read).
        transports: Named ways out of the machine the front end wired (``smtp``: a
            ``send_mail(action) -> smtp.SendOutcome``); tests inject fakes here.
    """

    store: Store
    transports: Mapping[str, Any] = field(default_factory=dict)

    def transport(self, name: str) -> Any:
        """The transport called ``name``.

        Raises:
            LookupError: none is wired (a setup error: the outcome is ``failed``).
        """
        try:
            return self.transports[name]
        except KeyError:
            raise LookupError(f"no {name} transport is set up; nothing was done") from None


@dataclass(frozen=True, slots=True)
class PreflightContext:
    """What a preflight check may read: the settings, the keyring and the data folder (None:
    not known)."""

    config: Config
    secrets: SecretStore
    data_dir: Path | None = None


Executor = Callable[[Action, ExecutionContext], Awaitable[ExecutionOutcome]]
Preflight = Callable[[Action, PreflightContext], list[str]]


@dataclass(frozen=True, slots=True)
class Registration:
    """An executor and its preflight check (None: nothing to check before approval)."""

    execute: Executor
    preflight: Preflight | None = None


_EXECUTORS: dict[str, Registration] = {}


def register_executor(kind: str, fn: Executor, *, preflight: Preflight | None = None) -> None:
    """Register (or, in tests, replace) the executor of ``kind``."""
    _EXECUTORS[kind] = Registration(fn, preflight)


def unregister_executor(kind: str) -> None:
    """Remove the executor of ``kind`` (tests that register their own kinds)."""
    _EXECUTORS.pop(kind, None)


def executor_for(kind: str) -> Registration | None:
    """The registration of ``kind``'s executor, or None."""
    return _EXECUTORS.get(kind)


def has_executor(kind: str) -> bool:
    """Whether ``kind`` has an executor."""
    return kind in _EXECUTORS


def preflight(action: Action, ctx: PreflightContext) -> list[str]:
    """What would stop ``action`` from executing, one line each (empty: nothing known); an
    action without an executor cannot execute at all."""
    reg = _EXECUTORS.get(action.kind)
    if reg is None:
        return [f"no executor for {action.kind} actions: it cannot be executed"]
    return reg.preflight(action, ctx) if reg.preflight is not None else []


# The built-in executors register themselves on import.
from solodesk.actions.executors import mail as _mail  # noqa: E402,F401,I001

# The money kinds (issue 10) after the mail kinds.
from solodesk.actions.executors import calendar as _calendar  # noqa: E402,F401
from solodesk.actions.executors import invoice as _invoice  # noqa: E402,F401
from solodesk.actions.executors import ledger as _ledger  # noqa: E402,F401

# Documents (issue 8).
from solodesk.actions.executors import document as _document  # noqa: E402,F401
# Shared memory (issue 8).
from solodesk.actions.executors import memory as _memory_exec  # noqa: E402,F401
