"""The README's commands and the code agree; the docs never point outside the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from solodesk.llm.local import PORTABLE_CMAKE_ARGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command(marker: str) -> str:
    """The shell block after ``<!-- marker -->`` in the README (as .ci/run extracts it)."""
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.*?)\n```", README, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def _cmake_args(command: str) -> list[str]:
    return [w.split("=", 1)[1] for w in shlex.split(command) if w.startswith("CMAKE_ARGS=")]


def test_both_readme_commands_build_llama_cpp_portably() -> None:
    # One set of flags: the README's two commands (which .ci/run runs verbatim) and the code's
    # rebuild hint all say the same.
    for marker in ("run-command", "test-command"):
        assert _cmake_args(_command(marker)) == [PORTABLE_CMAKE_ARGS], marker
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "CMAKE_ARGS" not in ci  # it runs the README's command, with the README's flags
    assert "test-command" in ci
