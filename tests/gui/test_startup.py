"""The real app in its own process: the window shows before litellm is imported, and it quits
cleanly (no pending-task warnings) when closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

SCRIPT = r"""
import os, sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QTimer
from solodesk import app
from solodesk.ui import main_window

seen = {}
original_show = main_window.MainWindow.show

def show(self):
    original_show(self)
    seen["litellm"] = "litellm" in sys.modules
    seen["ms"] = (time.perf_counter() - t0) * 1000
    QTimer.singleShot(300, self.close)

main_window.MainWindow.show = show
code = app.run_gui()
print("LITELLM_AT_SHOW", seen.get("litellm"))
print(f"WINDOW_SHOWN_AFTER_MS {seen.get('ms', -1):.0f}")
sys.exit(code)
"""


def test_window_shows_before_litellm_and_quits_cleanly(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        SOLODESK_HOME=str(tmp_path),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LITELLM_AT_SHOW False" in proc.stdout
    print(proc.stdout.strip().splitlines()[-1])  # the start-up time, for the record
    for bad in ("Task was destroyed but it is pending", "Event loop stopped before Future",
                "Traceback"):
        assert bad not in proc.stderr


FIRST_PAINT = r"""
import sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from solodesk import app
from solodesk.ui.main_window import MainWindow

qapp = app.application()
seen = {}

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if "modules" not in seen and event.type() == QEvent.Type.Paint:
            seen["modules"] = set(sys.modules)
        return False

watch = FirstPaint()
qapp.installEventFilter(watch)

def close_when_attached():
    windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
    if windows and windows[0].is_attached:
        seen["attached"] = set(sys.modules)
        windows[0].close()
    else:
        QTimer.singleShot(20, close_when_attached)

QTimer.singleShot(0, close_when_attached)
code = app.run_gui(first_run=False)
for name in sorted(HEAVY):
    print("AT_PAINT", name, name in seen["modules"])
    print("ATTACHED", name, name in seen["attached"])
print("MODULES_AT_PAINT", len(seen["modules"]))
sys.exit(code)
"""

#: What the first paint does not wait for: the back end and the libraries behind it.
HEAVY = (
    "litellm",
    "asyncio",  # with ssl and qasync: the event loop is made after the first paint
    "ssl",
    "qasync",
    "pydantic",
    "sqlite_utils",
    "keyring",
    "solodesk.services",
    "solodesk.core.events",
    "solodesk.agents.runner",
    "solodesk.store.db",
    "solodesk.ui.inbox_view",
    "solodesk.ui.chat_panel",
)


def test_first_paint_does_not_wait_for_the_back_end(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        SOLODESK_HOME=str(tmp_path),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    script = f"HEAVY = {HEAVY!r}\n" + FIRST_PAINT
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    print(next(line for line in lines if line.startswith("MODULES_AT_PAINT")))
    for name in HEAVY:
        assert f"AT_PAINT {name} False" in lines, f"{name} is imported before the first paint"
    # The back end was then attached (the window works), still without litellm.
    for name in HEAVY:
        expected = name != "litellm"
        assert f"ATTACHED {name} {expected}" in lines
    assert "Traceback" not in proc.stderr
