"""Streaming on the GUI's qasync loop: litellm's work runs on the model thread, no timer handle
is left behind per chunk, and Python's full collections wait while calls run.

Real parts: litellm against the scripted OpenAI-compatible server on loopback, qasync in Qt.
Counts are printed; nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pytest

from solodesk.llm import gateway as gw
from solodesk.llm.gateway import Gateway, ModelTarget, StreamAssembly
from tests.gui.conftest import Drive
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.gui

CHUNKS = 2000


@pytest.fixture
def server() -> ScriptedOpenAIServer:
    s = ScriptedOpenAIServer().start()
    yield s
    s.close()


def _text(chunks: int) -> str:
    return "".join(f"{i % 1000:03d} " for i in range(chunks))  # 4 characters a chunk


def _pending_timers(loop: asyncio.AbstractEventLoop) -> int:
    return len(loop._timer._SimpleTimer__callbacks)  # type: ignore[attr-defined]


def test_a_long_stream_leaves_no_timer_per_chunk_on_the_gui_loop(
    drive: Drive[object], aloop: asyncio.AbstractEventLoop, server: ScriptedOpenAIServer
) -> None:
    server.reply_text(_text(CHUNKS), chunk_size=4)
    target = ModelTarget(model="openai/scripted", api_base=server.base_url, timeout=120)
    pieces: list[str] = []
    threads: set[str] = set()

    def on_delta(text: str) -> None:
        pieces.append(text)
        threads.add(threading.current_thread().name)

    before = _pending_timers(aloop)
    completion = drive(Gateway(target).stream([{"role": "user", "content": "hi"}],
                                              on_delta=on_delta), timeout=120_000)
    after = _pending_timers(aloop)
    print(f"pending qasync timers: {before} before, {after} after {CHUNKS} chunks; "
          f"{len(pieces)} deliveries")
    assert completion.text == _text(CHUNKS)  # type: ignore[attr-defined]
    assert "".join(pieces) == _text(CHUNKS)
    assert threads == {threading.main_thread().name}  # deltas arrive on the GUI thread
    # A wait_for per chunk left one 120 s timer per chunk (2,000) in qasync until it expired.
    assert after - before < 50


def test_full_collections_wait_while_a_call_runs(
    drive: Drive[object], server: ScriptedOpenAIServer
) -> None:
    server.reply_text(_text(200), chunk_size=4)
    target = ModelTarget(model="openai/scripted", api_base=server.base_url, timeout=120)
    normal = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    drive(Gateway(target).stream([{"role": "user", "content": "hi"}],
                                 on_delta=lambda _t: seen.append(gc.get_threshold())),
          timeout=60_000)
    assert seen and all(t[2] == gw.DEFERRED_GEN2_THRESHOLD for t in seen)
    assert gc.get_threshold() == normal
    assert gc.get_freeze_count() > 0  # litellm (and the first call's imports) frozen


@pytest.mark.parametrize("reported", [True, False], ids=["server-usage", "counted"])
def test_a_stream_records_its_usage(
    drive: Drive[object], server: ScriptedOpenAIServer, reported: bool
) -> None:
    """A streamed call's tokens are recorded: the server's usage when it reports one (asked with
    stream_options, which litellm needs to pass it on), else counted by litellm's tokenizer, as
    llama-cpp-python's server reports none (budgets and the audit count them)."""
    server.stream_usage = reported
    server.reply_text("Hello Marta, the refund is on its way.", chunk_size=4)
    target = ModelTarget(model="openai/scripted", api_base=server.base_url, timeout=120)
    records: list[object] = []
    drive(Gateway(target, on_call=records.append).stream(
        [{"role": "user", "content": "Where is my refund?"}], on_delta=lambda _t: None),
        timeout=60_000)
    (record,) = records
    (request,) = server.chat_requests
    assert (request.body or {}).get("stream_options") == {"include_usage": True}
    assert request.usage is not None
    if reported:
        assert (record.tokens_in, record.tokens_out) == (  # type: ignore[attr-defined]
            request.usage["prompt_tokens"], request.usage["completion_tokens"])
    else:
        assert record.tokens_in and record.tokens_in > 0  # type: ignore[attr-defined]
        assert record.tokens_out and record.tokens_out > 0  # type: ignore[attr-defined]
    print("recorded", record.tokens_in, record.tokens_out, "server", request.usage)  # type: ignore[attr-defined]


