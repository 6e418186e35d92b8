"""One benchmark command: every figure of issue 9 against its baseline, as one table.

Run: ``.venv/bin/python -m tests.bench`` (full sizes, a few minutes), ``--quick`` (smaller sizes,
fewer runs), ``--smoke`` (tiny sizes, for the test that the command works; no local model),
``--only NAME`` (one figure group: start, loop, inbox, runner, import, smtp, memory; repeatable).

Prints the date, the machine and the sizes, then a Markdown table: figure, SoloDesk's median,
the baseline's median (measured alternately in the same run), the ratio SoloDesk ÷ baseline,
which way is better, the target and whether it is met; notes on methods follow. Progress goes to
stderr. Asserts nothing about time: the exit status is 0 whatever the figures are, and 1 only if
a measurement could not be taken (the failing group is named).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.bench.report import Results, header, progress, table
from tests.bench.suite import FULL, GROUPS, QUICK, ROOT, SMOKE, Context, child_env


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split(
        "\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    size.add_argument("--smoke", action="store_true",
                      help="tiny sizes, 2 runs, no local model (tests use it)")
    parser.add_argument("--only", action="append", choices=sorted(GROUPS), metavar="NAME",
                        help=f"run only this figure group ({', '.join(GROUPS)}); repeatable")
    parser.add_argument("--runs", type=int, help="runs per figure (default by size)")
    parser.add_argument("--no-local-model", action="store_true",
                        help="skip the local model's memory row")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # The parent measures too (runner, SMTP): offscreen, no keyring, litellm offline.
    os.environ.update(child_env())
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    if args.runs:
        from dataclasses import replace

        sizes = replace(sizes, runs=max(1, args.runs), loop_runs=max(1, min(args.runs, 3)))
    if args.no_local_model:
        from dataclasses import replace

        sizes = replace(sizes, local_model=False)
    names = args.only or list(GROUPS)
    started = time.perf_counter()
    results = Results()
    failed: list[str] = []
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.serve"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        api_base = server.stdout.readline().strip()
        if not api_base.startswith("http://127.0.0.1:"):
            print("bench: the model server did not start", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory(prefix="solodesk-bench-") as tmp:
            for name in names:
                progress(f"{name}…")
                t = time.perf_counter()
                folder = Path(tmp) / name
                folder.mkdir()
                try:
                    GROUPS[name](Context(sizes, folder, api_base, results))
                except Exception:
                    failed.append(name)
                    traceback.print_exc()
                    results.note(f"{name}: FAILED (see the error above on stderr)")
                progress(f"{name} done in {time.perf_counter() - t:.0f} s")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    lines = header(sizes.describe(), sizes.runs, mode)
    lines.append("")
    lines += table(results.rows)
    lines.append("")
    lines += [f"- {n}" for n in results.notes]
    lines.append(f"- ran {', '.join(names)} in {time.perf_counter() - started:.0f} s")
    print("\n".join(lines), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
