"""The model gateway: the only module that imports litellm.

litellm is imported lazily, in a worker thread, with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so
nothing goes to the network at import time and the GUI's first paint does not wait for it (the
app starts that import ahead of need with :func:`preload`). Every call runs on one model thread
with its own asyncio loop (:func:`model_loop`): litellm's work per response and per streamed
chunk never runs on the caller's loop, which in the app is the GUI's. The model thread shares
only plain data with the caller (a stream's text goes through a channel, see ``_Channel``):
nothing of the caller's or of Qt's is ever released there; and in the GUI it runs no garbage
collection (:mod:`solodesk.llm.collection`). Every call has a finite
timeout (for streams also between chunks). Usage and cost of each call are reported to
``on_call``, on the caller's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from solodesk.core.llmtypes import (
    CallEstimate,
    Completion,
    LLMCallRecord,
    LLMError,
    Message,
    ToolCall,
    ToolSpec,
)
from solodesk.llm import collection

_litellm: ModuleType | None = None

T = TypeVar("T")
_import_lock = threading.Lock()


def import_litellm() -> ModuleType:
    """Import litellm offline (blocking; call from a worker thread). Idempotent."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "ERROR")
            # litellm's import builds a large, long-lived object graph. Collecting during the
            # import would walk it again and again (holding the GIL the GUI thread waits for),
            # and every later full collection would walk it on whatever thread triggers it
            # (hundreds of ms on the GUI thread): import without collecting (neither
            # automatically nor by the GUI's collector), then move what exists to the
            # permanent generation (gc.freeze), which collections skip.
            with collection.deferred():
                import litellm
            gc.freeze()

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            litellm.drop_params = True
            _litellm = litellm
    return _litellm


def preload() -> threading.Thread | None:
    """Import litellm in a thread now, ahead of the first model call (which then does not wait
    for it).

    Returns:
        The thread (not a daemon: the interpreter never exits in the middle of the import), or
        None if litellm is already imported.
    """
    if _litellm is not None:
        return None
    thread = threading.Thread(target=_preload, name="litellm-preload")
    thread.start()
    return thread


def _preload() -> None:
    try:
        import_litellm()
    except Exception:  # the first model call imports again and reports the error
        logging.getLogger(__name__).warning("importing litellm ahead of need failed",
                                            exc_info=True)


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """Where calls go.

    Attributes:
        model: litellm model string (``openai/gpt-4o-mini``, ``ollama_chat/llama3.2``...).
        api_base: Base URL of an OpenAI-compatible server, or None for the provider default.
        api_key: The provider key from the keyring, or None.
        timeout: Seconds before a call (or a gap between streamed chunks) is abandoned.
        max_tokens: Most tokens the model may generate in one answer (sent as the OpenAI
            ``max_tokens`` parameter), or None for the provider's limit.
        free: The calls cost nothing (the embedded local model): priced at 0.
        schema_string_limit: Longest ``maxLength`` kept in the tools' JSON schemas, or None
            for all. llama.cpp turns a forced tool's schema into a decoding grammar with one
            rule per allowed character: a 200,000-character limit crashed its server
            (SIGSEGV), so the local model gets none above this (SoloDesk validates the lengths
            itself).
        price_usd_per_mtok: (prompt, answer) price in USD per million tokens set by the founder
            (``llm.price_in_usd_per_mtok``/``llm.price_out_usd_per_mtok``), used instead of
            litellm's price list; None to use the list.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 120.0
    max_tokens: int | None = None
    free: bool = False
    schema_string_limit: int | None = None
    price_usd_per_mtok: tuple[float, float] | None = None

    def describe(self) -> str:
        return f"{self.model}" + (f" at {self.api_base}" if self.api_base else "")


def _explain(exc: BaseException, target: ModelTarget) -> str:
    """A one-line reason with what to do; never includes the API key."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    if target.api_key:
        text = text.replace(target.api_key, "***")
    text = text[:300]
    where = target.describe()
    if isinstance(exc, asyncio.TimeoutError) or "Timeout" in name:
        return (
            f"the model {where} did not answer within {target.timeout:g} s; check that it is "
            "running, or raise llm.timeout"
        )
    if "Authentication" in name:
        return f"the provider refused the API key for {where}; set it with " \
            "'solodesk secrets set llm.api_key'"
    if _connection_failed(exc):
        return f"cannot reach the model {where} ({text}); check llm.api_base and that the " \
            "server is running"
    if "NotFound" in name:
        return f"the model {where} was not found ({text}); check llm.model"
    if "RateLimit" in name:
        return f"the provider of {where} is rate limiting ({text}); wait and try again"
    return f"the model call to {where} failed: {name}: {text}"


