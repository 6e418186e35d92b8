"""The inbox as a Qt table model over the store.

:class:`InboxModel` holds only the ids of the actions in the current filter (one cheap query) and
reads each row's :class:`~solodesk.core.actions.Action` when the view asks for it, keeping a
small LRU cache, so a view over 100,000 proposals reads only the rows it shows (napari's
``_qt/containers/_base_item_model.py`` is the same adapter idea).
"""

from __future__ import annotations

import bisect
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from solodesk.core.actions import Action, ActionKind, ActionStatus
from solodesk.store.repos import NotFound, Store

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex

#: Filter values besides a status: ``pending`` (the default) and ``all``.
FILTER_PENDING = ActionStatus.PENDING.value
FILTER_ALL = "all"

#: Actions kept in the row cache.
CACHE_SIZE = 256

#: Above this many inserted/removed runs a refresh resets the model instead.
MAX_FINE_GRAINED_RUNS = 64

#: Role returning the row's action id (int).
ActionIdRole = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("Age", "Agent", "Kind", "Summary", "Status")
COL_AGE, COL_AGENT, COL_KIND, COL_SUMMARY, COL_STATUS = range(len(COLUMNS))

KIND_LABELS = {ActionKind.REPLY_EMAIL: "Reply", ActionKind.SEND_EMAIL: "Email"}

_ATTENTION = "#b3261e"


def parse_utc(timestamp: str) -> datetime | None:
    """Parse the store's UTC ISO 8601 timestamps (``2024-05-01T10:00:00.000000Z``)."""
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def format_age(timestamp: str, *, now: datetime | None = None) -> str:
    """A short age like ``now``, ``5m``, ``3h``, ``2d`` or the date for older items."""
    then = parse_utc(timestamp)
    if then is None:
        return "?"
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 14 * 86400:
        return f"{seconds // 86400}d"
    return then.strftime("%Y-%m-%d")


def untrusted_tooltip(action: Action) -> str:
    """What the status flag explains for a proposal derived from untrusted content."""
    ref = f" #{action.provenance.ref}" if action.provenance.ref is not None else ""
    return (
        f"Derived from untrusted {action.provenance.source}{ref}: the agent read content you "
        "did not write. Check recipients and wording before approving."
    )


