"""Python's garbage collections run on the GUI thread only, also while chats stream on the model
thread (real litellm against the scripted server, on a qasync loop).

A collection destroys the reference cycles it finds on the thread that runs it. A Qt object
destroyed on the model thread while it had a running timer left that timer registered in the
GUI thread's event dispatcher, and the GUI's event loop crashed (SIGSEGV) when it fired: the
full suite crashed that way in ``test_chat_memory`` (the qasync loops of earlier tests, in
cycles, were collected on the model thread). Nothing here depends on the machine's speed: the
assertions are on which thread did the work; counts are printed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer
from pytestqt.qtbot import QtBot

from solodesk.llm import collection
from solodesk.llm.gateway import Gateway, ModelTarget
from solodesk.ui.collector import GuiCollector
from tests.gui.conftest import Drive
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.gui

STREAMS = 8
CHUNKS = 1500
ROOT = Path(__file__).resolve().parents[2]


def _text(chunks: int) -> str:
    return "".join(f"{i % 1000:03d} " for i in range(chunks))  # 4 characters a chunk


class _Tracked(QObject):
    """A Qt object in a reference cycle (with itself) that records where it is destroyed."""

    destroyed_on: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.cycle = self

    def __del__(self) -> None:
        _Tracked.destroyed_on[threading.current_thread().name] += 1


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    s = ScriptedOpenAIServer().start()
    yield s
    s.close()


@pytest.fixture
def collections_by_thread() -> Iterator[Counter[str]]:
    """The threads that started a collection (of any generation) during the test."""
    seen: Counter[str] = Counter()

    def record(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            seen[threading.current_thread().name] += 1

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def test_collections_run_on_the_gui_thread_while_eight_chats_stream(
    drive: Drive[object], server: ScriptedOpenAIServer, collections_by_thread: Counter[str]
) -> None:
    for _ in range(STREAMS):
        server.reply_text(_text(CHUNKS), chunk_size=4)
    target = ModelTarget(model="openai/scripted", api_base=server.base_url, timeout=120)
    _Tracked.destroyed_on.clear()
    made = 0

    def garbage() -> None:  # on the GUI thread, while the streams run
        nonlocal made
        for _ in range(20):
            _Tracked()
            made += 1

    maker = QTimer()
    maker.timeout.connect(garbage)
    maker.start(2)
    received = [0] * STREAMS

    async def one(i: int) -> str:
        def on_delta(text: str) -> None:
            received[i] += len(text)

        completion = await Gateway(target).stream([{"role": "user", "content": f"hi {i}"}],
                                                  on_delta=on_delta)
        return completion.text

    async def all_streams() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(STREAMS))))

    try:
        texts = drive(all_streams(), timeout=300_000)
    finally:
        maker.stop()
    gc.collect()  # what is left, here on the GUI thread
    main = threading.main_thread().name
    off_gui = {t: n for t, n in collections_by_thread.items() if t != main}
    print(f"{made} Qt objects made garbage during {STREAMS} streams of {CHUNKS} chunks; "
          f"destroyed on: {dict(_Tracked.destroyed_on)}; collections started on: "
          f"{dict(collections_by_thread)}")
    assert texts == [_text(CHUNKS)] * STREAMS
    assert made > 0 and sum(_Tracked.destroyed_on.values()) > 0
    # No collection ran on another thread, so no Qt object was destroyed there.
    assert off_gui == {}
    assert set(_Tracked.destroyed_on) == {main}


def test_the_collector_takes_collections_over_and_gives_them_back(qtbot: QtBot) -> None:
    """Without the GUI fixtures' collector: automatic collections are on; a collector switches
    them off, runs what is due from its timer on the GUI thread, and switches them back on."""
    assert gc.isenabled() and not collection.automatic_paused()
    collector = GuiCollector()
    collector.start()
    try:
        assert not gc.isenabled() and collection.automatic_paused()
        _Tracked.destroyed_on.clear()

        def make_garbage() -> None:  # on another thread: nothing is collected there
            for _ in range(gc.get_threshold()[0] * 20):
                _Tracked()

        worker = threading.Thread(target=make_garbage, name="allocating")
        worker.start()
        worker.join()
        assert _Tracked.destroyed_on == Counter()
        qtbot.waitUntil(lambda: sum(_Tracked.destroyed_on.values()) > 0, timeout=10_000)
        print(f"collections run by the collector: {collector.collections}; "
              f"destroyed on: {dict(_Tracked.destroyed_on)}")
        assert set(_Tracked.destroyed_on) == {threading.main_thread().name}
        assert sum(collector.collections) > 0
    finally:
        collector.stop()
    assert gc.isenabled() and not collection.automatic_paused()
    collector.stop()  # idempotent
    assert gc.isenabled()


def test_due_generation_follows_cpythons_counts() -> None:
    saved = gc.get_threshold()
    garbage: list[object] = []
    collection.pause_automatic()
    try:
        gc.collect(1)  # counts: generation 2 has one collection of generation 1 behind it
        gc.collect(0)  # generation 1 has one collection of generation 0 behind it
        gc.set_threshold(1_000_000_000, 10, 10)
        garbage += [[] for _ in range(10)]
        assert collection.due_generation() is None  # generation 0 below its threshold
        gc.set_threshold(1, 1_000_000, 1_000_000)
        garbage += [[] for _ in range(100)]  # generation 0 well past its threshold
        assert collection.due_generation() == 0
        gc.set_threshold(1, 0, 1_000_000)
        assert collection.due_generation() == 1
        gc.set_threshold(1, 0, 0)
        far = time.monotonic() + collection.FULL_COLLECTION_INTERVAL_S + 1
        assert collection.due_generation(now=far) == 2
        # A full collection waits for the interval; the next younger generation instead.
        assert collection.due_generation(now=collection._last_full) == 1
        assert collection.collect_due() in (1, 2)
    finally:
        gc.set_threshold(*saved)
        collection.resume_automatic()



def test_nothing_is_collected_while_a_deferred_block_runs() -> None:
    """litellm's import runs in a deferred block: neither CPython nor the GUI's collector
    collects until it ends (then its objects are frozen); holds nest with the collector's."""
    saved = gc.get_threshold()
    collection.pause_automatic()  # as the GUI's collector does
    try:
        gc.set_threshold(1, 0, 0)
        assert collection.due_generation() is not None
        done = threading.Event()
        seen: list[object] = []

        def build() -> None:  # as import_litellm, on a worker thread
            with collection.deferred():
                assert not gc.isenabled()
                seen.append(collection.due_generation())
                seen.append(collection.collect_due())
                done.set()

        worker = threading.Thread(target=build)
        worker.start()
        worker.join()
        assert done.is_set() and seen == [None, None]
        assert collection.due_generation() is not None  # due again after the block
        assert not gc.isenabled() and collection.automatic_paused()  # the collector's hold
    finally:
        gc.set_threshold(*saved)
        collection.resume_automatic()
    assert gc.isenabled()


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, threading
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QApplication
    import qasync
    from solodesk.app import install_collector
    from solodesk.llm.gateway import Gateway, ModelTarget

    class Ticking(QObject):  # a Qt object with a running timer, in a cycle
        def __init__(self):
            super().__init__()
            self.cycle = self
            self.startTimer(1000)

    app = QApplication([])
    install_collector(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    made = 0

    def garbage():
        global made
        for _ in range(20):
            Ticking()
            made += 1

    maker = QTimer()
    maker.timeout.connect(garbage)
    maker.start(2)
    target = ModelTarget(model="openai/scripted", api_base=sys.argv[1], timeout=120)

    async def main():
        async def one(i):
            return (await Gateway(target).stream([{"role": "user", "content": str(i)}],
                                                 on_delta=lambda t: None)).text
        texts = await asyncio.gather(*(one(i) for i in range(int(sys.argv[2]))))
        await asyncio.sleep(1.5)  # the timers of the destroyed objects would fire now
        return texts

    with loop:
        texts = loop.run_until_complete(main())
    maker.stop()
    print("streams", len(texts), "chars", sum(map(len, texts)), "garbage", made, flush=True)
    """
)


def test_a_long_streaming_session_with_qt_garbage_does_not_crash(
    tmp_path: Path, server: ScriptedOpenAIServer
) -> None:
    """In a separate process under ``python -X dev`` (a crash must not take the suite down)."""
    for _ in range(STREAMS):
        server.reply_text(_text(CHUNKS), chunk_size=4)
    script = tmp_path / "stream_with_garbage.py"
    script.write_text(CRASH_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "dev", str(script), server.base_url, str(STREAMS)],
        capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )
    print(proc.stdout.strip())
    print(proc.stderr[-3000:])
    assert "Timers cannot be stopped from another thread" not in proc.stderr
    assert "Fatal Python error" not in proc.stderr
    assert proc.returncode == 0
    assert f"streams {STREAMS} chars {STREAMS * CHUNKS * 4}" in proc.stdout


def test_survivors_of_a_full_collection_are_frozen_when_modules_were_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Modules imported after start-up (litellm's lazy ones) hold long-lived objects that every
    full collection walked again on the GUI thread (70-150 ms, issue 9): after a full
    collection, survivors are frozen if modules were imported since the last time; else not."""
    import types

    # The freeze's own module table: an import by a thread left from an earlier test is not ours.
    modules = dict(sys.modules)
    monkeypatch.setattr(collection, "sys", types.SimpleNamespace(modules=modules))
    name = "solodesk_test_lazily_imported"
    collection.freeze_new_modules()  # the baseline: modules imported so far
    long_lived = {"kept": [object() for _ in range(10)]}
    before = gc.get_freeze_count()
    assert collection.freeze_new_modules() is False  # no module imported since
    assert gc.get_freeze_count() == before
    due: list[int | None] = [1, 2]
    monkeypatch.setattr(collection, "due_generation", lambda now=None: due.pop(0))
    try:
        modules[name] = types.ModuleType(name)  # as an import does
        assert collection.collect_due() == 1  # a young collection freezes nothing
        assert gc.get_freeze_count() == before
        assert collection.collect_due() == 2
        assert gc.get_freeze_count() > before
        assert not any(o is long_lived for o in gc.get_objects())  # frozen: never walked
        assert collection.freeze_new_modules() is False  # once per import
    finally:
        modules.pop(name, None)


def test_what_the_calls_imported_is_frozen_when_the_last_call_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first call imports litellm's lazy modules (the tokenizer for the budget check, then
    the OpenAI client's and MCP's models for the completion): frozen when the last running
    call ends if modules were imported meanwhile (not only after the very first call)."""
    import types

    from solodesk.llm import gateway as gw

    # The module table the freeze looks at is this test's own: a thread left by an earlier test
    # importing something meanwhile must not count as "imported during the calls".
    modules = dict(sys.modules)
    monkeypatch.setattr(collection, "sys", types.SimpleNamespace(modules=modules))
    policy = gw._CollectionPolicy()
    name = "solodesk_test_imported_by_a_call"
    collection.freeze_new_modules()  # the baseline
    before = gc.get_freeze_count()
    policy.enter()
    policy.exit()  # nothing imported: nothing frozen
    assert gc.get_freeze_count() == before
    try:
        policy.enter()
        policy.enter()
        modules[name] = types.ModuleType(name)  # as a lazy import during the calls
        kept = [object() for _ in range(10)]
        policy.exit()  # one call still runs: not yet
        assert gc.get_freeze_count() == before
        policy.exit()
        assert gc.get_freeze_count() > before and kept
    finally:
        modules.pop(name, None)
