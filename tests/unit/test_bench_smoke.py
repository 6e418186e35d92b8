"""The benchmark command runs and prints its whole table (tiny sizes; no figure is judged).

``python -m tests.bench --smoke`` in a subprocess: exit status 0, the date and machine lines,
every figure's row with a ratio written like ``2.6×``, a ``yes``/``no``/``—`` in the met column.
Nothing here compares a figure with a bound: the figures depend on the machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.report import Row, ratio_text, table

ROOT = Path(__file__).resolve().parents[2]

#: Every row the full command prints (figure number, then a part of the figure's name).
EXPECTED_ROWS = (
    "1. start to first paint",
    "2. loop max gap, idle window",
    "2. loop max gap, first chat",
    "2. loop max gap, 2 chats streaming",
    "2. loop p99 gap, 2 chats streaming",
    "2. loop max gap, 50-mail import",
    "2. loop p99 gap, 50-mail import",
    "2. loop max gap, 50-line statement import",
    "2. loop p99 gap, 50-line statement import",
    "3. inbox open (model build)",
    "3. inbox scroll jump",
    "3. inbox filter",
    "3. inbox select a row",
    "3. inbox memory",
    "4. triage step, 50 mails stored",
    "4. triage step, 200 mails stored",
    "5. mail import, 50 mails",
    "5. mail import peak RSS",
    "6. approve --now to delivered",
    "7. memory: window idle",
    "7. memory: after the first chat",
    "7. memory growth per chat turn",
)


def _rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by figure name: ``figure -> [SoloDesk, baseline, ratio, better, target,
    met]``."""
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if not line.startswith("| ") or line.startswith("| figure"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.integration
@pytest.mark.gui
def test_bench_command_prints_every_row_with_a_ratio() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--smoke"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", out), out[:500]
    machine = next(line for line in out.splitlines() if line.startswith("machine: "))
    assert re.search(r"\d+ cores, [\d.]+ GiB RAM", machine), machine
    software = next(line for line in out.splitlines() if line.startswith("software: "))
    for name in ("Python 3.", "PySide6 6.", "litellm 1."):
        assert name in software, software
    assert "runs: 2 per figure" in out
    rows = _rows(out)
    for expected in EXPECTED_ROWS:
        matching = [name for name in rows if name.startswith(expected)]
        assert len(matching) == 1, (expected, list(rows))
        solodesk, baseline, ratio, better, _target, met = rows[matching[0]]
        assert re.fullmatch(r"-?[\d,]+(\.\d+)?", solodesk), (expected, solodesk)
        assert re.fullmatch(r"-?[\d,]+(\.\d+)?", baseline), (expected, baseline)
        assert re.fullmatch(r"-?\d+(\.\d+)?×|inf×", ratio), (expected, ratio)
        assert better in ("lower", "higher"), (expected, better)
        assert met in ("yes", "no", "—"), (expected, met)
    assert len(rows) == len(EXPECTED_ROWS), sorted(rows)
    assert "litellm in sys.modules at first paint:" in out
    assert "FAILED" not in out


def test_ratio_is_solodesk_over_baseline_and_rows_keep_the_figure_order() -> None:
    slow = Row("4. triage (ms)", 26.0, 10.0, "lower", "≤ 1.2×", False)
    rate = Row("5. import (msg/s)", 871.0, 2654.0, "higher", "≥ 0.7×", False)
    big = Row("2. gap (ms)", 525.0, 8.8, "lower", "≤ 16 ms", False)
    assert ratio_text(slow) == "2.60×"
    assert ratio_text(rate) == "0.33×"
    assert ratio_text(big) == "59.7×"
    lines = table([rate, slow, big])
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "2. gap (ms)", "4. triage (ms)", "5. import (msg/s)"
    ]


def test_readme_shows_the_bench_command_and_a_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- bench-command -->\n```sh\n(.*?)\n```", readme, re.S)
    assert match, "README.md has no bench-command block"
    assert match.group(1).strip() == ".venv/bin/python -m tests.bench"
    after = readme[match.end():]
    section = after.split("\n## ", 1)[0]
    rows = _rows(section)
    assert any(name.startswith("1. start to first paint") for name in rows), section[:500]
    assert all(cells[2].endswith("×") for cells in rows.values())
    assert re.search(r"date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", section)
    assert "machine: " in section
