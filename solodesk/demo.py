"""``solodesk demo``: the main job end to end on a sample mailbox, in a separate demo home.

The demo never touches the founder's data: it uses its own home (``store.paths.demo_home()``),
started afresh each run. It imports ``resources/sample_mail/demo.mbox``, triages it with the
founder's configured model (the embedded local model by default), then opens the inbox, or with
``--no-gui`` prints the proposals. The GUI first shows the first-run questions prefilled with the
demo's names (``--no-gui`` asks nothing). In the GUI, approved demo mail is delivered to a local
SMTP sink on loopback and saved in ``DEMO_HOME/sent`` (a Maildir) — nothing leaves the machine.
"""

from __future__ import annotations

import mailbox
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from solodesk.store.config import Config, ConfigError
from solodesk.store.paths import HOME_ENV, default_paths, demo_home, home_paths

DEMO_SETTINGS = {
    "company.name": "Inkwell Notes",
    "founder.name": "Ada Founder",
    "smtp.from": "Ada Founder <ada@solodesk.example>",
}
COPIED_SETTINGS = (
    "llm.model", "llm.api_base", "llm.local_model_path", "llm.timeout", "llm.local_timeout"
)


class DemoSink:
    """A loopback SMTP server (aiosmtpd) that saves every message to a Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.controller: Any = None

    def start(self) -> int:
        """Start on a free port of 127.0.0.1; returns the port."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        from solodesk.llm.local import free_port

        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(str(self.maildir), create=True)
        port = free_port()
        self.controller = Controller(Mailbox(self.maildir), hostname="127.0.0.1", port=port)
        self.controller.start()
        return port

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def prepare_home(home: Path) -> Config:
    """Reset the demo home and write its settings (model settings copied from the founder's)."""
    founder = Config(default_paths().config_file)
    if home.exists():
        shutil.rmtree(home)
    paths = home_paths(home).ensure()
    config = Config(paths.config_file)
    for key in COPIED_SETTINGS:
        try:
            config.set(key, founder.get(key))
        except ConfigError as exc:  # a bad value in the founder's file: the demo uses the default
            print(f"warning: {exc}; the demo uses the default", file=sys.stderr)
    for key, value in DEMO_SETTINGS.items():
        config.set(key, value)
    return config


def run_demo(*, no_gui: bool, limit: int | None = None) -> int:
    """Run the demo; returns the exit status."""
    from solodesk.core.resources import resource

    home = demo_home()
    config = prepare_home(home)
    print(f"demo home: {home} (your own data is not touched)")
    sink: DemoSink | None = None
    if not no_gui:
        sink = DemoSink(home / "sent")
        port = sink.start()
        config.set("smtp.host", "127.0.0.1")
        config.set("smtp.port", str(port))
        config.set("smtp.security", "none")
    os.environ[HOME_ENV] = str(home)
    try:
        from solodesk import cli

        code = cli.main(["mail", "import", str(resource("sample_mail", "demo.mbox"))])
        if code:
            return code
        if no_gui:
            triage = ["mail", "triage"] + (["--limit", str(limit)] if limit else [])
            code = cli.main(triage)
            if code:
                print("triage did not finish; see the error above", file=sys.stderr)
            print()
            cli.main(["inbox", "list", "--status", "all"])
            print(
                f"\nSee one with: solodesk --home {home} inbox show ID\n"
                f"Open the inbox: solodesk --home {home}"
            )
            return code
        print(
            "opening the inbox; the support agent triages the sample mail there "
            f"(approved demo mail is saved in {home / 'sent'})"
        )
        from solodesk.app import run_gui
        from solodesk.services import build_services

        # The first-run questions, prefilled with the demo's names, then the triage (which
        # so signs with whatever the founder typed).
        return int(
            run_gui(
                build_services(),
                first_run=True,
                on_start=lambda window: window.triage_mail(limit=limit),
            )
        )
    finally:
        if sink is not None:
            sink.stop()


__all__ = ["DemoSink", "prepare_home", "run_demo"]
