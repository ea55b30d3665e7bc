"""Super-resolution (paper §4.1).

Train with the ``super-resolution`` preset (alpha = 100). To upscale by ``s``,
take k steps of a factor close to 1/r (the model's scale ratio) whose product
is exactly ``s``; each step upsamples and passes the image through the finest
generator with its noise amplitude, which adds the details that scale learned.

Unlike the paper, each step then corrects its output by iterative
back-projection (Irani & Peleg, 1991): the output, shrunk to the input's size
(antialiased bicubic, as the pyramid is built), is made to equal the input, so
the generator adds detail but cannot move what the input measured. Without it
the finest generator, applied again and again at sizes it was not trained at,
drifts: on the benchmark micrographs the paper's steps scored worse than
bicubic upsampling in both fidelity and texture (``benchmarks/bench_sr.py``,
docs/applications.md).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Generator
from itertools import accumulate

import numpy as np
import torch

from ..core.errors import SinGANError, check_number, check_whole
from ..core.images import denormalize
from ..core.memory import check_generation
from ..core.pyramid import resize
from ..core.sampling import SampleProgress, smallest_stage_side
from ..core.singan import SinGANModel
from .shared import input_tensor, require_image_only, seeded_noise, spatial_shape


def model_ratio(model: SinGANModel) -> float:
    """The pyramid's exact scale ratio, from its shapes.

    Parameters
    ----------
    model
        The trained model.

    Returns
    -------
    float
        r < 1 (the configured ratio for a one-scale model).
    """
    if model.num_trained < 2:
        return model.config.pyramid.scale_factor
    short = [min(s) for s in model.trained_shapes]
    return (short[0] / short[-1]) ** (1.0 / (len(short) - 1))


def sr_steps(factor: float, ratio: float) -> list[float]:
    """Per-step upscaling factors: as many steps of about ``1 / ratio`` as needed.

    Parameters
    ----------
    factor
        Total upscaling factor, above 1.
    ratio
        The model's scale ratio r < 1 (:func:`model_ratio`).

    Returns
    -------
    list of float
        Equal steps, each at most ``1 / ratio``, whose product is exactly ``factor``.
    """
    check_number("the upscaling factor", factor, 1.0, above=True)
    k = max(1, math.ceil(math.log(factor) / math.log(1.0 / ratio) - 1e-9))
    return [factor ** (1.0 / k)] * k


#: Back-projection passes after each upscaling step (0: the paper's steps), measured in docs/applications.md.
BACK_PROJECTION = 3


def back_project(x: torch.Tensor, low: torch.Tensor, passes: int) -> torch.Tensor:
    """Correct ``x`` so that, shrunk to ``low``'s size, it matches ``low`` (iterative back-projection).

    Parameters
    ----------
    x
        ``(1, C, H, W)`` upscaled image.
    low
        ``(1, C, h, w)`` the measured image it must agree with, ``h <= H``, ``w <= W``.
    passes
        Corrections; each adds the upsampled residual ``low - shrink(x)``.

    Returns
    -------
    torch.Tensor
        ``(1, C, H, W)``.
    """
    for _ in range(passes):
        x = x + resize(low - resize(x, tuple(low.shape[-2:])), tuple(x.shape[-2:]))
    return x


@torch.no_grad()
def super_resolve(
    model: SinGANModel,
    image: np.ndarray | None = None,
    factor: float = 4.0,
    *,
    back_projection: int = BACK_PROJECTION,
    seed: int | None = 0,
    force: bool = False,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Upscale an image by ``factor`` with the finest generator (§4.1).

    Parameters
    ----------
    model
        A model trained with the ``super-resolution`` preset.
    image
        The image to upscale, laid out like the training image; ``None`` takes
        the training image at the model's resolution.
    factor
        Upscaling factor, above 1.
    back_projection
        Passes of back-projection after each step, which keep the output,
        shrunk, equal to the input; 0 gives the paper's steps.
    seed
        Same seed, same output; ``None`` draws a random seed.
    force
        Skip the memory estimate that refuses, before any work, outputs that
        would not fit in the device's available memory.

    Yields
    ------
    SampleProgress
        After each upscaling step.

    Returns
    -------
    numpy.ndarray
        ``(round(factor * H), round(factor * W)[, C])`` in the model's dtype.
    """
    require_image_only(model, "super-resolution")
    passes = check_whole("back-projection", back_projection, 0, 100)
    if image is None:
        low = model.image  # (1, C, H, W) at the finest planned scale
        hw = model.shapes[-1]
    else:
        low = input_tensor(model, image, "super-resolution input")
        hw = spatial_shape(model, image)
    steps = sr_steps(factor, model_ratio(model))
    sizes = list(accumulate(steps, operator.mul))[:-1]  # the running factor after each step but the last
    shapes = [(round(size * hw[0]), round(size * hw[1])) for size in sizes]
    shapes.append((round(factor * hw[0]), round(factor * hw[1])))
    need = smallest_stage_side(model)
    if min(shapes[0]) < need:  # the steps grow: the first is the smallest the generator runs on
        raise SinGANError(
            f"the super-resolution input ({hw[0]}x{hw[1]} px) is too small for this model: its first step "
            f"would be {shapes[0][0]}x{shapes[0][1]} px, and its generators, which pad by reflection, need at "
            f"least {need} px per side; give a larger input"
        )
    check_generation(model, shapes[-1], force=force)
    finest = model.num_trained - 1
    noise = seeded_noise(model, seed)
    x = low
    for i, shape in enumerate(shapes):
        x = resize(x, shape)  # (1, C, H_i, W_i)
        x = model.generators[finest](noise(finest, tuple(x.shape)), x)
        x = back_project(x, low, passes)
        yield SampleProgress(i + 1, len(shapes))
    return denormalize(x, model.spec)[0]
