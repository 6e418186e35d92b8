"""The main window: the inbox beside the chat, mail import and triage, settings, policy rules,
the audit trail, the keyboard help and the status bar.

Runner events arrive through :class:`~solodesk.ui.bridge.EventBridge`. Long work runs without
blocking the loop: mail is parsed in a worker thread (on its own database connection) and the
runner's coroutines run as asyncio tasks on the Qt thread, owned by one
:class:`~solodesk.ui.tasks.TaskTracker`. Errors are shown in the status bar and logged; they
never close the window. Closing the window stops new work; :meth:`MainWindow.finish_work` then
lets a send in progress finish (within a grace period) and cancels triage and chat.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QIcon,
    QKeySequence,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from solodesk.core.bounds import for_terminal
from solodesk.core.llmtypes import LLMError
from solodesk.ui import shortcuts as keys
from solodesk.ui.pages import PageEntry, SideBar
from solodesk.ui.shortcuts import ShortcutsDialog
from solodesk.ui.tasks import SHUTDOWN_GRACE_S, TaskTracker, async_slot, await_dialog

# The window's frame (menus, toolbar, status bar) needs only Qt: it is shown first. What the
# panels need (the store, the runner, pydantic, sqlite-utils, keyring...) is imported when the
# back end is attached, after the first paint (see MainWindow.attach and solodesk.app).
if TYPE_CHECKING:
    import asyncio

    from solodesk.actions.scheduler import OutboxScheduler
    from solodesk.agents.runner import TriageReport
    from solodesk.connectors.mailimport import ImportReport
    from solodesk.core.actions import Action
    from solodesk.core.events import (
        BudgetExceeded,
        BudgetWarning,
        MailImported,
        ModelCrashed,
        OutboxExecuted,
        Progress,
        RunFailed,
    )
    from solodesk.services import Services
    from solodesk.store.secrets import BackendInfo
    from solodesk.ui.audit_dialog import AuditDialog
    from solodesk.ui.bridge import EventBridge
    from solodesk.ui.budget_notice import BudgetNotice
    from solodesk.ui.chat_panel import ChatPanel
    from solodesk.ui.inbox_view import InboxView, UndoSendFilter
    from solodesk.ui.pages.activity import ActivityPage
    from solodesk.ui.pages.agents import AgentsPage
    from solodesk.ui.pages.books import BooksPage
    from solodesk.ui.pages.costs import CostsPage
    from solodesk.ui.pages.invoices import InvoicesPage
    from solodesk.ui.pages.jobs import JobsPage
    from solodesk.ui.pages.memory import MemoryPage
    from solodesk.ui.policy_dialog import PolicyDialog
    from solodesk.ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

T = TypeVar("T")

ERROR_STYLE = "QLabel { color: #b3261e; }"

#: Problems of one import listed in the status bar's tooltip (the rest are in the log).
MAX_PROBLEM_LINES = 30
WARNING_STYLE = "QLabel { color: #b3261e; font-weight: bold; }"


def keyring_text(info: BackendInfo) -> str:
    """The status bar's keyring state, e.g. ``keyring: secure (SecretService)``."""
    if not info.secure:
        return "keyring: NOT secure — secrets kept in memory only"
    parts = info.name.split(".")
    short = parts[parts.index("backends") + 1] if "backends" in parts[:-1] else parts[-1]
    return f"keyring: secure ({short})"


#: The mail import thread's niceness increment (Linux: per thread): when the GUI thread and the
#: import both want a CPU, the GUI thread gets it.
IMPORT_NICENESS = 10


