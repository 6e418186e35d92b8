"""The desktop package: the frozen entry point, the local server command in a frozen build, the
build script's flags, the icons and the freedesktop files (validated when the tools are here).

The build itself (minutes) is checked by ``packaging/verify.sh``, not here.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import solodesk.frozen as frozen
from solodesk.llm import local
from solodesk.llm.local import (
    LOCAL_SERVER_FLAG,
    LOCAL_SERVER_MODULE,
    PORTABLE_CMAKE_ARGS,
    local_server_command,
    local_server_entry,
)

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.solodesk.SoloDesk"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


# --- the local model server in a frozen build ---------------------------------------------


def test_the_server_entry_is_python_m_when_not_frozen() -> None:
    assert local_server_entry(frozen=False) == [sys.executable, "-m", LOCAL_SERVER_MODULE]
    assert not getattr(sys, "frozen", False)
    assert local_server_entry() == [sys.executable, "-m", LOCAL_SERVER_MODULE]


def test_the_server_entry_is_the_app_itself_when_frozen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = str(tmp_path / "SoloDesk" / "solodesk")
    monkeypatch.setattr(sys, "executable", app)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert local_server_entry() == [app, LOCAL_SERVER_FLAG]
    cmd = local_server_command(tmp_path / "m.gguf", 4321, n_threads=2)
    assert cmd[:2] == [app, LOCAL_SERVER_FLAG]
    assert "-m" not in cmd
    args = dict(zip(cmd[2::2], cmd[3::2], strict=True))
    assert args["--model"] == str(tmp_path / "m.gguf") and args["--port"] == "4321"
    # The launcher uses the same builder.
    server = local.LocalModelServer(tmp_path / "m.gguf", log_path=tmp_path / "log")
    assert server.command(tmp_path / "m.gguf", 4321)[:2] == [app, LOCAL_SERVER_FLAG]


def test_the_frozen_entry_dispatches_the_hidden_server_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import solodesk.llm.local_server as local_server

    seen: list[list[str]] = []
    monkeypatch.setattr(local_server, "main", lambda argv=None: seen.append(list(argv or [])))
    assert frozen.main([LOCAL_SERVER_FLAG, "--model", "m.gguf", "--port", "9"]) == 0
    assert seen == [["--model", "m.gguf", "--port", "9"]]


def test_the_frozen_entry_runs_the_command_line_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        frozen.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("SoloDesk ")
    calls: list[str] = []
    monkeypatch.setattr(frozen, "self_test", lambda out=None: calls.append("self-test") or 0)
    assert frozen.main([frozen.SELF_TEST_FLAG]) == 0
    assert calls == ["self-test"]


def test_the_local_server_module_is_reachable_from_the_frozen_entry_only_by_the_flag() -> None:
    # The command line does not know the hidden flags (a typo is not a server start).
    out = subprocess.run(
        [sys.executable, "-m", "solodesk", LOCAL_SERVER_FLAG],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr


# --- what the bundle must hold --------------------------------------------------------------


def test_required_imports_list_every_module_and_the_lazy_imports() -> None:
    lines = frozen.required_imports()
    modules = {line.partition(":")[0] for line in lines}
    package = ROOT / "solodesk"
    for path in package.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        if path.stem != "__main__":
            assert name in modules, name
    assert "solodesk.__main__" not in modules  # importing it would run the command line
    # Imported inside functions only: PyInstaller's import scan alone may miss them.
    for lazy in (
        "litellm",
        "inscriptis",
        "confusable_homoglyphs",
        "idna",
        "facturx",
        "fpdf",
        "icalendar",
        "cronsim",
        "imapclient",
        "ofxparse",
        "llama_cpp.server.app",
        "uvicorn",
        "keyring",
        "secretstorage",
        "aiosmtpd.controller",
    ):
        assert lazy in modules, lazy
    assert "__future__" not in modules
    assert len(lines) == len(modules)  # one line per module


def test_required_imports_name_the_file_that_does_not_parse(tmp_path: Path) -> None:
    package = tmp_path / "solodesk"
    package.mkdir()
    (package / "__init__.py").write_text("import json\n", encoding="utf-8")
    (package / "broken.py").write_text("def f(:\n", encoding="utf-8")
    with pytest.raises(SyntaxError) as error:
        frozen.required_imports(package)
    assert error.value.filename == str(package / "broken.py") and error.value.lineno == 1


def test_check_import_works_like_the_import_statement() -> None:
    frozen.check_import("json")
    frozen.check_import("os.path:join")  # a name
    frozen.check_import("email:message")  # a submodule
    with pytest.raises(ImportError):
        frozen.check_import("solodesk_no_such_module")
    with pytest.raises(ImportError):
        frozen.check_import("json:no_such_name")


def test_the_self_test_reports_each_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    monkeypatch.setattr(frozen, "_bundled_imports", lambda: ["json", "solodesk_missing_x:y"])

    def broken() -> None:
        raise FileNotFoundError("the GGUF is missing")

    monkeypatch.setattr(frozen, "CHECKS", {"ok": lambda: None, "model": broken})
    out = io.StringIO()
    assert frozen.self_test(out) == 1
    text = out.getvalue()
    assert "FAIL import solodesk_missing_x:y: ModuleNotFoundError" in text
    assert "FAIL model: FileNotFoundError: the GGUF is missing" in text
    assert text.rstrip().endswith("2 imports, 2 checks, 2 failed")


def test_the_self_test_passes_in_this_environment() -> None:
    # What --self-test does in the frozen app, here against the source tree and this venv: a
    # lazy import of a module no dependency provides fails here first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-m", "solodesk.frozen", frozen.SELF_TEST_FLAG],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"solodesk self-test: \d+ imports, 5 checks, ok", out.stdout)


# --- the build ------------------------------------------------------------------------------


def test_the_build_script_builds_llama_cpp_portably() -> None:
    script = (ROOT / "packaging" / "build.sh").read_text(encoding="utf-8")
    assert re.findall(r'^PORTABLE_CMAKE_ARGS="([^"]*)"', script, re.M) == [PORTABLE_CMAKE_ARGS]
    assert 'CMAKE_ARGS="$PORTABLE_CMAKE_ARGS"' in script
    assert "solodesk.spec" in script and "[local,packaging]" in script


def test_pyinstaller_is_a_build_tool_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any("pyinstaller" in d.lower() for d in project["dependencies"])
    assert any(
        d.lower().startswith("pyinstaller") for d in project["optional-dependencies"]["packaging"]
    )
    assert project["scripts"]["solodesk"] == "solodesk.cli:main"
    assert project["gui-scripts"]["solodesk-gui"] == "solodesk.cli:gui_main"


def test_solodesk_gui_without_a_display_says_so_instead_of_aborting(tmp_path: Path) -> None:
    # Found with pipx: the script went straight to Qt, which aborted (status 134) headless.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env["HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", "from solodesk.cli import gui_main; raise SystemExit(gui_main())"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    assert "no display" in out.stderr


# --- icons and the freedesktop files --------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_icons_in_every_standard_size() -> None:
    hicolor = ROOT / "resources" / "icons" / "hicolor"
    for size in ICON_SIZES:
        png = hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert _png_size(png) == (size, size), png
    svg = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    assert svg.read_bytes() == (ROOT / "resources" / "icons" / "solodesk.svg").read_bytes()


def test_the_metainfo_has_what_software_centres_show() -> None:
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"  # type: ignore[union-attr]
    shots = root.findall("screenshots/screenshot")
    assert shots and shots[0].get("type") == "default"
    image = shots[0].find("image")
    assert image is not None and image.text and image.text.startswith("https://")
    assert image.text.endswith("packaging/screenshots/main-window.png")
    assert _png_size(ROOT / "packaging" / "screenshots" / "main-window.png") == (
        int(image.get("width", 0)),
        int(image.get("height", 0)),
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    releases = [r.get("version") for r in root.findall("releases/release")]
    assert project["version"] in releases
    assert root.find("content_rating").get("type") == "oars-1.1"  # type: ignore[union-attr]


def test_the_desktop_entry_names_the_icon_and_the_command() -> None:
    text = (LINUX / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    entry = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert (
        entry["Icon"] == APP_ID and entry["Exec"] == "solodesk" and entry["Type"] == "Application"
    )


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return found


def test_the_desktop_entry_validates() -> None:
    tool = _tool("desktop-file-validate")
    out = subprocess.run(
        [tool, str(LINUX / f"{APP_ID}.desktop")], capture_output=True, text=True, check=False
    )
    print(out.stdout + out.stderr)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_the_installed_desktop_entry_validates(tmp_path: Path) -> None:
    # install-desktop.sh rewrites Exec= to the installed app's absolute path (quoted).
    tool = _tool("desktop-file-validate")
    app = tmp_path / "dist dir" / "SoloDesk"
    app.mkdir(parents=True)
    (app / "solodesk").write_text("#!/bin/sh\n", encoding="utf-8")
    (app / "solodesk").chmod(0o755)
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SOLODESK_APP_DIR": str(app)}
    subprocess.run(["bash", str(ROOT / "packaging" / "install-desktop.sh")], env=env, check=True)
    desktop = home / ".local" / "share" / "applications" / f"{APP_ID}.desktop"
    exec_line = [ln for ln in desktop.read_text().splitlines() if ln.startswith("Exec=")]
    assert exec_line == [f'Exec="{home}/.local/lib/SoloDesk/solodesk"']
    assert (home / ".local" / "bin" / "solodesk").resolve() == (
        home / ".local" / "lib" / "SoloDesk" / "solodesk"
    )
    for size in ICON_SIZES:
        assert (home / f".local/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png").is_file()
    out = subprocess.run([tool, str(desktop)], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
    subprocess.run(
        ["bash", str(ROOT / "packaging" / "install-desktop.sh"), "--uninstall"],
        env=env,
        check=True,
    )
    assert not desktop.exists() and not (home / ".local" / "lib" / "SoloDesk").exists()
    assert not (home / ".local" / "bin" / "solodesk").is_symlink()


def test_the_metainfo_validates() -> None:
    tool = _tool("appstreamcli")
    out = subprocess.run(
        [tool, "validate", "--no-net", "--pedantic", str(LINUX / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    print(out.stdout + out.stderr)
    assert out.returncode == 0, out.stdout + out.stderr
    # No warning or error; infos and pedantic notes (the app id's capitals, which the id of a
    # published app keeps) are allowed.
    assert not re.search(r"^[WE]: ", out.stdout, re.M), out.stdout
