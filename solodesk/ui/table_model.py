"""The read-only table model the inbox, policy and audit tables share.

A subclass names its columns in :attr:`ReadOnlyTableModel.COLUMNS`, says how many rows it has
in :meth:`~ReadOnlyTableModel.row_total` and answers :meth:`data`; the rest of the flat,
selectable, not editable :class:`QAbstractTableModel` API is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class ReadOnlyTableModel(QAbstractTableModel):
    """A flat table of selectable, read-only cells with a horizontal header."""

    #: The header labels, one per column.
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    #: Header tooltips by column (columns without one have none).
    HEADER_TOOLTIPS: ClassVar[Mapping[int, str]] = {}

    def row_total(self) -> int:
        """How many rows the model has."""
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self.row_total()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flag = Qt.ItemFlag
        return flag.ItemIsEnabled | flag.ItemIsSelectable | flag.ItemNeverHasChildren

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.HEADER_TOOLTIPS.get(section)
        return None