async def _in_background_thread(fn: Callable[..., T], *args: object, name: str) -> T:
    """Run ``fn(*args)`` in a new thread of lower OS priority and wait for its result.

    A thread of its own (not the loop's executor, whose threads are reused for other work) so
    that lowering its priority affects nothing else.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_NICENESS)
        except (AttributeError, OSError):  # not Linux, or not allowed: normal priority
            pass
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=run, name=name).start()
    return await future


def _import_on_own_connection(database: Path, path: Path) -> ImportReport:
    """Parse and store mail in a worker thread, on a connection of that thread."""
    from solodesk.connectors.mailimport import import_mail
    from solodesk.store.db import connect
    from solodesk.store.repos import Store

    store = Store(connect(database))
    try:
        return import_mail(path, store.mail)
    finally:
        store.close()


class ElidedLabel(QLabel):
    """A one-line label that elides text that does not fit (the full text is the tooltip)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        super().setText(text)
        self._elide()

    def fullText(self) -> str:  # noqa: N802
        """The text before eliding."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        if shown != super().text():
            super().setText(shown)


class MainWindow(QMainWindow):
    """SoloDesk's window.

    Built in two steps so that it shows at once: the frame (menus, toolbar, status bar, needing
    only Qt), then, with :meth:`attach`, the inbox and chat panels with the back end (whose
    imports take most of the start-up time). Given ``services``, both steps run here.

    Args:
        services: The composed back end, or None to attach it later (:meth:`attach`).
        bridge: The event bridge (one is created if None); it is started by :meth:`attach`,
            after every slot is connected, so events buffered during start-up are delivered.
        layout_file: Where the window's geometry is kept (``window.ini``), so the frame opens
            at its remembered size; default: taken from ``services`` when attached.

    Signals:
        closed(): The window was closed (the application then shuts down).
        hiddenToTray(): Closing only hid the window (:attr:`keep_running_on_close` said so):
            SoloDesk keeps running until :meth:`request_quit`.
        painted(): The window was painted for the first time.
        attached(): The back end is attached: the panels exist.
    """

    closed = Signal()
    hiddenToTray = Signal()  # noqa: N815
    painted = Signal()
    attached = Signal()

    # Set by attach().
    bridge: EventBridge
    inbox: InboxView
    budget_notice: BudgetNotice
    chat: ChatPanel
    undo_send_filter: UndoSendFilter
    outbox_scheduler: OutboxScheduler
    books: BooksPage
    invoices: InvoicesPage
    jobs: JobsPage
    agents: AgentsPage
    costs: CostsPage
    activity: ActivityPage
    memory: MemoryPage

    #: Asked when the window is closed: True hides it and SoloDesk keeps running (the tray,
    #: :class:`~solodesk.ui.tray.TrayController`, sets it); None or False: closing quits.
    keep_running_on_close: Callable[[], bool] | None = None

    #: How long closing waits for a send in progress (then for cancelled work), in seconds.
    shutdown_grace_s = SHUTDOWN_GRACE_S

    def __init__(
        self,
        services: Services | None = None,
        *,
        bridge: EventBridge | None = None,
        layout_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.services: Services = None  # type: ignore[assignment]  # set by attach()
        self.setWindowTitle("SoloDesk")
        self.setObjectName("mainWindow")
        self._layout_file = layout_file
        self._painted = False
        self._triage_task_running = False
        self._importing = False
        self._closing = False
        self._quitting = False
        # The outbox scheduler's stop flag and task, made when it starts (after the first paint:
        # asyncio is not imported before it).
        self._outbox_stop: asyncio.Event | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self.tasks = TaskTracker(self)
        self.tasks.failed.connect(lambda text: self.show_message(text, error=True))

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.opening_label = QLabel("Opening your inbox…")
        self.opening_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.opening_label.setEnabled(False)
        self.splitter.addWidget(self.opening_label)

        self._make_actions()
        # Pages: a side bar over a stack; the inbox + chat is the first page and the default.
        self._pages: dict[str, PageEntry] = {}
        self.page_actions: dict[str, QAction] = {}
        self.side_bar = SideBar()
        # (from the side bar the keyboard stays there, so arrow keys walk through the pages)
        self.side_bar.pageRequested.connect(lambda key: self.show_page(key, focus=False))
        self.pages = QStackedWidget()
        self.pages.setObjectName("pages")
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.side_bar)
        row.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.add_page(
            "inbox", "Inbox", self.splitter, keys.PAGE_KEYS[0],
            icon=self.style().standardIcon(QStyle.StandardPixmap.SP_DirHomeIcon),
        )
        self._make_status_bar()
        self._backend_actions = [
            self.import_file_action, self.import_folder_action, self.triage_action,
            self.settings_action, self.refresh_action, self.policy_action, self.audit_action,
        ]
        for action in self._backend_actions:
            action.setEnabled(False)
        self.import_button.setEnabled(False)

        self.resize(1280, 800)
        if layout_file is not None:
            self._restore_geometry()
        if services is not None:
            self.attach(services, bridge=bridge)

    @property
    def is_attached(self) -> bool:
        """True once :meth:`attach` has built the panels."""
        return self.services is not None

    def attach(self, services: Services, *, bridge: EventBridge | None = None) -> None:
        """Build the inbox and chat panels on ``services`` and connect the back end.

        Imports what the panels need (the store, the runner...) now, not at start-up.

        Raises:
            RuntimeError: already attached.
        """
        if self.is_attached:
            raise RuntimeError("the window's back end is already attached")
        from solodesk.actions.scheduler import OutboxScheduler
        from solodesk.ui.bridge import EventBridge
        from solodesk.ui.chat_panel import ChatPanel
        from solodesk.ui.inbox_view import InboxView, UndoSendFilter

        self.services = services
        if self._layout_file is None:
            self._layout_file = services.paths.config_dir / "window.ini"
        self.bridge = bridge if bridge is not None else EventBridge(services.bus)
        self.bridge.setParent(self)

        self.inbox = InboxView(services.store, services.runner, tasks=self.tasks)
        from solodesk.ui.budget_notice import BudgetNotice  # noqa: F811 - at run time

        self.budget_notice = BudgetNotice(self.inbox)
        inbox_layout = self.inbox.layout()
        if isinstance(inbox_layout, QVBoxLayout):
            inbox_layout.insertWidget(1, self.budget_notice)  # under the inbox's heading
        self.budget_notice.open_costs.connect(lambda: self.show_page("costs"))
        self.budget_notice.show_current(services)
        self.chat = ChatPanel(services.runner, services.store, tasks=self.tasks)
        self.chat.load_latest()
        self.opening_label.hide()
        self.opening_label.setParent(None)
        self.opening_label.deleteLater()
        self.splitter.addWidget(self.inbox)
        self.splitter.addWidget(self.chat)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.refresh_action.triggered.connect(self.inbox.refresh)
        for action in self._backend_actions:
            action.setEnabled(True)
        self.import_button.setEnabled(True)
        self.update_status_labels()
        self.show_settings_problems()
        # Ctrl+Z undoes a pending send from any text field of the window (else it is text undo).
        self.undo_send_filter = UndoSendFilter(self.inbox)
        self.undo_send_filter.watch(self)

        b = self.bridge
        b.actionProposed.connect(self.inbox.on_action_event)
        b.actionResolved.connect(self.inbox.on_action_event)
        b.chatDelta.connect(self.chat.on_delta)
        b.chatFinished.connect(self.chat.on_finished)
        b.progress.connect(self.on_progress)
        b.runFailed.connect(self.on_run_failed)
        b.mailImported.connect(self.on_mail_imported)
        b.modelCrashed.connect(self.on_model_crashed)
        b.outboxExecuted.connect(self.on_outbox_executed)
        b.budgetExceeded.connect(self.on_budget)
        b.budgetWarning.connect(self.on_budget)
        self.inbox.message.connect(self.show_message)
        self.inbox.problem.connect(self._mark_error)
        self.chat.message.connect(self.show_message)
        b.start()

        # The outbox: a headless task that sends approvals when their undo window ends (also
        # those approved by a policy rule during triage or chat, and any left from the last
        # session); approvals wake it. Started once the event loop runs.
        self.outbox_scheduler = OutboxScheduler(
            services.store,
            services.decisions.execute_approved,
            services.bus,
            guard=self.tasks.critical,
        )
        QTimer.singleShot(0, self._start_outbox)

        self._add_backend_pages()
        b.outboxExecuted.connect(self.books.mark_stale)  # a booking, an invoice issued...
        b.outboxExecuted.connect(self._refresh_invoices)
        for spend in (b.runUpdated, b.budgetWarning, b.budgetExceeded):  # the Costs page, shown
            spend.connect(self.costs.on_spend)
        b.progress.connect(self.jobs.on_job_event)
        b.runFailed.connect(self.jobs.on_job_event)
        b.actionProposed.connect(self.update_inbox_badge)
        b.actionResolved.connect(self.update_inbox_badge)
        b.outboxExecuted.connect(self.update_inbox_badge)
        self.update_inbox_badge()
        for signal in (b.runStarted, b.runUpdated, b.runFinished):
            signal.connect(self.activity.on_run_event)
        self.inbox.runRequested.connect(self.show_run)

        self.splitter.setSizes([870, 410])
        self.restore_layout()
        if self.current_page() == "inbox":
            self.inbox.focus_list()
        self.attached.emit()

    def _add_backend_pages(self) -> None:
        """Build and register the pages that need the back end (they read it when shown)."""
        from solodesk.ui.pages.agents import AgentsPage
        from solodesk.ui.pages.books import BooksPage
        from solodesk.ui.pages.costs import CostsPage
        from solodesk.ui.pages.invoices import InvoicesPage
        from solodesk.ui.pages.jobs import JobsPage

        std = QStyle.StandardPixmap
        self.books = BooksPage(self.services, tasks=self.tasks, parent=self)
        self.books.message.connect(self._page_message)
        self.add_page(
            "books", "Books", self.books, keys.PAGE_KEYS[1],
            icon=self.style().standardIcon(std.SP_FileDialogDetailedView),
        )
        self.file_menu.insertAction(self.file_settings_separator, self.books.import_action)
        self.invoices = InvoicesPage(self.services, parent=self)
        self.invoices.message.connect(self._page_message)
        self.add_page(
            "invoices", "Invoices", self.invoices, keys.PAGE_KEYS[2],
            icon=self.style().standardIcon(std.SP_FileIcon),
        )
        self.jobs = JobsPage(self.services, tasks=self.tasks, parent=self)
        self.jobs.message.connect(self._page_message)
        self.add_page(
            "jobs", "Jobs", self.jobs, keys.PAGE_KEYS[3],
            icon=self.style().standardIcon(std.SP_BrowserReload),
        )
        self.agents = AgentsPage(self.services, parent=self)
        self.agents.message.connect(self._page_message)
        self.add_page(
            "agents", "Agents", self.agents, keys.PAGE_KEYS[4],
            icon=self.style().standardIcon(std.SP_FileDialogContentsView),
        )
        self.costs = CostsPage(self.services, parent=self)
        self.costs.message.connect(self._page_message)
        self.add_page(
            "costs", "Costs", self.costs, keys.PAGE_KEYS[5],
            icon=self.style().standardIcon(std.SP_DriveHDIcon),
        )
        self._add_memory_page()
        self._add_activity_page()

    def _add_activity_page(self) -> None:
        """The Activity page: the live tree of agent runs (its badge: how many run)."""
        from solodesk.ui.pages.activity import ActivityPage

        self.activity = ActivityPage(self.services, parent=self)
        self.activity.message.connect(self._page_message)
        self.activity.liveCountChanged.connect(
            lambda count: self.side_bar.set_badge("activity", count)
        )
        self.activity.proposalRequested.connect(self.show_proposal)
        self.add_page(
            "activity", "Activity", self.activity, keys.PAGE_KEYS[7],
            icon=self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
        )
        self.side_bar.set_badge("activity", self.activity.live_count)

    def show_run(self, run_id: int) -> bool:
        """Show the Activity page with the run ``run_id`` selected (False: no such run)."""
        self.show_page("activity")
        return self.activity.select_run(run_id)

    def show_proposal(self, action_id: int) -> bool:
        """Show the inbox with the proposal ``action_id`` selected; if the current filter hides
        it, the filters are cleared first (False: it is not in the inbox)."""
        self.show_page("inbox")
        if self.inbox.select_action(action_id):
            return True
        self.inbox.clear_filters()
        self.inbox.set_filter("all")  # a decided proposal too
        if self.inbox.select_action(action_id):
            return True
        self.show_message(f"Proposal #{action_id} is not in the inbox", error=True)
        return False

    def _add_memory_page(self) -> None:
        """The Memory page (business profile and facts; ``ui/pages/memory.py``)."""
        from solodesk.ui.pages.memory import MemoryPage

        self.memory = MemoryPage(self.services, parent=self)
        self.memory.message.connect(self._page_message)
        self.add_page(
            "memory", "Memory", self.memory, keys.PAGE_KEYS[6],
            icon=self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon),
        )

    # -- pages ---------------------------------------------------------------------------------
    def add_page(
        self,
        key: str,
        title: str,
        widget: QWidget,
        shortcut: str = "",
        *,
        icon: QIcon | None = None,
    ) -> QAction:
        """Register a page: a side-bar entry, a place in the stack, a Go menu entry.

        Args:
            key: Stable name (remembered in ``window.ini`` as the last page), e.g. ``"books"``.
            title: What the side bar and the Go menu show.
            widget: The page.
            shortcut: Portable key text such as ``"Ctrl+2"`` (see ``shortcuts.PAGE_KEYS``),
                or ``""`` for none.
            icon: The side bar's icon (a generic one if None).

        Returns:
            The Go menu's action that shows the page.

        Raises:
            ValueError: ``key`` is already registered.
        """
        if key in self._pages:
            raise ValueError(f"a page {key!r} is already registered")
        entry = PageEntry(key, title, widget, shortcut)
        self._pages[key] = entry
        self.pages.addWidget(widget)
        if icon is None:
            icon = self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        self.side_bar.add(entry, icon)
        action = QAction(icon, f"&{title}", self)
        action.setObjectName(f"goto_{key}")
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{title} ({keys.native(shortcut)})")
        action.triggered.connect(lambda: self.show_page(key))
        self.go_menu.addAction(action)
        self.page_actions[key] = action
        if len(self._pages) == 1:
            self.show_page(key)
        return action

    def page_keys(self) -> list[str]:
        """The registered pages' keys, in side-bar order."""
        return list(self._pages)

    def current_page(self) -> str:
        """The key of the page shown."""
        shown = self.pages.currentWidget()
        return next((k for k, e in self._pages.items() if e.widget is shown), "")

    def show_page(self, key: str, *, focus: bool = True) -> None:
        """Show the page ``key`` and (unless ``focus`` is False) give it the keyboard focus.

        Raises:
            KeyError: no such page.
        """
        entry = self._pages[key]
        self.pages.setCurrentWidget(entry.widget)
        self.side_bar.select(key)
        if not focus:
            return
        if key == "inbox" and self.is_attached:
            self.inbox.focus_list()
        else:
            focus_first = getattr(entry.widget, "focus_first", None)
            if callable(focus_first):
                focus_first()
            else:
                entry.widget.setFocus()

    def _refresh_invoices(self, *_event: object) -> None:
        if self.invoices.isVisible():
            self.invoices.refresh()

    def _page_message(self, text: str, error: bool) -> None:
        self.show_message(text, error=error)

    def update_inbox_badge(self, *_event: object) -> None:
        """Show the number of pending proposals on the side bar's Inbox entry."""
        from solodesk.core.actions import ActionStatus

        if self._closing:
            return
        try:
            pending = self.services.store.actions.count(ActionStatus.PENDING)
        except Exception:  # a busy or closed store must not break the window
            log.exception("counting pending proposals failed")
            return
        self.side_bar.set_badge("inbox", pending)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.painted.emit()

    @property
    def closing(self) -> bool:
        """True once the window was closed (or :meth:`shutdown` was called)."""
        return self._closing

    @property
    def was_painted(self) -> bool:
        """True once the window has been painted."""
        return self._painted

    # -- actions -------------------------------------------------------------------------------
    def _make_actions(self) -> None:
        self.import_file_action = QAction("Import mail &file…", self)
        self.import_file_action.setShortcut(QKeySequence(keys.IMPORT_FILE_KEYS))
        self.import_file_action.setToolTip("Import an mbox or .eml file (Ctrl+O)")
        self.import_file_action.triggered.connect(lambda: self.choose_import(folder=False))
        self.import_folder_action = QAction("Import mail f&older…", self)
        self.import_folder_action.setShortcut(QKeySequence(keys.IMPORT_FOLDER_KEYS))
        self.import_folder_action.setToolTip(
            "Import a Maildir or a folder of .eml files (Ctrl+Shift+O)"
        )
        self.import_folder_action.triggered.connect(lambda: self.choose_import(folder=True))
        self.triage_action = QAction("&Triage mail", self)
        self.triage_action.setShortcut(QKeySequence(keys.TRIAGE_KEYS))
        self.triage_action.setToolTip(
            "Let the support agent draft replies to imported mail (Ctrl+T)"
        )
        self.triage_action.triggered.connect(self._on_triage)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence(keys.SETTINGS_KEYS))
        self.settings_action.setToolTip("Model, outgoing mail and names (Ctrl+,)")
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self.open_settings)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(keys.QUIT_KEYS))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.request_quit)
        self.refresh_action = QAction("&Refresh inbox", self)
        self.refresh_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.policy_action = QAction("&Policy rules…", self)
        self.policy_action.setShortcut(QKeySequence(keys.POLICY_KEYS))
        self.policy_action.setToolTip(
            f"What is approved, asked or blocked automatically ({keys.native(keys.POLICY_KEYS)})"
        )
        self.policy_action.triggered.connect(self.open_policy)
        self.audit_action = QAction("&Audit trail…", self)
        self.audit_action.setShortcut(QKeySequence(keys.AUDIT_KEYS))
        self.audit_action.setToolTip(
            f"Every proposal, decision and send, hash-chained ({keys.native(keys.AUDIT_KEYS)})"
        )
        self.audit_action.triggered.connect(self.open_audit)
        self.shortcuts_action = QAction("&Keyboard shortcuts", self)
        self.shortcuts_action.setShortcuts([QKeySequence(k) for k in keys.HELP_KEYS])
        self.shortcuts_action.setToolTip(
            "Every keyboard shortcut (" + " or ".join(keys.native(k) for k in keys.HELP_KEYS) + ")"
        )
        self.shortcuts_action.triggered.connect(self.show_shortcuts)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.import_file_action)
        file_menu.addAction(self.import_folder_action)
        self.file_settings_separator = file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.file_menu = file_menu
        mail_menu = self.menuBar().addMenu("&Mail")
        mail_menu.addAction(self.triage_action)
        mail_menu.addAction(self.refresh_action)
        self.go_menu = self.menuBar().addMenu("&Go")
        tools_menu = self.menuBar().addMenu("&Tools")
        tools_menu.addAction(self.policy_action)
        tools_menu.addAction(self.audit_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        import_menu = QMenu(self)
        import_menu.addAction(self.import_file_action)
        import_menu.addAction(self.import_folder_action)
        self.import_button = QToolButton()
        self.import_button.setText("Import mail…")
        self.import_button.setToolTip("Import mail from an mbox/.eml file or a folder")
        self.import_button.setMenu(import_menu)
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.import_button.clicked.connect(lambda: self.choose_import(folder=False))
        toolbar.addWidget(self.import_button)
        toolbar.addAction(self.triage_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(self.policy_action)
        toolbar.addAction(self.audit_action)
        toolbar.addAction(self.settings_action)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.message_label = ElidedLabel()
        self.message_label.setObjectName("statusMessage")
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        self.model_label = QLabel()
        self.keyring_label = QLabel()
        bar.addWidget(self.message_label, 1)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.keyring_label)
        self.show_message("Ready")

    def show_settings_problems(self) -> None:
        """Warn (status bar, in red; the tooltip lists them all) about values in the settings
        file that are not allowed: whatever needs such a setting stops until it is fixed."""
        problems = self.services.config.problems
        if not problems:
            return
        keys = ", ".join(p.key for p in problems)
        self.show_message(
            f"Settings not allowed: {keys} — open Settings (Ctrl+,) to correct them\n"
            + "\n".join(p.message for p in problems),
            error=True,
        )

    def update_status_labels(self) -> None:
        """Show the configured model and the keyring state."""
        try:
            label = self.services.runner.model_label()
        except Exception as exc:  # a broken settings value must not stop the window
            label = f"invalid ({type(exc).__name__})"
        self.model_label.setText(f"model: {label}")
        self.model_label.setToolTip("")
        self.model_label.setStyleSheet("")
        info = self.services.secrets.info
        self.keyring_label.setText(keyring_text(info))
        self.keyring_label.setToolTip(f"keyring backend: {info.name}")
        self.keyring_label.setStyleSheet("" if info.secure else WARNING_STYLE)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Show a one-line message (errors in red) in the status bar and log it."""
        first = text.strip().splitlines()[0] if text.strip() else ""
        self.message_label.setText(first)
        self.message_label.setToolTip(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else "")
        (log.warning if error else log.info)("status: %s", text)

    def _mark_error(self, text: str) -> None:
        if self.message_label.fullText() == text.strip().splitlines()[0]:
            self.message_label.setStyleSheet(ERROR_STYLE)
        else:
            self.show_message(text, error=True)

    # -- events --------------------------------------------------------------------------------
    def on_progress(self, event: Progress) -> None:
        """Show long work in the status bar's progress bar."""
        bar = self.progress_bar
        if event.total <= 0:
            bar.setRange(0, 0)  # busy indicator
        elif event.done >= event.total:
            bar.setRange(0, event.total)
            bar.setValue(event.total)
            if not self._triage_task_running:
                bar.hide()
        else:
            bar.setRange(0, event.total)
            bar.setValue(event.done)
            bar.setFormat(f"{event.task} %v/%m")
        if event.total <= 0 or event.done < event.total:
            bar.show()
        if event.message:
            self.show_message(event.message)

    def on_run_failed(self, event: RunFailed) -> None:
        """Show a failure of the runner's work (a failed job's progress ends there too)."""
        self.show_message(f"{event.task} failed: {event.message}", error=True)
        if not (self._importing or self._triage_task_running):
            self.progress_bar.hide()

    def on_budget(self, event: BudgetExceeded | BudgetWarning) -> None:
        """A model call refused by a budget (the run paused; the message says how to raise
        it), or 80% of a budget reached: say so in the status bar."""
        from solodesk.core.events import BudgetExceeded  # after the first paint (issue 9)

        if isinstance(event, BudgetExceeded):
            self.show_message(f"Budget: {event.message}", error=True)
        else:
            self.show_message(f"Budget warning: {event.message}")
        self.budget_notice.show_budget(event)

    def on_model_crashed(self, event: ModelCrashed) -> None:
        """The local model process died: say so in the status bar (and on the model label,
        which keeps it after later messages) until the model answers again."""
        self.show_message(event.message, error=True)
        state = "restarting after a crash" if event.restarting else "crashed"
        self.model_label.setText(f"model: {self.services.runner.model_label()} — {state}")
        self.model_label.setToolTip(event.message)
        self.model_label.setStyleSheet(WARNING_STYLE)

    def on_mail_imported(self, event: MailImported) -> None:
        """Show the import's summary; the tooltip lists each problem with its path and reason."""
        text = (
            f"Imported {event.imported} mail, skipped {event.duplicates} already imported, "
            f"{event.malformed} malformed"
        )
        if event.not_read:
            text += f", {event.not_read} not read"
        if event.conflicts:
            text += f", {event.conflicts} Message-ID conflict(s) imported separately"
        if event.problems:
            text += " (hover for details)"
        if event.stopped:
            text += " — stopped early: import the same mail again to continue"
        elif event.imported:
            text += " — press Triage mail (Ctrl+T) to draft replies"
        if event.problems:
            shown = list(event.problems[:MAX_PROBLEM_LINES])
            more = len(event.problems) - len(shown)
            if more:
                shown.append(f"… and {more} more (see solodesk.log)")
            text += "\n" + "\n".join(shown)
        failed = event.malformed + event.not_read
        self.show_message(text, error=bool(event.stopped or (failed and not event.imported)))

    # -- import --------------------------------------------------------------------------------
    def choose_import(self, *, folder: bool) -> QFileDialog:
        """Open a (window-modal, non-blocking) file dialog; the import starts when accepted."""
        dialog = QFileDialog(self, "Import mail folder" if folder else "Import mail file")
        dialog.setObjectName("importDialog")
        if folder:
            dialog.setFileMode(QFileDialog.FileMode.Directory)
            dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            dialog.setNameFilters(["Mail files (*.mbox *.eml *.mbx mbox)", "All files (*)"])
        dialog.fileSelected.connect(self._on_import_selected)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot("Mail import")
    async def _on_import_selected(self, path: str) -> None:
        await self.import_mail(Path(path))

    async def import_mail(self, path: Path) -> ImportReport | None:
        """Import an mbox, Maildir, .eml file or folder in a worker thread.

        Returns:
            The report, or None if the path is not a mail source or the import failed.
        """
        from solodesk.connectors.mailimport import ImportSourceError

        if self._importing:
            self.show_message("An import is already running")
            return None
        self._importing = True
        self._set_busy(True, f"Importing {path.name}…")
        try:
            report = await _in_background_thread(
                _import_on_own_connection, self.services.paths.database, path, name="mail-import"
            )
        except ImportSourceError as exc:
            self.show_message(str(exc), error=True)
            return None
        except Exception as exc:
            log.exception("mail import failed")
            self.show_message(f"Import failed: {type(exc).__name__}: {exc}", error=True)
            return None
        finally:
            self._importing = False
            self._set_busy(False)
        from solodesk.core.events import MailImported  # after the first paint (issue 9)

        problems = report.problems()
        for line in problems:
            log.warning("mail import: %s", line)
        self.services.bus.publish(
            MailImported(
                len(report.imported),
                report.duplicates,
                len(report.malformed),
                not_read=len(report.unreadable),
                conflicts=len(report.conflicts),
                problems=tuple(for_terminal(line, "problem") for line in problems),
                stopped=report.stopped,
            )
        )
        return report

    # -- triage --------------------------------------------------------------------------------
    @async_slot("Triage")
    async def _on_triage(self) -> None:
        await self.triage_mail()

    async def triage_mail(self, *, limit: int | None = None) -> TriageReport | None:
        """Run the support agent over untriaged mail (proposals appear in the inbox).

        Returns:
            The report, or None if nothing ran.
        """
        if self._triage_task_running:
            self.show_message("Triage is already running")
            return None
        if not self.services.store.mail.untriaged(limit=1):
            self.show_message("No untriaged mail: import some first (Import mail…)")
            return None
        self._triage_task_running = True
        self.triage_action.setEnabled(False)
        self._set_busy(True, f"Triage with {self.services.runner.model_label()}…")
        try:
            report = await self.services.runner.triage(limit=limit)
        except LLMError as exc:
            self.show_message(f"Triage failed: {exc}", error=True)
            return None
        except Exception as exc:
            log.exception("triage failed")
            self.show_message(f"Triage failed: {type(exc).__name__}: {exc}", error=True)
            return None
        finally:
            self._triage_task_running = False
            self.triage_action.setEnabled(True)
            self._set_busy(False)
            self.inbox.refresh()
        failed = report.count("failed")
        text = (
            f"Triaged {len(report.outcomes)} mail: {report.count('proposed')} replies proposed, "
            f"{report.count('no_reply')} need no reply, {report.count('invalid')} invalid"
            + (f", {failed} failed" if failed else "")
        )
        if failed:
            # Why it stopped (e.g. the local model crashed), not just how many failed.
            text += " — " + next(o.note for o in report.outcomes if o.status == "failed")
        else:
            self.update_status_labels()  # the model answered: clear a crash shown earlier
        self.show_message(text, error=bool(failed))
        return report

    def _set_busy(self, busy: bool, text: str = "") -> None:
        if busy:
            self.progress_bar.setRange(0, 0)
            self.progress_bar.show()
            if text:
                self.show_message(text)
        elif not (self._importing or self._triage_task_running):
            self.progress_bar.hide()

    # -- outbox --------------------------------------------------------------------------------
    def _start_outbox(self) -> None:
        """Start the outbox scheduler's task (once, unless the window is closing)."""
        import asyncio

        if self._closing or self._outbox_task is not None:
            return
        self._outbox_stop = asyncio.Event()
        self._outbox_task = asyncio.ensure_future(
            self.outbox_scheduler.run_forever(self._outbox_stop)
        )
        self._outbox_task.set_name("outbox scheduler")

    async def _stop_outbox(self) -> None:
        """Stop the outbox scheduler: a send in progress may finish within the grace period,
        then the task is cancelled (the outbox records how far a send got)."""
        import asyncio

        if self._outbox_stop is not None:
            self._outbox_stop.set()
        if not self.is_attached:
            return
        self.outbox_scheduler.close()
        task = self._outbox_task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait([task], timeout=self.shutdown_grace_s)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=self.shutdown_grace_s)

    def on_outbox_executed(self, event: OutboxExecuted) -> None:
        """Say what became of an action the outbox executed."""
        from solodesk.core.actions import ActionStatus

        sent = event.status == ActionStatus.EXECUTED.value
        verb = "sent" if sent else event.status
        detail = event.detail.strip()
        self.show_message(
            f"#{event.action_id} {verb}" + (f": {detail}" if detail else ""), error=not sent
        )

    async def run_due(self) -> list[Action]:
        """Execute approvals that are due now, each at most once (the outbox scheduler does
        this by itself when they fall due; this is the same pass, on demand).

        Returns:
            The executed actions in their final status.
        """
        from solodesk.store.db import StoreError

        try:
            done = await self.outbox_scheduler.run_due()
        except StoreError as exc:  # a locked keyring, a full disk, a busy database
            log.warning("the outbox did not send: %s", exc)
            self.show_message(f"Not sent: {exc}", error=True)
            return []
        except Exception as exc:
            log.exception("the outbox failed")
            self.show_message(f"Sending failed: {type(exc).__name__}: {exc}", error=True)
            return []
        if done:
            self.inbox.refresh()
        return done

    # -- settings ------------------------------------------------------------------------------
    async def first_run(self) -> bool:
        """Ask who signs the replies, the sender address and the model (the first-run dialog,
        prefilled with what is set). Skipping keeps the defaults and is not asked again.

        Returns:
            True if the answers were saved, False if skipped (or the window closed).
        """
        from solodesk.ui.first_run import FirstRunDialog

        dialog = FirstRunDialog(self.services.config, self)
        try:
            result = await await_dialog(dialog)
            if result == QDialog.DialogCode.Accepted.value:
                self.update_status_labels()
                values = dialog.values()
                self.show_message(
                    f"Replies are signed by {values['founder.name']}, "
                    f"{values['company.name']}; change it in Settings "
                    f"({keys.native(keys.SETTINGS_KEYS)})"
                )
                return True
            if not self._closing:
                dialog.skip()
                self.show_message(
                    "Replies are signed by 'the founder' of 'my company' until you set your "
                    f"names in Settings ({keys.native(keys.SETTINGS_KEYS)})"
                )
            return False
        finally:
            dialog.deleteLater()

    def open_settings(self) -> SettingsDialog:
        """Open the settings dialog (window-modal, non-blocking)."""
        from solodesk.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.services.config, self.services.secrets, self)
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        self.update_status_labels()
        if self.services.config.problems:
            self.show_settings_problems()
        elif dialog.notes:
            self.show_message("; ".join(dialog.notes), error=True)
        else:
            self.show_message("Settings saved")

    # -- closing -------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop starting work (the outbox scheduler, countdowns, new tasks), ask a reply being
        written to stop, and detach from the bus. Idempotent; :meth:`finish_work` then waits."""
        self._closing = True
        if self._outbox_stop is not None:
            self._outbox_stop.set()
        self.tasks.closing = True
        if not self.is_attached:
            return
        self.inbox.stop_timers()
        self.chat.stop()
        self.bridge.close()

    async def finish_work(self) -> list[str]:
        """Let a send in progress finish (up to :attr:`shutdown_grace_s`), then cancel what is
        left (triage, chat, a dialog awaiting an answer) and wait for it.

        Returns:
            Names of the tasks that were cancelled.
        """
        import asyncio

        self.shutdown()
        running = self.tasks.running
        if running:
            log.info("closing while running: %s", ", ".join(running))
        names, _ = await asyncio.gather(
            self.tasks.shutdown(grace_s=self.shutdown_grace_s), self._stop_outbox()
        )
        return names

    # -- dialogs -------------------------------------------------------------------------------
    def open_policy(self) -> PolicyDialog:
        """Open the policy rules (window-modal, non-blocking)."""
        from solodesk.ui.policy_dialog import PolicyDialog

        dialog = PolicyDialog(self.services.store, self)
        dialog.changed.connect(self.show_message)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def open_audit(self) -> AuditDialog:
        """Open the audit trail (window-modal, non-blocking)."""
        from solodesk.ui.audit_dialog import AuditDialog

        dialog = AuditDialog(self.services.store, self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        """Show every keyboard shortcut (non-modal)."""
        existing = self.findChild(ShortcutsDialog)
        if existing is not None and existing.isVisible():
            existing.raise_()
            existing.activateWindow()
            return existing
        dialog = ShortcutsDialog(self)
        dialog.finished.connect(lambda _result: self.activateWindow())
        dialog.finished.connect(dialog.deleteLater)
        dialog.show()
        return dialog

    # -- layout ----------------------------------------------------------------------------------
    def layout_settings(self) -> QSettings:
        """Where the window's size and splitter positions are kept (``window.ini`` in the
        settings folder, so ``--home`` keeps them too)."""
        path = self._layout_file
        if path is None:
            raise RuntimeError("the window has no layout file before its back end is attached")
        return QSettings(str(path), QSettings.Format.IniFormat)

    def _splitters(self) -> dict[str, QSplitter]:
        if not self.is_attached:
            return {}
        return {"window": self.splitter, **self.inbox.splitters}

    def _restore_geometry(self) -> None:
        geometry = self.layout_settings().value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def save_layout(self) -> None:
        """Remember the window's geometry and every splitter's sizes."""
        settings = self.layout_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        if self.is_attached:
            settings.setValue("window/page", self.current_page())
            settings.setValue("window/sidebar_collapsed", self.side_bar.collapsed)
        for name, splitter in self._splitters().items():
            settings.setValue(f"splitters/{name}", splitter.saveState())
        settings.sync()

    def restore_layout(self) -> None:
        """Restore what :meth:`save_layout` kept (defaults where nothing was kept)."""
        settings = self.layout_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        for name, splitter in self._splitters().items():
            state = settings.value(f"splitters/{name}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        self.side_bar.set_collapsed(
            str(settings.value("window/sidebar_collapsed", "false")).lower() == "true"
        )
        page = settings.value("window/page")
        if isinstance(page, str) and page in self._pages:
            self.show_page(page)

    def request_quit(self) -> None:
        """Close the window for good: SoloDesk shuts down even when closing would only hide
        the window in the tray (File → Quit, the tray's Quit, SIGTERM)."""
        self._quitting = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        try:
            if self._layout_file is not None and (self.isVisible() or not self._quitting):
                self.save_layout()
        except Exception:  # a read-only settings folder must not stop the window closing
            log.exception("saving the window layout failed")
        keep = self.keep_running_on_close
        if not (self._quitting or self._closing) and keep is not None and keep():
            event.ignore()
            self.hide()
            log.info("window closed to the tray; SoloDesk keeps running")
            self.hiddenToTray.emit()
            return
        self.shutdown()
        event.accept()
        self.closed.emit()
