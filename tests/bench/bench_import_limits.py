"""Memory of importing oversized messages (issue 6). Prints figures; asserts nothing.

A 300 MB .eml (sparse) beside a few small ones, and an mbox holding a 300 MB message on one
line: the size cap applies while reading, so peak memory stays that of the small messages.

Run: .venv/bin/python tests/bench/bench_import_limits.py
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from solodesk.connectors.mailimport import import_mail
from solodesk.store.db import connect
from solodesk.store.repos import Store

BIG = 300 * 1024 * 1024


def eml(n: int) -> bytes:
    return (
        f"From: Sam <sam{n}@example.com>\r\nTo: ada@example.com\r\nSubject: Question {n}\r\n"
        f"Message-ID: <limits-{n}@example.com>\r\n\r\nBody {n}.\r\n"
    ).encode()


def measure(label: str, path: Path, store: Store) -> None:
    tracemalloc.start()
    t = time.perf_counter()
    report = import_mail(path, store.mail)
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label}: {dt:.2f} s, peak Python memory {peak / 1e6:.1f} MB, max RSS so far "
          f"{rss:.0f} MB; {report.summary()}")
    for line in report.problems():
        print(f"    {line}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = Store(connect(root / "bench.db"))
        folder = root / "export"
        folder.mkdir()
        for n in range(3):
            (folder / f"{n}.eml").write_bytes(eml(n))
        with (folder / "huge.eml").open("wb") as fh:
            fh.write(eml(99))
            fh.truncate(BIG)
        measure("folder with a 300 MB .eml", folder, store)
        box = root / "big.mbox"
        with box.open("wb") as fh:
            fh.write(b"From sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(10) + b"\n")
            fh.write(b"From sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(11))
            fh.seek(fh.tell() + BIG)
            fh.write(b"\n\nFrom sam@example.com Mon Nov 16 09:00:00 2026\n" + eml(12))
        measure("mbox with a 300 MB message on one line", box, store)
        store.close()


if __name__ == "__main__":
    main()
