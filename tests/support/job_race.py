"""Two real processes racing for the same job slots on one home (see test_scheduler.py).

Each process opens the same database, waits for the other at a barrier, then walks the same clock
through ``steps`` minutes of an every-minute job. Every execution of the job appends
``pid slot`` to one file (O_APPEND), so the test can count executions per slot.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
JOB = "every-minute"


def worker(
    home: str, mode: str, steps: int, start: Any, results: Any, descending: bool = False
) -> None:
    """Child process body: ``mode`` is ``scheduler`` (run_due) or ``claim`` (claim every slot,
    in ascending or ``descending`` order)."""
    from solodesk.scheduler import JobKind, JobResult, JobScheduler
    from solodesk.store.config import Config
    from solodesk.store.db import connect
    from solodesk.store.paths import home_paths
    from solodesk.store.repos import Store
    from solodesk.store.secrets import SecretStore

    paths = home_paths(Path(home))
    store = Store(connect(paths.database))
    log = Path(home) / "executions.log"
    clock = [BASE]

    async def count(ctx: Any) -> Any:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {ctx.slot}\n")
        return JobResult(detail="counted")

    scheduler = JobScheduler(
        store=store,
        config=Config(paths.config_file),
        secrets=SecretStore(),
        kinds={"count": JobKind("count", "test kind", count)},
        clock=lambda: clock[0],
    )

    async def walk() -> int:
        wins = 0
        job = store.jobs.get(JOB)
        order = list(range(steps))
        if mode == "claim" and descending:
            order.reverse()  # the two meet in the middle, where they collide
        for i in order:
            clock[0] = BASE + timedelta(minutes=i, seconds=5)
            if mode == "scheduler":
                wins += len(await scheduler.run_due())
            else:
                slot = (BASE + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
                if store.jobs.claim(job, slot) is not None:
                    wins += 1
        return wins

    start.wait(timeout=120)  # a Barrier shared by both processes
    try:
        results.put((os.getpid(), asyncio.run(walk())))
    finally:
        store.close()
