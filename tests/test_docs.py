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
    # Wherever the docs spell the flags out, they are the same flags.
    for doc in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        spelled = re.findall(r'CMAKE_ARGS="([^"]*)"', doc.read_text(encoding="utf-8"))
        assert spelled and set(spelled) == {PORTABLE_CMAKE_ARGS}, doc.name


def _links(text: str) -> list[str]:
    """Markdown link and image targets, and backticked paths that look like files."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t for t in targets if not t.startswith(("http://", "https://", "#", "mailto:"))]


def test_the_docs_point_only_inside_the_repository() -> None:
    architecture = ROOT / "docs" / "architecture.md"
    assert architecture.is_file()
    assert "docs/architecture.md" in README
    for doc in (ROOT / "README.md", architecture):
        text = doc.read_text(encoding="utf-8")
        assert "../" not in text, f"{doc.name} points outside the repository"
        for target in _links(text):
            path = (doc.parent / target.split("#")[0]).resolve()
            assert ROOT in path.parents and path.exists(), f"{doc.name}: {target} is missing"


def test_the_architecture_document_names_modules_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:solodesk|tests|packaging|resources)/[\w/.]+)`", text))
    for name in sorted(paths):
        assert (ROOT / name.rstrip("/")).exists(), name
    package = ROOT / "solodesk"
    for layer, module in re.findall(r"`(core|store|llm|agents|actions|connectors|ui)/(\w+\.py)`",
                                    text):
        assert (package / layer / module).exists(), f"{layer}/{module}"