class InboxModel(QAbstractTableModel):
    """Proposed actions in the current filter, newest first.

    Args:
        store: The database.
        status_filter: ``"pending"`` (default), ``"all"`` or an :class:`ActionStatus` value.
        cache_size: How many :class:`Action` rows are kept in memory.
    """

    def __init__(
        self,
        store: Store,
        *,
        status_filter: str = FILTER_PENDING,
        cache_size: int = CACHE_SIZE,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._filter = self._check_filter(status_filter)
        self._ids: list[int] = []
        self._cache: OrderedDict[int, Action | None] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self.fetches = 0  # rows read from the store (for tests and benchmarks)
        self._warning_icon: QIcon | None = None
        self._ids = self._query_ids()

    # -- filter --------------------------------------------------------------------------------
    @staticmethod
    def _check_filter(value: str) -> str:
        if value == FILTER_ALL:
            return value
        try:
            return ActionStatus(value).value
        except ValueError:
            valid = ", ".join(s.value for s in ActionStatus)
            raise ValueError(f"unknown inbox filter {value!r}; use all, {valid}") from None

    @property
    def status_filter(self) -> str:
        """The current filter: ``all`` or a status value."""
        return self._filter

    def set_filter(self, value: str) -> None:
        """Show ``all`` actions or those in one status (resets the model).

        Raises:
            ValueError: ``value`` is neither ``all`` nor a status.
        """
        value = self._check_filter(value)
        if value == self._filter:
            return
        self.beginResetModel()
        self._filter = value
        self._ids = self._query_ids()
        self._cache.clear()
        self.endResetModel()

    def _query_ids(self) -> list[int]:
        statuses = None if self._filter == FILTER_ALL else [ActionStatus(self._filter)]
        return self.store.actions.ids(statuses=statuses)

    # -- refresh -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-query the ids of the filter and re-read visible rows.

        Rows that left the filter are removed and new ones inserted with fine-grained signals,
        so the view keeps its selection; many scattered changes reset the model instead.
        """
        new_ids = self._query_ids()
        self._cache.clear()
        if new_ids != self._ids:
            if not self._apply_diff(new_ids):
                self.beginResetModel()
                self._ids = new_ids
                self.endResetModel()
                return
        if self._ids:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._ids) - 1, len(COLUMNS) - 1)
            )

    def _apply_diff(self, new_ids: list[int]) -> bool:
        """Turn ``self._ids`` into ``new_ids`` (both newest first) with remove/insert signals.

        Returns:
            False (nothing changed) if there are too many runs for fine-grained signals.
        """
        keep = set(new_ids)
        old_set = set(self._ids)
        removed = _runs([i for i, a in enumerate(self._ids) if a not in keep])
        # Positions of inserted ids in the final list (ascending, contiguous runs).
        inserted = _runs([i for i, a in enumerate(new_ids) if a not in old_set])
        if len(removed) + len(inserted) > MAX_FINE_GRAINED_RUNS:
            return False
        for first, last in reversed(removed):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._ids[first : last + 1]
            self.endRemoveRows()
        for first, last in inserted:
            self.beginInsertRows(QModelIndex(), first, last)
            self._ids[first:first] = new_ids[first : last + 1]
            self.endInsertRows()
        if self._ids != new_ids:  # pragma: no cover - ids are unique and ordered
            log.warning("inbox diff did not converge; resetting")
            return False
        return True

    def invalidate(self, action_id: int) -> None:
        """Forget the cached row of ``action_id`` and tell the view it changed."""
        self._cache.pop(action_id, None)
        row = self.row_of(action_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # -- lookup --------------------------------------------------------------------------------
    @property
    def cached(self) -> int:
        """Number of actions held in the row cache."""
        return len(self._cache)

    def action_id(self, row: int) -> int | None:
        """The id shown in ``row``, or None outside the model."""
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, action_id: int) -> int | None:
        """The row showing ``action_id``, or None (ids are kept newest first)."""
        ids = self._ids
        i = bisect.bisect_left(ids, -action_id, key=lambda x: -x)
        return i if i < len(ids) and ids[i] == action_id else None

    def action(self, row: int) -> Action | None:
        """The action in ``row`` (from the cache, else read from the store)."""
        action_id = self.action_id(row)
        if action_id is None:
            return None
        cache = self._cache
        if action_id in cache:
            cache.move_to_end(action_id)
            return cache[action_id]
        self.fetches += 1
        try:
            action: Action | None = self.store.actions.get(action_id)
        except NotFound:
            action = None
        cache[action_id] = action
        while len(cache) > self._cache_size:
            cache.popitem(last=False)
        return action

    # -- Qt model API --------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flag = Qt.ItemFlag
        return flag.ItemIsEnabled | flag.ItemIsSelectable | flag.ItemNeverHasChildren

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole and section == COL_STATUS:
                return "Status; a warning sign marks proposals derived from untrusted email"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids) or index.column() >= len(COLUMNS):
            return None
        if role == ActionIdRole:
            return self._ids[index.row()]
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.DecorationRole,
            Qt.ItemDataRole.ForegroundRole,
        ):
            return None
        action = self.action(index.row())
        if action is None:
            return "(deleted)" if role == Qt.ItemDataRole.DisplayRole else None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(action, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(action, col)
        if role == Qt.ItemDataRole.DecorationRole:
            if col == COL_STATUS and action.provenance.untrusted:
                return self._warning()
            return None
        # ForegroundRole
        if col == COL_STATUS and action.status in (
            ActionStatus.INVALID,
            ActionStatus.FAILED,
            ActionStatus.UNKNOWN,
        ):
            return QBrush(QColor(_ATTENTION))
        return None

    # -- cells ---------------------------------------------------------------------------------
    @staticmethod
    def _display(action: Action, col: int) -> str:
        if col == COL_AGE:
            return format_age(action.created_at)
        if col == COL_AGENT:
            return action.agent
        if col == COL_KIND:
            return KIND_LABELS.get(action.kind, action.kind.value)
        if col == COL_SUMMARY:
            return action.summary
        return action.status.value

    @staticmethod
    def _tooltip(action: Action, col: int) -> str | None:
        if col == COL_AGE:
            return f"proposed {action.created_at} (UTC)"
        if col == COL_SUMMARY:
            return action.summary
        if col == COL_STATUS:
            parts = [action.status.value]
            if action.risk:
                reasons = "; ".join(action.risk_reasons)
                parts.append(f"risk: {action.risk}" + (f" — {reasons}" if reasons else ""))
            if action.provenance.untrusted:
                parts.append(untrusted_tooltip(action))
            if action.errors:
                parts.append("; ".join(action.errors)[:500])
            return "\n".join(parts)
        return None

    def _warning(self) -> QIcon:
        if self._warning_icon is None:
            style = QApplication.style()
            self._warning_icon = (
                style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning) if style else QIcon()
            )
        return self._warning_icon


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Group ascending positions into ``(first, last)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p - 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs
