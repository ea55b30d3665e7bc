"""Super-resolution (paper §4.1).

Train with the ``super-resolution`` preset (alpha = 100). To upscale by ``s``,
take k steps of a factor close to 1/r (the model's scale ratio) whose product
is exactly ``s``; each step upsamples and passes the image through the finest
generator with its noise amplitude, which adds the details that scale learned.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import torch

from ..core.errors import SinGANError
from ..core.images import denormalize
from ..core.pyramid import resize
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from ._shared import input_tensor, seeded_noise, spatial_shape


def model_ratio(model: SinGANModel) -> float:
    """The pyramid's exact scale ratio r (< 1), from its shapes."""
    if model.num_trained < 2:
        return model.config.pyramid.scale_factor
    short = [min(s) for s in model.trained_shapes]
    return (short[0] / short[-1]) ** (1.0 / (len(short) - 1))


def sr_steps(factor: float, ratio: float) -> list[float]:
    """Per-step upscaling factors: as many steps of about 1/ratio as needed, product exactly ``factor``."""
    if factor <= 1.0:
        raise SinGANError(f"the upscaling factor must be above 1, got {factor}")
    k = max(1, math.ceil(math.log(factor) / math.log(1.0 / ratio) - 1e-9))
    return [factor ** (1.0 / k)] * k


@torch.no_grad()
def super_resolve(
    model: SinGANModel, image: np.ndarray | None = None, factor: float = 4.0, *, seed: int | None = 0
) -> Generator[SampleProgress, None, np.ndarray]:
    """Upscale ``image`` (default: the training image) by ``factor``.

    Returns
    -------
    numpy.ndarray
        ``(round(factor * H), round(factor * W)[, C])`` in the model's dtype.
    """
    if image is None:
        x = model.image  # (1, C, H, W) at the finest planned scale
        hw = model.shapes[-1]
    else:
        x = input_tensor(model, image, "super-resolution input")
        hw = spatial_shape(model, image)
    target = (round(factor * hw[0]), round(factor * hw[1]))
    steps = sr_steps(factor, model_ratio(model))
    finest = model.num_trained - 1
    noise = seeded_noise(model, seed)
    size = 1.0
    for i, step in enumerate(steps):
        size *= step
        shape = target if i == len(steps) - 1 else (round(size * hw[0]), round(size * hw[1]))
        x = resize(x, shape)  # (1, C, H_i, W_i)
        x = model.generators[finest](noise(finest, tuple(x.shape)), x)
        yield SampleProgress(i + 1, len(steps))
    return denormalize(x, model.spec)[0]
