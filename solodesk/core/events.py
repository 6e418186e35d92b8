"""Frozen events the runner publishes, and a small typed event bus.

The UI subscribes through ``ui.bridge`` (which turns events into Qt signals); the CLI subscribes
directly. Handlers run synchronously in the publisher's thread, in subscription order; an exception
in one handler is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True, slots=True)
class ActionProposed(Event):
    """A proposal was stored (``status`` is ``pending`` or ``invalid``)."""

    action_id: int
    kind: str
    status: str
    summary: str


@dataclass(frozen=True, slots=True)
class ActionResolved(Event):
    """An action changed status (approved, rejected, executed, failed, unknown, edited)."""

    action_id: int
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChatDelta(Event):
    """A piece of streamed assistant text in a conversation."""

    conversation_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ChatFinished(Event):
    """The assistant's reply is complete (``stopped`` if the founder pressed Stop)."""

    conversation_id: int
    text: str
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """Progress of long work: ``done`` of ``total`` steps (``total`` 0 when unknown)."""

    task: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class RunFailed(Event):
    """Work failed; ``message`` says what went wrong and what to do."""

    task: str
    message: str


@dataclass(frozen=True, slots=True)
class ModelCrashed(Event):
    """The local model process died (a crash, not a refused or slow request).

    ``message`` names the signal and the model log; ``restarting`` is True when SoloDesk is
    restarting it and retrying, False when the run stops because it died again.
    """

    message: str
    restarting: bool


@dataclass(frozen=True, slots=True)
class MailImported(Event):
    """Mail was imported: counts of new, duplicate and malformed messages.

    Attributes:
        not_read: Files or messages that could not be read (permission, I/O error, special
            file, over the size limit).
        conflicts: Different messages reusing a stored Message-ID (imported separately).
        problems: One line per problem, ``kind: where: reason``.
        stopped: Why the import stopped early ('' if it ran to the end).
    """

    imported: int
    duplicates: int
    malformed: int
    not_read: int = 0
    conflicts: int = 0
    problems: tuple[str, ...] = ()
    stopped: str = ""


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    """An agent run started (``core.runs``); ``parent_id`` is the run that started it."""

    run_id: int
    parent_id: int | None
    agent: str
    task: str


@dataclass(frozen=True, slots=True)
class RunUpdated(Event):
    """A run's own usage changed (after each model call): totals so far."""

    run_id: int
    status: str
    model_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    """A run ended: ``status`` is ``done``, ``failed`` or ``cancelled``; ``error`` says why
    it failed or was cancelled ('' when done)."""

    run_id: int
    status: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class OutboxExecuted(Event):
    """The outbox scheduler executed a due action: its final ``status`` (``executed``,
    ``failed``, ``unknown``) and the outcome's one-line ``detail``."""

    action_id: int
    status: str
    detail: str = ""


E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe for :class:`Event` subclasses."""

    def __init__(self) -> None:
        self._handlers: list[tuple[type[Event], Handler]] = []

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published event that is an instance of ``event_type``.

        Returns:
            A function that removes the subscription.
        """
        entry: tuple[type[Event], Handler] = (event_type, handler)  # type: ignore[assignment]
        self._handlers.append(entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to matching handlers; handler exceptions are logged, not raised."""
        for event_type, handler in list(self._handlers):
            if isinstance(event, event_type):
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler %r failed on %r", handler, event)


@dataclass(frozen=True, slots=True)
class BudgetExceeded(Event):
    """A model call was refused before it was made: it could cross the ``scope`` budget
    (USD). ``message`` says what and what to do; ``run_id`` is the paused run, if any."""

    scope: str
    limit_usd: float
    spent_usd: float
    estimate_usd: float
    message: str
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class BudgetWarning(Event):
    """Spend reached 80% of the ``scope`` budget (USD): given once per scope and period,
    recorded in the store (``budget_warnings``); ``run_id`` is the run of the call, if any."""

    scope: str
    limit_usd: float
    spent_usd: float
    message: str
    run_id: int | None = None
