"""GUI test fixtures: offscreen Qt, a qasync loop inside pytest-qt, and Services on a temp home.

pytest-qt does not await qasync slots, so each test gets a qasync :class:`~qasync.QEventLoop`
created with ``already_running=True``: tasks (including those started by ``@asyncSlot``
handlers) run whenever Qt processes events, e.g. inside ``qtbot.waitUntil``. :func:`drive`
awaits a coroutine that way.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio  # noqa: E402
import gc  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TypeVar  # noqa: E402

import pytest  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from solodesk.services import Services  # noqa: E402
from solodesk.ui.collector import GuiCollector  # noqa: E402
from solodesk.ui.main_window import MainWindow  # noqa: E402
from tests.gui.support import (  # noqa: E402
    FakeGateway,
    FakeMail,
    make_services,
    show_window,
)

T = TypeVar("T")
Drive = Callable[[Awaitable[T]], T]

#: Qt messages that only say the offscreen platform lacks a window-system feature (real
#: platforms support it); every other warning still fails a test.
OFFSCREEN_ONLY = (
    r"^This plugin does not support propagateSizeHints\(\)$",
    r"^This plugin does not support raise\(\)$",
    # A tray icon shown where there is no tray (tests of the tray say there is one).
    r"^QObject::connect: No such signal QPlatformNativeInterface::systemTrayWindowChanged",
)
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_ONLY))


@pytest.fixture
def aloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop driven by Qt's event processing for the duration of one test.

    As in the app (:func:`solodesk.app.install_collector`), Python's garbage collections run on
    the GUI thread only meanwhile; at the end a full collection destroys the loop's Qt objects
    (its timers) here, on the GUI thread, before automatic collections resume.
    """
    collector = GuiCollector()
    collector.start()
    loop = qasync.QEventLoop(qapp, already_running=True)
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gui-test")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        deadline = loop.time() + 2
        while any(not t.done() for t in pending) and loop.time() < deadline:
            qapp.processEvents()
        executor.shutdown(wait=True)
        qapp.aboutToQuit.disconnect(loop._after_run_forever)
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        del loop, executor
        gc.collect()
        collector.stop()


@pytest.fixture
def drive(qtbot: QtBot, aloop: asyncio.AbstractEventLoop) -> Drive[object]:
    """Run a coroutine as a task on the qasync loop and wait (processing Qt events) for it."""

    def _drive(awaitable: Awaitable[T], *, timeout: int = 5000) -> T:
        task = asyncio.ensure_future(awaitable, loop=aloop)
        qtbot.waitUntil(task.done, timeout=timeout)
        return task.result()

    return _drive  # type: ignore[return-value]


@pytest.fixture
def mailer() -> FakeMail:
    """Records what the outbox would have sent."""
    return FakeMail()


@pytest.fixture
def gateway() -> FakeGateway:
    """A scripted model gateway (the local model never starts in GUI tests)."""
    return FakeGateway()


@pytest.fixture
def gui_services(tmp_path: Path, mailer: FakeMail, gateway: FakeGateway) -> Iterator[Services]:
    """Real Services on a temp home with a fake mail sender and a scripted gateway."""
    services = make_services(tmp_path / "home", send_mail=mailer.send, gateway=gateway)
    try:
        yield services
    finally:
        services.store.close()


@pytest.fixture
def window(qtbot: QtBot, gui_services: Services, aloop: asyncio.AbstractEventLoop) -> MainWindow:
    """The real main window on :func:`gui_services`, shown and active (see ``show_window``)."""
    return show_window(qtbot, gui_services)
