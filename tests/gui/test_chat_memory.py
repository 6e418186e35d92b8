"""Memory stays flat across chat turns on the GUI's loop, and a turn does not re-read the
whole conversation (real litellm against the scripted server, on a qasync loop).

Sizes, not times: a leak of the size measured before the fix (~17 KB kept per turn, mostly a
qasync timer handle per streamed chunk held for 120 s) exceeds the bound many times over. The
chat panel's transcript kept every turn's rendered text (~20 KB of Qt text layout per turn, in
the C heap, invisible to tracemalloc); it now keeps a bounded window, checked with glibc's
``mallinfo2`` (bytes of the C heap in use).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from solodesk.agents import runner as runner_module
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
from solodesk.ui import chat_panel
from solodesk.ui.bridge import EventBridge
from tests.gui.conftest import Drive
from tests.gui.support import MemorySecrets
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.gui

TURNS = 300
#: Bytes that may stay per turn between turn 100 and turn 300 (the leak measured before the
#: fix kept ~17,000).
BOUND_PER_TURN = 2_000


@pytest.fixture
def services(
    tmp_path: Path, drive: Drive[object], openai_server: ScriptedOpenAIServer
) -> Iterator[Services]:
    """Real services on the GUI's loop, talking to the scripted model through litellm."""
    sv = build_services(home_paths(tmp_path / "home"), secrets=MemorySecrets())
    sv.config.set("llm.model", "openai/scripted")
    sv.config.set("critique.enabled", "false")  # no devil's advocate calls in the script
    sv.config.set("llm.api_base", openai_server.base_url)
    yield sv
    drive(sv.aclose())


def _reply(i: int) -> str:
    return f"Answer {i}: " + "".join(f"{j:03d} " for j in range(40))


def test_memory_is_flat_across_300_chat_turns(
    drive: Drive[object], services: Services, openai_server: ScriptedOpenAIServer
) -> None:
    runner = services.runner
    cid: int | None = None
    sizes: dict[int, int] = {}
    try:
        for turn in range(1, TURNS + 1):
            if turn == 20:  # after the warm-up (litellm's import, the first connections)
                tracemalloc.start(1)
            openai_server.reply_text(_reply(turn), chunk_size=4)
            openai_server.requests.clear()  # the test server's own record of requests
            cid, completion, _ = drive(  # type: ignore[misc]
                runner.chat(f"question {turn}", conversation_id=cid), timeout=60_000
            )
            assert completion.text == _reply(turn)
            if turn in (100, TURNS):
                gc.collect()
                sizes[turn] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    growth = sizes[TURNS] - sizes[100]
    per_turn = growth / (TURNS - 100)
    print(f"traced memory: {sizes[100]} B at turn 100, {sizes[TURNS]} B at turn {TURNS}: "
          f"{per_turn:.0f} B per turn")
    assert per_turn < BOUND_PER_TURN
    stored = services.store.chat.messages(cid)  # type: ignore[arg-type]
    assert len(stored) == 2 * TURNS  # nothing lost: every turn is in the store


def test_a_turn_does_not_reread_the_conversation(
    drive: Drive[object], services: Services, openai_server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = services.store.chat
    reads: list[int] = []
    original = chat.messages

    def counting(conversation_id: int) -> object:
        reads.append(conversation_id)
        return original(conversation_id)

    monkeypatch.setattr(chat, "messages", counting)
    cid: int | None = None
    for turn in range(1, 31):
        openai_server.reply_text(f"reply {turn}", chunk_size=4)
        cid, _, _ = drive(  # type: ignore[misc]
            services.runner.chat(f"question {turn}", conversation_id=cid), timeout=60_000
        )
    assert len(reads) == 1  # once, when the conversation was first used
    # The model still gets the latest messages, in order, bounded.
    request = openai_server.chat_requests[-1]
    sent = request.messages[1:]  # after the system prompt
    assert len(sent) == runner_module.CHAT_CONTEXT_MESSAGES + 1
    assert sent[-1] == {"role": "user", "content": "question 30"}
    assert sent[-2] == {"role": "assistant", "content": "reply 29"}
    assert sent[0] == {"role": "user", "content": "question 20"}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _c_heap_in_use() -> int | None:
    """Bytes the C allocator has handed out and not freed (glibc ``mallinfo2``: ``uordblks``
    + ``hblkhd``), or None where that is not glibc ≥ 2.33."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


#: Chat-panel turns, and the turn from which the transcript's window is full.
PANEL_TURNS = 300
PANEL_FROM = 150
#: C-heap bytes that may stay per turn once the window is full (a transcript keeping every
#: turn kept ~20,000; what stays now is a few hundred bytes of the store and the runner).
PANEL_BOUND_PER_TURN = 5_000


def test_the_chat_panel_stays_flat_across_300_turns(
    qtbot: QtBot, drive: Drive[object], services: Services,
    openai_server: ScriptedOpenAIServer,
) -> None:
    """The real panel (transcript, streamed Markdown) over the real runner and litellm: once
    its window is full (turn 100 of :data:`chat_panel.TRANSCRIPT_LIMIT` = 200 messages) the
    transcript stays the same size and the C heap does not grow with the turns."""
    if _c_heap_in_use() is None:
        pytest.skip("glibc mallinfo2 is not available")
    assert chat_panel.TRANSCRIPT_LIMIT == 200 and PANEL_FROM * 2 > chat_panel.TRANSCRIPT_LIMIT
    panel = chat_panel.ChatPanel(services.runner, services.store)
    qtbot.addWidget(panel)
    bridge = EventBridge(services.bus, panel)
    bridge.chatDelta.connect(panel.on_delta)
    bridge.chatFinished.connect(panel.on_finished)
    bridge.start()
    panel.resize(500, 700)
    panel.show()
    heap: dict[int, int] = {}
    blocks: dict[int, int] = {}
    for turn in range(1, PANEL_TURNS + 1):
        openai_server.reply_text(_reply(turn), chunk_size=4)
        openai_server.requests.clear()
        assert drive(panel.send(f"question {turn}"), timeout=60_000) is not None
        if turn in (PANEL_FROM, PANEL_TURNS):
            gc.collect()
            heap[turn] = _c_heap_in_use() or 0
            blocks[turn] = panel.transcript.document().blockCount()
    per_turn = (heap[PANEL_TURNS] - heap[PANEL_FROM]) / (PANEL_TURNS - PANEL_FROM)
    print(f"C heap in use: {heap[PANEL_FROM]} B at turn {PANEL_FROM}, {heap[PANEL_TURNS]} B at "
          f"turn {PANEL_TURNS}: {per_turn:.0f} B per turn; transcript blocks {blocks}")
    assert blocks[PANEL_TURNS] == blocks[PANEL_FROM]
    assert len(panel.shown_messages) == chat_panel.TRANSCRIPT_LIMIT
    assert panel.shown_messages[-1] == ("assistant", _reply(PANEL_TURNS))
    assert panel.hidden_messages == 2 * PANEL_TURNS - chat_panel.TRANSCRIPT_LIMIT
    assert per_turn < PANEL_BOUND_PER_TURN
    assert panel.conversation_id is not None
    stored = services.store.chat.messages(panel.conversation_id)
    assert len(stored) == 2 * PANEL_TURNS  # nothing lost
