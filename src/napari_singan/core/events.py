"""Long work is a generator that yields small typed events and returns its result."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

R = TypeVar("R")


def drain(work: Generator[object, None, R]) -> R:
    """Run a long-work generator to the end, ignoring its events, and return its result."""
    while True:
        try:
            next(work)
        except StopIteration as stop:
            return stop.value
