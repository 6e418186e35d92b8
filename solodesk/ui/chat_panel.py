"""Chat with the manager agent: a Markdown transcript with the reply streamed in.

Streamed :class:`~solodesk.core.events.ChatDelta` text is accumulated and the reply being
written is re-rendered as Markdown at most every :data:`RENDER_INTERVAL_MS` (only that reply is
re-rendered, not the whole transcript). Stop sets the :class:`asyncio.Event` passed to
:meth:`Runner.chat <solodesk.agents.runner.Runner.chat>`.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from solodesk.agents.runner import Runner
from solodesk.core.events import ChatDelta, ChatFinished
from solodesk.core.llmtypes import LLMError
from solodesk.store.repos import Store
from solodesk.ui.tasks import TaskTracker, async_slot

log = logging.getLogger(__name__)

#: The streamed reply is re-rendered at most this often (milliseconds).
RENDER_INTERVAL_MS = 60

#: Messages of the previous conversation shown at start.
HISTORY_LIMIT = 50

_ROLE_LABELS = {"user": "You", "assistant": "Manager agent"}
_ROLE_COLORS = {"user": "#1a5fb4", "assistant": "#26a269", "error": "#b3261e"}


class ChatPanel(QWidget):
    """Transcript, input line, Send and Stop.

    Args:
        runner: Runs the manager agent.
        store: Used to show the latest conversation at start.
        tasks: Owns the chat task (one is created if None); at shutdown it is cancelled.

    Signals:
        message(str): A one-line outcome or error for the status bar.
    """

    message = Signal(str)

    def __init__(
        self,
        runner: Runner,
        store: Store,
        parent: QWidget | None = None,
        *,
        tasks: TaskTracker | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks if tasks is not None else TaskTracker(self)
        self.runner = runner
        self.store = store
        self.conversation_id: int | None = None
        self._stop: asyncio.Event | None = None
        self._stream_text = ""
        self._stream_start: int | None = None  # document position where the reply starts
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_stream)
        self.renders = 0  # how often the streamed reply was re-rendered (tests)

        title = QLabel("Chat with your manager agent")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        title.setFont(font)
        self.new_button = QPushButton("New chat")
        self.new_button.setToolTip("Start a new conversation")
        self.new_button.clicked.connect(self.new_conversation)

        self.transcript = QTextBrowser()
        self.transcript.setOpenExternalLinks(False)
        self.transcript.setOpenLinks(False)

        self.input = QLineEdit()
        self.input.setPlaceholderText("Message the agent (Enter sends)")
        self.input.setClearButtonEnabled(True)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply being written (Esc)")
        self.stop_button.setEnabled(False)

        self.input.returnPressed.connect(self._on_send)
        self.send_button.clicked.connect(self._on_send)
        self.stop_button.clicked.connect(self.stop)
        self.input.textChanged.connect(self._update_buttons)

        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(self.new_button)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)
        self._welcome = False
        self._show_welcome()
        self._update_buttons()

    def _show_welcome(self) -> None:
        self.transcript.setHtml(
            "<p style='color:#6b6b6b'>Ask the manager agent to draft an email, e.g. "
            "<i>“Email bob@example.com that the invoice is attached”</i>.</p>"
            "<p style='color:#6b6b6b'>Nothing is sent by the agent: what it proposes waits "
            "in your inbox for your approval.</p>"
        )
        self._welcome = True

    # -- history -------------------------------------------------------------------------------
    def load_latest(self) -> None:
        """Continue the latest stored conversation (its last messages are shown)."""
        cid = self.store.chat.latest_conversation()
        if cid is None:
            return
        self.conversation_id = cid
        for m in self.store.chat.messages(cid)[-HISTORY_LIMIT:]:
            role = str(m["role"])
            if role in _ROLE_LABELS:
                self._append_message(role, str(m["content"]))

    def new_conversation(self) -> None:
        """Forget the current conversation; the next message starts a new one."""
        if self.busy:
            self.message.emit("Wait for the reply to finish (or press Stop) first")
            return
        self.conversation_id = None
        self._finish_stream()
        self._show_welcome()

    # -- transcript ----------------------------------------------------------------------------
    def _cursor_at_end(self) -> QTextCursor:
        if self._welcome:
            self._welcome = False
            self.transcript.clear()
        cursor = QTextCursor(self.transcript.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _append_label(self, role: str) -> QTextCursor:
        cursor = self._cursor_at_end()
        if not self.transcript.document().isEmpty():
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(QColor(_ROLE_COLORS.get(role, "#000000")))
        block = QTextBlockFormat()
        block.setTopMargin(8)
        cursor.setBlockFormat(block)
        cursor.insertText(_ROLE_LABELS.get(role, role.capitalize()), fmt)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        return cursor

    def _append_message(self, role: str, text: str) -> None:
        cursor = self._append_label(role)
        if role == "assistant":
            cursor.insertMarkdown(text)
        else:
            cursor.insertText(text, QTextCharFormat())
        self._scroll_to_end()

    def append_error(self, text: str) -> None:
        """Show an error in the transcript."""
        self._finish_stream()
        cursor = self._append_label("error")
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(_ROLE_COLORS["error"]))
        cursor.insertText(text, fmt)
        self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    # -- streaming -----------------------------------------------------------------------------
    def _accepts(self, conversation_id: int) -> bool:
        return self.conversation_id is None or self.conversation_id == conversation_id

    def on_delta(self, event: ChatDelta) -> None:
        """Add streamed text to the reply being written (rendered soon, throttled)."""
        if not self._accepts(event.conversation_id):
            return
        self.conversation_id = event.conversation_id
        if self._stream_start is None:
            cursor = self._append_label("assistant")
            self._stream_start = cursor.position()
            self._stream_text = ""
        self._stream_text += event.text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def on_finished(self, event: ChatFinished) -> None:
        """Render the complete reply (marked if it was stopped)."""
        if not self._accepts(event.conversation_id):
            return
        self.conversation_id = event.conversation_id
        if self._stream_start is None:
            if not event.text:
                return
            cursor = self._append_label("assistant")
            self._stream_start = cursor.position()
        self._stream_text = event.text + ("\n\n*(stopped)*" if event.stopped else "")
        self._render_stream()
        self._finish_stream()

    def _render_stream(self) -> None:
        self._render_timer.stop()
        if self._stream_start is None:
            return
        cursor = QTextCursor(self.transcript.document())
        cursor.setPosition(self._stream_start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cursor.setBlockFormat(QTextBlockFormat())
        cursor.setCharFormat(QTextCharFormat())
        cursor.insertMarkdown(self._stream_text)
        self.renders += 1
        self._scroll_to_end()

    def flush(self) -> None:
        """Render streamed text still waiting for the throttle timer."""
        if self._render_timer.isActive():
            self._render_stream()

    def _finish_stream(self) -> None:
        self._render_timer.stop()
        self._stream_start = None
        self._stream_text = ""

    # -- sending -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a reply is being written."""
        return self._stop is not None

    def _update_buttons(self) -> None:
        self.send_button.setEnabled(not self.busy and bool(self.input.text().strip()))
        self.stop_button.setEnabled(self.busy)

    async def send(self, text: str | None = None) -> int | None:
        """Send ``text`` (default: the input line) and wait for the streamed reply.

        Returns:
            The conversation id, or None if nothing was sent or the model failed.
        """
        text = (self.input.text() if text is None else text).strip()
        if not text:
            return None
        if self.busy:
            self.message.emit("Wait for the reply to finish (or press Stop) first")
            return None
        self.input.clear()
        self._finish_stream()
        self._append_message("user", text)
        stop = self._stop = asyncio.Event()
        self._update_buttons()
        self.message.emit(f"Asking {self.runner.model_label()}…")
        try:
            cid, completion, proposed = await self.runner.chat(
                text, conversation_id=self.conversation_id, stop=stop
            )
        except LLMError as exc:
            self.append_error(str(exc))
            self.message.emit(f"Chat failed: {exc}")
            return None
        except Exception as exc:
            log.exception("chat failed")
            self.append_error(f"{type(exc).__name__}: {exc}")
            self.message.emit(f"Chat failed: {type(exc).__name__}: {exc}")
            return None
        finally:
            self._stop = None
            self.flush()
            self._finish_stream()
            self._update_buttons()
        self.conversation_id = cid
        if proposed:
            self.message.emit(f"{len(proposed)} proposal(s) from chat added to the inbox")
        elif completion.finish_reason == "stopped":
            self.message.emit("Reply stopped")
        else:
            self.message.emit("Reply finished")
        return cid

    def stop(self) -> None:
        """Ask the reply being written to stop."""
        if self._stop is not None:
            self._stop.set()
            self.message.emit("Stopping…")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape and self.busy:
            self.stop()
            event.accept()
            return
        super().keyPressEvent(event)

    @async_slot("Chat")
    async def _on_send(self) -> None:
        await self.send()
