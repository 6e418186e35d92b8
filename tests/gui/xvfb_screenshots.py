"""Screenshots of the real window on a real X server (not collected by pytest).

Run under Xvfb (ImageMagick's ``import`` grabs the screen)::

    Xvfb :99 -screen 0 1400x900x24 &
    DISPLAY=:99 .venv/bin/python -m tests.gui.xvfb_screenshots

It writes ``tests/artifacts/xvfb_main_window.png``, ``xvfb_policy.png``, ``xvfb_audit.png`` and
``xvfb_shortcuts.png`` from the same showcase inbox as the offscreen screenshot test, with fakes
at the edges (no model, no SMTP).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QWidget

from solodesk.ui.main_window import MainWindow
from tests.gui.support import FakeGateway, FakeMail, fill_showcase, make_services

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _shoot(name: str) -> Path:
    path = ARTIFACTS / name
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(path)
    return path


def _center(widget: QWidget, over: QWidget) -> None:
    geo = widget.frameGeometry()
    geo.moveCenter(over.frameGeometry().center())
    widget.move(geo.topLeft())


async def _main(home: Path) -> None:
    services = make_services(home, send_mail=FakeMail().send, gateway=FakeGateway())
    ids = fill_showcase(services.store)
    win = MainWindow(services)
    win.move(0, 0)
    win.resize(1400, 900)
    win.show()
    win.inbox.select_action(ids["risky"])
    await asyncio.sleep(1.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _shoot("xvfb_main_window.png")

    policy = win.open_policy()
    policy.conditions_edit.setPlainText("risk <= medium\nsize > 3")
    _center(policy, win)
    await asyncio.sleep(0.8)
    _shoot("xvfb_policy.png")
    policy.reject()

    audit = win.open_audit()
    audit.verify()
    _center(audit, win)
    await asyncio.sleep(0.8)
    _shoot("xvfb_audit.png")
    audit.reject()

    shortcuts = win.show_shortcuts()
    _center(shortcuts, win)
    await asyncio.sleep(0.8)
    _shoot("xvfb_shortcuts.png")
    shortcuts.reject()

    win.close()
    await win.finish_work()
    await services.aclose()


def main() -> int:
    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp, loop:
        loop.run_until_complete(_main(Path(tmp) / "home"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
