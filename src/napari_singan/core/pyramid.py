"""Scale geometry and device-side resizing (paper §2.1).

Scales are indexed coarse to fine: index 0 is the coarsest (short side
``min_size``), the last index the finest (long side at most ``max_size``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import PyramidConfig, SinGANConfig
from .errors import ImageInputError, check_number, check_whole

Shape = tuple[int, int]


def finest_shape(height: int, width: int, config: PyramidConfig) -> Shape:
    """``(H, W)`` of the finest scale: the image shrunk so its long side is at most ``max_size``."""
    shrink = min(1.0, config.max_size / max(height, width))
    return max(1, round(height * shrink)), max(1, round(width * shrink))


def trainable_shapes(height: int, width: int, config: SinGANConfig) -> list[Shape]:
    """:func:`pyramid_shapes`, refusing first an image whose finest scale, and then a min size, is
    no larger than the networks' receptive field (``2 * num_blocks + 1`` px)."""
    receptive = 2 * config.model.num_blocks + 1
    finest = finest_shape(height, width, config.pyramid)
    if min(finest) <= receptive:
        remedy = (
            f"raise the max size (up to the image's long side, {max(height, width)})"
            if min(height, width) > receptive
            else "use a larger image (images are shrunk to the max size, never enlarged)"
        )
        raise ImageInputError(
            f"the image is {height}x{width} pixels; at a finest size of {finest[0]}x{finest[1]} it is too "
            f"small for the networks' {receptive}x{receptive} receptive field: {remedy}"
        )
    shapes = pyramid_shapes(height, width, config.pyramid)
    if min(shapes[0]) <= receptive:
        raise ImageInputError(
            f"the coarsest scale ({shapes[0][0]}x{shapes[0][1]} px) must be larger than the "
            f"networks' {receptive}x{receptive} receptive field; raise the min size above {receptive}"
        )
    return shapes


def pyramid_shapes(height: int, width: int, config: PyramidConfig) -> list[Shape]:
    """Return the ``(H, W)`` of every scale, coarse to fine.

    The image is first shrunk so its long side is at most ``max_size``. The
    number of scales is the smallest that brings the short side down to
    ``min_size`` with steps of at most ``scale_factor``; the factor is then
    recomputed exactly so the coarsest short side is ``min_size``.
    """
    height, width = (
        check_whole(f"the image {side}", v, 1) for side, v in (("height", height), ("width", width))
    )
    finest = finest_shape(height, width, config)
    short = min(finest)
    if short < config.min_size:
        raise ImageInputError(
            f"the image is {height}x{width} pixels; at a finest size of {finest[0]}x{finest[1]} its "
            f"short side is below the coarsest scale ({config.min_size} px). Use a larger image, a "
            f"larger max size, or a min size of at most {short} px."
        )
    steps = math.ceil(math.log(config.min_size / short) / math.log(config.scale_factor) - 1e-9)
    if steps == 0:
        return [finest]
    factor = (config.min_size / short) ** (1.0 / steps)
    shapes = []
    for k in range(steps + 1):
        f = factor ** (steps - k)
        shapes.append((max(1, round(finest[0] * f)), max(1, round(finest[1] * f))))
    return shapes


def scaled_shapes(
    shapes: list[Shape], scale_h: float, scale_w: float, final: Shape | None = None
) -> list[Shape]:
    """Scale every pyramid shape by ``(scale_h, scale_w)``; ``final`` forces the finest shape exactly."""
    check_number("the output's height scale", scale_h, above=True)
    check_number("the output's width scale", scale_w, above=True)
    out = [(max(1, round(h * scale_h)), max(1, round(w * scale_w))) for h, w in shapes]
    if final is not None:
        out[-1] = final
    return out


def resize(image: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Antialiased bicubic resize of a ``(N, C, H, W)`` tensor to ``shape``, on its own device."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    # Bicubic antialiasing is implemented for float32/64 on every backend torch ships.
    return F.interpolate(image, size=shape, mode="bicubic", align_corners=False, antialias=True)


def build_pyramid(image: torch.Tensor, shapes: list[Shape]) -> list[torch.Tensor]:
    """Each scale of the real image, resized directly from the full-resolution ``(1, C, H, W)`` tensor."""
    return [resize(image, shape) for shape in shapes]
