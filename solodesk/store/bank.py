"""Bank statement lines and saved CSV mappings.

A statement file is stored in one transaction (:meth:`BankRepo.import_statements`): either all of
its new lines are stored, or none. A line whose ``(account, dedup_key)`` is already stored is
skipped as a duplicate. Stored lines are never changed (a trigger refuses updates).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from solodesk.core.actions import utcnow
from solodesk.core.bank import BankLine, BankStatement, CsvMapping
from solodesk.core.categorise import payee_key
from solodesk.store.db import StoreDatabase
from solodesk.store.repos import AuditLog, NotFound

Row = dict[str, Any]


class MappingError(ValueError):
    """A CSV mapping that cannot be saved or read; the message says why."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one statement file added to the store.

    Attributes:
        import_id: The ``bank_imports`` row.
        imported: Lines stored.
        duplicates: Lines skipped because they were already stored (or repeated in the file).
        line_ids: Ids of the stored lines, in file order.
    """

    import_id: int
    imported: int
    duplicates: int
    line_ids: tuple[int, ...]


def _row_to_line(row: Row) -> BankLine:
    return BankLine(
        account=row["account"],
        booking_date=date.fromisoformat(row["booking_date"]),
        value_date=date.fromisoformat(row["value_date"]) if row["value_date"] else None,
        amount=int(row["amount"]),
        currency=row["currency"],
        payee=row["payee"],
        description=row["description"],
        reference=row["reference"],
        dedup_key=row["dedup_key"],
        source=row["source"],
        id=int(row["id"]),
    )


class BankRepo:
    """Imported bank lines and the founder's CSV mappings."""

    def __init__(self, db: StoreDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    # -- lines ---------------------------------------------------------------------------------
    def import_statements(
        self,
        statements: Sequence[BankStatement],
        *,
        file: Path | str,
        file_sha256: str,
        file_format: str,
        actor: str = "founder",
    ) -> ImportResult:
        """Store the lines of one file's statements in one transaction, skipping duplicates.

        Args:
            statements: Everything read from the file.
            file: The file (for the record and the audit trail).
            file_sha256: sha256 of the file's bytes.
            file_format: ``ofx``, ``camt053`` or ``csv``.
            actor: Who imported it.

        Returns:
            Counts and the new lines' ids.

        Raises:
            sqlite3.DatabaseError: the database refused a line; nothing of the file is stored.
        """
        notes = "; ".join(
            f"{s.account}: {s.balance_check.describe()}" for s in statements
        )
        with self.db.write():
            cur = self.db.execute(
                "INSERT INTO bank_imports (file, file_sha256, format, imported_at, imported,"
                " duplicates, balance_note) VALUES (?, ?, ?, ?, 0, 0, ?)",
                [str(file), file_sha256, file_format, utcnow(), notes],
            )
            import_id = int(cast(int, cur.lastrowid))
            ids: list[int] = []
            duplicates = 0
            for statement in statements:
                for line in statement.lines:
                    cur = self.db.execute(
                        "INSERT INTO bank_lines (import_id, account, booking_date, value_date,"
                        " amount, currency, payee, payee_key, description, reference, dedup_key,"
                        " source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (account, dedup_key) DO NOTHING",
                        [
                            import_id,
                            line.account,
                            line.booking_date.isoformat(),
                            line.value_date.isoformat() if line.value_date else None,
                            line.amount,
                            line.currency,
                            line.payee,
                            payee_key(line.payee, line.description),
                            line.description,
                            line.reference,
                            line.dedup_key,
                            line.source,
                        ],
                    )
                    if cur.rowcount == 1:
                        ids.append(int(cast(int, cur.lastrowid)))
                    else:
                        duplicates += 1
            self.db.execute(
                "UPDATE bank_imports SET imported = ?, duplicates = ? WHERE id = ?",
                [len(ids), duplicates, import_id],
            )
            self.audit.append(
                "bank_statement_imported",
                action_id=None,
                actor=actor,
                detail={
                    "file": Path(file).name,
                    "file_sha256": file_sha256,
                    "format": file_format,
                    "accounts": sorted({s.account for s in statements}),
                    "imported": len(ids),
                    "duplicates": duplicates,
                    "balance": notes,
                },
            )
        return ImportResult(import_id, len(ids), duplicates, tuple(ids))

    def line(self, line_id: int) -> BankLine:
        """The stored line ``line_id``.

        Raises:
            NotFound: no such line.
        """
        rows = list(self.db.query("SELECT * FROM bank_lines WHERE id = ?", [line_id]))
        if not rows:
            raise NotFound(f"no bank line with id {line_id}")
        return _row_to_line(rows[0])

    def lines(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        account: str | None = None,
        unbooked: bool = False,
        limit: int | None = None,
    ) -> list[BankLine]:
        """Stored lines by booking date (then id).

        Args:
            start: First booking date included.
            end: First booking date excluded.
            account: Only this bank account.
            unbooked: Only lines no ledger transaction books yet.
            limit: At most this many.
        """
        where, params = ["1 = 1"], []
        if start is not None:
            where.append("l.booking_date >= ?")
            params.append(start.isoformat())
        if end is not None:
            where.append("l.booking_date < ?")
            params.append(end.isoformat())
        if account is not None:
            where.append("l.account = ?")
            params.append(account)
        if unbooked:
            where.append(
                "NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.bank_line_id = l.id)"
            )
        sql = (
            f"SELECT l.* FROM bank_lines l WHERE {' AND '.join(where)}"
            " ORDER BY l.booking_date, l.id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_row_to_line(r) for r in self.db.query(sql, params)]

    def count(self) -> int:
        """How many lines are stored."""
        return int(self.db.execute("SELECT count(*) FROM bank_lines").fetchone()[0])

    def count_unbooked(self) -> int:
        """How many stored lines no ledger transaction books yet."""
        return int(
            self.db.execute(
                "SELECT count(*) FROM bank_lines l WHERE NOT EXISTS"
                " (SELECT 1 FROM ledger_transactions t WHERE t.bank_line_id = l.id)"
            ).fetchone()[0]
        )

    def imports(self) -> list[Row]:
        """Every import, oldest first."""
        return list(self.db.query("SELECT * FROM bank_imports ORDER BY id"))

    # -- CSV mappings ----------------------------------------------------------------------------
    def save_mapping(
        self, mapping: CsvMapping, *, replace: bool = False, actor: str = "founder"
    ) -> CsvMapping:
        """Save ``mapping`` under its name.

        Raises:
            MappingError: a mapping with that name exists and ``replace`` is False.
        """
        spec = mapping.model_dump_json(exclude={"name"}, exclude_none=True)
        with self.db.write():
            exists = self.db.execute(
                "SELECT 1 FROM bank_csv_mappings WHERE name = ?", [mapping.name]
            ).fetchone()
            if exists and not replace:
                raise MappingError(
                    f"a mapping named {mapping.name!r} exists; remove it first or replace it"
                )
            self.db.execute(
                "INSERT INTO bank_csv_mappings (name, spec, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                [mapping.name, spec, utcnow()],
            )
            self.audit.append(
                "bank_mapping_saved",
                action_id=None,
                actor=actor,
                detail={"name": mapping.name, "spec": json.loads(spec)},
            )
        return mapping

    def mapping(self, name: str) -> CsvMapping:
        """The saved mapping ``name``.

        Raises:
            NotFound: no mapping has that name (the message lists the saved ones).
            MappingError: the stored mapping no longer validates.
        """
        row = self.db.execute(
            "SELECT spec FROM bank_csv_mappings WHERE name = ?", [name]
        ).fetchone()
        if row is None:
            names = ", ".join(m.name for m in self.mappings()) or "none saved yet"
            raise NotFound(f"no CSV mapping named {name!r} (saved: {names})")
        try:
            return CsvMapping.model_validate({"name": name, **json.loads(row[0])})
        except (ValidationError, ValueError) as exc:
            raise MappingError(f"saved mapping {name!r} is invalid: {exc}") from None

    def mappings(self) -> list[CsvMapping]:
        """Every saved mapping, by name (invalid ones are left out)."""
        out = []
        for row in self.db.query("SELECT name, spec FROM bank_csv_mappings ORDER BY name"):
            try:
                out.append(
                    CsvMapping.model_validate({"name": row["name"], **json.loads(row["spec"])})
                )
            except (ValidationError, ValueError):
                continue
        return out

    def remove_mapping(self, name: str, *, actor: str = "founder") -> None:
        """Delete the saved mapping ``name``.

        Raises:
            NotFound: no such mapping.
        """
        with self.db.write():
            cur = self.db.execute("DELETE FROM bank_csv_mappings WHERE name = ?", [name])
            if cur.rowcount == 0:
                raise NotFound(f"no CSV mapping named {name!r}")
            self.audit.append(
                "bank_mapping_removed", action_id=None, actor=actor, detail={"name": name}
            )
