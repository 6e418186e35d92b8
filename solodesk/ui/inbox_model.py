"""The inbox as a Qt table model over the store.

:class:`InboxModel` holds only the ids of the actions in the current filter (one query on the
``actions`` table) and reads each row's :class:`~solodesk.core.actions.Action` when the view asks
for it, keeping a small LRU cache, so a view over 100,000 proposals reads only the rows it shows
(napari's ``_qt/containers/_base_item_model.py`` is the same adapter idea).

Filters (status, agent, kind, risk) and grouping are the store's
:class:`~solodesk.store.queries.ActionQuery`, read with ``ActionRepo.query_ids`` (the UI runs no
SQL): the status part uses the ``actions_status`` indexes; the rest is a scan of the matching
rows (tens of milliseconds at 100,000 rows). Scheduled rows show a live
countdown refreshed by :meth:`InboxModel.tick` with ``dataChanged`` on their status cells only.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from solodesk.core import kinds as K
from solodesk.core.actions import Action, ActionStatus
from solodesk.core.inspect import hidden_characters

# Re-exported for the view and the tests (the filter is the store's ActionQuery).
from solodesk.store.queries import FILTER_ALL as FILTER_ALL
from solodesk.store.queries import FILTER_OPEN as FILTER_OPEN
from solodesk.store.queries import FILTER_PENDING as FILTER_PENDING
from solodesk.store.queries import GROUP_ORDER as GROUP_ORDER
from solodesk.store.queries import OPEN_STATUSES as OPEN_STATUSES
from solodesk.store.queries import RISK_LEVELS as RISK_LEVELS
from solodesk.store.queries import ActionQuery
from solodesk.store.repos import NotFound, Store
from solodesk.ui.table_model import Index, ReadOnlyTableModel

log = logging.getLogger(__name__)

#: Actions kept in the row cache.
CACHE_SIZE = 256

#: Above this many inserted/removed runs a refresh resets the model instead.
MAX_FINE_GRAINED_RUNS = 64

#: Role returning the row's action id (int).
ActionIdRole = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("Age", "Agent", "Kind", "Risk", "Summary", "Status")
COL_AGE, COL_AGENT, COL_KIND, COL_RISK, COL_SUMMARY, COL_STATUS = range(len(COLUMNS))


#: Role returning the row's risk level (``low``/``medium``/``high``), without the untrusted mark.
RiskLevelRole = Qt.ItemDataRole.UserRole + 2

_ATTENTION = "#b3261e"
RISK_COLORS = {"low": "#1b6e35", "medium": "#8a5300", "high": _ATTENTION}

#: How the risk cell marks a proposal derived from untrusted content.
UNTRUSTED_MARK = "untrusted"


def risk_text(action: Action) -> str:
    """The risk cell: the level, and ``· untrusted`` for a proposal derived from content the
    founder did not write (``low · untrusted``): one signal, not a level plus an icon."""
    if action.provenance.untrusted:
        return f"{action.risk} · {UNTRUSTED_MARK}"
    return action.risk


def risk_color(action: Action) -> str:
    """The risk cell's colour: the level's, except that untrusted content lifts ``low`` to the
    amber of ``medium`` (it never reads as an all-clear green)."""
    if action.provenance.untrusted and action.risk == "low":
        return RISK_COLORS["medium"]
    return RISK_COLORS.get(action.risk, _ATTENTION)


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


def reveal(text: str) -> str:
    """``text`` with every invisible or bidirectional-control character replaced by a visible
    ``⟦U+202E⟧`` marker, so it cannot reorder or hide what the founder reads."""
    found = hidden_characters("", text)
    if not found:
        return text
    out = list(text)
    for h in found:
        out[h.index] = f"⟦{h.codepoint}⟧"
    return "".join(out)


def countdown_text(send_at: str | None, *, now: datetime | None = None) -> str:
    """``sending in 7 s`` (``sending in 1:05`` from a minute on), or ``sending…`` when due."""
    when = parse_utc(send_at or "")
    if when is None:
        return "scheduled"
    left = math.ceil((when - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        return "sending…"
    if left < 60:
        return f"sending in {left} s"
    return f"sending in {left // 60}:{left % 60:02d}"


def untrusted_tooltip(action: Action) -> str:
    """What the status flag explains for a proposal derived from untrusted content."""
    ref = f" #{action.provenance.ref}" if action.provenance.ref is not None else ""
    return (
        f"Derived from untrusted {action.provenance.source}{ref}: the agent read content you "
        "did not write. Check recipients and wording before approving."
    )


#: The inbox's filter is the store's :class:`~solodesk.store.queries.ActionQuery`.
InboxFilter = ActionQuery


class InboxModel(ReadOnlyTableModel):
    """Proposed actions in the current filter, newest first (or grouped).

    Args:
        store: The database.
        status_filter: ``"open"`` (default: pending, scheduled, failed and unknown), ``"all"``
            or an :class:`ActionStatus` value.
        cache_size: How many :class:`Action` rows are kept in memory.
    """

    COLUMNS = COLUMNS  # the module-level labels (COL_* index them)
    HEADER_TOOLTIPS = {
        COL_RISK: (
            "Risk: low, medium or high, with the reasons in the tooltip; '· untrusted' (and "
            "amber instead of green) marks proposals derived from untrusted email"
        ),
        COL_STATUS: "Status; approvals in their undo window count down to sending",
    }

    def __init__(
        self,
        store: Store,
        *,
        status_filter: str = FILTER_OPEN,
        cache_size: int = CACHE_SIZE,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._filter = InboxFilter(status=status_filter).checked()
        self._ids: list[int] = []
        self._rows: dict[int, int] | None = None  # id -> row, built on demand
        self._cache: OrderedDict[int, Action | None] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self.fetches = 0  # rows read from the store (for tests and benchmarks)
        self.queries = 0  # id queries run (for tests)
        self._bold: QFont | None = None
        self._ids = self._query_ids()

    # -- filter --------------------------------------------------------------------------------
    @property
    def filters(self) -> InboxFilter:
        """The current filter and grouping."""
        return self._filter

    @property
    def status_filter(self) -> str:
        """The current status filter: ``open``, ``all`` or a status value."""
        return self._filter.status

    def set_filter(self, value: str) -> None:
        """Show ``open``, ``all`` or one status (keeps the other filters; resets the model).

        Raises:
            ValueError: ``value`` is neither ``open``, ``all`` nor a status.
        """
        self.set_filters(status=value)

    def set_filters(self, **changes: Any) -> None:
        """Change any of :class:`InboxFilter`'s fields (``status``, ``agent``, ``kind``,
        ``risk``, ``group_by``; None clears agent/kind/risk) and re-query (resets the model).

        Raises:
            ValueError: a value is not valid (see :meth:`InboxFilter.checked`).
        """
        new = replace(self._filter, **changes).checked()
        if new == self._filter:
            return
        self.beginResetModel()
        self._filter = new
        self._set_ids(self._query_ids())
        self._cache.clear()
        self.endResetModel()

    def _query_ids(self) -> list[int]:
        self.queries += 1
        return self.store.actions.query_ids(self._filter)

    def matching_ids(
        self,
        *,
        status: ActionStatus | None = None,
        risk: str | None = None,
        first_draft: bool = False,
    ) -> list[int]:
        """Ids in the current filter that also have ``status`` and ``risk`` (and, with
        ``first_draft``, were drafted at the first attempt), in row order (read from the store
        now, so rows changed since the last refresh are judged as they are)."""
        return self.store.actions.query_ids(
            self._filter, status=status, risk=risk, first_draft=first_draft
        )

    def agents(self) -> list[str]:
        """Every agent that has proposed something (for the agent filter)."""
        return self.store.actions.agents()

    def _set_ids(self, ids: list[int]) -> None:
        self._ids = ids
        self._rows = None

    # -- refresh -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-query the ids of the filter and re-read visible rows.

        Rows that left the filter are removed and new ones inserted with fine-grained signals,
        so the view keeps its selection; many scattered changes (or rows that moved between
        groups) reset the model instead.
        """
        new_ids = self._query_ids()
        self._cache.clear()
        if new_ids != self._ids:
            if not self._apply_diff(new_ids):
                self.beginResetModel()
                self._set_ids(new_ids)
                self.endResetModel()
                return
        if self._ids:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._ids) - 1, len(COLUMNS) - 1)
            )

    def _apply_diff(self, new_ids: list[int]) -> bool:
        """Turn ``self._ids`` into ``new_ids`` with remove/insert signals.

        Returns:
            False (nothing changed) if there are too many runs for fine-grained signals, or if
            rows kept in both lists changed their order (e.g. moved to another group).
        """
        keep = set(new_ids)
        old_set = set(self._ids)
        removed = _runs([i for i, a in enumerate(self._ids) if a not in keep])
        # Positions of inserted ids in the final list (ascending, contiguous runs).
        inserted = _runs([i for i, a in enumerate(new_ids) if a not in old_set])
        if len(removed) + len(inserted) > MAX_FINE_GRAINED_RUNS:
            return False
        if [a for a in self._ids if a in keep] != [a for a in new_ids if a in old_set]:
            return False
        self._rows = None
        for first, last in reversed(removed):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._ids[first : last + 1]
            self.endRemoveRows()
        for first, last in inserted:
            self.beginInsertRows(QModelIndex(), first, last)
            self._ids[first:first] = new_ids[first : last + 1]
            self.endInsertRows()
        self._rows = None
        if self._ids != new_ids:  # pragma: no cover - checked above
            log.warning("inbox diff did not converge; resetting")
            return False
        return True

    def invalidate(self, action_id: int) -> None:
        """Forget the cached row of ``action_id`` and tell the view it changed."""
        self._cache.pop(action_id, None)
        row = self.row_of(action_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def tick(self) -> int:
        """Update the countdown of scheduled rows the view has shown (those in the cache):
        ``dataChanged`` on their status cells only, no re-query and no reset.

        Returns:
            How many rows were updated.
        """
        updated = 0
        for action_id, action in list(self._cache.items()):
            if action is None or action.status is not ActionStatus.SCHEDULED:
                continue
            row = self.row_of(action_id)
            if row is None:
                continue
            index = self.index(row, COL_STATUS)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])
            updated += 1
        return updated

    # -- lookup --------------------------------------------------------------------------------
    @property
    def cached(self) -> int:
        """Number of actions held in the row cache."""
        return len(self._cache)

    def ids(self) -> list[int]:
        """The ids in row order (a copy)."""
        return list(self._ids)

    def action_id(self, row: int) -> int | None:
        """The id shown in ``row``, or None outside the model."""
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, action_id: int) -> int | None:
        """The row showing ``action_id``, or None."""
        if self._rows is None:
            self._rows = {a: i for i, a in enumerate(self._ids)}
        return self._rows.get(action_id)

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
    def row_total(self) -> int:
        return len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids) or index.column() >= len(COLUMNS):
            return None
        if role == ActionIdRole:
            return self._ids[index.row()]
        if role == RiskLevelRole:
            level = self.action(index.row())
            return level.risk if level is not None else None
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.DecorationRole,
            Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.FontRole,
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
            return None
        if role == Qt.ItemDataRole.FontRole:
            if (col == COL_RISK and action.risk == "high") or (
                col == COL_STATUS and action.status is ActionStatus.SCHEDULED
            ):
                return self._bold_font()
            return None
        # ForegroundRole
        if col == COL_RISK:
            return QBrush(QColor(risk_color(action)))
        if col == COL_STATUS and action.status in (
            ActionStatus.INVALID,
            ActionStatus.FAILED,
            ActionStatus.UNKNOWN,
        ):
            return QBrush(QColor(_ATTENTION))
        if col == COL_STATUS and action.status is ActionStatus.SCHEDULED:
            return QBrush(QColor(RISK_COLORS["medium"]))
        return None

    # -- cells ---------------------------------------------------------------------------------
    @staticmethod
    def _display(action: Action, col: int) -> str:
        if col == COL_AGE:
            return format_age(action.created_at)
        if col == COL_AGENT:
            return reveal(action.agent)
        if col == COL_KIND:
            return K.label(action.kind)
        if col == COL_RISK:
            return risk_text(action)
        if col == COL_SUMMARY:
            return reveal(action.summary)
        if action.status is ActionStatus.SCHEDULED:
            return countdown_text(action.send_at)
        return action.status.value

    @staticmethod
    def _tooltip(action: Action, col: int) -> str | None:
        if col == COL_AGE:
            return f"proposed {action.created_at} (UTC)"
        if col == COL_SUMMARY:
            return reveal(action.summary)
        if col == COL_RISK:
            parts = [f"risk: {action.risk}"]
            parts += [f"• {r}" for r in action.risk_reasons]
            if action.provenance.untrusted:
                parts.append(untrusted_tooltip(action))
                if action.risk == "low":
                    parts.append("(Shown in amber: low risk, but from content you did not write.)")
            return "\n".join(parts)
        if col == COL_STATUS:
            parts = [action.status.value]
            if action.status is ActionStatus.SCHEDULED:
                parts.append(f"approved; {countdown_text(action.send_at)} unless you undo it")
            if action.decided_by and action.decided_by != "founder":
                parts.append(f"decided by {action.decided_by}")
            if action.errors:
                parts.append("; ".join(action.errors)[:500])
            return "\n".join(parts)
        return None

    def _bold_font(self) -> QFont:
        if self._bold is None:
            self._bold = QFont()
            self._bold.setBold(True)
        return self._bold


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Group ascending positions into ``(first, last)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p - 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return runs
