"""Replay a fixed-shape piece of work as one CUDA graph.

A SinGAN training iteration at one scale is a few hundred tiny kernels (3
critic steps with a double-backward gradient penalty, 3 generator steps, the
frozen coarser stages) on tensors whose shapes never change within the scale.
Launched one by one from Python, the GPU mostly waits for the CPU; captured
once and replayed, the whole iteration is one launch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import torch

T = TypeVar("T")


class GraphedWork(Generic[T]):
    """Run ``work()`` eagerly for ``warmup`` calls, then capture it once and replay it.

    The captured call returns the same output tensors every time; they hold the
    values of the latest replay. ``work`` must launch the same kernels on the
    same shapes at every call, synchronise nothing with the host, and draw
    randomness only from ``generator`` (registered with the graph, so every
    replay advances it as an eager call would). Numbers baked into the kernels
    (a learning rate, say) are frozen at capture: call :meth:`recapture` after
    changing one.

    Parameters
    ----------
    work
        The function to run; it takes no arguments.
    generator
        The CUDA ``torch.Generator`` that ``work`` draws from.
    warmup
        Eager calls before the capture, on a side stream (lazy initialisation
        such as optimiser state and library handles must happen outside the graph).
    """

    def __init__(self, work: Callable[[], T], generator: torch.Generator, warmup: int = 3):
        self.work = work
        self.generator = generator
        self.device = generator.device
        self.warmup = warmup
        self._eager_left = warmup
        self._graph: torch.cuda.CUDAGraph | None = None
        self._outputs: T | None = None

    def __call__(self) -> T:
        """One call of ``work``: eager while warming up, a graph replay after."""
        if self._graph is None:
            if self._eager_left > 0:
                self._eager_left -= 1
                return self._on_side_stream()
            self._capture()
        self._graph.replay()
        return self._outputs

    def recapture(self) -> None:
        """Capture again at the next call (after one more eager warm-up call)."""
        self._graph, self._outputs = None, None
        self._eager_left = max(self._eager_left, 1)

    def _on_side_stream(self) -> T:
        main = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self.work()
        main.wait_stream(side)
        return out

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)
        # thread_local: a napari viewer may use CUDA from the GUI thread while a worker captures.
        stream = torch.cuda.Stream(self.device)
        with (
            torch.cuda.device(self.device),
            torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"),
        ):
            self._outputs = self.work()
        self._graph = graph
