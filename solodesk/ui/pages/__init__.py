"""The window's pages (Books, Jobs...) and the side bar that switches between them.

Each page is a widget in a module of its own; :meth:`solodesk.ui.main_window.MainWindow.add_page`
registers it with one call (a side-bar entry, a place in the window's stack, a Ctrl+N shortcut).
Pages are built after the back end is attached and read their data when first shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

#: Width of the side bar with names, and collapsed to icons (pixels).
EXPANDED_WIDTH = 168
COLLAPSED_WIDTH = 48


@dataclass
class PageEntry:
    """A registered page: its key, its title, its widget and its shortcut (may be empty)."""

    key: str
    title: str
    widget: QWidget
    shortcut: str
    badge: int = 0


class SideBar(QWidget):
    """A vertical list of pages (icon + name, with a count badge), collapsible to icons.

    Signals:
        pageRequested(str): The user chose the page with this key.
        collapsedChanged(bool): The bar was collapsed (True) or expanded.
    """

    pageRequested = Signal(str)  # noqa: N815
    collapsedChanged = Signal(bool)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sideBar")
        self._entries: list[PageEntry] = []
        self._collapsed = False
        self.toggle = QToolButton()
        self.toggle.setObjectName("sideBarToggle")
        self.toggle.setAutoRaise(True)
        self.toggle.clicked.connect(lambda: self.set_collapsed(not self._collapsed))
        self.list = QListWidget()
        self.list.setObjectName("pageList")
        self.list.setAccessibleName("Pages")
        self.list.setIconSize(QSize(20, 20))
        self.list.setSpacing(1)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self.list.currentRowChanged.connect(self._on_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.list, 1)
        self.set_collapsed(False)

    @property
    def collapsed(self) -> bool:
        """True when only icons are shown."""
        return self._collapsed

    def set_collapsed(self, collapsed: bool) -> None:
        """Show icons only (True) or icons and names."""
        self._collapsed = collapsed
        self.toggle.setText("»" if collapsed else "«")
        self.toggle.setToolTip("Show page names" if collapsed else "Hide page names")
        self.setFixedWidth(COLLAPSED_WIDTH if collapsed else EXPANDED_WIDTH)
        for row in range(self.list.count()):
            self._label(row)
        self.collapsedChanged.emit(collapsed)

    def add(self, entry: PageEntry, icon: QIcon) -> None:
        """Append ``entry`` to the list."""
        self._entries.append(entry)
        item = QListWidgetItem(icon, "")
        item.setData(Qt.ItemDataRole.UserRole, entry.key)
        item.setSizeHint(QSize(0, 30))
        self.list.addItem(item)
        self._label(self.list.count() - 1)

    def set_badge(self, key: str, count: int) -> None:
        """Show ``count`` beside the page's name (0 hides it)."""
        for row, entry in enumerate(self._entries):
            if entry.key == key:
                entry.badge = count
                self._label(row)

    def badge(self, key: str) -> int:
        """The count shown beside the page ``key``."""
        return next((e.badge for e in self._entries if e.key == key), 0)

    def text(self, key: str) -> str:
        """What the page's entry shows (empty when collapsed: the tooltip has it)."""
        for row, entry in enumerate(self._entries):
            if entry.key == key:
                item = self.list.item(row)
                return item.text() if item is not None else ""
        return ""

    def select(self, key: str) -> None:
        """Mark the page ``key`` as current (without emitting :attr:`pageRequested` again)."""
        for row, entry in enumerate(self._entries):
            if entry.key == key and self.list.currentRow() != row:
                self.list.blockSignals(True)
                self.list.setCurrentRow(row)
                self.list.blockSignals(False)

    def _label(self, row: int) -> None:
        entry, item = self._entries[row], self.list.item(row)
        if item is None:
            return
        name = entry.title + (f"  ({entry.badge})" if entry.badge else "")
        item.setText("" if self._collapsed else name)
        keys = f" ({entry.shortcut})" if entry.shortcut else ""
        item.setToolTip(name + keys)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, name)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self._entries):
            self.pageRequested.emit(self._entries[row].key)
