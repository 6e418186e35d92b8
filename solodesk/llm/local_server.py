"""The local model process: llama-cpp-python's OpenAI-compatible server, started so that it
runs on any CPU of the architecture and leaves a trace when it dies.

Run as ``python -m solodesk.llm.local_server --model FILE --port N ...`` with the arguments of
``python -m llama_cpp.server`` (see :func:`solodesk.llm.local.local_server_command`, the one
place that builds the command; a frozen build runs the same module). Before the model is
loaded it:

* enables :mod:`faulthandler`, so a crash in native code (SIGSEGV, SIGILL, SIGBUS, SIGFPE,
  SIGABRT) writes the Python stack to stderr, which the launcher keeps in the model log (and
  turns off core files, which that trace replaces);
* turns off llama.cpp's extra buffer types (``llama_model_params.use_extra_bufts = False``):
  the CPU weight-repacking path that, in llama-cpp-python 0.3.x built with native CPU flags,
  segfaults on the first ``decode`` on AVX-512 + AMX Xeons. A wheel built earlier with other
  flags may come from pip's cache (its key ignores ``CMAKE_ARGS``), so this is done at run
  time whatever the build;
* prints one line with the llama.cpp build's compile-time CPU features;
* exits when SoloDesk is gone (killed or crashed), so no orphaned server lingers.

Then it serves :func:`llama_cpp.server.app.create_app` with uvicorn, as
``llama_cpp/server/__main__.py`` does.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

#: Marks our wrapper of ``llama_model_default_params`` (so it is installed only once).
_PATCHED = "_solodesk_no_extra_bufts"


def disable_extra_buffer_types() -> bool:
    """Make every model llama-cpp-python loads in this process use ``use_extra_bufts=False``.

    ``llama_cpp/llama.py`` reads its defaults through the module function
    ``llama_cpp.llama_cpp.llama_model_default_params()``; that function is wrapped so the
    returned ``llama_model_params`` has the field turned off. Idempotent.

    Returns:
        True if the wrapper is installed; False if this llama-cpp-python has no such field
        (older than 0.3.x: nothing to turn off).
    """
    import llama_cpp
    import llama_cpp.llama_cpp as native

    original: Callable[[], Any] = native.llama_model_default_params
    if getattr(original, _PATCHED, False):
        return True
    if "use_extra_bufts" not in {name for name, *_ in native.llama_model_params._fields_}:
        return False

    def llama_model_default_params() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    setattr(llama_model_default_params, _PATCHED, True)
    native.llama_model_default_params = llama_model_default_params
    # The package re-exports the function (``from .llama_cpp import *``): same behaviour there.
    llama_cpp.llama_model_default_params = llama_model_default_params
    return True


def system_info() -> str:
    """The llama.cpp build's compile-time features (``llama_print_system_info``), one line."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


def no_core_dumps() -> None:
    """No core file (hundreds of MB, in whatever folder SoloDesk was started from) when this
    process crashes: faulthandler's trace in the model log says where it died."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))


def exit_with_parent(*, poll_s: float = 1.0) -> threading.Thread:
    """End this process once the process that started it is gone (SoloDesk killed or crashed):
    a model server nobody can reach must not linger, holding memory and CPU threads.

    It runs in its own session (the launcher starts it so), so it is not signalled with its
    parent; a daemon thread notices the parent's exit (this process is re-parented) instead.

    Returns:
        The watching thread (started).
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                print(
                    "solodesk local model server: SoloDesk is gone; exiting",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(0)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> None:
    """Parse llama_cpp.server's arguments, then serve the model until terminated."""
    faulthandler.enable(file=sys.stderr, all_threads=True)
    no_core_dumps()
    exit_with_parent()
    import argparse

    import uvicorn
    from llama_cpp import __version__ as llama_cpp_version
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    from solodesk.llm.local import REBUILD_HINT, cpu_features_beyond_baseline

    patched = disable_extra_buffer_types()
    info = system_info()
    print(
        f"solodesk local model server: llama-cpp-python {llama_cpp_version}; "
        f"use_extra_bufts={'off' if patched else 'n/a'}; {info}",
        file=sys.stderr,
        flush=True,
    )
    beyond = cpu_features_beyond_baseline(info)
    if beyond:
        print(
            f"warning: this llama.cpp was built for one CPU ({', '.join(beyond)}): it may "
            f"crash on another machine. A portable build: {REBUILD_HINT}",
            file=sys.stderr,
            flush=True,
        )
    parser = argparse.ArgumentParser(
        prog="python -m solodesk.llm.local_server",
        description="llama.cpp's OpenAI-compatible server, as SoloDesk runs it",
    )
    add_args_from_model(parser, Settings)
    args = parser.parse_args(argv)
    # (llama_cpp annotates parse_model_from_args as returning the class; it returns an instance)
    server_settings = cast(ServerSettings, parse_model_from_args(ServerSettings, args))
    model_settings = [cast(ModelSettings, parse_model_from_args(ModelSettings, args))]
    app = create_app(server_settings=server_settings, model_settings=model_settings)
    uvicorn.run(app, host=server_settings.host, port=int(server_settings.port))


if __name__ == "__main__":
    main()
