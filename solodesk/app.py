"""The GUI's composition root: QApplication, the qasync loop, services and the main window.

asyncio runs on the Qt thread through qasync's :class:`~qasync.QEventLoop`. The window is shown
before anything slow happens (litellm is imported lazily by the gateway, off the start-up path).
When the window closes, a send in progress may finish within a grace period, the remaining
tasks (triage, chat) are cancelled and awaited, then
:meth:`Services.aclose <solodesk.services.Services.aclose>` stops the local model server and
closes the database. Errors in tasks and slots are logged and shown in the status bar; the
application keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox
from qasync import QEventLoop

from solodesk.core.resources import resource
from solodesk.services import Services, build_services
from solodesk.ui.bridge import EventBridge
from solodesk.ui.main_window import MainWindow

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


async def _cancel_pending(*, timeout: float = CANCEL_WAIT_S) -> None:
    """Cancel every task but the current one and wait until they have finished; tasks started
    meanwhile (e.g. by a queued Qt event) are cancelled too, until none is left or ``timeout``
    seconds have passed."""
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
) -> int:
    """Show the main window and run until it is closed, then shut down cleanly.

    Args:
        services: The back end; closed (``aclose``) before returning.
        on_window: Called with the window once it exists (the app uses it for error display).
        on_start: Work started once the window is shown (the demo triages its sample mail).
        first_run: Show the first-run dialog before ``on_start``; None: only if the names
            were never set (:meth:`Config.first_run <solodesk.store.config.Config.first_run>`).

    Returns:
        The exit status (0).
    """
    closed = asyncio.Event()
    window: MainWindow | None = None
    try:
        bridge = EventBridge(services.bus)
        try:
            reconciled = services.outbox.reconcile()
        except Exception as exc:
            log.exception("reconciling the outbox failed")
            reconciled = []
            startup_error: str | None = f"Checking interrupted sends failed: {exc}"
        else:
            startup_error = None
        window = MainWindow(services, bridge=bridge)
        on_window(window)
        window.closed.connect(closed.set)
        window.show()
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
        if window is not None:
            # A send in progress finishes (or, after the grace period, is left "unknown" by
            # the outbox); triage and chat are cancelled. Nothing is left pending.
            window.shutdown()
            try:
                await window.finish_work()
            except Exception:
                log.exception("finishing the window's work failed")
        await _cancel_pending()
        await services.aclose()
    return 0


def run_gui(
    services: Services | None = None,
    *,
    on_start: Callable[[MainWindow], Awaitable[object]] | None = None,
    first_run: bool | None = None,
) -> int:
    """Run the desktop app until its window closes.

    Args:
        services: Prebuilt services (e.g. the demo's); built from the default paths if None.
        on_start: Work to start once the window is shown.
        first_run: Ask the first-run questions first (None: only on the first run).

    Returns:
        The exit status: 0, or 1 if the services could not be built.
    """
    app = application()
    if services is None:
        try:
            services = build_services()
        except Exception as exc:
            log.exception("cannot start SoloDesk")
            QMessageBox.critical(None, APP_NAME, f"SoloDesk cannot start:\n{exc}")
            return 1
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)  # the loop ends when the window's close is handled
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    current: list[MainWindow] = []

    def window() -> MainWindow | None:
        return current[0] if current else None

    loop.set_exception_handler(_exception_handler(window))
    previous_hook = sys.excepthook
    sys.excepthook = _excepthook(window)

    # Ctrl+C (or SIGTERM) closes the window cleanly; the timer lets Python see the signal.
    def on_signal(_signum: int, _frame: object) -> None:
        w = window()
        if w is not None:
            w.close()

    previous_sigint = signal.signal(signal.SIGINT, on_signal)
    previous_sigterm = signal.signal(signal.SIGTERM, on_signal)
    tick = QTimer()
    tick.start(300)
    tick.timeout.connect(lambda: None)
    try:
        with loop:
            main_task = loop.create_task(
                run_window(
                    services, on_window=current.append, on_start=on_start, first_run=first_run
                )
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
                    w.close()
                else:
                    main_task.cancel()
                return int(loop.run_until_complete(main_task))
    finally:
        tick.stop()
        signal.signal(signal.SIGINT, previous_sigint)
        signal.signal(signal.SIGTERM, previous_sigterm)
        sys.excepthook = previous_hook
        app.setQuitOnLastWindowClosed(quit_on_close)
        asyncio.set_event_loop(None)


def main() -> None:
    """Entry point of the ``solodesk-gui`` script."""
    raise SystemExit(run_gui())
