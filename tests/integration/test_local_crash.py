"""A local model process that dies is named, restarted once, and stops the run if it dies again.

The real launcher (:class:`LocalModelServer`) starts a stand-in server
(``tests/support/crashing_model_server.py``) that answers ``/v1/models`` and kills itself with
SIGSEGV on a completion; the real runner calls it through the real gateway (litellm).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from solodesk.agents.runner import Runner
from solodesk.core.events import ModelCrashed, RunFailed
from solodesk.llm.local import LocalModelServer
from solodesk.services import Services, build_services
from solodesk.store.paths import home_paths
from solodesk.store.secrets import SecretStore
from tests.support.helpers import collect, import_sample

pytestmark = pytest.mark.integration

STAND_IN = Path(__file__).resolve().parents[1] / "support" / "crashing_model_server.py"
SEGFAULT_TRACE = "Fatal Python error: Segmentation fault"


def _services(home: Path, *, crash_once: bool) -> Services:
    """Real services with ``llm.model = local`` launched as the stand-in server."""
    sv = build_services(home_paths(home), secrets=SecretStore())
    model = home / "model.gguf"
    model.write_bytes(b"GGUF stand-in")
    sv.config.set("llm.model", "local")
    sv.config.set("critique.enabled", "false")  # the crash counts are triage's own calls
    sv.config.set("llm.local_model_path", str(model))
    sv.config.set("llm.timeout", "30")
    sv.config.set("smtp.from", "Ada Founder <ada@solodesk.example>")
    entry = [sys.executable, str(STAND_IN), "--state", str(home / "crashed-once")]
    if crash_once:
        entry.append("--crash-once")
    sv.runner = Runner(
        store=sv.store,
        config=sv.config,
        secrets=sv.secrets,
        bus=sv.bus,
        execute=sv.outbox.execute,
        log_dir=sv.paths.log_dir,
        local_server_factory=lambda path, log_path: LocalModelServer(
            path, log_path=log_path, entry=entry, startup_timeout=60
        ),
    )
    return sv


@pytest.fixture
def crashing(tmp_path: Path, run):
    sv = _services(tmp_path / "home", crash_once=False)
    yield sv
    run(sv.aclose())


@pytest.fixture
def crashing_once(tmp_path: Path, run):
    sv = _services(tmp_path / "home", crash_once=True)
    yield sv
    run(sv.aclose())


def test_a_process_that_dies_twice_stops_the_run_with_its_signal(crashing: Services, run) -> None:
    ids = import_sample(crashing.store)
    crashes = collect(crashing, ModelCrashed)
    failures = collect(crashing, RunFailed)
    log_path = crashing.paths.log_dir / "local-model.log"

    report = run(crashing.runner.triage(limit=3))

    # Reported once with the restart, then once when it died again: never per mail.
    assert [c.restarting for c in crashes] == [True, False]
    first, second = (c.message for c in crashes)
    assert first.startswith("the local model process crashed (signal 11, SIGSEGV); see ")
    assert str(log_path) in first and first.endswith("restarting it")
    assert "signal 11, SIGSEGV" in second
    # The run stopped at the first mail with that reason (not "Connection error").
    assert [(o.mail_id, o.status) for o in report.outcomes] == [(ids[0], "failed")]
    note = report.outcomes[0].note
    assert "crashed (signal 11, SIGSEGV)" in note and "again, after a restart" in note
    assert all("onnection" not in f.message for f in failures)
    assert len(failures) == 1
    # The mails stay untriaged, to be tried again.
    assert [crashing.store.mail.get(i).triage_status for i in ids[:3]] == ["new"] * 3
    # The model log holds each crash's last lines (faulthandler's trace on stderr).
    assert log_path.read_text(errors="replace").count(SEGFAULT_TRACE) == 2


def test_a_process_that_dies_once_is_restarted_and_the_run_goes_on(
    crashing_once: Services, run
) -> None:
    ids = import_sample(crashing_once.store)
    crashes = collect(crashing_once, ModelCrashed)

    report = run(crashing_once.runner.triage(limit=3))

    assert [c.restarting for c in crashes] == [True]
    assert "crashed (signal 11, SIGSEGV)" in crashes[0].message
    # The mail being triaged when it died was asked again: every mail got its draft.
    assert [(o.mail_id, o.status) for o in report.outcomes] == [
        (i, "proposed") for i in ids[:3]
    ]
    log_text = (crashing_once.paths.log_dir / "local-model.log").read_text(errors="replace")
    assert log_text.count(SEGFAULT_TRACE) == 1
    assert log_text.count("starting the local model") == 2


def test_the_run_after_a_stopped_one_starts_a_fresh_process(crashing: Services, run) -> None:
    import_sample(crashing.store)
    crashes = collect(crashing, ModelCrashed)
    run(crashing.runner.triage(limit=1))
    run(crashing.runner.triage(limit=1))
    # Each run has its own restart: two runs, two crash-restart-crash rounds.
    assert [c.restarting for c in crashes] == [True, False, True, False]


def test_calls_to_the_local_model_are_bounded_by_llm_local_timeout(
    crashing: Services, run
) -> None:
    """A CPU-only model on a busy machine is slow (one triage call took 175 s at a load of 3.5
    here): the local model has its own, longer bound; llm.timeout bounds the remote models."""
    assert crashing.config.get_int("llm.timeout") == 30
    gateway = run(crashing.runner.gateway())
    assert gateway.target.timeout == 600.0  # the default
    crashing.config.set("llm.local_timeout", "900")
    assert run(crashing.runner.gateway()).target.timeout == 900.0
    crashing.config.set("llm.model", "openai/remote")
    crashing.config.set("llm.api_base", "http://127.0.0.1:9/v1")
    assert run(crashing.runner.gateway()).target.timeout == 30.0
