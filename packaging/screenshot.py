"""Take the README screenshot from a real run: one command, on a real X server.

    .venv/bin/python packaging/screenshot.py

What it runs is what a founder runs: the real window, the real local model (llama.cpp +
SmolLM2, ``llm.model = local``) triaging the demo mailbox plus a phishing sample
(``packaging/screenshot-mail/``), and a real Secret Service keyring (a private D-Bus session with
gnome-keyring-daemon, as the tests use), so the status bar reads ``model: local (llama.cpp)`` and
``keyring: secure (SecretService)``. It then selects the riskiest proposal (one answering the
phishing sample if there is one), grabs the screen with ImageMagick's ``import`` and writes
``packaging/screenshots/main-window.png`` (``--out`` to change it).

Needs: ``solodesk[local,test]`` installed, and ``Xvfb`` (started on a free display when
``DISPLAY`` is not set, or with ``--xvfb``), ImageMagick (``import``), ``dbus-daemon`` and
``gnome-keyring-daemon``. Everything it creates lives in a temporary folder (``--keep`` keeps
it and prints where): your own SoloDesk data and keyring are never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support (the private Secret Service)

DEFAULT_OUT = ROOT / "packaging" / "screenshots" / "main-window.png"
EXTRA_MAIL = ROOT / "packaging" / "screenshot-mail"
SETTINGS = {
    "llm.model": "local",
    "company.name": "Inkwell Notes",
    "founder.name": "Ada Founder",
    "smtp.from": "Ada Founder <ada@solodesk.example>",
    "llm.local_timeout": "900",  # a loaded machine: the screenshot waits rather than fails
}
CLIENT_ENV = ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def _fail(message: str) -> None:
    print(f"screenshot: {message}", file=sys.stderr)
    raise SystemExit(1)


def _start_xvfb(width: int, height: int) -> subprocess.Popen[bytes]:
    """Xvfb on the first free display from :90; sets ``DISPLAY``."""
    if shutil.which("Xvfb") is None:
        _fail("Xvfb is not installed (Debian: apt-get install xvfb)")
    for number in range(90, 110):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                os.environ["DISPLAY"] = f":{number}"
                return proc
            time.sleep(0.1)
        proc.kill()
    _fail("could not start Xvfb")
    raise AssertionError  # not reached


def _riskiest(store: object, prefer_mail: set[int]) -> int | None:
    from solodesk.store.repos import Store

    assert isinstance(store, Store)
    rank = {"high": 0, "medium": 1, "low": 2}
    pending = [a for a in store.actions.list() if a.status.value in ("pending", "invalid")]
    if not pending:
        return None
    pending.sort(
        key=lambda a: (
            a.provenance.ref not in prefer_mail,
            a.status.value == "invalid",
            rank.get(a.risk, 3),
            -a.id,
        )
    )
    return pending[0].id


async def _scene(home: Path, out: Path, width: int, height: int, select: int | None) -> None:
    from solodesk.connectors.mailimport import import_mail
    from solodesk.core.resources import resource
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths
    from solodesk.ui.main_window import MainWindow

    services = build_services(home_paths(home))
    info = services.secrets.info
    if not info.secure:
        _fail(f"the keyring is not secure ({info.name}); is gnome-keyring-daemon running?")
    for key, value in SETTINGS.items():
        services.config.set(key, value)
    # The phishing sample first: it is triaged first, so a slow machine shows it soonest.
    phishing: set[int] = set()
    if EXTRA_MAIL.is_dir():
        phishing = set(import_mail(EXTRA_MAIL, services.store.mail).imported)
    import_mail(resource("sample_mail", "demo.mbox"), services.store.mail)
    print(f"home: {home}; keyring: {info.name}; {services.store.mail.count()} mails imported")

    win = MainWindow(services)
    win.move(0, 0)
    win.resize(width, height)
    win.show()
    try:
        report = await win.triage_mail()
        if report is None:
            _fail(f"triage did not run: {win.message_label.fullText()}")
        print(win.message_label.fullText())
        pick = select if select is not None else _riskiest(services.store, phishing)
        if pick is not None:
            win.inbox.set_filter("all")
            win.inbox.select_action(pick)
            action = services.store.actions.get(pick)
            print(f"showing #{pick}: {action.summary} (risk {action.risk}: "
                  f"{'; '.join(action.risk_reasons) or 'no reasons'})")
        await asyncio.sleep(2.0)  # let it paint
        print(f"status bar: {win.model_label.text()} | {win.keyring_label.text()}")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(out)], check=True)
        print(f"wrote {out}")
    finally:
        win.close()
        await win.finish_work()
        await services.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write")
    parser.add_argument("--size", default="1400x900", help="window (and Xvfb screen) size")
    parser.add_argument("--xvfb", action="store_true", help="start Xvfb even if DISPLAY is set")
    parser.add_argument("--select", type=int, default=None, help="show this proposal id")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    if shutil.which("import") is None:
        _fail("ImageMagick's import is not installed (Debian: apt-get install imagemagick)")

    from tests.support import secret_service

    tmp = Path(tempfile.mkdtemp(prefix="solodesk-screenshot-"))
    xvfb = _start_xvfb(width, height) if args.xvfb or not os.environ.get("DISPLAY") else None
    service = None
    try:
        try:
            service = secret_service.start(tmp / "secret-service")
        except secret_service.SecretServiceUnavailable as exc:
            _fail(f"no private Secret Service: {exc} (Debian: apt-get install dbus gnome-keyring)")
        assert service is not None
        for key in CLIENT_ENV:
            if key in service.env:
                os.environ[key] = service.env[key]
        os.environ.pop("PYTHON_KEYRING_BACKEND", None)
        os.environ["QT_QPA_PLATFORM"] = "xcb"

        import qasync
        from PySide6.QtWidgets import QApplication

        from solodesk.app import application

        app: QApplication = application()
        app.setQuitOnLastWindowClosed(False)  # the scene closes the window, then cleans up
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(
                _scene(tmp / "home", args.out.resolve(), width, height, args.select)
            )
    finally:
        if service is not None:
            service.stop()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
