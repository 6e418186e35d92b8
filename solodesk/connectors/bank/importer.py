"""Import statement files: detect the format, read the file whole, store it in one transaction.

A file is read completely before anything is stored; a malformed file raises
:class:`~solodesk.connectors.bank.errors.BankFileError` naming the file and the place, and
nothing of it is stored. Other files of the same import are unaffected.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from solodesk.connectors.bank.camt import read_camt053
from solodesk.connectors.bank.csvfile import read_csv
from solodesk.connectors.bank.errors import BankFileError
from solodesk.connectors.bank.ofx import read_ofx
from solodesk.core.bank import BalanceCheck, BankStatement, CsvMapping
from solodesk.store.bank import BankRepo

#: Larger files are refused (a year of a busy account is a few MB).
MAX_FILE_BYTES = 64 * 1024 * 1024

FORMATS = ("ofx", "camt053", "csv")


def detect_format(data: bytes) -> str:
    """``ofx`` (OFX 1/2, QFX), ``camt053`` (ISO 20022 XML) or ``csv`` (anything else)."""
    head = data[:8192].lstrip(b"\xef\xbb\xbf \t\r\n")
    if re.search(rb"OFXHEADER|<OFX>", head, re.IGNORECASE):
        return "ofx"
    if head.startswith(b"<"):
        return "camt053"
    return "csv"


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file.

    Attributes:
        path: The file.
        format: ``ofx``, ``camt053``, ``csv`` or ``""`` when unreadable.
        imported: Lines stored.
        duplicates: Lines skipped as already imported.
        checks: The balance check of each statement, as ``(account, check)``.
        error: Why nothing was imported (names the file and the place), or None.
    """

    path: Path
    format: str
    imported: int = 0
    duplicates: int = 0
    checks: tuple[tuple[str, BalanceCheck], ...] = field(default=())
    error: str | None = None

    @property
    def mismatches(self) -> list[str]:
        """Balance mismatches, one line each."""
        return [
            f"{account}: {check.describe()}"
            for account, check in self.checks
            if check.checked and not check.ok
        ]


def read_statement_file(
    path: Path, *, mapping: CsvMapping | None = None, account: str | None = None
) -> tuple[str, list[BankStatement], str]:
    """Read one statement file without storing anything.

    Args:
        path: The file.
        mapping: The CSV mapping to use if the file is CSV.
        account: Account id overriding the file's (required for CSV unless the mapping has one).

    Returns:
        ``(format, statements, sha256 of the file's bytes)``.

    Raises:
        BankFileError: unreadable, too large, CSV without a mapping, or malformed.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BankFileError(path, "", f"{size} bytes: larger than {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise BankFileError(path, "", f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise BankFileError(path, "", "the file is empty")
    digest = hashlib.sha256(data).hexdigest()
    fmt = detect_format(data)
    if fmt == "ofx":
        return fmt, read_ofx(path, data, account=account), digest
    if fmt == "camt053":
        return fmt, read_camt053(path, data, account=account), digest
    if mapping is None:
        raise BankFileError(
            path, "", "not OFX or camt.053, so read as CSV: pass --mapping NAME (save one with "
            "'solodesk bank mappings add')"
        )
    return fmt, read_csv(path, data, mapping, account=account), digest


def import_file(
    path: Path,
    bank: BankRepo,
    *,
    mapping: CsvMapping | None = None,
    account: str | None = None,
) -> FileOutcome:
    """Read ``path`` and store its lines in one transaction (all of them or none).

    Never raises for a bad file: the outcome carries the error.
    """
    try:
        fmt, statements, digest = read_statement_file(path, mapping=mapping, account=account)
    except BankFileError as exc:
        return FileOutcome(path, "", error=str(exc))
    try:
        result = bank.import_statements(
            statements, file=path, file_sha256=digest, file_format=fmt
        )
    except sqlite3.DatabaseError as exc:
        return FileOutcome(path, fmt, error=f"{path}: the database refused the file: {exc}")
    return FileOutcome(
        path,
        fmt,
        result.imported,
        result.duplicates,
        tuple((s.account, s.balance_check) for s in statements),
    )


def import_files(
    paths: Sequence[Path],
    bank: BankRepo,
    *,
    mapping: CsvMapping | None = None,
    account: str | None = None,
) -> list[FileOutcome]:
    """:func:`import_file` for each path, in order; a bad file does not stop the others."""
    return [import_file(p, bank, mapping=mapping, account=account) for p in paths]
