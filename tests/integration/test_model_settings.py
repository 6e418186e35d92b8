"""Model settings changed while SoloDesk runs apply to the next model call."""

from __future__ import annotations

import pytest

from solodesk.services import Services
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration


def test_changed_timeout_and_api_key_apply_to_the_next_call(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    first = run(services.runner.gateway())
    assert first.target.timeout == 20
    assert run(services.runner.gateway()) is first  # unchanged settings: reused

    services.config.set("llm.timeout", "300")
    services.secrets.set("llm.api_key", "sk-scripted-key-42")
    second = run(services.runner.gateway())

    assert second.target.timeout == 300
    openai_server.reply_text("ok")
    run(services.runner.chat("hello"))
    (request,) = openai_server.chat_requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == "Bearer sk-scripted-key-42"


def test_changed_api_base_applies_to_the_next_call(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    other = ScriptedOpenAIServer().start()
    try:
        openai_server.reply_text("from the first server")
        run(services.runner.chat("one"))
        services.config.set("llm.api_base", other.base_url)
        other.reply_text("from the second server")
        _, completion, _ = run(services.runner.chat("two"))
        assert completion.text == "from the second server"
        assert len(openai_server.chat_requests) == 1 and len(other.chat_requests) == 1
    finally:
        other.close()


def test_every_model_call_is_bounded_by_llm_max_tokens(
    services: Services, openai_server: ScriptedOpenAIServer, run
) -> None:
    openai_server.reply_text("first")
    run(services.runner.chat("one"))
    services.config.set("llm.max_tokens", "300")
    openai_server.reply_text("second")
    run(services.runner.chat("two"))
    first, second = openai_server.chat_requests
    assert first.body is not None and first.body["max_tokens"] == 1024  # the default
    assert second.body is not None and second.body["max_tokens"] == 300
