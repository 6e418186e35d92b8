"""The UI runs no SQL: it asks store queries (``ActionQuery``, ``ActionRepo.query_ids``,
``agents``, ``latest_scheduled``...) and calls services."""

from __future__ import annotations

import re
from pathlib import Path

import solodesk

UI = Path(solodesk.__file__).parent / "ui"
SQL = re.compile(
    r"\.execute\(|\bdb\.query\(|\.executemany\(|\.executescript\("
    r"|\bSELECT\s+\w+\s+FROM\b|\bUPDATE\s+\w+\s+SET\b"
)


def test_ui_runs_no_sql() -> None:
    found = []
    for path in sorted(UI.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SQL.search(line.split("#", 1)[0]):
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert not found, "SQL in the UI (use a store query):\n" + "\n".join(found)


def test_the_grep_sees_sql() -> None:
    for line in (
        'row = self.store.db.execute("SELECT id FROM actions").fetchone()',
        "rows = self.store.db.query(sql, params)",
    ):
        assert SQL.search(line), line
