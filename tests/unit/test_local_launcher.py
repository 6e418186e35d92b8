"""The local model launcher: one command builder, exit statuses named, build features checked."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from solodesk.core.llmtypes import LLMError
from solodesk.llm.local import (
    LOCAL_SERVER_MODULE,
    PORTABLE_CMAKE_ARGS,
    LocalModelServer,
    cpu_features_beyond_baseline,
    default_threads,
    describe_exit,
    local_server_command,
)

PORTABLE = "CPU : SSE3 = 1 | SSSE3 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
# What the build with llama.cpp's default flags (GGML_NATIVE=OFF only) reports: x86-64-v3.
DEFAULT_OFF = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
# What llama-cpp-python 0.3.36 built with GGML_NATIVE=ON reports on an AVX-512 + AMX Xeon.
NATIVE_XEON = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
    "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
    "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)


def test_the_command_runs_our_entry_module_with_llama_cpp_server_arguments(
    tmp_path: Path,
) -> None:
    cmd = local_server_command(tmp_path / "m.gguf", 4321, n_ctx=2048, n_threads=3)
    assert cmd[:3] == [sys.executable, "-m", LOCAL_SERVER_MODULE]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert args == {
        "--model": str(tmp_path / "m.gguf"),
        "--model_alias": "local",
        "--host": "127.0.0.1",
        "--port": "4321",
        "--chat_format": "chatml-function-calling",
        "--n_ctx": "2048",
        "--n_threads": "3",
    }
    other = local_server_command(tmp_path / "m.gguf", 1, entry=["/opt/solodesk-model"])
    assert other[0] == "/opt/solodesk-model" and other[1] == "--model"
    server = LocalModelServer(tmp_path / "m.gguf", log_path=tmp_path / "log", n_ctx=2048)
    assert server.command(tmp_path / "m.gguf", 4321)[:-1] == cmd[:-1]  # the same builder


def test_threads_default_to_half_the_cpus_and_the_setting_overrides_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp's threads wait for each other at every step: more threads than free cores made
    a triage call slower here (1 thread 175.7 s, 2 threads 233.7 s on 2 CPUs at a load of 3.5)."""
    from solodesk.agents.runner import Runner
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths
    from solodesk.store.secrets import SecretStore

    for cpus, threads in ((1, 1), (2, 1), (3, 1), (8, 4), (64, 32)):
        monkeypatch.setattr("os.sched_getaffinity", lambda _pid, n=cpus: set(range(n)))
        assert default_threads() == threads
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(8)))

    def threads_of(cmd: list[str]) -> str:
        return cmd[cmd.index("--n_threads") + 1]

    model = tmp_path / "m.gguf"
    assert threads_of(local_server_command(model, 1)) == "4"
    assert threads_of(local_server_command(model, 1, n_threads=0)) == "4"  # 0: the default
    sv = build_services(home_paths(tmp_path / "home"), secrets=SecretStore())
    try:
        runner = Runner(store=sv.store, config=sv.config, secrets=sv.secrets, bus=sv.bus,
                        execute=sv.outbox.execute, log_dir=sv.paths.log_dir)
        launcher = runner._local_factory(model, tmp_path / "log")
        assert threads_of(launcher.command(model, 1)) == "4"  # llm.local_threads = 0
        sv.config.set("llm.local_threads", "3")
        launcher = runner._local_factory(model, tmp_path / "log")
        assert threads_of(launcher.command(model, 1)) == "3"
    finally:
        asyncio.run(sv.aclose())


def test_exit_statuses_are_named() -> None:
    assert describe_exit(-signal.SIGSEGV) == "signal 11, SIGSEGV"
    assert describe_exit(-signal.SIGILL) == "signal 4, SIGILL"
    assert describe_exit(-200) == "signal 200"
    assert describe_exit(3) == "exit code 3"


def test_features_beyond_the_baseline_are_found() -> None:
    assert cpu_features_beyond_baseline(PORTABLE, machine="x86_64") == []
    assert cpu_features_beyond_baseline("CPU : SSE3 = 1 | SSE42 = 1 |", machine="x86_64") == []
    assert cpu_features_beyond_baseline(NATIVE_XEON, machine="x86_64") == [
        "AMX_INT8", "AVX", "AVX2", "AVX512", "AVX512_BF16", "AVX512_VBMI", "AVX512_VNNI",
        "AVX_VNNI", "BMI2", "F16C", "FMA",
    ]
    # llama.cpp's own default without GGML_NATIVE (x86-64-v3) needs AVX2: not every CPU has it.
    assert cpu_features_beyond_baseline(DEFAULT_OFF, machine="x86_64") == [
        "AVX", "AVX2", "BMI2", "F16C", "FMA",
    ]
    arm = "CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | OPENMP = 1 |"
    assert cpu_features_beyond_baseline(arm, machine="aarch64") == []


def _dying_server(tmp_path: Path, code: str) -> LocalModelServer:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    return LocalModelServer(
        model, log_path=tmp_path / "local-model.log", entry=[sys.executable, "-c", code]
    )


def test_a_process_killed_by_sigill_says_how_to_rebuild_portably(tmp_path: Path) -> None:
    server = _dying_server(
        tmp_path,
        "import os, resource, signal; resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
        "os.kill(os.getpid(), signal.SIGILL)",
    )
    with pytest.raises(LLMError) as err:
        asyncio.run(server.start())
    server.stop()
    text = str(err.value)
    assert text.startswith("the local model process crashed (signal 4, SIGILL); see ")
    assert str(tmp_path / "local-model.log") in text
    assert f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install --force-reinstall' in text


def test_a_process_that_exits_shows_its_last_log_line(tmp_path: Path) -> None:
    server = _dying_server(
        tmp_path, "import sys; print('error: no such model file', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(LLMError) as err:
        asyncio.run(server.start())
    server.stop()
    assert str(err.value) == (
        "the local model process exited (exit code 3: error: no such model file); "
        f"see {tmp_path / 'local-model.log'}"
    )
