"""The UI's asyncio tasks: started, watched for errors, and finished or parked at shutdown.

Every coroutine a widget starts (button clicks, shortcuts, timers) runs as a task owned by a
:class:`TaskTracker`. The tracker logs an exception escaping a task and reports it through its
``failed`` signal (the main window shows it in the status bar), so one failing slot never
closes the application, and it never reaches ``sys.excepthook``.

At shutdown :meth:`TaskTracker.shutdown` refuses new work, lets tasks inside a
:meth:`TaskTracker.critical` section (a send in progress) finish within a grace period, then
cancels the rest (triage, chat) and waits for them, so the loop never closes over a pending task
("Task was destroyed but it is pending").

Dialogs opened from async code use :func:`await_dialog` (``open()`` plus a future resolved by
the ``finished`` signal), never ``exec()``: a nested event loop would stall every other task.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long shutdown waits for a send in progress, and then for cancelled work (seconds).
SHUTDOWN_GRACE_S = 3.0


class TaskTracker(QObject):
    """Owns the tasks started by the UI.

    Signals:
        failed(str): A task raised; the text is a one-line description for the status bar.
    """

    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[asyncio.Task[Any], str] = {}
        self._critical: set[asyncio.Task[Any]] = set()
        self.closing = False

    @property
    def running(self) -> list[str]:
        """Names of the tasks not finished yet."""
        return [name for task, name in self._tasks.items() if not task.done()]

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T] | None:
        """Run ``coro`` as a task on the current loop.

        Returns:
            The task, or None if the application is shutting down (the coroutine is closed
            without running).
        """
        import asyncio  # here, not at the top: the window is painted before asyncio is imported

        if self.closing:
            coro.close()
            log.info("not starting %s: shutting down", name)
            return None
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks[task] = name
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        name = self._tasks.pop(task, "task")
        self._critical.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("%s failed", name, exc_info=exc)
        text = f"{name} failed: {type(exc).__name__}: {exc}"
        try:
            self.failed.emit(text)
        except RuntimeError:  # the tracker's C++ object is gone (application exiting)
            pass

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Mark the current task as doing work that must not be cut off (an approval being
        sent): shutdown waits for it up to the grace period before cancelling it."""
        import asyncio

        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._critical.add(task)
        try:
            yield
        finally:
            self._critical.discard(task)

    async def shutdown(self, *, grace_s: float = SHUTDOWN_GRACE_S) -> list[str]:
        """Refuse new tasks, let critical sections finish (up to ``grace_s``), cancel the rest
        and wait for them (up to ``grace_s`` again).

        Returns:
            Names of tasks that were cancelled.
        """
        import asyncio

        self.closing = True
        current = asyncio.current_task()
        critical = [t for t in self._critical if not t.done() and t is not current]
        if critical:
            log.info("waiting up to %.1f s for %d send(s) to finish", grace_s, len(critical))
            await asyncio.wait(critical, timeout=grace_s)
        rest = [t for t in self._tasks if not t.done() and t is not current]
        names = [self._tasks[t] for t in rest]
        for t in rest:
            t.cancel()
        if rest:
            log.info("cancelled at shutdown: %s", ", ".join(names))
            _done, pending = await asyncio.wait(rest, timeout=grace_s)
            for t in pending:
                log.warning("%s did not stop within %.1f s", self._tasks.get(t, "task"), grace_s)
        return names


def async_slot(
    name: str,
) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Callable[..., Any]]:
    """Turn ``async def method(self, ...)`` into a Qt slot that starts it as a task of
    ``self.tasks`` (a :class:`TaskTracker`), dropping trailing signal arguments the method
    does not take (e.g. ``clicked(bool)``).

    Args:
        name: What the task does, for logs and the status bar ("Approving").
    """

    def decorate(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        params = list(inspect.signature(fn).parameters.values())[1:]
        takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        positional = len(
            [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        )

        @functools.wraps(fn)
        def slot(self: Any, *args: Any) -> asyncio.Task[Any] | None:
            if not takes_varargs:
                args = args[:positional]
            tracker: TaskTracker = self.tasks
            return tracker.spawn(fn(self, *args), name=name)

        return slot

    return decorate


async def await_dialog(dialog: QDialog) -> int:
    """Open ``dialog`` without a nested event loop and wait until it is finished.

    If the waiting task is cancelled (e.g. at shutdown) the dialog is rejected. Afterwards the
    parent's window is activated again, so keyboard focus returns where it was.

    Returns:
        The dialog's result code (``QDialog.DialogCode.Accepted.value`` when accepted).
    """
    import asyncio

    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        if dialog.isVisible():
            dialog.reject()
        # Give the keyboard back to the window the dialog belongs to (window managers usually
        # do; some platforms leave no window active).
        parent = dialog.parentWidget()
        if parent is not None and parent.isVisible():
            parent.window().activateWindow()
