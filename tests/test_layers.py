"""Architecture rules: the headless layers never import Qt, and litellm stays in the gateway."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "solodesk"

# What each layer may import from solodesk (ARCHITECTURE.md, "Layers").
ALLOWED = {
    "core": {"core"},
    "store": {"core", "store"},
    "llm": {"core", "llm"},
    "agents": {"core", "store", "llm", "inbox", "agents"},
    "actions": {"core", "store", "actions"},
    "inbox": {"core", "store", "actions", "inbox"},
    "connectors": {"core", "store", "connectors"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_headless_layers_do_not_import_qt_or_litellm() -> None:
    code = (
        "import sys\n"
        "import solodesk.core.actions, solodesk.core.mail, solodesk.store.repos, "
        "solodesk.agents.runner, solodesk.actions.outbox, solodesk.inbox.decisions, "
        "solodesk.inbox.intake, solodesk.connectors.mailimport, "
        "solodesk.services, solodesk.cli\n"
        "bad = [m for m in ('PySide6', 'qasync', 'litellm') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_below(layer: str) -> None:
    offenders = []
    for path in (PKG / layer).rglob("*.py"):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "solodesk" and len(parts) > 1 and parts[1] not in ALLOWED[layer]:
                offenders.append(f"{path.relative_to(PKG)} imports {name}")
    assert offenders == []


def test_litellm_only_in_gateway_and_qt_only_in_ui() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        roots = {n.split(".")[0] for n in _imports(path)}
        if "litellm" in roots and rel != "llm/gateway.py":
            offenders.append(f"{rel} imports litellm")
        if roots & {"PySide6", "qasync"} and not (rel.startswith("ui/") or rel == "app.py"):
            offenders.append(f"{rel} imports Qt")
    assert offenders == []
