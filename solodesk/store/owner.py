"""Who holds a claim: a process identified by host, boot, pid and start time, with a lease.

Several SoloDesk processes share one home (the window, the command line, a future
``solodesk serve``). A process that claims an action for execution, or a mail for triage, records
itself as the claim's :class:`Owner`. Another process may take over such a claim only when its
owner is gone:

- on the same Linux host and boot, the owner is alive while ``/proc/PID/stat`` exists and its
  start time (field 22, clock ticks since boot) is the one recorded, so a reused pid is not
  mistaken for the owner;
- elsewhere (another host sharing the folder, or a system without ``/proc``), the claim's lease
  decides: the owner renews it while it works (:func:`keep_leased`), and a claim whose lease has
  expired is taken to be abandoned.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from solodesk.core.actions import parse_utc, utcnow

#: How long a claim stays valid without renewal, in seconds (it is renewed every third of it).
LEASE_S = 90.0


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (``/proc/PID/stat`` field 22), or None if there is no
    such process. Returns ``""`` where ``/proc`` is not available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the
    # last ")"; the field after it is field 3 (state), so field 22 is index 19.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True, slots=True)
class Owner:
    """The holder of one claim.

    Attributes:
        host: ``socket.gethostname()`` of the owner's machine.
        boot: The Linux boot id (``/proc/sys/kernel/random/boot_id``), or "".
        pid: Process id.
        start: The process's start time from ``/proc/PID/stat`` (field 22), or "".
        token: Random, unique per claim: only the claim's holder can finish it.
        lease_until: UTC ISO 8601 time until which the claim is valid without renewal.
    """

    host: str
    boot: str
    pid: int
    start: str
    token: str
    lease_until: str

    @classmethod
    def current(cls, *, lease_s: float = LEASE_S) -> Owner:
        """This process, with a new token and a lease of ``lease_s`` seconds from now."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot=_boot_id(),
            pid=pid,
            start=process_start(pid) or "",
            token=secrets.token_hex(8),
            lease_until=utcnow(lease_s),
        )

    def renewed(self, *, lease_s: float = LEASE_S) -> Owner:
        """The same claim with its lease extended to ``lease_s`` seconds from now."""
        return replace(self, lease_until=utcnow(lease_s))

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "boot": self.boot,
                "pid": self.pid,
                "start": self.start,
                "token": self.token,
                "lease_until": self.lease_until,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Owner | None:
        """Parse :meth:`to_json`; None for a missing or malformed record."""
        if not text:
            return None
        try:
            data: dict[str, Any] = json.loads(text)
            return cls(
                host=str(data["host"]),
                boot=str(data.get("boot", "")),
                pid=int(data["pid"]),
                start=str(data.get("start", "")),
                token=str(data["token"]),
                lease_until=str(data["lease_until"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """For messages: ``process 1234 on host``."""
        return f"process {self.pid} on {self.host}"


def owner_alive(owner: Owner | None, *, now: datetime | None = None) -> bool:
    """Whether the process holding a claim may still be working on it.

    A missing or unreadable owner record is gone (claims made before owners were recorded).
    """
    if owner is None:
        return False
    same_machine = owner.host == socket.gethostname()
    if same_machine and owner.boot and _boot_id() and owner.boot != _boot_id():
        return False  # the machine restarted since
    if same_machine and owner.start:
        start = process_start(owner.pid)
        if start is None:
            return False  # no such process
        if start:
            return start == owner.start  # a reused pid has another start time
    try:
        until = parse_utc(owner.lease_until)
    except ValueError:
        return False
    if now is None:
        now = parse_utc(utcnow())
    return until > now


@contextlib.contextmanager
def kept_alive(renew: Callable[[], object], *, every_s: float = LEASE_S / 3) -> Iterator[None]:
    """Call ``renew`` every ``every_s`` seconds from a daemon thread while the block runs (a
    heartbeat). ``renew`` must use its own database connection (see ``ActionRepo.lease``).

    A thread rather than an asyncio task: a cancelled long ``asyncio.sleep`` leaves a live
    timer behind under qasync until it would have fired. A failing renewal is ignored: on Linux
    the owner check does not depend on the lease, and elsewhere an expired lease only lets
    another process report the claim as interrupted.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(Exception):
                renew()

    threading.Thread(target=beat, name="claim-lease", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def renewer(db_path: str, sql: str, params: Callable[[], list[object]]) -> Callable[[], None]:
    """A lease renewal that runs ``sql`` with ``params()`` on its own connection to
    ``db_path`` in one ``BEGIN IMMEDIATE`` transaction (for :func:`kept_alive`'s thread); a
    no-op for an in-memory database."""

    def renew() -> None:
        if not db_path or db_path == ":memory:":
            return
        conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, params())
            conn.execute("COMMIT")
        finally:
            conn.close()

    return renew
