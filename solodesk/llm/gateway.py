"""The model gateway: the only module that imports litellm.

litellm is imported lazily, in a worker thread, with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so
nothing goes to the network at import time and the GUI's first paint does not wait for it. Every
call has a finite timeout. Usage and cost of each call are reported to ``on_call``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from solodesk.core.llmtypes import (
    Completion,
    LLMCallRecord,
    LLMError,
    Message,
    ToolCall,
    ToolSpec,
)

_litellm: ModuleType | None = None
_import_lock = threading.Lock()


def import_litellm() -> ModuleType:
    """Import litellm offline (blocking; call from a worker thread). Idempotent."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "ERROR")
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            litellm.drop_params = True
            _litellm = litellm
    return _litellm


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
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 120.0
    max_tokens: int | None = None

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
    """

    def __init__(
        self,
        target: ModelTarget,
        *,
        on_call: Callable[[LLMCallRecord], None] | None = None,
    ) -> None:
        self.target = target
        self.on_call = on_call

    async def load(self) -> ModuleType:
        """Import litellm in a worker thread (so the event loop keeps running)."""
        if _litellm is not None:
            return _litellm
        return await asyncio.get_running_loop().run_in_executor(None, import_litellm)

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
        response: Any | None,
        error: str | None,
        litellm: ModuleType | None,
        run_id: int | None = None,
    ) -> None:
        tokens_in = tokens_out = None
        cost: float | None = None
        if response is not None:
            usage = getattr(response, "usage", None)
            if usage is not None:
                tokens_in = getattr(usage, "prompt_tokens", None)
                tokens_out = getattr(usage, "completion_tokens", None)
            if litellm is not None:
                try:
                    cost = float(litellm.completion_cost(completion_response=response))
                except Exception:
                    cost = None  # no price known (local or custom model)
        record = LLMCallRecord(
            model=self.target.model,
            purpose=purpose,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
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

        Args:
            run_id: The run the call is made for; its usage record names it (``core.runs``).

        Raises:
            LLMError: timeout, connection, authentication or provider error (one-line reason).
        """
        litellm = await self.load()
        kwargs = self._kwargs(messages)
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        if temperature is not None:
            kwargs["temperature"] = temperature
        started = time.monotonic()
        try:
            response = await asyncio.wait_for(
                litellm.acompletion(**kwargs), timeout=self.target.timeout + 5
            )
        except asyncio.CancelledError:
            self._record(purpose, started, None, "cancelled", litellm, run_id)
            raise
        except Exception as exc:
            reason = _explain(exc, self.target)
            self._record(purpose, started, None, reason, litellm, run_id)
            raise LLMError(reason, server_refused=_server_refused(exc)) from None
        self._record(purpose, started, response, None, litellm, run_id)
        return _to_completion(response)

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
        """A streamed completion: ``on_delta`` gets each piece of text as it arrives.

        Args:
            run_id: The run the call is made for; its usage record names it (``core.runs``).
            stop: When set, streaming stops and the text so far is returned
                (``finish_reason="stopped"``).

        Raises:
            LLMError: timeout (also between chunks), connection or provider error.
        """
        litellm = await self.load()
        kwargs = self._kwargs(messages)
        kwargs["stream"] = True
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
        started = time.monotonic()
        chunks: list[Any] = []
        stopped = False
        try:
            response = await asyncio.wait_for(
                litellm.acompletion(**kwargs), timeout=self.target.timeout + 5
            )
            iterator = response.__aiter__()
            while True:
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                try:
                    chunk = await asyncio.wait_for(
                        iterator.__anext__(), timeout=self.target.timeout
                    )
                except StopAsyncIteration:
                    break
                chunks.append(chunk)
                choices = getattr(chunk, "choices", None) or []
                if choices:
                    delta = getattr(choices[0], "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        on_delta(text)
            if stopped:
                aclose = getattr(response, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        pass
        except asyncio.CancelledError:
            self._record(purpose, started, None, "cancelled", litellm, run_id)
            raise
        except Exception as exc:
            reason = _explain(exc, self.target)
            self._record(purpose, started, None, reason, litellm, run_id)
            raise LLMError(reason, server_refused=_server_refused(exc)) from None
        built = None
        if chunks:
            try:
                built = litellm.stream_chunk_builder(chunks, messages=list(messages))
            except Exception:
                built = None
        self._record(purpose, started, built, None, litellm, run_id)
        if built is None:
            return Completion(text="", finish_reason="stopped" if stopped else None)
        completion = _to_completion(built)
        if stopped:
            return Completion(text=completion.text, tool_calls=[], finish_reason="stopped")
        return completion


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
