"""The system tray icon: pending count, menu (Open, Do Not Disturb, Quit), notifications, and
keeping SoloDesk running when its window is closed.

Where the desktop has a system tray (:func:`system_tray_available`), :class:`TrayController`
shows a :class:`~PySide6.QtWidgets.QSystemTrayIcon` whose icon carries the number of proposals
waiting (drawn onto the app icon; tooltip "SoloDesk — N proposals waiting"). Clicking it opens
(or raises) the window. With ``ui.close_to_tray`` (the default) closing the window only hides
it: the outbox keeps sending approved mail after its undo window, and only Quit (the tray
menu, File → Quit, Ctrl+Q, SIGTERM) ends SoloDesk, with the same clean shutdown as before.
The first time the window is hidden a notification says where SoloDesk went (once per settings
folder). Notifications (:mod:`solodesk.ui.notify`) are shown with
:meth:`QSystemTrayIcon.showMessage` — on Linux desktops Qt sends them to the freedesktop
Notifications service when the tray is a StatusNotifierItem host, else it shows a balloon;
clicking one opens the window on its item (``messageClicked``, where the platform reports
clicks). Where there is no tray (and under Xvfb or the offscreen platform), nothing of this is
shown: closing the window quits as before, and the status bar keeps reporting everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QSystemTrayIcon, QWidget

from solodesk.core.resources import resource
from solodesk.ui.notify import Notice, Notifier

if TYPE_CHECKING:
    from solodesk.core.events import Event
    from solodesk.services import Services
    from solodesk.ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Side of the drawn tray icon (pixels; the tray scales it).
ICON_SIZE = 64
BADGE_COLOR = QColor("#c62828")
#: The note shown the first time the window is hidden (once per settings folder).
HIDDEN_NOTE = Notice(
    "SoloDesk is still running",
    "It keeps sending approved mail from the tray. Click the tray icon to open it again; "
    "use Quit in its menu to stop SoloDesk.",
    "inbox",
)


def system_tray_available() -> bool:
    """Whether the desktop has a system tray (Qt's check; false offscreen and under a bare X
    server). Tests pass their own answer to :class:`TrayController` instead."""
    return QSystemTrayIcon.isSystemTrayAvailable()


def pending_text(count: int) -> str:
    """The tray's tooltip: ``SoloDesk — 3 proposals waiting`` (``no proposal`` for 0)."""
    if count == 0:
        return "SoloDesk — no proposal waiting"
    return f"SoloDesk — {count} proposal{'s' if count != 1 else ''} waiting"


def app_icon(window: QWidget) -> QIcon:
    """SoloDesk's icon: the application's, else the one in the resources, else a generic
    one (a tray icon must never be empty)."""
    app = QApplication.instance()
    icon = app.windowIcon() if isinstance(app, QApplication) else QIcon()
    if icon.isNull():
        try:
            icon = QIcon(str(resource("icons", "solodesk.svg")))
        except FileNotFoundError:
            log.warning("SoloDesk's icon is missing")
    if icon.isNull():
        icon = window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
    return icon


