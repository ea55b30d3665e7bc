"""Super-resolution (paper §4.1).

Train on the low-resolution image (the paper uses the ``super-resolution``
preset, alpha = 100; the default ``fast`` scores as well). To upscale by ``s``,
take k steps of a factor close to 1/r (the model's scale ratio) whose product
is exactly ``s``; each step upsamples and passes the image through the finest
generator with its noise amplitude, which adds the details that scale learned.

Unlike the paper, each step then corrects its output by iterative
back-projection (Irani & Peleg, 1991): the output, shrunk to the input's size
(antialiased bicubic, as the pyramid is built), is pulled towards the input,
so the generator adds detail but hardly moves what the input measured. Without it
the finest generator, applied again and again at sizes it was not trained at,
drifts: on the benchmark micrographs the paper's steps scored worse than a
cubic spline in both fidelity and texture (``benchmarks/bench_sr.py``,
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
from ..core.memory import (
    FORCE_ARGUMENT,
    TILE_BYTES,
    TILE_PEAK,
    check_memory,
    stage_tile_side,
    super_resolution_bytes,
)
from ..core.pyramid import resize
from ..core.sampling import SampleProgress, smallest_stage_side
from ..core.singan import SinGANModel
from ..core.tiled import stage_tiles, tiles
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
    """Bring ``x``, shrunk to ``low``'s size, closer to ``low`` (iterative back-projection).

    Parameters
    ----------
    x
        ``(1, C, H, W)`` upscaled image, in the model's units ([-1, 1]).
    low
        ``(1, C, h, w)`` the measured image it must agree with, ``h <= H``, ``w <= W``.
    passes
        Corrections; each adds the upsampled residual ``low - shrink(x)`` and
        clamps to the model's range (unclamped, the corrections overshoot it
        along the borders).

    Returns
    -------
    torch.Tensor
        ``(1, C, H, W)``.
    """
    for _ in range(passes):
        x = (x + resize(low - resize(x, tuple(low.shape[-2:])), tuple(x.shape[-2:]))).clamp(-1.0, 1.0)
    return x


def check_super_resolution(
    model: SinGANModel, size: tuple[int, int], tile_bytes: int = TILE_BYTES, force_flag: str | None = None
) -> None:
    """Refuse, before any work, an output of ``size`` px whose :func:`super_resolve` would not fit: its
    image-sized maps in host memory (:func:`~napari_singan.core.memory.super_resolution_bytes`) and, on
    an accelerator, one tile's peak in the device's memory.

    Parameters
    ----------
    model
        The trained model, on the device the tiles will run on.
    size
        Output ``(H, W)``.
    tile_bytes
        The tile bound given to ``super_resolve``.
    force_flag
        The option that skips the check, named in the message (e.g. ``force=True``).

    Raises
    ------
    MemoryEstimateError
        One line with the estimate, what is available and what to do (naming ``force_flag``, if given).
    """
    check_memory(super_resolution_bytes(model, size, tile_bytes), "cpu", force_flag=force_flag)
    if model.device.type != "cpu":  # the tiles run there
        check_memory(round(TILE_PEAK * tile_bytes), model.device, force_flag=force_flag)


@torch.no_grad()
def super_resolve(
    model: SinGANModel,
    image: np.ndarray | None = None,
    factor: float = 4.0,
    *,
    back_projection: int = BACK_PROJECTION,
    seed: int | None = 0,
    force: bool = False,
    tile_bytes: int = TILE_BYTES,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Upscale an image by ``factor`` with the finest generator (§4.1), in bounded memory.

    The image-sized maps (the model's channels, float32) stay in host memory;
    the finest generator runs on the model's device, tile by tile once a step
    is larger than one tile (:func:`napari_singan.core.tiled.stage_tiles`:
    its instance norms take their statistics from the central tile, so tiles
    join without seams), and each step is back-projected whole.

    Parameters
    ----------
    model
        A model trained on the low-resolution image (any preset; the paper
        uses ``super-resolution``).
    image
        The image to upscale, laid out like the training image; ``None`` takes
        the training image at the model's resolution.
    factor
        Upscaling factor, above 1.
    back_projection
        Passes of back-projection after each step, each bringing the output,
        shrunk, closer to the input; 0 gives the paper's steps.
    seed
        Same seed, same output; ``None`` draws a random seed.
    force
        Skip the memory estimate that refuses, before any work, outputs that
        would not fit (:func:`check_super_resolution`).
    tile_bytes
        Bound on the feature maps of one tile
        (:func:`~napari_singan.core.memory.tile_side`).

    Yields
    ------
    SampleProgress
        After each tile of each upscaling step.

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
    if not force:
        check_super_resolution(model, shapes[-1], tile_bytes, FORCE_ARGUMENT)
    finest = model.num_trained - 1
    side = stage_tile_side(model, finest, tile_bytes)
    total = sum(len(list(tiles(shape, side))) for shape in shapes)
    noise = seeded_noise(model, seed)
    low = low.cpu()  # (1, C, h, w): every image-sized map stays on the host
    x, done = low, 0
    for shape in shapes:
        up = resize(x, shape)  # (1, C, H_i, W_i)
        drawn = noise(finest, tuple(up.shape)).cpu()  # drawn whole, as whole-image generation draws it
        x = torch.empty_like(up)
        for rows, cols, result in stage_tiles(model, finest, drawn, up, side, None):
            x[:, :, rows, cols] = result
            del result  # before the next tile's maps
            done += 1
            yield SampleProgress(done, total)
        del up, drawn  # before back-projection's maps
        x = back_project(x, low, passes)
    return denormalize(x, model.spec)[0]