def _connection_failed(exc: BaseException) -> bool:
    """The request got no answer: the server is unreachable or the connection broke (e.g. the
    server process died mid-request). litellm wraps openai's ``APIConnectionError`` as an
    ``InternalServerError`` whose text says ``Connection error``, so the text counts too."""
    name = type(exc).__name__
    if "Connection" in name or "ServiceUnavailable" in name:
        return True
    text = str(exc)
    return "Connection error" in text or "APIConnectionError" in text


def _server_refused(exc: BaseException) -> bool:
    """The server answered with an error (not a timeout, not a broken connection)."""
    name = type(exc).__name__
    if _connection_failed(exc) or "Authentication" in name:
        return False
    return any(
        word in name
        for word in ("BadRequest", "InternalServer", "UnprocessableEntity", "APIError")
    )


class Gateway:
    """Chat completions through litellm, streamed or with tool calls.

    Args:
        target: Model, server and key.
        on_call: Called with an :class:`LLMCallRecord` after every call, failed ones too.
        before_call: Called with the call's :class:`CallEstimate` before every call (a budget
            check); when it raises (:class:`OverBudget`), the call is not made.
        budget_applies: Called with the call's run id before the estimate: False when no
            budget applies to the call (``before_call`` would accept any estimate), so neither
            the estimate (tokenizing the prompt on the model thread) nor ``before_call`` is
            done. None: always estimate and check.
    """

    def __init__(
        self,
        target: ModelTarget,
        *,
        on_call: Callable[[LLMCallRecord], None] | None = None,
        before_call: Callable[[CallEstimate], None] | None = None,
        budget_applies: Callable[[int | None], bool] | None = None,
    ) -> None:
        self.target = target
        self.on_call = on_call
        self.before_call = before_call
        self.budget_applies = budget_applies

    def estimate(
        self, litellm: ModuleType, messages: Sequence[Message], tools: Sequence[ToolSpec],
        *, purpose: str, run_id: int | None,
    ) -> CallEstimate:
        """The most a call could cost: prompt tokens counted with ``litellm.token_counter``
        plus ``max_tokens`` (1024 when unset) for the answer, priced from litellm's offline
        price map (``litellm.cost_per_token``) or the founder's price; the local model costs 0.
        A model with no price at all is estimated at 0 with ``priced=False``, so a budget can
        refuse it instead of letting it run unchecked."""
        model = self.target.model
        try:
            tokens_in = int(litellm.token_counter(
                model=model, messages=list(messages),
                tools=self._tools(tools) or None,
            ))
        except Exception:  # a tokenizer that cannot read these messages: count characters
            tokens_in = sum(len(str(m.get("content") or "")) for m in messages) // 3 + 1
        tokens_out = self.target.max_tokens or 1024
        cost = _cost(litellm, self.target, tokens_in, tokens_out)
        return CallEstimate(model, purpose, run_id, tokens_in, tokens_out, cost or 0.0,
                            priced=cost is not None)

    async def _check_budget(self, litellm: ModuleType, messages: Sequence[Message],
                            tools: Sequence[ToolSpec], purpose: str, run_id: int | None) -> None:
        """Estimate on the model thread (tokenizing is litellm's work, kept off the caller's
        loop, which is the GUI's), then ask ``before_call`` here (it reads the store)."""
        if self.before_call is None:
            return
        if self.budget_applies is not None and not self.budget_applies(run_id):
            return

        async def estimate() -> CallEstimate:
            return self.estimate(litellm, messages, tools, purpose=purpose, run_id=run_id)

        self.before_call(await _on_model_thread(estimate()))

    async def load(self) -> ModuleType:
        """Import litellm in a worker thread (so the event loop keeps running)."""
        if _litellm is not None:
            return _litellm
        return await asyncio.get_running_loop().run_in_executor(None, import_litellm)

    def _tools(self, tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        """The tools in OpenAI's format, string limits above ``schema_string_limit`` dropped."""
        out = [t.to_openai() for t in tools]
        limit = self.target.schema_string_limit
        if limit is not None:
            out = [_drop_long_limits(t, limit) for t in out]
        return out

    def _kwargs(self, messages: Sequence[Message]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.target.model,
            "messages": list(messages),
            "timeout": self.target.timeout,
            "num_retries": 0,
        }
        if self.target.max_tokens is not None:
            kwargs["max_tokens"] = self.target.max_tokens
        if self.target.api_base:
            kwargs["api_base"] = self.target.api_base
        if self.target.api_key:
            kwargs["api_key"] = self.target.api_key
        elif self.target.api_base and self.target.model.startswith("openai/"):
            kwargs["api_key"] = "sk-no-key-needed"  # OpenAI-compatible local server
        return kwargs

    def _record(
        self,
        purpose: str,
        started: float,
        usage: _Usage | None,
        error: str | None,
        run_id: int | None = None,
    ) -> None:
        """Report one call to ``on_call`` (on the caller's thread: it writes to the store)."""
        record = LLMCallRecord(
            model=self.target.model,
            purpose=purpose,
            tokens_in=usage.tokens_in if usage else None,
            tokens_out=usage.tokens_out if usage else None,
            cost_usd=usage.cost_usd if usage else None,
            latency_ms=int((time.monotonic() - started) * 1000),
            error=error,
            run_id=run_id,
        )
        if self.on_call is not None:
            self.on_call(record)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | dict[str, Any] | None = None,
        purpose: str = "proposal",
        temperature: float | None = None,
        run_id: int | None = None,
    ) -> Completion:
        """One non-streamed completion, with tools if given.

        The call runs on the model thread (see :func:`model_loop`); the caller's loop only
        waits for its result.

        Args:
            run_id: The run the call is made for; its usage record names it (``core.runs``).

        Raises:
            OverBudget: ``before_call`` refused it; no request was made.
            LLMError: timeout, connection, authentication or provider error (one-line reason).
        """
        litellm = await self.load()
        await self._check_budget(litellm, messages, tools, purpose, run_id)
        kwargs = self._kwargs(messages)
        if tools:
            kwargs["tools"] = self._tools(tools)
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        if temperature is not None:
            kwargs["temperature"] = temperature
        started = time.monotonic()
        try:
            completion, usage = await _on_model_thread(
                _complete_there(litellm, kwargs, self.target)
            )
        except asyncio.CancelledError:
            self._record(purpose, started, None, "cancelled", run_id)
            raise
        except Exception as exc:
            reason = _explain(exc, self.target)
            self._record(purpose, started, None, reason, run_id)
            raise LLMError(reason, server_refused=_server_refused(exc)) from None
        self._record(purpose, started, usage, None, run_id)
        return completion

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        on_delta: Callable[[str], None],
        tools: Sequence[ToolSpec] = (),
        stop: asyncio.Event | None = None,
        purpose: str = "chat",
        run_id: int | None = None,
    ) -> Completion:
        """A streamed completion: ``on_delta`` gets the text as it arrives, on the caller's
        loop (pieces that arrived together are joined into one call).

        The chunks are received and decoded on the model thread (see :func:`model_loop`):
        litellm's work per chunk (about a millisecond) never runs on the caller's loop, which
        is the GUI's.

        Args:
            run_id: The run the call is made for; its usage record names it (``core.runs``).
            stop: When set, streaming stops and the text so far is returned
                (``finish_reason="stopped"``).

        Raises:
            OverBudget: ``before_call`` refused it; no request was made.
            LLMError: timeout (also between chunks), connection or provider error.
        """
        litellm = await self.load()
        await self._check_budget(litellm, messages, tools, purpose, run_id)
        kwargs = self._kwargs(messages)
        kwargs["stream"] = True
        # The usage in the last chunk (OpenAI's stream_options); litellm drops it otherwise.
        # A server that ignores it (llama-cpp-python's) is counted by tokenizer instead.
        kwargs["stream_options"] = {"include_usage": True}
        if tools:
            kwargs["tools"] = self._tools(tools)
        started = time.monotonic()
        deliveries = _Deliveries(asyncio.get_running_loop(), on_delta, stop)
        _collections.enter()  # until the last text is delivered (below), not only received
        try:
            try:
                completion, usage, stopped = await _on_model_thread(
                    _stream_there(litellm, kwargs, self.target, deliveries.channel)
                )
            finally:
                deliveries.close()
                _collections.exit()
        except asyncio.CancelledError:
            self._record(purpose, started, None, "cancelled", run_id)
            raise
        except Exception as exc:
            reason = _explain(exc, self.target)
            self._record(purpose, started, None, reason, run_id)
            raise LLMError(reason, server_refused=_server_refused(exc)) from None
        self._record(purpose, started, usage, None, run_id)
        if stopped:
            return Completion(text=completion.text, tool_calls=[], finish_reason="stopped")
        return completion


