"""Which back-end events become desktop notifications, batched, and Do Not Disturb.

:class:`Notifier` turns bus events (through the GUI's event bridge) into :class:`Notice` s and
hands each to a ``show`` callable (the tray icon's
:meth:`QSystemTrayIcon.showMessage <PySide6.QtWidgets.QSystemTrayIcon.showMessage>`, see
:mod:`solodesk.ui.tray`):

- a new proposal (``ActionProposed`` with status ``pending``) while the window is hidden or not
  active; proposals arriving within :data:`BATCH_MS` of each other make one notice
  ("3 new proposals"), not one bubble each;
- a job that failed (``RunFailed`` of a ``job:NAME`` task);
- a send that failed or whose delivery is unknown (``OutboxExecuted``);
- the local model process crashed (``ModelCrashed``).

While the founder is looking at the window nothing pops up (the status bar already says it).
Under Do Not Disturb nothing pops up either: the tray icon still shows the pending count and
failures are still shown in the status bar and written to the log. Each notice carries a
target (:attr:`Notice.target`: ``action:ID``, ``job:NAME`` or ``inbox``) so that clicking it
opens the window on that item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from solodesk.core.events import ActionProposed, ModelCrashed, OutboxExecuted, RunFailed

log = logging.getLogger(__name__)

#: How long new proposals are gathered into one notice (milliseconds).
BATCH_MS = 2000
#: How many proposal summaries a batched notice lists.
LISTED = 3


@dataclass(frozen=True, slots=True)
class Notice:
    """One desktop notification: ``title``, ``text``, what clicking it opens (``target``:
    ``action:ID``, ``job:NAME``, ``inbox`` or empty) and whether it reports a failure."""

    title: str
    text: str
    target: str = ""
    error: bool = False


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Notifier(QObject):
    """Decides what becomes a desktop notification (see the module's description).

    Args:
        show: Shows a notice (the tray's bubble).
        attentive: True while the founder looks at the window (shown and active): then
            nothing pops up.
        do_not_disturb: True while Do Not Disturb is on: then nothing pops up.
        batch_ms: How long new proposals are gathered into one notice.

    Signals:
        shown(Notice): A notice was shown.
        suppressed(Notice): A notice was not shown (Do Not Disturb, or the window is looked
            at); it is logged.
    """

    shown = Signal(object)
    suppressed = Signal(object)

    def __init__(
        self,
        show: Callable[[Notice], None],
        *,
        attentive: Callable[[], bool],
        do_not_disturb: Callable[[], bool],
        batch_ms: int = BATCH_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._show = show
        self._attentive = attentive
        self._dnd = do_not_disturb
        self._proposals: list[tuple[int, str]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(batch_ms)
        self._timer.timeout.connect(self.flush)
        self.closed = False

    @property
    def waiting(self) -> int:
        """How many proposals are gathered for the next notice."""
        return len(self._proposals)

    def close(self) -> None:
        """Show nothing more (the application is quitting)."""
        self.closed = True
        self._timer.stop()
        self._proposals.clear()

    # -- events ----------------------------------------------------------------------------------
    def on_action_proposed(self, event: ActionProposed) -> None:
        """Gather a new pending proposal for the next notice (if the window is not looked
        at)."""
        if self.closed or event.status != "pending" or self._attentive():
            return
        self._proposals.append((event.action_id, _one_line(event.summary or event.kind)))
        if not self._timer.isActive():
            self._timer.start()

    def on_run_failed(self, event: RunFailed) -> None:
        """A job failed, or paused at a budget: say which and why."""
        if not event.task.startswith("job:"):
            return  # a failure of the founder's own work is shown where they started it
        name = event.task.removeprefix("job:")
        paused = event.message.startswith(f"job {name} paused: ")
        text = event.message.removeprefix(f"job {name} failed: ")  # the title says it
        text = text.removeprefix(f"job {name} paused: ")
        title = f"Job {name} paused" if paused else f"Job {name} failed"
        self._emit(Notice(title, _one_line(text), f"job:{name}", True))

    def on_outbox_executed(self, event: OutboxExecuted) -> None:
        """A send failed, or its delivery is unknown: say so (a sent one is not news)."""
        if event.status == "failed":
            title = f"Sending #{event.action_id} failed"
        elif event.status == "unknown":
            title = f"#{event.action_id} may not have been sent"
        else:
            return
        text = _one_line(event.detail) or "open it in the inbox to see what happened"
        self._emit(Notice(title, text, f"action:{event.action_id}", True))

    def on_model_crashed(self, event: ModelCrashed) -> None:
        """The local model process died."""
        title = "The local model crashed" + (" — restarting" if event.restarting else "")
        self._emit(Notice(title, _one_line(event.message), "inbox", True))

    # -- showing ---------------------------------------------------------------------------------
    def flush(self) -> Notice | None:
        """Show the gathered proposals now as one notice (nothing if the founder came back to
        the window meanwhile). Returns the notice, or None."""
        self._timer.stop()
        gathered, self._proposals = self._proposals, []
        if not gathered or self.closed:
            return None
        if self._attentive():
            return None  # the founder is looking at the inbox already
        if len(gathered) == 1:
            action_id, summary = gathered[0]
            notice = Notice("New proposal waiting for you", summary, f"action:{action_id}")
        else:
            lines = [s for _i, s in gathered[:LISTED]]
            more = len(gathered) - len(lines)
            if more:
                lines.append(f"and {more} more")
            notice = Notice(f"{len(gathered)} new proposals", "\n".join(lines),
                            f"action:{gathered[0][0]}")
        return self._emit(notice)

    def say(self, notice: Notice) -> Notice | None:
        """Show ``notice`` unless Do Not Disturb is on (the window's own notes, such as
        where SoloDesk went when it was hidden). Returns it if shown."""
        if self.closed:
            return None
        if self._dnd():
            self.suppressed.emit(notice)
            return None
        self._show(notice)
        self.shown.emit(notice)
        return notice

    def _emit(self, notice: Notice) -> Notice | None:
        if self.closed:
            return None
        if self._dnd() or (notice.error and self._attentive()):
            (log.warning if notice.error else log.info)(
                "notification not shown (%s): %s: %s",
                "Do Not Disturb" if self._dnd() else "window in use", notice.title, notice.text,
            )
            self.suppressed.emit(notice)
            return None
        self._show(notice)
        self.shown.emit(notice)
        return notice
