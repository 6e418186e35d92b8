"""Remembered facts in the store (``facts`` table, FTS5 index ``facts_fts`` kept in sync by
triggers; migration ``m010_mem_memory``).

Adding and forgetting are audited (``fact_added``, ``fact_forgotten``) in the transaction that
makes the change. Forgetting keeps the row (``forgotten_at``); search and the default list show
remembered facts only.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlite_utils import Database

from solodesk.core.actions import utcnow
from solodesk.core.memory import (
    FACT_SOURCES,
    Fact,
    FactError,
    clean_fact_text,
    fts_query,
    query_words,
)
from solodesk.store.repos import AuditLog, NotFound

_COLUMNS = "id, text, source, ref, untrusted, created_at, forgotten_at, action_id"


def _fact(row: Any) -> Fact:
    return Fact(
        id=int(row[0]), text=str(row[1]), source=str(row[2]), ref=str(row[3] or ""),
        untrusted=bool(row[4]), created_at=str(row[5]),
        forgotten_at=str(row[6]) if row[6] is not None else None,
        action_id=int(row[7]) if row[7] is not None else None,
    )


class FactRepo:
    """Facts.

    Args:
        db: The database. ``audit``: where changes are recorded.
    """

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def add(
        self,
        text: str,
        *,
        source: str,
        ref: str = "",
        untrusted: bool = False,
        action_id: int | None = None,
        actor: str = "founder",
    ) -> Fact:
        """Store a fact; audited.

        Args:
            text: The statement. ``source``: ``founder``, ``agent`` or ``mail``.
            ref: Where it came from (``mail #12``). ``untrusted``: derived from text the
                founder did not write (a ``mail`` fact always is).
            action_id: The approved ``remember_fact`` proposal storing it: a second call with
                the same id stores nothing and returns the fact stored the first time.
            actor: Who added it (the audit's actor).

        Raises:
            FactError: empty or too long text, or an unknown source.
        """
        text = clean_fact_text(text)
        if source not in FACT_SOURCES:
            raise FactError(f"source must be {', '.join(FACT_SOURCES)}, not {source!r}")
        untrusted = untrusted or source == "mail"
        with self.db.atomic():
            if action_id is not None:
                row = self.db.execute(
                    f"SELECT {_COLUMNS} FROM facts WHERE action_id = ?", [action_id]
                ).fetchone()
                if row is not None:
                    return _fact(row)
            cur = self.db.execute(
                "INSERT INTO facts (text, source, ref, untrusted, created_at, action_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [text, source, ref[:200], int(untrusted), utcnow(), action_id],
            )
            fact_id = int(cur.lastrowid or 0)
            self.audit.append(
                "fact_added", action_id=action_id, actor=actor,
                detail={"fact_id": fact_id, "source": source, "untrusted": untrusted,
                        "ref": ref[:200], "text": text},
            )
        return self.get(fact_id)

    def get(self, fact_id: int) -> Fact:
        """Fact ``fact_id`` (remembered or forgotten).

        Raises:
            NotFound: no such fact.
        """
        row = self.db.execute(f"SELECT {_COLUMNS} FROM facts WHERE id = ?", [fact_id]).fetchone()
        if row is None:
            raise NotFound(f"no fact #{fact_id}; 'solodesk memory list' shows the facts")
        return _fact(row)

    def by_action(self, action_id: int) -> Fact | None:
        """The fact a ``remember_fact`` proposal stored, if any."""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM facts WHERE action_id = ?", [action_id]
        ).fetchone()
        return _fact(row) if row is not None else None

    def list(self, *, include_forgotten: bool = False, limit: int = 200) -> list[Fact]:
        """Facts, newest first (remembered ones only unless ``include_forgotten``)."""
        where = "" if include_forgotten else " WHERE forgotten_at IS NULL"
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM facts{where} ORDER BY id DESC LIMIT ?", [limit]
        ).fetchall()
        return [_fact(r) for r in rows]

    def count(self) -> int:
        """How many facts are remembered."""
        row = self.db.execute("SELECT COUNT(*) FROM facts WHERE forgotten_at IS NULL").fetchone()
        return int(row[0])

    def search(self, query: str, *, limit: int = 10) -> builtins.list[Fact]:
        """Remembered facts matching the words of ``query`` (full-text, Porter stemming: a
        search for ``invoices`` finds ``invoice``), best first: facts with every word, else
        facts with any of them. An empty query gives the newest facts.
        """
        words = query_words(query)
        if not words:
            return self.list(limit=limit)
        for any_word in (False, True):
            rows = self.db.execute(
                f"SELECT {', '.join('f.' + c.strip() for c in _COLUMNS.split(','))}"
                " FROM facts_fts JOIN facts f ON f.id = facts_fts.rowid"
                " WHERE facts_fts MATCH ? AND f.forgotten_at IS NULL"
                " ORDER BY bm25(facts_fts), f.id DESC LIMIT ?",
                [fts_query(words, any_word=any_word), limit],
            ).fetchall()
            if rows or len(words) == 1:
                return [_fact(r) for r in rows]
        return []

    def forget(self, fact_id: int, *, actor: str = "founder") -> Fact:
        """Forget a fact: it stays stored with ``forgotten_at`` but is no longer searched or
        listed by default; audited. Forgetting a forgotten fact changes nothing.

        Raises:
            NotFound: no such fact.
        """
        with self.db.atomic():
            fact = self.get(fact_id)
            if fact.forgotten:
                return fact
            self.db.execute(
                "UPDATE facts SET forgotten_at = ? WHERE id = ?", [utcnow(), fact_id]
            )
            self.audit.append(
                "fact_forgotten", action_id=fact.action_id, actor=actor,
                detail={"fact_id": fact_id},
            )
        return self.get(fact_id)