@dataclass(frozen=True, slots=True)
class _Usage:
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None


def _cost(litellm: ModuleType, target: ModelTarget, tokens_in: int | None,
          tokens_out: int | None, response: Any | None = None) -> float | None:
    """The call's cost in USD; None if no price is known.

    The local model (``target.free``) costs 0; a price the founder set
    (``target.price_usd_per_mtok``) comes next; then litellm's price list: the response's own
    model first, and when the list does not know it (an OpenAI-compatible server naming its
    model its own way), the configured model with the response's token counts."""
    if target.free:
        return 0.0
    if target.price_usd_per_mtok is not None:
        if tokens_in is None or tokens_out is None:
            return None
        price_in, price_out = target.price_usd_per_mtok
        return (tokens_in * price_in + tokens_out * price_out) / 1_000_000
    model = target.model
    if response is not None:
        try:
            return float(litellm.completion_cost(completion_response=response))
        except Exception:
            pass
    try:
        if tokens_in is None or tokens_out is None:
            return None
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
        return float(prompt_cost) + float(completion_cost)
    except Exception:
        return None  # no price known (local or custom model)


async def _complete_there(
    litellm: ModuleType, kwargs: dict[str, Any], target: ModelTarget
) -> tuple[Completion, _Usage]:
    """One completion, on the model thread."""
    response = await asyncio.wait_for(litellm.acompletion(**kwargs), timeout=target.timeout + 5)
    usage = getattr(response, "usage", None)
    tokens_in = getattr(usage, "prompt_tokens", None) if usage is not None else None
    tokens_out = getattr(usage, "completion_tokens", None) if usage is not None else None
    cost = _cost(litellm, target, tokens_in, tokens_out, response)
    return _to_completion(response), _Usage(tokens_in, tokens_out, cost)


