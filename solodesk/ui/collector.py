"""Python's garbage collections run on the GUI thread only.

A collection destroys the reference cycles it finds on the thread that runs it; a Qt object
destroyed off the GUI thread corrupts Qt's state (see :mod:`solodesk.llm.collection`). While a
:class:`GuiCollector` runs, CPython's automatic collections are off and the collector's timer
runs the collection that is due, on the GUI thread, whichever thread allocated.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer

from solodesk.llm import collection

#: Timer interval while collections are due (ms): allocation is going on.
BUSY_INTERVAL_MS = 10
#: Longest timer interval when nothing was due (ms); the interval doubles up to it.
IDLE_INTERVAL_MS = 320


class GuiCollector(QObject):
    """Runs Python's garbage collections from a Qt timer on the GUI thread.

    :meth:`start` switches CPython's automatic collections off (for every thread) and
    :meth:`stop` switches them back on; both must be called on the GUI thread. The timer checks
    the collection counts (a few microseconds) every :data:`BUSY_INTERVAL_MS` while collections
    are due, backing off to :data:`IDLE_INTERVAL_MS` when the process is idle.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._tick)
        self._interval = BUSY_INTERVAL_MS
        self._running = False
        self.collections = [0, 0, 0]  # run so far, per generation

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Take the collections over (idempotent)."""
        if self._running:
            return
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the garbage collector must run on the GUI thread")
        collection.pause_automatic()
        self._running = True
        self._interval = BUSY_INTERVAL_MS
        self._timer.start(self._interval)

    def stop(self) -> None:
        """Stop the timer, collect the young generations (here, on the GUI thread: the garbage
        of the latest work is destroyed here; a full collection would hold the app's exit up
        for a fifth of a second) and switch automatic collections back on (idempotent)."""
        if not self._running:
            return
        self._running = False
        self._timer.stop()
        gc.collect(1)
        self.collections[1] += 1
        collection.resume_automatic()

    def _collect(self) -> bool:
        generation = collection.collect_due()
        if generation is None:
            return False
        self.collections[generation] += 1
        return True

    def _tick(self) -> None:
        if not self._running:
            return
        if self._collect():
            self._interval = BUSY_INTERVAL_MS
        else:
            self._interval = min(self._interval * 2, IDLE_INTERVAL_MS)
        self._timer.start(self._interval)
