"""Long work is a generator that yields small typed events and returns its result."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

E = TypeVar("E")
R = TypeVar("R")


def drain(work: Generator[E, None, R], on_event: Callable[[E], object] | None = None) -> R:
    """Run a long-work generator to the end and return its result.

    Parameters
    ----------
    work
        A generator such as :func:`~napari_singan.core.train` or :func:`~napari_singan.core.generate`.
    on_event
        Called with every event the generator yields (progress bars, logs); events are dropped without it.
    """
    while True:
        try:
            event = next(work)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)
