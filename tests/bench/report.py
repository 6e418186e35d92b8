"""The benchmark table: rows, the machine header, medians and the printed layout.

Every row holds one SoloDesk figure and its baseline, each the median of several runs measured
side by side (alternating) in the same command run. The ratio is always SoloDesk ÷ baseline;
the ``better`` column says which way is good (``lower`` for times, gaps and memory, ``higher``
for rates).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass(slots=True)
class Row:
    """One line of the table.

    Attributes:
        figure: What is measured, with its unit (``start to first paint (ms)``).
        solodesk: SoloDesk's median.
        baseline: The baseline's median (same unit).
        better: ``lower`` or ``higher``.
        target: The issue's target, as text (``≤ 2×``).
        met: Whether the target is met (None: no target).
        group: The ``--only`` name of the figure group the row belongs to.
    """

    figure: str
    solodesk: float
    baseline: float
    better: str
    target: str
    met: bool | None
    group: str = ""

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return float("inf") if self.solodesk else 1.0
        return self.solodesk / self.baseline


@dataclass(slots=True)
class Results:
    """Rows and notes gathered by the figure groups."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def note(self, text: str) -> None:
        self.notes.append(text)


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (0.0 for none)."""
    return float(statistics.median(values)) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, nearest rank (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return float(ordered[k])


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process now (bytes), from ``/proc/PID/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process's memory so far (bytes): ``VmHWM``, which,
    unlike ``getrusage``'s ``ru_maxrss``, does not inherit the parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fmt(value: float) -> str:
    """A figure with sensible precision (3 significant digits, thousands separated)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio_text(row: Row) -> str:
    r = row.ratio
    if r == float("inf"):
        return "inf×"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def header(sizes: str, runs: int, mode: str) -> list[str]:
    """The lines above the table: date, machine, software, sizes and runs."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    return [
        f"SoloDesk benchmarks ({mode}) — date: {now}",
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, {_ram()}, {_os()}",
        f"software: Python {platform.python_version()}, "
        f"PySide6 {_version('PySide6', 'PySide6-Essentials')}, "
        f"litellm {_version('litellm')}, qasync {_version('qasync')}",
        f"sizes: {sizes}",
        f"runs: {runs} per figure (medians; SoloDesk and baseline alternate in the same run); "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


COLUMNS = ("figure", "SoloDesk", "baseline", "ratio", "better", "target", "met")


def table(rows: Sequence[Row]) -> list[str]:
    """The rows as a Markdown table (readable in a terminal and in the README), in the
    issue's order of figures (the number each figure starts with)."""
    rows = sorted(rows, key=lambda r: int(r.figure.split(".", 1)[0]) if r.figure[:1].isdigit()
                  else 99)
    cells = [COLUMNS] + [
        (
            r.figure,
            fmt(r.solodesk),
            fmt(r.baseline),
            ratio_text(r),
            r.better,
            r.target,
            "—" if r.met is None else ("yes" if r.met else "no"),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    right = {1, 2, 3}

    def line(row: Sequence[str]) -> str:
        parts = [
            (c.rjust(widths[i]) if i in right else c.ljust(widths[i])) for i, c in enumerate(row)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
    ) + "|"
    return [line(cells[0]), rule, *(line(c) for c in cells[1:])]


def progress(text: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)
