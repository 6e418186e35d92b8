"""Shared fixtures: an event loop runner, loopback servers, and real Services on a temp folder."""

from __future__ import annotations

import os

# Before anything can import litellm: use the bundled price list, never the network.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import asyncio  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TypeVar  # noqa: E402

import keyring  # noqa: E402
import keyring.backends.fail  # noqa: E402
import pytest  # noqa: E402

from solodesk.services import Services, build_services  # noqa: E402
from solodesk.store.paths import HOME_ENV, home_paths  # noqa: E402
from solodesk.store.secrets import SecretStore  # noqa: E402
from tests.support.openai_server import ScriptedOpenAIServer  # noqa: E402
from tests.support.smtp_server import SmtpSink  # noqa: E402

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]

FROM = "Ada Founder <ada@solodesk.example>"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> None:
    """No test may write to the real per-user folders: default paths point to a temp folder."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path_factory.mktemp("default-home")))


@pytest.fixture(autouse=True)
def _no_real_keyring() -> Iterator[None]:
    """Tests never touch the developer's keyring: keyring's ``fail`` backend unless a test
    opts into the private Secret Service (tests/integration/test_keyring.py)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def _loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


@pytest.fixture
def run(_loop: asyncio.AbstractEventLoop) -> Run[object]:
    """Run a coroutine to completion on the session's event loop (one loop for all tests, so
    litellm's cached HTTP clients stay bound to a live loop)."""

    def _run(awaitable: Awaitable[T]) -> T:
        return _loop.run_until_complete(awaitable)

    return _run  # type: ignore[return-value]


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A scripted OpenAI-compatible server; fails the test if it got requests nobody scripted."""
    server = ScriptedOpenAIServer().start()
    try:
        yield server
    finally:
        server.close()
    if server.unscripted:
        pytest.fail(f"the scripted model got {server.unscripted} request(s) nobody scripted")


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real aiosmtpd server on 127.0.0.1 that keeps what it receives."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


def configure(services: Services, *, api_base: str, smtp_port: int) -> None:
    """Point ``services`` at the scripted model and the loopback SMTP server."""
    cfg = services.config
    cfg.set("llm.model", "openai/scripted")
    cfg.set("llm.api_base", api_base)
    cfg.set("llm.timeout", "20")
    cfg.set("smtp.host", "127.0.0.1")
    cfg.set("smtp.port", str(smtp_port))
    cfg.set("smtp.security", "none")
    cfg.set("smtp.from", FROM)
    cfg.set("smtp.timeout", "10")
    cfg.set("company.name", "Inkwell Notes")
    cfg.set("founder.name", "Ada")
    # The devil's advocate adds a model call per high-risk proposal: tests that script the
    # model turn it on themselves (tests/integration/test_critique.py).
    cfg.set("critique.enabled", "false")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The SoloDesk home folder of one test."""
    return tmp_path / "home"


@pytest.fixture
def services(
    home: Path, openai_server: ScriptedOpenAIServer, smtp_server: SmtpSink, run: Run[object]
) -> Iterator[Services]:
    """Real Services on a temp home, wired to the scripted model and the SMTP server."""
    sv = build_services(home_paths(home), secrets=SecretStore())
    configure(sv, api_base=openai_server.base_url, smtp_port=smtp_server.port)
    try:
        yield sv
    finally:
        run(sv.aclose())
