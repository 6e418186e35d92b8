"""Memory stays flat across chat turns on the GUI's loop, and a turn does not re-read the
whole conversation (real litellm against the scripted server, on a qasync loop).

Sizes, not times: a leak of the size measured before the fix (~17 KB kept per turn, mostly a
qasync timer handle per streamed chunk held for 120 s) exceeds the bound many times over.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from solodesk.agents import runner as runner_module
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
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
