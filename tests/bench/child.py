"""The benchmarks' child processes: ``python -m tests.bench.child MODE JSON-ARGS``.

Each prints one JSON object as its last stdout line. Modes:

- ``start``: cold start to the first paint of the main window (``side`` = ``solodesk``: the
  real app on ``home``; ``bare``: a bare PySide6 ``QMainWindow``). First paint = the first
  ``QEvent.Paint`` received by any widget of a ``QMainWindow`` (an application-wide event filter,
  the same on both sides). Reports the wall-clock time of that paint (``time.time()``; the parent
  subtracts its own clock before ``Popen``), whether ``litellm`` was in ``sys.modules`` then,
  and the resident memory one second later (idle).
- ``import``: mail import of ``mbox`` (``side`` = ``solodesk``: ``import_mail`` into a fresh
  store; ``stdlib``: ``mailbox.mbox`` + ``email`` parsing with the default policy). Reports
  seconds, messages and peak RSS of the process.
- ``loop``: event-loop gaps of a 5 ms ``QTimer`` in a qasync loop, with the real ``MainWindow``.
- ``chat``: resident memory across chat turns (``side`` = ``solodesk``: the chat panel of the
  real window; ``bare``: ``litellm.acompletion`` streaming in a bare window).
- ``llama``: resident memory of a bare ``llama_cpp.Llama`` with the default model after one
  completion (the baseline of the local model server's memory).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def _rss() -> int:
    from tests.bench.report import rss_bytes

    return rss_bytes()


# -- start ------------------------------------------------------------------------------------
def start(args: dict[str, Any]) -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

    seen: dict[str, Any] = {}

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
            if (
                not seen
                and event.type() == QEvent.Type.Paint
                and isinstance(obj, QWidget)
                and isinstance(obj.window(), QMainWindow)
            ):
                seen["paint"] = time.time()
                seen["litellm"] = "litellm" in sys.modules
                QTimer.singleShot(1000, finish)
            return False

    def finish() -> None:
        _emit({"paint": seen["paint"], "litellm": seen["litellm"], "rss": _rss()})
        os._exit(0)  # measured; the clean exit is tested elsewhere

    watcher = FirstPaint()
    if args["side"] == "bare":
        app = QApplication(sys.argv[:1])
        app.installEventFilter(watcher)
        window = QMainWindow()
        window.setWindowTitle("bare")
        window.resize(1200, 800)
        window.show()
        app.exec()
        return
    from solodesk import app as solodesk_app

    qapp = solodesk_app.application()  # the app's own QApplication; run_gui reuses it
    qapp.installEventFilter(watcher)
    solodesk_app.run_gui()


# -- import -----------------------------------------------------------------------------------
def mail_import(args: dict[str, Any]) -> None:
    from pathlib import Path

    from tests.bench.report import peak_rss_bytes

    path = Path(args["mbox"])
    if args["side"] == "stdlib":
        import email
        import email.policy
        import mailbox

        def factory(f: Any) -> Any:
            return email.message_from_binary_file(f, policy=email.policy.default)

        t = time.perf_counter()
        n = 0
        for _msg in mailbox.mbox(str(path), factory=factory, create=False):
            n += 1
        seconds = time.perf_counter() - t
    else:
        from solodesk.connectors.mailimport import import_mail
        from solodesk.store.db import connect
        from solodesk.store.repos import Store

        store = Store(connect(Path(args["db"])))
        t = time.perf_counter()
        report = import_mail(path, store.mail)
        seconds = time.perf_counter() - t
        n = len(report.imported)
        store.close()
    _emit({"seconds": seconds, "messages": n, "peak_rss": peak_rss_bytes()})


# -- shared GUI set-up --------------------------------------------------------------------------
def _gui(home: str) -> tuple[Any, Any, Any]:
    """The app's QApplication, a qasync loop and the real services on ``home``, with the
    process set up as :func:`solodesk.app.run_gui` sets it up (garbage collections on the GUI
    thread, the GUI's thread switch interval)."""
    import asyncio
    from pathlib import Path

    from qasync import QEventLoop

    from solodesk.app import GUI_SWITCH_INTERVAL_S, application, install_collector
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths

    app = application()
    install_collector(app)
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    services = build_services(home_paths(Path(home)))
    return app, loop, services


def _window(services: Any) -> Any:
    from solodesk.ui.bridge import EventBridge
    from solodesk.ui.main_window import MainWindow

    window = MainWindow(services, bridge=EventBridge(services.bus))
    window.resize(1200, 800)
    window.show()
    return window


class Ticks:
    """A 5 ms QTimer recording when it fires; ``gaps`` between ticks in ms."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def begin(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def end(self) -> dict[str, float]:
        self.timer.stop()
        self.times.append(time.perf_counter())
        from tests.bench.report import percentile

        gaps = [(b - a) * 1000 for a, b in zip(self.times, self.times[1:], strict=False)]
        span = (self.times[-1] - self.times[0]) * 1000
        return {
            "max": max(gaps, default=0.0),
            "p99": percentile(gaps, 99),
            "ticks": len(gaps),
            "expected": span / 5,
            "ms": span,
        }


# -- loop -------------------------------------------------------------------------------------
def loop_gaps(args: dict[str, Any]) -> None:
    import asyncio
    from pathlib import Path

    from PySide6.QtWidgets import QMainWindow

    app, loop, services = _gui(args["home"])
    idle_s = float(args["idle_s"])
    results: dict[str, list[dict[str, float]]] = {}
    ticks = Ticks()

    async def measure(name: str, work: Any) -> None:
        ticks.begin()
        await work
        results.setdefault(name, []).append(ticks.end())

    async def main() -> None:
        # The bare baseline first: a QMainWindow alone in the same kind of loop.
        bare = QMainWindow()
        bare.resize(1200, 800)
        bare.show()
        await asyncio.sleep(0.3)
        for _ in range(int(args["runs"])):
            await measure("bare_idle", asyncio.sleep(idle_s))
        bare.close()
        window = _window(services)
        await asyncio.sleep(0.5)
        # The first chat (litellm's first use), once; then litellm is warm, so "streaming"
        # below is not "first import".
        await measure("first_chat", window.chat.send("hello"))
        for run in range(int(args["runs"])):
            await measure("idle", asyncio.sleep(idle_s))

            async def chats() -> None:
                text = f"stream {args['tokens']}"
                others = [services.runner.chat(text) for _ in range(int(args["streams"]) - 1)]
                await asyncio.gather(window.chat.send(text), *others)

            await measure("chats", chats())
            await measure("import", window.import_mail(Path(args["mboxes"][run])))
            await measure("bank", bank(services, Path(args["statements"][run])))
        window.close()

    async def bank(services: Any, path: Path) -> None:
        # No bank import in the window yet: run it as the window runs the mail import, in a
        # worker thread on its own connection.
        from solodesk.connectors.bank.importer import import_file
        from solodesk.store.db import connect
        from solodesk.store.repos import Store

        def work() -> int:
            store = Store(connect(services.paths.database))
            try:
                return import_file(path, store.bank).imported
            finally:
                store.close()

        imported = await asyncio.get_running_loop().run_in_executor(None, work)
        assert imported > 0, f"nothing imported from {path}"

    with loop:
        loop.run_until_complete(main())
    _emit({"results": results})
    sys.stdout.flush()
    os._exit(0)


# -- chat -------------------------------------------------------------------------------------
def chat_memory(args: dict[str, Any]) -> None:
    import asyncio
    import gc

    turns = int(args["turns"])
    mark = max(1, turns // 10)
    out: dict[str, Any] = {}
    durations: list[float] = []
    if args["side"] == "bare":
        from PySide6.QtWidgets import QApplication, QMainWindow
        from qasync import QEventLoop

        app = QApplication(sys.argv[:1])
        loop = QEventLoop(app)
        asyncio.set_event_loop(loop)
        window = QMainWindow()
        window.show()

        async def turn(history: list[dict[str, str]], text: str) -> None:
            import litellm

            history.append({"role": "user", "content": text})
            stream = await litellm.acompletion(
                model="openai/scripted", api_base=args["api_base"], api_key="bench",
                messages=history[-21:], stream=True, timeout=60,
            )
            reply = ""
            async for chunk in stream:
                reply += chunk.choices[0].delta.content or ""
            history.append({"role": "assistant", "content": reply})

        async def main() -> None:
            await asyncio.sleep(1.0)
            out["idle"] = _rss()
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            history: list[dict[str, str]] = []
            await turn(history, "hello")
            out["first"] = _rss()
            for i in range(1, turns):
                t = time.perf_counter()
                await turn(history, f"question {i}")
                durations.append((time.perf_counter() - t) * 1000)
                if i == mark:
                    gc.collect()
                    out["mark"] = _rss()
            gc.collect()
            out["last"] = _rss()
    else:
        app, loop, services = _gui(args["home"])

        async def main() -> None:
            window = _window(services)
            await asyncio.sleep(1.0)
            out["idle"] = _rss()
            cid = await window.chat.send("hello")
            assert cid is not None, "the first chat failed"
            out["first"] = _rss()
            for i in range(1, turns):
                t = time.perf_counter()
                assert await window.chat.send(f"question {i}") is not None, f"chat {i} failed"
                durations.append((time.perf_counter() - t) * 1000)
                if i == mark:
                    gc.collect()
                    out["mark"] = _rss()
            gc.collect()
            out["last"] = _rss()
            window.close()

    out["turns_measured"] = turns - 1 - mark
    with loop:
        loop.run_until_complete(main())
    from tests.bench.report import median

    out["turn_ms_first"] = median(durations[:mark])
    out["turn_ms_last"] = median(durations[-mark:])
    _emit(out)
    os._exit(0)


# -- llama ------------------------------------------------------------------------------------
def llama(args: dict[str, Any]) -> None:
    import llama_cpp

    from solodesk.llm.local import default_model_path

    model = default_model_path()
    assert model is not None, "no local model installed"
    llm = llama_cpp.Llama(model_path=str(model), n_ctx=int(args["n_ctx"]),
                          n_threads=os.cpu_count(), verbose=False)
    llm.create_chat_completion(messages=args["messages"], max_tokens=32, temperature=0)
    _emit({"rss": _rss()})


MODES = {"start": start, "import": mail_import, "loop": loop_gaps, "chat": chat_memory,
         "llama": llama}

if __name__ == "__main__":
    MODES[sys.argv[1]](json.loads(sys.argv[2]))
