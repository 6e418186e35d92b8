"""Bank statements in: OFX/QFX, ISO 20022 camt.053 and CSV readers producing one line shape.

Every reader returns :class:`~solodesk.core.bank.BankStatement` objects whose lines are
:class:`~solodesk.core.bank.BankLine` (the shape lives in ``core`` so the store can keep it);
:func:`~solodesk.connectors.bank.importer.import_files` stores them, one transaction per file.
"""

from solodesk.connectors.bank.errors import BankFileError
from solodesk.connectors.bank.importer import FileOutcome, import_file, import_files
from solodesk.core.bank import BankLine, BankStatement, CsvMapping

__all__ = [
    "BankFileError",
    "BankLine",
    "BankStatement",
    "CsvMapping",
    "FileOutcome",
    "import_file",
    "import_files",
]
