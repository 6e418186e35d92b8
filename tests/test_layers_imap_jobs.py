"""Layer rules for the IMAP connector, the scheduler and their commands."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "solodesk"


def test_imap_and_jobs_stay_headless_and_the_cli_starts_light() -> None:
    code = (
        "import sys\n"
        "import solodesk.cli\n"
        "light = [m for m in ('imapclient', 'cronsim', 'tzlocal') if m in sys.modules]\n"
        "import solodesk.connectors.imap, solodesk.scheduler, solodesk.core.schedule\n"
        "bad = [m for m in ('PySide6', 'qasync', 'litellm') if m in sys.modules]\n"
        "print(','.join(light) + '|' + ','.join(bad))\n"
        # The agent job kinds are registered with the scheduler; their agents are not loaded.
        "from solodesk.scheduler import JOB_KINDS\n"
        "print(','.join(sorted(JOB_KINDS)))\n"
        "print('solodesk.agents.runner' in sys.modules, 'solodesk.agents.loop' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "|", "agent,bookkeeping,invoice_reminders,mail_sync,mail_triage", "False False"]


def test_the_schedule_core_imports_only_the_stdlib_and_cronsim() -> None:
    tree = ast.parse((PKG / "core" / "schedule.py").read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cronsim"}
