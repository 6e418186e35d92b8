"""Where SoloDesk keeps its files.

By default the platform's folders from platformdirs (XDG on Linux); one ``SOLODESK_HOME``
environment variable (or the CLI's global ``--home DIR``) puts everything in that one folder:
``HOME/data``, ``HOME/config``, ``HOME/logs``. Compare simonw/llm's ``user_dir()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "solodesk"
HOME_ENV = "SOLODESK_HOME"


@dataclass(frozen=True, slots=True)
class Paths:
    """The folders SoloDesk writes to (created on first use by :meth:`ensure`)."""

    data_dir: Path
    config_dir: Path
    log_dir: Path

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "solodesk.db"

    @property
    def config_file(self) -> Path:
        """The JSON settings file (no secrets: those live in the keyring)."""
        return self.config_dir / "config.json"

    def ensure(self) -> Paths:
        """Create the folders (mode 0700) and return ``self``."""
        for d in (self.data_dir, self.config_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def home_paths(home: Path) -> Paths:
    """All folders inside one ``home`` folder."""
    home = home.expanduser().resolve()
    return Paths(data_dir=home / "data", config_dir=home / "config", log_dir=home / "logs")


def default_paths() -> Paths:
    """``SOLODESK_HOME`` if set, else the platform's per-user folders."""
    env = os.environ.get(HOME_ENV)
    if env:
        return home_paths(Path(env))
    return Paths(
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def demo_home() -> Path:
    """The demo's own home, separate from the founder's data.

    Inside ``SOLODESK_HOME`` when that is set (``HOME/demo``), else the platform's data folder for
    ``solodesk-demo``.
    """
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve() / "demo"
    return Path(platformdirs.user_data_dir(f"{APP_NAME}-demo", appauthor=False))
