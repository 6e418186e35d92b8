"""A small tmpfs to fill up: for tests of what happens when the disk is full.

Mounting needs root (CI runs as root). Where mounting is not permitted the test is skipped with
the reason, except in CI (``CI=true``), which can mount, so there it fails instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    message = f"needs a small tmpfs to fill ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """Mount a ``size_mb`` MB tmpfs at ``path`` for the block, then unmount it."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        _unavailable("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )
    if mounted.returncode != 0:
        _unavailable(f"mount refused: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(disk: Path, *, leave: int = 0, name: str = "filler.bin") -> Path:
    """Fill ``disk`` with a file until it is full, then give back ``leave`` bytes.

    Returns:
        The filler file (delete it to free the space).
    """
    filler = disk / name
    chunk = b"\0" * 65536
    with open(filler, "ab", buffering=0) as fh:
        for size in (len(chunk), 4096, 512):
            try:
                while fh.write(chunk[:size]):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    if leave:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave))
    return filler
