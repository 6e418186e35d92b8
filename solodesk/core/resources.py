"""Files shipped in ``resources/`` (prompts, sample mail, icons).

In a source checkout they are the top-level ``resources/`` folder; in an installed wheel they are
``solodesk/resources`` (see ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """The folder holding ``prompts/``, ``sample_mail/`` and ``icons/``.

    Raises:
        FileNotFoundError: neither location exists (a broken install).
    """
    for candidate in (_PKG / "resources", _PKG.parent / "resources"):
        if (candidate / "prompts").is_dir():
            return candidate
    raise FileNotFoundError("SoloDesk's resources folder is missing; reinstall SoloDesk")


def resource(*parts: str) -> Path:
    """Path of one resource file, e.g. ``resource("prompts", "support.md")``."""
    return resources_dir().joinpath(*parts)


def prompt(name: str, **values: str) -> str:
    """The prompt ``prompts/NAME.md`` with ``{placeholders}`` filled from ``values``."""
    text = resource("prompts", f"{name}.md").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
