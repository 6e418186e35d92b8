"""Room to record an outcome: a free-space check before a send, and a reserve file.

Once a mail has gone out, its outcome must be recorded, or the founder cannot know it was sent.
Two measures keep that possible on a nearly full disk:

- before claiming an action, :meth:`DiskReserve.check` refuses to start a send when the file
  system holding the database has less than :data:`MIN_FREE_BYTES` free (the action stays
  approved; nothing is sent);
- a reserve (ballast) file of :data:`RESERVE_BYTES` in the data folder is released when SQLite
  reports the disk full while an outcome is being recorded, which gives the database room to
  record it (the file is recreated at the next start once there is room again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from solodesk.store.db import StoreError

log = logging.getLogger(__name__)

#: Free space required on the database's file system before a send starts (bytes).
MIN_FREE_BYTES = 1024 * 1024
#: Size of the reserve file released when recording an outcome finds the disk full (bytes).
RESERVE_BYTES = 2 * 1024 * 1024
RESERVE_FILE = "reserve.bin"


class NoSpace(StoreError):
    """Too little free space to be sure the outcome of a send could be recorded."""


def human_bytes(n: int) -> str:
    """``96 KB``, ``1.5 MB``, ``3.2 GB`` (powers of 1024)."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


class DiskReserve:
    """The free-space check and reserve file of one data folder.

    Args:
        data_dir: The folder holding the database.
        min_free: Bytes that must be free before a send starts.
        reserve_bytes: Size of the reserve file.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        min_free: int = MIN_FREE_BYTES,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / RESERVE_FILE
        self.min_free = min_free
        self.reserve_bytes = reserve_bytes

    def free(self) -> int:
        """Bytes available on the data folder's file system."""
        return int(shutil.disk_usage(self.data_dir).free)

    def ensure(self) -> bool:
        """Create (or complete) the reserve file if there is room for it and a send besides.

        Returns:
            True if the reserve is in place.
        """
        try:
            have = self.path.stat().st_size
        except FileNotFoundError:
            have = 0
        except OSError:
            return False
        if have >= self.reserve_bytes:
            return True
        try:
            if self.free() < self.reserve_bytes - have + self.min_free:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, self.reserve_bytes)
                else:  # pragma: no cover - not Linux/BSD: write real blocks
                    os.lseek(fd, have, os.SEEK_SET)
                    os.write(fd, b"\0" * (self.reserve_bytes - have))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("cannot create the disk reserve %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                if have == 0:
                    self.path.unlink()
            return False
        return True

    def release(self) -> bool:
        """Delete the reserve file to make room.

        Returns:
            True if there was one to release.
        """
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cannot release the disk reserve %s: %s", self.path, exc)
            return False
        log.warning("disk full: released the reserve %s to record an outcome", self.path)
        return True

    def check(self, what: str = "a send") -> None:
        """Refuse to start ``what`` if its outcome might not be recordable.

        Raises:
            NoSpace: less than :attr:`min_free` bytes are free (the message says how much,
                where, and what to do).
        """
        try:
            free = self.free()
        except OSError:
            return  # cannot tell: let SQLite report a real problem
        if free < self.min_free:
            raise NoSpace(
                f"only {human_bytes(free)} free on the disk holding {self.data_dir}: SoloDesk "
                f"needs {human_bytes(self.min_free)} free to record the outcome of {what}, so "
                "it did not start it (nothing was sent). Free some space and try again"
            )
