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
