"""The GUI's composition root: QApplication, the qasync loop, services and the main window.

asyncio runs on the Qt thread through qasync's :class:`~qasync.QEventLoop`. The window's frame
is shown and painted by Qt alone before anything slow happens (asyncio and qasync are imported
after it: :func:`_paint_first`): the back end (store, runner, keyring and the
libraries they import) is built and attached after the first paint, then litellm is imported in
a worker thread ahead of the first chat (:func:`solodesk.llm.gateway.preload`), and what start-up
left in memory is frozen out of Python's garbage collections (:func:`gc.freeze`).
Scheduled jobs run while the app runs (:func:`_start_jobs`). Where the desktop has a system
tray, a tray icon shows the pending count and notifications (:mod:`solodesk.ui.tray`), and
closing the window (with ``ui.close_to_tray``) only hides it: SoloDesk keeps running until
Quit (the outbox sends approved mail, scheduled jobs run). When it quits (or the window
closes where there is no tray), a send in progress may finish within a grace period, a job in
progress too, the remaining tasks (triage, chat) are cancelled and awaited, then
:meth:`Services.aclose <solodesk.services.Services.aclose>` stops the local model server and
closes the database. Errors in tasks and slots are logged and shown in the status bar; the
application keeps running.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from solodesk.core.resources import resource
from solodesk.ui.collector import GuiCollector
from solodesk.ui.main_window import MainWindow

if TYPE_CHECKING:
    import asyncio

    from solodesk.services import Services

log = logging.getLogger(__name__)

APP_NAME = "SoloDesk"
DESKTOP_FILE_NAME = "io.github.solodesk.SoloDesk"


def application() -> QApplication:
    """The QApplication, created and named on first use."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setDesktopFileName(DESKTOP_FILE_NAME)
    try:
        app.setWindowIcon(QIcon(str(resource("icons", "solodesk.svg"))))
    except FileNotFoundError:
        log.warning("SoloDesk's icon is missing")
    return app


def install_collector(app: QApplication) -> GuiCollector:
    """Python's garbage collections run on the GUI thread only, from now until the app quits
    (see :class:`~solodesk.ui.collector.GuiCollector`): a collection started by the model
    thread or the mail import thread would destroy Qt objects found in reference cycles there.

    Returns:
        The running collector (a child of ``app``; the same one if already installed).
    """
    existing = app.findChild(GuiCollector)
    if isinstance(existing, GuiCollector):
        existing.start()
        return existing
    collector = GuiCollector(app)
    collector.start()
    return collector