def test_stream_assembly_matches_litellms_builder_for_text_and_tool_calls(
    server: ScriptedOpenAIServer,
) -> None:
    """Our incremental assembly gives what ``litellm.stream_chunk_builder`` gives."""
    litellm = gw.import_litellm()
    server.reply_tool_calls(
        [("propose_send_email", '{"to": ["bob@example.com"], "subject": "Hi", "body": "x"}'),
         ("propose_send_email", '{"to": ["eve@example.com"]')],
        text="Here you go",
    )

    async def collect() -> list[object]:
        response = await litellm.acompletion(
            model="openai/scripted", api_base=server.base_url, api_key="sk-none",
            messages=[{"role": "user", "content": "hi"}], stream=True,
        )
        return [chunk async for chunk in response]

    chunks = asyncio.run(collect())
    assembly = StreamAssembly()
    for chunk in chunks:
        assembly.add(chunk)
    ours = assembly.completion()
    theirs = gw._to_completion(litellm.stream_chunk_builder(chunks))
    assert ours.text == theirs.text == "Here you go"
    assert [(c.name, c.arguments) for c in ours.tool_calls] == [
        (c.name, c.arguments) for c in theirs.tool_calls
    ]
    assert len(ours.tool_calls) == 2
    assert ours.finish_reason == theirs.finish_reason


def test_the_sdks_chunks_assemble_like_litellms_for_text_and_tool_calls(
    server: ScriptedOpenAIServer,
) -> None:
    """For an OpenAI-compatible server the model thread reads the OpenAI SDK's stream under
    litellm's wrapper (litellm's per-chunk rebuild costs about five times the SDK's own work,
    under the GIL the GUI thread needs); the assembly of those chunks is what litellm's builder
    makes of its own chunks."""
    litellm = gw.import_litellm()
    calls = [("propose_send_email", '{"to": ["bob@example.com"], "subject": "Hi", "body": "x"}'),
             ("propose_send_email", '{"to": ["eve@example.com"]')]

    async def collect(raw: bool) -> list[object]:
        response = await litellm.acompletion(
            model="openai/scripted", api_base=server.base_url, api_key="sk-none",
            messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True},
        )
        source = gw._chunks(response) if raw else response
        assert (source is not response) == raw  # openai/…: the SDK's stream is chosen
        chunks = [chunk async for chunk in source]
        await response.aclose()
        return chunks

    server.reply_tool_calls(calls, text="Here you go")
    sdk_chunks = asyncio.run(collect(raw=True))
    server.reply_tool_calls(calls, text="Here you go")
    litellm_chunks = asyncio.run(collect(raw=False))
    from openai.types.chat import ChatCompletionChunk

    assert all(isinstance(c, ChatCompletionChunk) for c in sdk_chunks)
    assembly = StreamAssembly()
    for chunk in sdk_chunks:
        assembly.add(chunk)
    ours = assembly.completion()
    theirs = gw._to_completion(litellm.stream_chunk_builder(litellm_chunks))
    assert ours.text == theirs.text == "Here you go"
    assert [(c.name, c.arguments) for c in ours.tool_calls] == [
        (c.name, c.arguments) for c in theirs.tool_calls
    ]
    assert [c.id for c in ours.tool_calls] == ["call_1_0", "call_1_1"]  # the server's ids
    assert ours.finish_reason == theirs.finish_reason == "tool_calls"
    (request, _) = server.chat_requests
    assert request.usage is not None
    assert (assembly.tokens_in, assembly.tokens_out) == (
        request.usage["prompt_tokens"], request.usage["completion_tokens"])


def test_other_providers_streams_are_read_through_litellm() -> None:
    """Only OpenAI-format streams skip litellm's translation."""

    class Wrapper:
        custom_llm_provider = "anthropic"
        completion_stream = object()

    wrapper = Wrapper()
    assert gw._chunks(wrapper) is wrapper
    wrapper.custom_llm_provider = "openai"
    assert gw._chunks(wrapper) is wrapper  # not the SDK's AsyncStream: litellm's, to be safe


def test_a_stream_wakes_the_callers_loop_once_per_batch_not_per_chunk() -> None:
    """A stream read from a full buffer pushes thousands of pieces without its loop running
    in between: the caller's loop is woken once per batch (at most every interval), and text
    pushed inside the interval is woken for by the next push past it or by a timer."""
    wakes: list[object] = []
    got: list[str] = []

    class Receiver:
        def flush(self) -> None:
            got.extend(channel.take())

    receiver = Receiver()

    async def pushes() -> None:
        for i in range(1000):
            channel.push(f"{i} ")
        assert channel.wakes == 1  # the first push; the rest wait for the interval

    channel = gw._Channel(wakes.append, weakref.ref(receiver), interval=3600)  # type: ignore[arg-type]
    asyncio.run(pushes())
    assert len(wakes) == 1
    wakes.pop()()  # the caller's loop runs the wake: it takes the 1,000 pieces
    assert "".join(got) == "".join(f"{i} " for i in range(1000))

    async def pause_then_push() -> None:
        channel.push("late")  # within the interval: a timer on this loop wakes later
        assert channel.wakes == 0
        while not wakes:
            await asyncio.sleep(0.01)

    got.clear()
    channel = gw._Channel(wakes.append, weakref.ref(receiver), interval=0.05)  # type: ignore[arg-type]
    channel._last_wake = time.monotonic()
    asyncio.run(pause_then_push())
    wakes.pop()()
    assert got == ["late"] and channel.wakes == 1
