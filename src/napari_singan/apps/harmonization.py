"""Harmonization (paper §4.3): make a pasted object match the training image's look.

The naive composite is injected at a coarse-to-mid scale; the finer
generators re-render it in the training image's texture and colours, and the
result is kept only in the (dilated, feathered) region of the pasted object.
Optionally the finest scales are first fine-tuned on the composite itself
(as ConSinGAN offers), which preserves more of the object.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..core.errors import check_whole
from ..core.pyramid import resize
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from ..core.training import TrainEvent
from .masked import blend_weight, regenerate_and_blend
from .shared import input_tensor, model_scale_shape, retrain, spatial_shape

#: Paper-style defaults: dilation radius and Gaussian sigma in pixels at the model's resolution.
RADIUS = 7.0
SIGMA = 5.0


def harmonize(
    model: SinGANModel,
    composite: np.ndarray,
    mask: np.ndarray,
    start_scale: int = 1,
    *,
    radius: float = RADIUS,
    sigma: float = SIGMA,
    seed: int | None = 0,
    fine_tune_iters: int = 0,
    force: bool = False,
) -> Generator[TrainEvent | SampleProgress, None, np.ndarray]:
    """Harmonize the object pasted into ``composite`` in the region ``mask``.

    Parameters
    ----------
    model
        The model trained on the background image.
    composite
        The naive composite, in the source image's pixels and channel layout.
    mask
        2-D mask of the pasted object (non-zero inside), resized to
        ``composite`` when its size differs.
    start_scale
        1 .. N-1: the composite is injected at the scale below; higher keeps
        more of the object's own detail.
    radius
        Dilation of the mask in pixels at the model's resolution.
    sigma
        Feathering of the mask in pixels at the model's resolution.
    seed
        Same seed, same output; ``None`` draws a random seed.
    fine_tune_iters
        If > 0, first retrain the finest scale on the composite for this many
        iterations (:func:`fine_tune`) and harmonize with the tuned model.
    force
        Skip the memory estimate that refuses, before any work, outputs that
        would not fit in the device's available memory.

    Yields
    ------
    TrainEvent or SampleProgress
        The fine-tuning's training events (if any), then sampling progress.

    Returns
    -------
    numpy.ndarray
        ``composite``'s shape and dtype; outside the feathered mask the pixels
        are ``composite``'s own.
    """
    fine_tune_iters = check_whole("the fine-tuning iterations", fine_tune_iters)
    weight = blend_weight(model, composite, mask, start_scale, radius, sigma, "composite", force)  # first
    if fine_tune_iters > 0:
        model = yield from fine_tune(model, composite, scales=1, iters=fine_tune_iters, force=force)
    return (
        yield from regenerate_and_blend(model, composite, weight, start_scale, seed=seed, what="composite")
    )


def fine_tune(
    model: SinGANModel,
    image: np.ndarray,
    scales: int = 1,
    iters: int | None = None,
    *,
    force: bool = False,
) -> Generator[TrainEvent, None, SinGANModel]:
    """Retrain the ``scales`` finest scales on ``image`` (e.g. a composite); coarser scales are kept.

    See :func:`~napari_singan.apps.shared.retrain`: each retrained scale starts
    from the weights below it (paper initialisation rule), so a few hundred
    iterations suffice.

    Parameters
    ----------
    model
        The trained model; it is not changed.
    image
        The image to fine-tune on, in the source image's pixels and channel layout.
    scales
        Number of finest scales to retrain (at least the coarsest scale is kept).
    iters
        Iterations per retrained scale (default: the model's configuration).
    force
        Skip the memory estimate of the retrained scales.

    Yields
    ------
    TrainEvent
        Training events of the retrained scales.

    Returns
    -------
    SinGANModel
        A new model.
    """
    scales = check_whole("the number of scales to fine-tune", scales, 1)
    hw = spatial_shape(model, image)
    target = resize(input_tensor(model, image, "fine-tuning image"), model_scale_shape(model, hw))
    return (yield from retrain(model, target, max(1, model.num_trained - scales), iters=iters, force=force))
