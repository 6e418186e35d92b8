"""Turns :class:`~solodesk.core.events.EventBus` events into Qt signals.

The runner publishes frozen event dataclasses on the bus, usually from the asyncio loop (which
qasync runs on the Qt thread) and sometimes from a worker thread. :class:`EventBridge` re-emits
each event as a Qt signal carrying the event object. Signals emitted from another thread reach
receivers in the GUI thread as queued calls, so widgets are only touched on the GUI thread.

Events published before the UI has connected its slots are buffered and delivered by
:meth:`EventBridge.start`, like qutebrowser's ``GlobalMessageBridge`` (qutebrowser/utils/
message.py), so nothing that happens during start-up (e.g. a reconciled send) is lost.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, SignalInstance

from solodesk.core.events import (
    ActionProposed,
    ActionResolved,
    BudgetExceeded,
    BudgetWarning,
    ChatDelta,
    ChatFinished,
    Event,
    EventBus,
    MailImported,
    ModelCrashed,
    OutboxExecuted,
    Progress,
    RunFailed,
    RunFinished,
    RunStarted,
    RunUpdated,
)

log = logging.getLogger(__name__)

#: How many events are kept while the UI is not connected yet (oldest dropped first).
BUFFER_LIMIT = 1000


class EventBridge(QObject):
    """Re-emits bus events as Qt signals; each signal carries the frozen event object.

    Args:
        bus: The bus the runner publishes on.
        parent: Qt parent.
    """

    actionProposed = Signal(object)  # ActionProposed
    actionResolved = Signal(object)  # ActionResolved
    chatDelta = Signal(object)  # ChatDelta
    chatFinished = Signal(object)  # ChatFinished
    progress = Signal(object)  # Progress
    runFailed = Signal(object)  # RunFailed
    mailImported = Signal(object)  # MailImported
    modelCrashed = Signal(object)  # ModelCrashed
    outboxExecuted = Signal(object)  # OutboxExecuted
    runStarted = Signal(object)  # RunStarted
    runUpdated = Signal(object)  # RunUpdated
    runFinished = Signal(object)  # RunFinished
    budgetExceeded = Signal(object)  # BudgetExceeded
    budgetWarning = Signal(object)  # BudgetWarning

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._buffer: deque[Event] = deque(maxlen=BUFFER_LIMIT)
        self._started = False
        self._closed = False
        self._signals: dict[type[Event], SignalInstance] = {
            ActionProposed: self.actionProposed,
            ActionResolved: self.actionResolved,
            ChatDelta: self.chatDelta,
            ChatFinished: self.chatFinished,
            Progress: self.progress,
            RunFailed: self.runFailed,
            MailImported: self.mailImported,
            ModelCrashed: self.modelCrashed,
            OutboxExecuted: self.outboxExecuted,
            RunStarted: self.runStarted,
            RunUpdated: self.runUpdated,
            RunFinished: self.runFinished,
            BudgetExceeded: self.budgetExceeded,
            BudgetWarning: self.budgetWarning,
        }
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(Event, self._on_event)

    @property
    def buffered(self) -> int:
        """Number of events waiting for :meth:`start`."""
        with self._lock:
            return len(self._buffer)

    def start(self) -> None:
        """Deliver buffered events, then emit every later event at once.

        Call after the UI has connected its slots to the signals.
        """
        with self._lock:
            pending = list(self._buffer)
            self._buffer.clear()
            self._started = True
        for event in pending:
            self._emit(event)

    def close(self) -> None:
        """Stop listening to the bus (idempotent)."""
        self._closed = True
        self._unsubscribe_now()

    def _unsubscribe_now(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _on_event(self, event: Event) -> None:
        if self._closed:
            return
        with self._lock:
            if not self._started:
                self._buffer.append(event)
                return
        self._emit(event)

    def _emit(self, event: Event) -> None:
        for event_type, signal in self._signals.items():
            if isinstance(event, event_type):
                try:
                    signal.emit(event)
                except RuntimeError:  # the C++ object is gone (application shutting down)
                    log.debug("event %r dropped: bridge deleted", event)
                return
