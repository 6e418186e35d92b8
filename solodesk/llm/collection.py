"""Which thread runs Python's cyclic garbage collections.

CPython runs a collection on whichever thread allocates past a threshold, and a collection
destroys everything it finds in unreachable reference cycles, on that thread. In the GUI process
such a cycle can hold the Python wrapper of a Qt object (a dialog, a timer, a qasync loop's
timer object); destroying a Qt object on a thread other than its own is undefined behaviour: a
``QObject`` with a running timer, destroyed on the model thread, leaves the timer registered in
the GUI thread's event dispatcher ("QObject::~QObject: Timers cannot be stopped from another
thread"), and the GUI thread's event loop crashes (SIGSEGV) when it fires. The model thread
(:func:`solodesk.llm.gateway.model_loop`) decodes every streamed chunk, so it is where most
collections would start while chats stream; the mail import thread likewise.

The GUI therefore takes the collections over (:class:`solodesk.ui.collector.GuiCollector`):
automatic collections are switched off (:func:`pause_automatic`) and the GUI thread runs the
collection CPython would have run (:func:`collect_due`) from a Qt timer. Other processes (the
command line, headless tests) keep CPython's automatic collections: they have no Qt objects.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import Iterator

_lock = threading.Lock()
_holds = 0
_deferrals = 0
_last_full = time.monotonic()

#: Least time between two full collections run by :func:`collect_due` (seconds). CPython skips
#: a full collection due by count while few objects were added since the last one; counts are
#: all Python shows, so time stands in for that rule (counting the survivors of young
#: collections to apply CPython's rule made the GUI's gaps worse in the benchmark).
FULL_COLLECTION_INTERVAL_S = 10.0


def pause_automatic() -> None:
    """Switch CPython's automatic collections off until as many :func:`resume_automatic` calls
    (holds are counted; thread-safe)."""
    global _holds
    with _lock:
        _holds += 1
        gc.disable()


def resume_automatic() -> None:
    """Release one :func:`pause_automatic` hold; the last one switches automatic collections
    back on.

    Raises:
        RuntimeError: No hold to release.
    """
    global _holds
    with _lock:
        if _holds == 0:
            raise RuntimeError("automatic garbage collection is not paused")
        _holds -= 1
        if _holds == 0:
            gc.enable()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """No collection at all while the block runs: neither CPython's automatic ones (as
    :func:`pause_automatic`) nor those :func:`collect_due` runs (the GUI's collector waits).

    For building a large long-lived object graph that is frozen (:func:`gc.freeze`) at the
    end, such as litellm's import: collecting in the middle walks it again and again for
    nothing, holding the GIL (young collections of up to 45 ms on the GUI thread while the
    first chat imported litellm).
    """
    global _deferrals
    pause_automatic()
    with _lock:
        _deferrals += 1
    try:
        yield
    finally:
        with _lock:
            _deferrals -= 1
        resume_automatic()


def automatic_paused() -> bool:
    """Whether some :func:`pause_automatic` hold is in force."""
    with _lock:
        return _holds > 0


def due_generation(now: float | None = None) -> int | None:
    """The generation CPython would collect now by its counts and thresholds
    (:func:`gc.get_count`, :func:`gc.get_threshold`), or None if none is due.

    As in CPython: nothing until generation 0 has more than its threshold; then the oldest
    generation whose count exceeds its threshold. A full collection (generation 2) runs at most
    every :data:`FULL_COLLECTION_INTERVAL_S` (in its place, the next younger one that is due).
    None while a :func:`deferred` block runs.
    """
    if _deferrals:
        return None
    count0, count1, count2 = gc.get_count()
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if threshold0 == 0 or count0 <= threshold0:
        return None
    now = time.monotonic() if now is None else now
    if count2 > threshold2 and now - _last_full >= FULL_COLLECTION_INTERVAL_S:
        return 2
    if count1 > threshold1:
        return 1
    return 0


def collect_due() -> int | None:
    """Run the collection that is due (:func:`due_generation`) on the calling thread.

    After a full collection, if modules were imported since the last time (or since this
    module was imported), what survived it is moved to the permanent generation
    (:func:`gc.freeze`, see :func:`freeze_new_modules`).

    Returns:
        The generation collected, or None if none was due.
    """
    global _last_full
    generation = due_generation()
    if generation is None:
        return None
    gc.collect(generation)
    if generation == 2:
        _last_full = time.monotonic()
        freeze_new_modules()
    return generation


_modules_frozen = len(sys.modules)


def freeze_new_modules() -> bool:
    """Freeze (:func:`gc.freeze`) what is alive now if modules were imported since the last
    call; call it when what is alive is long-lived: right after a full collection (so that only
    survivors are frozen), or when the last model call ends
    (:class:`solodesk.llm.gateway._CollectionPolicy`).

    Modules imported after start-up (litellm's lazy imports during and after the first model
    call: the OpenAI SDK's and MCP's pydantic models, anyio, starlette...; the importers'
    parsers) hold about 115,000 long-lived objects (functions, pydantic ``FieldInfo``, dicts)
    that every full collection walked again: 70-150 ms on the GUI thread during a mail or a
    statement import. Imports stop once the app is warm, so this freezes a few times per
    process; an object frozen while alive is still freed by reference counting, and only one
    that ends in a reference cycle stays (the cost of skipping these objects).

    Returns:
        Whether it froze.
    """
    global _modules_frozen
    count = len(sys.modules)
    if count == _modules_frozen:
        return False
    _modules_frozen = count
    gc.freeze()
    return True