def _exception_handler(
    window: Callable[[], MainWindow | None],
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An asyncio exception handler that logs and shows the error; the app keeps running."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        text = f"{type(exc).__name__}: {exc}" if exc is not None else str(context.get("message"))
        log.error("unhandled error in a task: %s", text, exc_info=exc)
        w = window()
        if w is not None:
            w.show_message(f"Unexpected error: {text}", error=True)

    return handle


def _excepthook(window: Callable[[], MainWindow | None]) -> Callable[..., None]:
    """sys.excepthook for errors in Qt slots (qasync reports async slot errors there too)."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.error("unhandled error in a slot", exc_info=(exc_type, exc, tb))
        w = window()
        if w is not None:
            w.show_message(f"Unexpected error: {exc_type.__name__}: {exc}", error=True)

    return hook


#: How long shutdown waits for cancelled tasks that are not the window's (seconds).
CANCEL_WAIT_S = 3.0

#: How long start-up waits for the window's first paint before building the back end anyway
#: (seconds; a platform that never paints a hidden window must not stop the app).
FIRST_PAINT_WAIT_S = 2.0

#: How long after the back end is attached litellm's import starts in a worker thread
#: (milliseconds): the inbox is filled first.
PRELOAD_DELAY_MS = 1500

#: The GUI process's thread switch interval (seconds; CPython's default is 0.005). A worker
#: thread (the model thread, a mail import) holding the GIL makes the GUI thread wait up to one
#: interval each time it needs the GIL again; a millisecond keeps that below a frame.
GUI_SWITCH_INTERVAL_S = 0.001


async def _cancel_pending(*, timeout: float = CANCEL_WAIT_S) -> None:
    """Cancel every task but the current one and wait until they have finished; tasks started
    meanwhile (e.g. by a queued Qt event) are cancelled too, until none is left or ``timeout``
    seconds have passed."""
    import asyncio

    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not tasks:
            return
        left = deadline - loop.time()
        if left <= 0:
            names = ", ".join(t.get_name() for t in tasks)
            log.warning("%d task(s) did not stop at shutdown: %s", len(tasks), names)
            return
        for t in tasks:
            t.cancel()
        done, _pending = await asyncio.wait(tasks, timeout=left)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                log.warning("task ended with %r during shutdown", t.exception())


def _log_start_failure(window: MainWindow) -> Callable[[asyncio.Task[object]], None]:
    """A done-callback for the start-up work: its error is logged and shown, not lost."""

    def done(task: asyncio.Task[object]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("start-up work failed", exc_info=exc)
            window.show_message(f"Start-up work failed: {type(exc).__name__}: {exc}", error=True)

    return done


async def _start(
    window: MainWindow,
    *,
    first_run: bool,
    on_start: Callable[[MainWindow], Awaitable[object]] | None,
) -> None:
    """What happens once the window is shown: the first-run questions (if asked for), then
    ``on_start`` (which so uses the names the founder just gave)."""
    if first_run:
        await window.first_run()
    if on_start is not None:
        await on_start(window)


async def run_window(
    services: Services,
    *,
    on_window: Callable[[MainWindow], None],
    on_start: Callable[[MainWindow], Awaitable[object]] | None = None,
    first_run: bool | None = None,
    window: MainWindow | None = None,
    tray: bool | None = None,
) -> int:
    """Show the main window and run until SoloDesk quits, then shut down cleanly.

    Where there is a system tray, closing the window with ``ui.close_to_tray`` on only hides
    it (:class:`~solodesk.ui.tray.TrayController`); Quit ends the run.

    Args:
        services: The back end; closed (``aclose``) before returning.
        on_window: Called with the window once it exists (the app uses it for error display).
        on_start: Work started once the window is shown (the demo triages its sample mail).
        first_run: Show the first-run dialog before ``on_start``; None: only if the names
            were never set (:meth:`Config.first_run <solodesk.store.config.Config.first_run>`).
        window: A window already shown without a back end: ``services`` is attached to it.
        tray: Whether the desktop has a system tray (None: ask Qt).

    Returns:
        The exit status (0).
    """
    import asyncio

    from solodesk.ui.bridge import EventBridge
    from solodesk.ui.tray import TrayController

    closed = asyncio.Event()
    attached: MainWindow | None = None
    presence: TrayController | None = None
    jobs: tuple[asyncio.Event, asyncio.Task[None]] | None = None
    try:
        if window is not None and (window.closing or not window.isVisible()):
            return 0  # closed before its back end was ready
        bridge = EventBridge(services.bus)
        try:
            reconciled = services.outbox.reconcile()
        except Exception as exc:
            log.exception("reconciling the outbox failed")
            reconciled = []
            startup_error: str | None = f"Checking interrupted sends failed: {exc}"
        else:
            startup_error = None
        if window is None:
            window = MainWindow(services, bridge=bridge)
            on_window(window)
            window.closed.connect(closed.set)
            window.show()
        else:
            window.closed.connect(closed.set)
            window.attach(services, bridge=bridge)
        attached = window
        presence = TrayController(window, services, available=tray)
        jobs = _start_jobs(window, services)
        if reconciled:
            window.show_message(
                f"{len(reconciled)} send(s) were interrupted when SoloDesk last stopped; they "
                "may or may not have been delivered (see the Unknown filter)",
                error=True,
            )
        elif startup_error:
            window.show_message(startup_error, error=True)
        ask = services.config.first_run() if first_run is None else first_run
        if ask or on_start is not None:
            starting = asyncio.ensure_future(_start(window, first_run=ask, on_start=on_start))
            starting.add_done_callback(_log_start_failure(window))
        await closed.wait()
    finally:
        if presence is not None:
            presence.close()
        if attached is not None:
            # A send in progress finishes (or, after the grace period, is left "unknown" by
            # the outbox); triage and chat are cancelled. Nothing is left pending.
            attached.shutdown()
            try:
                stopping: list[Awaitable[object]] = [attached.finish_work()]
                if jobs is not None:
                    stopping.append(_stop_jobs(*jobs, attached.shutdown_grace_s))
                await asyncio.gather(*stopping)
            except Exception:
                log.exception("finishing the window's work failed")
        await _cancel_pending()
        await services.aclose()
    return 0


def _start_jobs(window: MainWindow, services: Services) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Run scheduled jobs while SoloDesk runs (also hidden in the tray): the same
    :class:`~solodesk.scheduler.JobScheduler` as ``solodesk serve`` (each slot runs once even
    with both open; missed slots catch up once at start), shared with the Jobs page's Run now.

    Returns:
        The event that stops it, and its task.
    """
    import asyncio

    from solodesk.scheduler import JobScheduler

    scheduler = JobScheduler(
        store=services.store, config=services.config, secrets=services.secrets, bus=services.bus,
        runner=services.runner,
    )
    window.jobs.scheduler = scheduler
    stop = asyncio.Event()
    task = asyncio.ensure_future(scheduler.run_forever(stop))
    task.set_name("job scheduler")

    def ended(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None and not window.closing:
            exc = t.exception()
            log.error("the job scheduler stopped", exc_info=exc)
            window.show_message(f"Scheduled jobs stopped: {type(exc).__name__}: {exc}; restart "
                                "SoloDesk to run them again", error=True)

    task.add_done_callback(ended)
    return stop, task


async def _stop_jobs(stop: asyncio.Event, task: asyncio.Task[None], grace_s: float) -> None:
    """Stop the job scheduler: a job in progress may finish within ``grace_s`` seconds, then
    it is cancelled (its run is recorded as interrupted at the next start)."""
    import asyncio

    stop.set()
    if task.done():
        return
    done, _ = await asyncio.wait([task], timeout=grace_s)
    if not done:
        log.warning("a job was still running at shutdown: interrupting it")
        task.cancel()
        await asyncio.wait([task], timeout=grace_s)


def _after_start(window: MainWindow) -> None:
    """Once the window works: freeze what start-up left (the collector skips it from now on),
    then import litellm in a worker thread ahead of the first chat."""
    if window.closing:
        return
    gc.freeze()
    from solodesk.llm.gateway import preload

    preload()


async def _open(
    window: MainWindow,
    services: Services | None,
    *,
    on_start: Callable[[MainWindow], Awaitable[object]] | None,
    first_run: bool | None,
    failure: list[BaseException],
    tray: bool | None = None,
) -> int:
    """The app's main task: the frame is shown and painted (:func:`_paint_first`); build (or
    take) the back end, attach it and run until the window closes.

    Returns:
        The exit status: 0, or 1 if the back end could not be built (the error is appended to
        ``failure``, shown once the loop has ended).
    """
    if services is None:
        if window.closing:
            return 0
        try:
            from solodesk.services import build_services

            services = build_services()
        except Exception as exc:
            log.exception("cannot start SoloDesk")
            failure.append(exc)
            window.hide()
            return 1
    window.attached.connect(
        lambda: QTimer.singleShot(PRELOAD_DELAY_MS, window, lambda: _after_start(window))
    )
    return await run_window(
        services, on_window=lambda _w: None, on_start=on_start, first_run=first_run,
        window=window, tray=tray,
    )


def _paint_first(window: MainWindow, *, timeout: float = FIRST_PAINT_WAIT_S) -> None:
    """Run Qt's own event loop until ``window`` is painted for the first time (or closed, or
    ``timeout`` seconds have passed), before asyncio's loop exists: the founder sees the window
    while the rest of start-up is imported."""
    if window.was_painted:
        return
    from PySide6.QtCore import QEventLoop as QtEventLoop

    waiting = QtEventLoop()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(waiting.quit)
    window.painted.connect(waiting.quit)
    window.closed.connect(waiting.quit)
    deadline.start(int(timeout * 1000))
    try:
        if not window.was_painted and not window.closing:
            waiting.exec()
        if not window.was_painted:
            log.info("the window was not painted within %.1f s; starting anyway", timeout)
    finally:
        deadline.stop()
        window.painted.disconnect(waiting.quit)
        window.closed.disconnect(waiting.quit)


def run_gui(
    services: Services | None = None,
    *,
    on_start: Callable[[MainWindow], Awaitable[object]] | None = None,
    first_run: bool | None = None,
    tray: bool | None = None,
) -> int:
    """Run the desktop app until it quits (its window closes, or Quit where the tray keeps
    it running).

    Args:
        services: Prebuilt services (e.g. the demo's); built from the default paths if None.
        on_start: Work to start once the window is shown.
        first_run: Ask the first-run questions first (None: only on the first run).
        tray: Whether the desktop has a system tray (None: ask Qt; tests say yes or no).

    Returns:
        The exit status: 0, or 1 if the services could not be built.
    """
    app = application()
    running = app.findChild(GuiCollector)
    own_collector = not (isinstance(running, GuiCollector) and running.running)
    collector = install_collector(app)
    previous_switch = sys.getswitchinterval()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)  # the loop ends when the window's close is handled
    current: list[MainWindow] = []

    def window() -> MainWindow | None:
        return current[0] if current else None

    previous_hook = sys.excepthook
    sys.excepthook = _excepthook(window)

    # Ctrl+C (or SIGTERM) quits cleanly (also from the tray); the timer lets Python see it.
    def on_signal(_signum: int, _frame: object) -> None:
        w = window()
        if w is not None:
            w.request_quit()

    previous_sigint = signal.signal(signal.SIGINT, on_signal)
    previous_sigterm = signal.signal(signal.SIGTERM, on_signal)
    tick = QTimer()
    tick.start(300)
    tick.timeout.connect(lambda: None)
    # The frame first, at its remembered size, painted by Qt alone: asyncio, qasync and the back
    # end are imported and built after it is on screen (issue 9: start to first paint).
    frame = MainWindow(layout_file=_layout_file(services))
    current.append(frame)
    frame.show()
    _paint_first(frame)
    import asyncio

    from qasync import QEventLoop

    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(_exception_handler(window))
    failure: list[BaseException] = []
    try:
        with loop:
            main_task = loop.create_task(
                _open(frame, services, on_start=on_start, first_run=first_run, failure=failure,
                      tray=tray)
            )
            try:
                return int(loop.run_until_complete(main_task))
            except RuntimeError:
                if main_task.done():
                    raise
                # Qt's loop ended on its own (e.g. the session is ending): shut down cleanly.
                log.info("Qt event loop ended before the window closed; shutting down")
                w = window()
                if w is not None:
                    w.request_quit()
                else:
                    main_task.cancel()
                return int(loop.run_until_complete(main_task))
    finally:
        tick.stop()
        if own_collector:  # a full collection here, then CPython's automatic ones again
            collector.stop()
        sys.setswitchinterval(previous_switch)
        if failure:
            QMessageBox.critical(None, APP_NAME, f"SoloDesk cannot start:\n{failure[0]}")
        signal.signal(signal.SIGINT, previous_sigint)
        signal.signal(signal.SIGTERM, previous_sigterm)
        sys.excepthook = previous_hook
        app.setQuitOnLastWindowClosed(quit_on_close)
        asyncio.set_event_loop(None)


def _layout_file(services: Services | None) -> Path | None:
    """Where the window's geometry is kept, known without building the back end."""
    try:
        if services is not None:
            return services.paths.config_dir / "window.ini"
        from solodesk.store.paths import default_paths

        return default_paths().config_dir / "window.ini"
    except Exception:  # no usable home folder: the back end reports it
        return None


def main() -> None:
    """Entry point of the ``solodesk-gui`` script."""
    raise SystemExit(run_gui())
