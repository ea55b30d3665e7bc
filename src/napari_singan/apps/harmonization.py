"""Harmonization (paper §4.3): make a pasted object match the training image's look.

The naive composite is injected at a coarse-to-mid scale; the finer
generators re-render it in the training image's texture and colours, and the
result is kept only in the (dilated, feathered) region of the pasted object.
Optionally the finest scales are first fine-tuned on the composite itself
(as ConSinGAN offers), which preserves more of the object.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import numpy as np
from torch import nn

from ..core.pyramid import resize
from ..core.singan import SinGANModel
from ..core.training import TrainEvent, resume
from ._masked import masked_application
from ._shared import input_tensor, model_scale_shape, spatial_shape

#: Paper-style defaults: dilation radius and Gaussian sigma in pixels at the model's resolution.
RADIUS = 7.0
SIGMA = 5.0


harmonize = masked_application(
    RADIUS,
    SIGMA,
    "composite",
    """Harmonize the pasted region ``mask`` of ``composite``.

    Returns ``composite``'s shape and dtype; outside the feathered mask the pixels are ``composite``'s own.
    Arguments: ``model, composite, mask, start_scale=1, *, radius=7, sigma=5, seed=0``.
    """,
)


def fine_tune(
    model: SinGANModel, image: np.ndarray, scales: int = 1, iters: int | None = None
) -> Generator[TrainEvent, None, SinGANModel]:
    """Retrain the ``scales`` finest scales on ``image`` (e.g. a composite); coarser scales are kept.

    Each retrained scale starts from the weights below it (paper initialisation
    rule), so a few hundred iterations suffice. Returns a new model; ``model``
    is unchanged.
    """
    keep = max(1, model.num_trained - scales)
    hw = spatial_shape(model, image)
    target = resize(input_tensor(model, image, "fine-tuning image"), model_scale_shape(model, hw))
    cfg = model.config
    if iters is not None:
        cfg = cfg.with_overrides(iters_per_scale=iters)
    start = replace(
        model,
        config=cfg,
        image=resize(target, model.shapes[-1]),
        shapes=model.trained_shapes,
        generators=nn.ModuleList(model.generators[:keep]),
        noise_amps=model.noise_amps[:keep],
    )
    return (yield from resume(start))
