"""The GUI and the command line decide only through the decisions service (``inbox.decisions``).

Neither may call the store's decision methods (``actions.approve(``, ``actions.reject(``...)
nor the runner's delegations, so neither can grow its own approve-after-edit logic again.
"""

from __future__ import annotations

import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "solodesk"

#: The store's decision methods (``store.repos.ActionRepo``) and the runner's delegations.
DIRECT = re.compile(
    r"\bactions\.(approve|reject|cancel|edit|transition|resolve_not_delivered|"
    r"reissue_message_id|claim)\("
    r"|\brunner\.(approve|reject|cancel|edit|confirm_delivered|confirm_not_delivered|"
    r"execute_approved|run_due)\("
)


def _front_end_files() -> list[Path]:
    return sorted([*(PKG / "ui").rglob("*.py"), *PKG.glob("cli*.py")])


def test_pattern_catches_direct_decisions() -> None:
    for line in (
        "sv.store.actions.approve(args.id, delay_s=0)",
        "actions.reject(a.id, reason='x')",
        "self.store.actions.edit(action.id, payload)",
        "await self.runner.approve(action.id, expected_sha256=sha)",
        "await sv.runner.confirm_not_delivered(args.id)",
    ):
        assert DIRECT.search(line), line
    assert not DIRECT.search("self.decisions.approve(action.id, expected_sha256=sha)")
    assert not DIRECT.search("self.store.actions.get(action.id)")


def test_gui_and_cli_decide_only_through_the_decisions_service() -> None:
    files = _front_end_files()
    assert any(p.name == "inbox_view.py" for p in files)
    assert any(p.name == "cli.py" for p in files)
    offenders = [
        f"{path.relative_to(PKG)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DIRECT.search(line)
    ]
    assert offenders == []


def test_gui_and_cli_use_the_decisions_service() -> None:
    view = (PKG / "ui" / "inbox_view.py").read_text(encoding="utf-8")
    cli = (PKG / "cli.py").read_text(encoding="utf-8")
    for verb in ("approve", "approve_many", "edit", "reject", "cancel", "resolve"):
        assert f"decisions.{verb}(" in view, verb
    for verb in ("approve", "edit", "reject", "cancel", "resolve", "execute_approved"):
        assert f"decisions.{verb}(" in cli, verb
