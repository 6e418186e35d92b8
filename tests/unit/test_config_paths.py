"""Settings file and folders."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from solodesk.store.config import SETTINGS, Config, ConfigError
from solodesk.store.paths import HOME_ENV, default_paths, demo_home, home_paths


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = Config(tmp_path / "config.json")
    assert cfg.get("llm.model") == "local"
    assert cfg.get("smtp.security") == "starttls"
    assert cfg.get_int("llm.validation_retries") == 2
    assert not (tmp_path / "config.json").exists()  # reading writes nothing


def test_set_persists_and_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.json"
    cfg = Config(path)
    cfg.set("smtp.host", "mail.example.com")
    cfg.set("smtp.port", "2525")
    again = Config(path)
    assert again.get("smtp.host") == "mail.example.com"
    assert again.get_int("smtp.port") == 2525
    assert json.loads(path.read_text()) == {"smtp.host": "mail.example.com", "smtp.port": "2525"}
    assert not list(path.parent.glob(".config-*"))  # no temp file left behind


def test_unknown_key(tmp_path: Path) -> None:
    cfg = Config(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="unknown setting 'llm.colour'"):
        cfg.get("llm.colour")
    with pytest.raises(ConfigError, match="unknown setting"):
        cfg.set("llm.colour", "blue")


@pytest.mark.parametrize("key", ["smtp.password", "llm.api_key"])
def test_secret_keys_point_to_the_keyring(tmp_path: Path, key: str) -> None:
    cfg = Config(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="secrets set"):
        cfg.set(key, "hunter2")
    assert not (tmp_path / "config.json").exists()


def test_choices(tmp_path: Path) -> None:
    cfg = Config(tmp_path / "config.json")
    assert SETTINGS["smtp.security"].choices == ("ssl", "starttls", "none")
    for value in ("ssl", "starttls", "none"):
        cfg.set("smtp.security", value)
        assert cfg.get("smtp.security") == value
    with pytest.raises(ConfigError, match="must be one of ssl, starttls, none"):
        cfg.set("smtp.security", "tls")
    assert cfg.get("smtp.security") == "none"


def test_get_int_rejects_non_numbers(tmp_path: Path) -> None:
    # Issue 6: a bad value is refused when set (it used to be stored and fail only when read).
    cfg = Config(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="llm.timeout must be a whole number"):
        cfg.set("llm.timeout", "soon")
    assert cfg.get_int("llm.timeout") == 120
    assert not (tmp_path / "config.json").exists()


def test_items_mark_defaults(tmp_path: Path) -> None:
    cfg = Config(tmp_path / "config.json")
    cfg.set("company.name", "Inkwell")
    items = {k: (v, d) for k, v, d in cfg.items()}
    assert set(items) == set(SETTINGS)
    assert items["company.name"] == ("Inkwell", False)
    assert items["llm.model"] == ("local", True)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unreadable_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=str(path)):
        Config(path)


def test_home_paths_layout(tmp_path: Path) -> None:
    p = home_paths(tmp_path / "h")
    assert p.data_dir == tmp_path / "h" / "data"
    assert p.config_dir == tmp_path / "h" / "config"
    assert p.log_dir == tmp_path / "h" / "logs"
    assert p.database == tmp_path / "h" / "data" / "solodesk.db"
    assert p.config_file == tmp_path / "h" / "config" / "config.json"


def test_ensure_creates_private_folders(tmp_path: Path) -> None:
    p = home_paths(tmp_path / "h").ensure()
    for d in (p.data_dir, p.config_dir, p.log_dir):
        assert d.is_dir()
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_default_paths_honour_solodesk_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "sd"))
    assert default_paths() == home_paths(tmp_path / "sd")
    assert demo_home() == (tmp_path / "sd" / "demo").resolve()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG folders are Linux only")
def test_default_paths_without_solodesk_home_use_platform_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    p = default_paths()
    assert p.data_dir == tmp_path / "xdg-data" / "solodesk"
    assert p.config_dir == tmp_path / "xdg-config" / "solodesk"


def test_a_mailbox_setting_is_checked_the_same_every_time() -> None:
    """Address settings are parsed once per text (remembered: every agent turn reads them),
    and a bad one is refused at every check, with the same message."""
    from solodesk.store.config import MailboxValue

    box = MailboxValue()
    assert box.normalize(" Ada <ada@example.com> ") == "Ada <ada@example.com>"
    assert box.normalize(" Ada <ada@example.com> ") == "Ada <ada@example.com>"
    assert box.normalize("") == ""
    for _ in range(2):
        with pytest.raises(ValueError, match="is not one address"):
            box.normalize("Ada <ada@example.com>, Bob <bob@example.com>")
        with pytest.raises(ValueError, match="invalid domain"):
            box.normalize("ada@-bad.example")