async def _stream_there(
    litellm: ModuleType,
    kwargs: dict[str, Any],
    target: ModelTarget,
    channel: _Channel,
) -> tuple[Completion, _Usage, bool]:
    """One streamed completion, on the model thread; each piece of text goes to ``channel``.

    Everything this coroutine (and so the model thread) references is plain data, litellm's
    objects and the channel: nothing of the caller's loop or of Qt, so nothing of theirs is
    ever released here.

    Returns:
        ``(completion, usage, stopped)``.

    Raises:
        TimeoutError: no chunk arrived for ``target.timeout`` seconds.
    """
    response = await asyncio.wait_for(litellm.acompletion(**kwargs), timeout=target.timeout + 5)
    assembly = StreamAssembly()
    stopped = False
    gap = _GapTimer(target.timeout)
    gap.start()
    try:
        iterator = _chunks(response).__aiter__()
        while True:
            if channel.halt.is_set():
                stopped = True
                break
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            gap.touch()
            text = assembly.add(chunk)
            if text:
                channel.push(text)
    except asyncio.CancelledError:
        if gap.fired and _uncancel() == 0:  # our gap timer cancelled it, nobody else did
            raise TimeoutError(f"no chunk for {target.timeout:g} s") from None
        raise
    finally:
        gap.close()
        # Close the response now, not when the collector gets to it: a server that answers
        # one request at a time (llama.cpp's) holds its model until the stream is closed.
        aclose = getattr(response, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                pass
    completion = assembly.completion()
    tokens_in, tokens_out = assembly.tokens_in, assembly.tokens_out
    if tokens_in is None and tokens_out is None:
        tokens_in, tokens_out = _count_tokens(litellm, target.model, kwargs, completion)
    cost = _cost(litellm, target, tokens_in, tokens_out)
    return completion, _Usage(tokens_in, tokens_out, cost), stopped


#: litellm providers whose streams are OpenAI chat completion chunks from the OpenAI SDK.
OPENAI_CHUNK_PROVIDERS = frozenset({"openai"})


def _chunks(response: Any) -> Any:
    """What to iterate for the chunks of a litellm stream (on the model thread).

    For an OpenAI-compatible server (``openai/…`` models, the local model's server) the chunks
    are already in OpenAI's format: the OpenAI SDK's own stream under litellm's wrapper
    (``CustomStreamWrapper.completion_stream``) is read directly. litellm's wrapper re-builds
    every chunk as its own object (about 0.4-0.5 ms of CPU per chunk here, against 0.08 ms for
    the SDK's stream) while holding the GIL the GUI thread needs; :class:`StreamAssembly`
    reads the SDK's chunks as it reads litellm's. Other providers' chunks need litellm's
    translation: the wrapper is iterated.
    """
    raw = getattr(response, "completion_stream", None)
    if raw is None or getattr(response, "custom_llm_provider", None) not in OPENAI_CHUNK_PROVIDERS:
        return response
    try:
        from openai import AsyncStream
    except ImportError:  # pragma: no cover - litellm depends on openai
        return response
    return raw if isinstance(raw, AsyncStream) else response


def _count_tokens(
    litellm: ModuleType, model: str, kwargs: dict[str, Any], completion: Completion
) -> tuple[int | None, int | None]:
    """Prompt and answer tokens by litellm's tokenizer for the model, for a stream whose server
    reported no usage (as ``litellm.stream_chunk_builder`` does); ``(None, None)`` if it cannot
    count."""
    try:
        tokens_in = int(litellm.token_counter(model=model, messages=kwargs["messages"]))
        answer = completion.text + "".join(c.name + c.arguments for c in completion.tool_calls)
        tokens_out = int(litellm.token_counter(model=model, text=answer)) if answer else 0
    except Exception:
        return None, None
    return tokens_in, tokens_out


#: Least time between two wakes of the caller's loop by one stream (seconds). Each wake is a
#: queued Qt signal and a callback on the GUI thread; a wake per chunk (about 1,300 a second
#: with 8 chats streaming at full speed) costs the GUI thread more than the text it carries.
#: The chat panel renders at most every 60 ms, so text arriving within 30 ms is not late.
DELIVERY_INTERVAL_S = 0.03


class _Channel:
    """What the model thread shares with the caller's loop for one stream: pieces of text
    going out (:meth:`push`) and a halt flag coming in (:attr:`halt`).

    It holds no reference to the caller's objects (its callbacks, its asyncio objects, Qt's):
    only a weak reference to the :class:`_Deliveries` on the caller's side, dereferenced on the
    caller's loop, and the loop's ``call_soon_threadsafe`` to wake it: once per batch of text,
    at most every :data:`DELIVERY_INTERVAL_S` (text arriving sooner waits on the model
    thread's loop and goes in the next batch).
    """

    def __init__(self, wake: Callable[[Callable[[], None]], object],
                 receiver: weakref.ref[_Deliveries],
                 interval: float = DELIVERY_INTERVAL_S) -> None:
        self.halt = threading.Event()
        self._wake = wake
        self._receiver = receiver
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._requested = False  # a wake was sent and its text not yet taken
        self._timer: asyncio.TimerHandle | None = None  # a wake due later, on the model loop
        self._last_wake = -math.inf
        self.wakes = 0  # so far

    def push(self, text: str) -> None:
        """Called on the model thread, in its loop."""
        with self._lock:
            self._pending.append(text)
            if self._requested:
                return
        delay = self._last_wake + self._interval - time.monotonic()
        if delay <= 0:
            self._wake_now()
        elif self._timer is None:
            # A stream that is read from a full buffer never lets its loop run a timer: the
            # next push past the interval wakes instead (above); the timer serves a stream
            # that pauses.
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake_now()

    def _wake_now(self) -> None:
        """On the model thread: wake the caller's loop to take the pending text."""
        with self._lock:
            if self._requested or not self._pending:
                return
            self._requested = True
        self._last_wake = time.monotonic()
        self.wakes += 1
        try:
            self._wake(self._deliver)
        except RuntimeError:  # the caller's loop is closed (shutting down)
            pass

    def take(self) -> list[str]:
        """The text pushed since the last call (any thread)."""
        with self._lock:
            texts, self._pending = self._pending, []
            self._requested = False
        return texts

    def _deliver(self) -> None:
        """On the caller's loop."""
        receiver = self._receiver()
        if receiver is not None:
            receiver.flush()


class _Deliveries:
    """The caller's side of a stream: hands the text to ``on_delta`` on the caller's loop, in
    order, in batches, and sets the channel's halt flag when ``stop`` is set."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_delta: Callable[[str], None],
                 stop: asyncio.Event | None) -> None:
        self._on_delta = on_delta
        self.channel = _Channel(loop.call_soon_threadsafe, weakref.ref(self))
        self._watch: asyncio.Task[Any] | None = None
        if stop is not None:
            if stop.is_set():
                self.channel.halt.set()
            else:
                self._watch = loop.create_task(stop.wait())
                self._watch.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            self.channel.halt.set()

    def flush(self) -> None:
        """On the caller's loop: deliver what has arrived."""
        texts = self.channel.take()
        if texts:
            self._on_delta("".join(texts))

    def close(self) -> None:
        """On the caller's loop, when the stream has ended: deliver the rest."""
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
        self.flush()


class _ModelThread:
    """A thread running the asyncio loop on which every litellm call runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="solodesk-model", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what runs there, stop the loop and wait for the thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()
            loop.stop()

        try:
            asyncio.run_coroutine_threadsafe(finish(), loop)
        except RuntimeError:
            return
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


_model_thread = _ModelThread()
atexit.register(_model_thread.stop)


def model_loop() -> asyncio.AbstractEventLoop:
    """The model thread's event loop (started on first use).

    Every litellm call runs there, so that decoding responses and streamed chunks (litellm's
    Python work) never runs on the caller's loop, which in the app is the GUI's.
    """
    return _model_thread.loop()


def stop_model_thread(timeout: float = 5.0) -> None:
    """Cancel the calls still running on the model thread and stop it (idempotent; also run
    at interpreter exit). A later call starts it again."""
    _model_thread.stop(timeout)


#: While model calls run, a full (generation 2) collection waits for this many generation-1
#: collections instead of CPython's 10.
DEFERRED_GEN2_THRESHOLD = 1_000_000


class _CollectionPolicy:
    """Defers Python's full garbage collections while model calls run, and freezes what the
    first call leaves behind.

    A stream keeps its chunks (litellm keeps them for its logging) until it ends: with 8
    streams, a full collection walks millions of young objects and holds the GIL for hundreds
    of milliseconds, so the GUI stalls (which thread runs collections is decided elsewhere: in
    the GUI, its own, see :mod:`solodesk.llm.collection`). Young generations are still
    collected meanwhile; the full collections resume when the last call ends. When the last
    call ends, if modules were imported since the last freeze (the first call's budget check
    loads litellm's tokenizer; its completion the OpenAI client's and MCP's pydantic models),
    what is alive is moved to the permanent generation like litellm's own
    (:func:`solodesk.llm.collection.freeze_new_modules`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved: tuple[int, int, int] | None = None

    def enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(self._saved[0], self._saved[1], DEFERRED_GEN2_THRESHOLD)
            self._active += 1

    def exit(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active:
                return
            if self._saved is not None:
                gc.set_threshold(*self._saved)
                self._saved = None
            collection.freeze_new_modules()


_collections = _CollectionPolicy()


async def _on_model_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the model thread and wait for it; cancelling the wait cancels it."""
    _collections.enter()
    try:
        future = asyncio.run_coroutine_threadsafe(coro, model_loop())
        return await asyncio.wrap_future(future)
    finally:
        _collections.exit()


def _uncancel() -> int:
    """Withdraw one cancellation request from the current task; returns how many are left."""
    task = asyncio.current_task()
    return task.uncancel() if task is not None else 0


class _GapTimer:
    """Cancels the current task when no chunk arrived for ``timeout`` seconds.

    One timer handle per stream, re-armed only when it fires (never per chunk): an event loop
    such as qasync keeps a cancelled timer handle until its time comes, so a ``wait_for`` per
    chunk would leave thousands of 120 s timers (and the frames they reference) behind.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = False
        self._last = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._last = self._loop.time()
        self._handle = self._loop.call_at(self._last + self.timeout, self._check)

    def touch(self) -> None:
        """A chunk arrived (cheap: only a time stamp)."""
        if self._loop is not None:
            self._last = self._loop.time()

    def _check(self) -> None:
        assert self._loop is not None
        due = self._last + self.timeout
        if due > self._loop.time():
            self._handle = self._loop.call_at(due, self._check)
            return
        self._handle = None
        if self._task is not None and not self._task.done():
            self.fired = True
            self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class StreamAssembly:
    """Builds the completion from streamed chunks as they arrive (OpenAI chat completion chunk
    format, as litellm yields it): text, tool calls (arguments concatenated per index),
    finish reason and the usage of the last chunk that reports one.

    Cheap per chunk and O(1) at the end, unlike ``litellm.stream_chunk_builder`` (which
    re-walks every chunk and may count tokens on the event loop's thread).
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.chunks = 0

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns its text (empty if none)."""
        self.chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            prompt_tokens = getattr(usage, "prompt_tokens", None)
            completion_tokens = getattr(usage, "completion_tokens", None)
            if prompt_tokens is not None or completion_tokens is not None:
                self.tokens_in, self.tokens_out = prompt_tokens, completion_tokens
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        choice = choices[0]
        reason = getattr(choice, "finish_reason", None)
        if reason:
            self.finish_reason = reason
        delta = getattr(choice, "delta", None)
        if delta is None:
            return ""
        for tc in getattr(delta, "tool_calls", None) or []:
            index = getattr(tc, "index", None)
            if index is None:
                index = len(self._calls)
            call = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
            if getattr(tc, "id", None):
                call["id"] = tc.id
            fn = getattr(tc, "function", None)
            if fn is not None:
                if getattr(fn, "name", None):
                    call["name"] = fn.name
                args = getattr(fn, "arguments", None)
                if args:
                    call["arguments"].append(
                        args if isinstance(args, str) else json.dumps(args)
                    )
        text = getattr(delta, "content", None)
        if text:
            self._text.append(text)
            return str(text)
        return ""

    def completion(self) -> Completion:
        """What the chunks so far add up to."""
        calls = [
            ToolCall(
                id=c["id"] or f"call_{i}",
                name=c["name"],
                arguments="".join(c["arguments"]),
            )
            for i, c in sorted(self._calls.items())
        ]
        return Completion(
            text="".join(self._text), tool_calls=calls, finish_reason=self.finish_reason
        )


def _to_completion(response: Any) -> Completion:
    choice = response.choices[0]
    message = choice.message
    calls: list[ToolCall] = []
    for i, tc in enumerate(getattr(message, "tool_calls", None) or []):
        fn = tc.function
        args = fn.arguments
        if not isinstance(args, str):
            args = json.dumps(args)
        calls.append(ToolCall(id=tc.id or f"call_{i}", name=fn.name or "", arguments=args or ""))
    return Completion(
        text=message.content or "",
        tool_calls=calls,
        finish_reason=getattr(choice, "finish_reason", None),
    )


def _drop_long_limits(value: Any, limit: int) -> Any:
    """``value`` (a JSON schema, or part of one) without ``maxLength`` above ``limit``."""
    if isinstance(value, dict):
        return {k: _drop_long_limits(v, limit) for k, v in value.items()
                if not (k == "maxLength" and isinstance(v, int) and v > limit)}
    if isinstance(value, list):
        return [_drop_long_limits(v, limit) for v in value]
    return value
