"""The error every statement reader raises for a file it cannot import."""

from __future__ import annotations

from pathlib import Path


class BankFileError(Exception):
    """A statement file that cannot be imported; nothing of it is imported.

    Attributes:
        file: The file.
        place: Where in the file: ``"line 42"``, ``"line 42, transaction 3"``,
            ``"Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt"``; ``""`` for the whole file.
        reason: What is wrong, and what to do when the founder can do something.
    """

    def __init__(self, file: Path | str, place: str, reason: str) -> None:
        self.file = Path(file)
        self.place = place
        self.reason = reason
        where = f"{self.file}: {place}" if place else str(self.file)
        super().__init__(f"{where}: {reason}")
