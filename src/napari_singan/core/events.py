"""Long work is a generator that yields small typed events and returns its result.

The events of every long-work generator live here; :func:`drain` is the one
driver that runs such a generator (CLI progress bars, benchmarks and tests
pass a callback; napari widgets run the same generator in a thread worker).
Events with progress carry their own ``fraction`` of the work done; training
events are counted in iterations by :func:`training_steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .singan import SinGANModel

E = TypeVar("E")
R = TypeVar("R")


@dataclass(frozen=True)
class ScaleStarted:
    """A scale begins training."""

    scale: int  # coarse-to-fine index
    num_scales: int  # scales in the pyramid
    shape: tuple[int, int]  # (H, W) of this scale
    width: int  # conv filters at this scale
    noise_amp: float  # sigma_n used at this scale


@dataclass(frozen=True)
class Progress:
    """Losses at an iteration (emitted at most every ``report_seconds``)."""

    scale: int  # coarse-to-fine index
    num_scales: int  # scales in the pyramid
    iteration: int  # iterations done at this scale
    iters: int  # iterations of this scale
    d_loss: float  # discriminator loss (WGAN-GP)
    g_loss: float  # adversarial + alpha * reconstruction loss
    rec_loss: float  # reconstruction MSE

    @property
    def fraction(self) -> float:
        """Share of the whole training done, 0..1, every scale counted alike (:func:`training_steps`
        weighs each by its iterations)."""
        return (self.scale + self.iteration / self.iters) / self.num_scales


@dataclass(frozen=True)
class Preview:
    """A random sample at the current scale, in the training image's dtype and layout."""

    scale: int  # coarse-to-fine index
    iteration: int  # iterations done at this scale
    image: np.ndarray  # (H_n, W_n[, C])
    labels: np.ndarray | None = None  # (H_n, W_n) label image of the same sample, for a model with labels


@dataclass(frozen=True)
class ScaleFinished:
    """A scale finished; ``model`` holds every scale trained so far."""

    scale: int  # coarse-to-fine index
    num_scales: int  # scales in the pyramid
    seconds: float  # wall time spent on this scale
    rec_rmse: float  # RMSE of the reconstruction at this scale, in normalised units
    model: SinGANModel  # usable model with scales 0..scale


TrainEvent = ScaleStarted | Progress | Preview | ScaleFinished


@dataclass(frozen=True)
class SampleProgress:
    """Emitted after each batch of generated samples."""

    done: int  # samples finished so far
    total: int  # samples requested

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1."""
        return self.done / self.total


@dataclass(frozen=True)
class MaskNetProgress:
    """Emitted while the net that redraws masks is fit (:mod:`napari_singan.core.masknet`)."""

    step: int  # Adam steps done
    steps: int  # steps of the fit
    loss: float  # training loss of the latest step

    @property
    def fraction(self) -> float:
        """Share of the fit done, 0..1."""
        return self.step / self.steps


@dataclass(frozen=True)
class TileProgress:
    """Emitted after each tile of a tiled generation (:mod:`napari_singan.core.tiled`)."""

    sample: int  # index of the sample the tile belongs to
    scale: int  # coarse-to-fine index of the stage that produced it
    done: int  # tiles finished so far, over all samples and stages
    total: int  # tiles in the whole job

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1."""
        return self.done / self.total


@dataclass(frozen=True)
class ImageFinished:
    """One image of a batch of trainings is done (a model written, or a failure)."""

    source: str  # the image file
    done: int  # images finished so far, failures included
    total: int  # images in the batch
    model_path: str | None  # the model file written, None on failure
    error: str | None  # one-line reason of a failure, None on success
    kept: bool = False  # a complete model was there (these or unrecorded settings): not trained again

    @property
    def fraction(self) -> float:
        """Share of the work done, 0..1."""
        return self.done / self.total


def training_steps(
    event: object, iterations: Callable[[int], int], first_scale: int = 0
) -> tuple[int, int] | None:
    """Iterations done and in all, from scale ``first_scale`` on, after a training event.

    Parameters
    ----------
    event
        Any event; only :class:`ScaleStarted`, :class:`Progress` and
        :class:`ScaleFinished` count.
    iterations
        Iterations of a scale, e.g. the ``__getitem__`` of ``TrainConfig.schedule(shapes)``.
    first_scale
        The first scale of the run (a resumed model's number of trained scales).

    Returns
    -------
    (int, int) or None
        ``(done, total)``, or ``None`` for other events.
    """
    if not isinstance(event, (ScaleStarted, Progress, ScaleFinished)):
        return None
    counts = [iterations(n) for n in range(first_scale, event.num_scales)]
    here = event.scale - first_scale
    done = counts[here] if isinstance(event, ScaleFinished) else getattr(event, "iteration", 0)
    return sum(counts[:here]) + done, sum(counts)


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
