"""Run the core's long-work generators in napari thread workers.

The widget passes the core generator itself; :func:`start` wraps it in
``napari.qt.threading.create_worker`` (no extra threads or queues). Expected
failures (bad input, out of memory) become a :class:`Failed` event, shown as
a notification with a hint instead of a traceback. Warnings the work gives (the
core's notices) become warning notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_warning

from ..core import OUT_OF_MEMORY_HINT, SinGANError, is_out_of_memory


@dataclass(frozen=True)
class Failed:
    """The work stopped with an error the user can act on."""

    message: str  # what went wrong and what to do


def guarded(work: Generator[Any, None, Any]) -> Generator[Any, None, Any]:
    """Re-yield ``work``'s events; turn expected errors into a :class:`Failed` event."""
    try:
        return (yield from work)
    except SinGANError as exc:
        yield Failed(str(exc))
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        yield Failed(OUT_OF_MEMORY_HINT)
    return None


def start(
    work: Generator[Any, None, Any],
    on_event: Callable[[Any], None],
    on_returned: Callable[[Any], None],
    on_finished: Callable[[], None],
    on_aborted: Callable[[], None],
    on_errored: Callable[[BaseException], None],
) -> GeneratorWorker:
    """Start ``work`` in a napari thread worker; callbacks run in the GUI thread.

    ``on_errored`` gets an unexpected exception (a bug). Once the worker has
    finished, ``work`` is closed, so that a stopped one cleans up as it would
    at its end (e.g. a half-written file is removed)."""
    worker = create_worker(guarded, work, _start_thread=False)
    # napari 0.9's workers do not relay warnings themselves (their notifying mixin never initialises);
    # shown at every run, not once a session as napari shows the warnings it catches
    worker.warned.connect(lambda shown: show_warning(str(shown[0])))
    worker.yielded.connect(on_event)
    worker.returned.connect(on_returned)
    worker.finished.connect(work.close)  # the thread is done with it: a stopped one runs its cleanup
    worker.finished.connect(on_finished)
    worker.aborted.connect(on_aborted)
    worker.errored.connect(on_errored)
    worker.start()
    return worker
