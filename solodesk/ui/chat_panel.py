"""Chat with the manager agent: a Markdown transcript with the reply streamed in.

Streamed :class:`~solodesk.core.events.ChatDelta` text is accumulated and the reply being
written is re-rendered as Markdown at most every :data:`RENDER_INTERVAL_MS` (only that reply is
re-rendered, not the whole transcript). Stop sets the :class:`asyncio.Event` passed to
:meth:`Runner.chat <solodesk.agents.runner.Runner.chat>`.

The transcript keeps a bounded window of the latest messages (:data:`TRANSCRIPT_LIMIT`): each
turn (question and reply) held ~20 KB of Qt text document and layout in the C heap, so a long
conversation grew the app's memory with every turn. Older messages are dropped from the view,
never from the store; "Show earlier messages" brings them back a page at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QKeySequence,
    QShortcut,
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
from solodesk.ui.shortcuts import CHAT_EARLIER_KEYS, native
from solodesk.ui.tasks import TaskTracker, async_slot

log = logging.getLogger(__name__)

#: The streamed reply is re-rendered at most this often (milliseconds).
RENDER_INTERVAL_MS = 60

#: Messages of the previous conversation shown at start.
HISTORY_LIMIT = 50

#: Messages the transcript keeps; older ones are dropped from the view (not from the store)
#: and come back with "Show earlier messages".
TRANSCRIPT_LIMIT = 200

#: Messages "Show earlier messages" adds at a time.
EARLIER_PAGE = 50

#: ``QTextBlock.userState`` of the block that starts a message (its role label).
MESSAGE_START = 1

_ROLE_LABELS = {"user": "You", "assistant": "Manager agent"}
_ROLE_COLORS = {"user": "#1a5fb4", "assistant": "#26a269", "error": "#b3261e"}


@dataclass(slots=True)
class _Shown:
    """A message in the transcript: role, the text shown (Markdown for replies), and whether
    it is a stored message of the conversation (errors are not)."""

    role: str
    text: str
    stored: bool


def _label_block_format() -> QTextBlockFormat:
    block = QTextBlockFormat()
    block.setTopMargin(8)
    return block


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
        self._shown: deque[_Shown] = deque()  # the transcript's messages, oldest first
        self._limit = TRANSCRIPT_LIMIT  # raised when the founder asks for earlier messages
        self._hidden = 0  # stored messages of the conversation above the transcript
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
        self.transcript.setUndoRedoEnabled(False)  # read-only: no undo stack to grow
        self.earlier_button = QPushButton("Show earlier messages")
        self.earlier_button.setToolTip(
            f"Show the {EARLIER_PAGE} messages before the first one shown "
            f"({native(CHAT_EARLIER_KEYS)})"
        )
        self.earlier_button.clicked.connect(lambda: self.show_earlier())
        self.earlier_button.hide()
        earlier = QShortcut(QKeySequence(CHAT_EARLIER_KEYS), self)
        earlier.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        earlier.activated.connect(lambda: self.show_earlier())

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
        layout.addWidget(self.earlier_button)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)
        self._welcome = False
        self._show_welcome()
        self._update_buttons()

    def _show_welcome(self) -> None:
        self._shown.clear()
        self._limit = TRANSCRIPT_LIMIT
        self._set_hidden(0)
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
        chat = self.store.chat
        rows = chat.latest_messages(cid, HISTORY_LIMIT, roles=tuple(_ROLE_LABELS))
        for m in rows:
            self._append_message(str(m["role"]), str(m["content"]))
        self._set_hidden(chat.count_messages(cid, roles=tuple(_ROLE_LABELS)) - len(rows))

    @property
    def shown_messages(self) -> list[tuple[str, str]]:
        """The transcript's messages, oldest first: ``(role, text shown)``; role ``error`` for
        errors."""
        return [(m.role, m.text) for m in self._shown]

    @property
    def hidden_messages(self) -> int:
        """Stored messages of the conversation above the transcript (0: it starts there)."""
        return self._hidden

    def _set_hidden(self, n: int) -> None:
        self._hidden = max(0, n)
        self.earlier_button.setText(f"Show earlier messages ({self._hidden:,} more)")
        self.earlier_button.setVisible(self._hidden > 0)

    def show_earlier(self, count: int = EARLIER_PAGE) -> int:
        """Load up to ``count`` stored messages before the first one shown, on top of the
        transcript (which then keeps them too); the view stays at the message that was first.

        Returns:
            How many messages were added.
        """
        cid = self.conversation_id
        if cid is None or self._hidden == 0:
            return 0
        if self.busy:
            self.message.emit("Wait for the reply to finish (or press Stop) first")
            return 0
        roles = tuple(_ROLE_LABELS)
        chat = self.store.chat
        on_screen = sum(1 for m in self._shown if m.stored)
        rows = chat.latest_messages(cid, count, skip=on_screen, roles=roles)
        if not rows:
            self._set_hidden(0)
            return 0
        messages = [_Shown(str(m["role"]), str(m["content"]), True) for m in rows]
        messages += self._shown
        self._limit = max(self._limit, len(messages))
        self._shown.clear()
        self._welcome = False
        self.transcript.clear()
        first_before = 0
        for i, m in enumerate(messages):
            start = self._render_message(m.role, m.text, stored=m.stored)
            if i == len(rows):
                first_before = start
        self._set_hidden(chat.count_messages(cid, roles=roles) - on_screen - len(rows))
        doc = self.transcript.document()
        if len(rows) < len(messages):  # keep the message that was first in view
            block = doc.findBlock(first_before)
            top = doc.documentLayout().blockBoundingRect(block).top()
            self.transcript.verticalScrollBar().setValue(int(top))
        self.message.emit(f"Showing {len(rows)} earlier message(s)")
        return len(rows)

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

    def _append_label(self, role: str, *, stored: bool = True) -> QTextCursor:
        """Start a message (dropping the oldest beyond the limit): its label, then a cursor
        in the empty block where its text goes."""
        self._trim(self._limit - 1)
        cursor = self._cursor_at_end()
        if not self.transcript.document().isEmpty():
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(QColor(_ROLE_COLORS.get(role, "#000000")))
        cursor.setBlockFormat(_label_block_format())
        cursor.block().setUserState(MESSAGE_START)
        cursor.insertText(_ROLE_LABELS.get(role, role.capitalize()), fmt)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._shown.append(_Shown(role, "", stored))
        return cursor

    def _render_message(self, role: str, text: str, *, stored: bool) -> int:
        """Append a whole message; returns the document position where it starts."""
        cursor = self._append_label(role, stored=stored)
        start = cursor.block().previous().position()
        if role == "assistant":
            cursor.insertMarkdown(text)
        elif role == "error":
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(_ROLE_COLORS["error"]))
            cursor.insertText(text, fmt)
        else:
            cursor.insertText(text, QTextCharFormat())
        self._shown[-1].text = text
        return start

    def _append_message(self, role: str, text: str) -> None:
        self._render_message(role, text, stored=True)
        self._scroll_to_end()

    def append_error(self, text: str) -> None:
        """Show an error in the transcript."""
        self._finish_stream()
        self._render_message("error", text, stored=False)
        self._scroll_to_end()

    def _trim(self, keep: int) -> None:
        """Drop the oldest messages from the transcript until at most ``keep`` remain (they
        stay in the store: "Show earlier messages" brings them back)."""
        dropped = 0
        while len(self._shown) > max(0, keep):
            self._drop_first()
            if self._shown.popleft().stored:
                dropped += 1
        if dropped:
            self._set_hidden(self._hidden + dropped)

    def _drop_first(self) -> None:
        doc = self.transcript.document()
        block = doc.begin().next()
        while block.isValid() and block.userState() != MESSAGE_START:
            block = block.next()
        if not block.isValid():  # the only message
            self.transcript.clear()
            self._stream_start = None
            return
        end = block.position()
        cursor = QTextCursor(doc)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        # The next label is now the first block: give it back its format and mark.
        cursor.setBlockFormat(_label_block_format())
        doc.begin().setUserState(MESSAGE_START)
        if self._stream_start is not None:
            self._stream_start -= end

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
        self._shown[-1].text = self._stream_text
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
        self._shown[-1].text = self._stream_text
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