def badge_icon(base: QIcon, count: int, size: int = ICON_SIZE) -> QIcon:
    """``base`` with ``count`` in a red disc in its lower right corner (``99+`` above 99;
    ``base`` unchanged for 0)."""
    if count <= 0:
        return base
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    base.paint(painter, 0, 0, size, size)
    text = str(count) if count < 100 else "99+"
    d = size * (0.62 if len(text) < 3 else 0.75)
    disc = QRectF(size - d, size - d, d, d)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(BADGE_COLOR)
    painter.drawEllipse(disc)
    font = QFont()
    font.setBold(True)
    px = int(d * (0.62 if len(text) == 1 else 0.5))
    font.setPixelSize(px)
    while px > 6 and QFontMetrics(font).horizontalAdvance(text) > d * 0.86:
        px -= 1
        font.setPixelSize(px)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(disc, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return QIcon(pixmap)


class TrayController(QObject):
    """The tray icon, notifications and close-to-tray for one main window.

    Args:
        window: The attached main window.
        services: Its back end (pending count, ``ui.close_to_tray``, ``ui.do_not_disturb``).
        available: Whether there is a system tray (default: :func:`system_tray_available`).
        show_notice: Shows a notice (default: the tray icon's ``showMessage``).

    Signals:
        quitRequested(): Quit was chosen in the tray menu.
    """

    quitRequested = Signal()  # noqa: N815

    def __init__(
        self,
        window: MainWindow,
        services: Services,
        *,
        available: bool | None = None,
        show_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.services = services
        self.available = system_tray_available() if available is None else available
        self.pending = 0
        self.last_notice: Notice | None = None
        self._dnd_session: bool | None = None
        self.base_icon = app_icon(window)

        self.open_action = QAction("&Open SoloDesk", self)
        self.open_action.triggered.connect(self.open_window)
        self.dnd_action = QAction("&Do Not Disturb", self)
        self.dnd_action.setCheckable(True)
        self.dnd_action.setChecked(self._setting("ui.do_not_disturb", False))
        self.dnd_action.setToolTip("No notifications; the icon still shows the count")
        self.dnd_action.toggled.connect(self.set_do_not_disturb)
        self.quit_action = QAction("&Quit SoloDesk", self)
        self.quit_action.triggered.connect(self.quit)
        self.menu = QMenu()
        self.menu.addAction(self.open_action)
        self.menu.addAction(self.dnd_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        # The Settings dialog may have changed it meanwhile.
        self.menu.aboutToShow.connect(self._sync_dnd)

        self.icon: QSystemTrayIcon | None = None
        if self.available:
            self.icon = QSystemTrayIcon(self.base_icon, self)
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._activated)
            self.icon.messageClicked.connect(self._notice_clicked)

        self.notifier = Notifier(
            show_notice or self._show_bubble,
            attentive=self.attentive,
            do_not_disturb=lambda: self.do_not_disturb,
            parent=self,
        )
        self.notifier.shown.connect(self._remember)
        b = window.bridge
        b.actionProposed.connect(self.notifier.on_action_proposed)
        b.runFailed.connect(self.notifier.on_run_failed)
        b.outboxExecuted.connect(self.notifier.on_outbox_executed)
        b.modelCrashed.connect(self.notifier.on_model_crashed)
        for signal in (b.actionProposed, b.actionResolved, b.outboxExecuted):
            signal.connect(self.update_pending)
        window.keep_running_on_close = self.keeps_running
        window.hiddenToTray.connect(self._on_hidden)
        self.update_pending()
        if self.icon is not None:
            self.icon.show()

    # -- state -----------------------------------------------------------------------------------
    def _setting(self, key: str, default: bool) -> bool:
        try:
            return self.services.config.get_bool(key)
        except Exception as exc:  # a bad value is reported by the settings check
            log.warning("%s: %s", key, exc)
            return default

    def keeps_running(self) -> bool:
        """Whether closing the window only hides it: a tray exists, ``ui.close_to_tray`` is
        on, and SoloDesk is not quitting."""
        return self.available and self._setting("ui.close_to_tray", True)

    @property
    def do_not_disturb(self) -> bool:
        """Whether Do Not Disturb is on (``ui.do_not_disturb``, also set in Settings)."""
        if self._dnd_session is not None:  # could not be saved: holds for this session
            return self._dnd_session
        return self._setting("ui.do_not_disturb", self.dnd_action.isChecked())

    def _sync_dnd(self) -> None:
        self.dnd_action.blockSignals(True)
        self.dnd_action.setChecked(self.do_not_disturb)
        self.dnd_action.blockSignals(False)

    def set_do_not_disturb(self, on: bool) -> None:
        """Turn Do Not Disturb on or off (saved as ``ui.do_not_disturb``)."""
        if self.dnd_action.isChecked() != on:
            self.dnd_action.setChecked(on)  # toggled calls us again
            return
        if self.do_not_disturb == on:
            return
        try:
            self.services.config.set("ui.do_not_disturb", "true" if on else "false")
        except Exception as exc:  # a read-only settings folder: it holds for this session
            log.warning("Do Not Disturb not saved: %s", exc)
            self._dnd_session = on
            self.window.show_message(f"Do Not Disturb holds until SoloDesk quits; it could "
                                     f"not be saved: {exc}", error=True)
            return
        self.window.show_message(
            "Do Not Disturb: no notifications; the tray icon still shows the count"
            if on else "Notifications on"
        )

    def attentive(self) -> bool:
        """True while the founder looks at the window (shown, not minimised, active)."""
        w = self.window
        if not w.isVisible() or w.isMinimized():
            return False
        handle = w.windowHandle()  # (offscreen Qt re-activates the window only there)
        return w.isActiveWindow() or (handle is not None and handle.isActive())

    def update_pending(self, *_event: Event | object) -> int:
        """Re-count the proposals waiting and show the count on the icon and its tooltip."""
        from solodesk.core.actions import ActionStatus

        if self.window.closing:
            return self.pending
        try:
            count = self.services.store.actions.count(ActionStatus.PENDING)
        except Exception:  # a busy or closed store must not break the tray
            log.exception("counting pending proposals failed")
            return self.pending
        self.pending = count
        if self.icon is not None:
            self.icon.setIcon(badge_icon(self.base_icon, count))
            self.icon.setToolTip(pending_text(count))
        return count

    # -- acting ----------------------------------------------------------------------------------
    def open_window(self, target: str = "") -> None:
        """Show, raise and activate the window, on ``target`` if given (``action:ID`` selects
        that proposal in the inbox, ``job:NAME`` that job on the Jobs page)."""
        w = self.window
        if w.isMinimized():
            w.showNormal()
        else:
            w.show()
        w.raise_()
        w.activateWindow()
        if not target or not w.is_attached:
            return
        kind, _, value = target.partition(":")
        if kind == "action" and value.isdigit():
            w.show_page("inbox")
            if not w.inbox.select_action(int(value)):
                w.inbox.refresh()
                w.inbox.select_action(int(value))
        elif kind == "job":
            w.show_page("jobs")
            w.jobs.refresh()
            w.jobs.select_job(value)
        elif kind == "inbox":
            w.show_page("inbox")

    def quit(self) -> None:
        """End SoloDesk: the window closes for good (the usual clean shutdown follows)."""
        self.notifier.close()
        self.quitRequested.emit()
        self.window.request_quit()

    def close(self) -> None:
        """Remove the icon (at shutdown)."""
        self.notifier.close()
        if self.icon is not None:
            self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_window()

    def _show_bubble(self, notice: Notice) -> None:
        if self.icon is None:
            return
        icon = (QSystemTrayIcon.MessageIcon.Warning if notice.error
                else QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(notice.title, notice.text, icon, 10_000)

    def _remember(self, notice: Notice) -> None:
        self.last_notice = notice

    def _notice_clicked(self) -> None:
        self.open_window(self.last_notice.target if self.last_notice else "")

    def _on_hidden(self) -> None:
        """The window was closed to the tray: the first time ever, say where SoloDesk went."""
        try:
            settings = self.window.layout_settings()
            if str(settings.value("tray/hidden_note_shown", "false")).lower() == "true":
                return
        except Exception:
            log.exception("reading window.ini failed")
            settings = None
        if self.notifier.say(HIDDEN_NOTE) is not None and settings is not None:
            settings.setValue("tray/hidden_note_shown", True)
            settings.sync()
