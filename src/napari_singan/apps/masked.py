"""Regenerate an image from a scale, then blend the result back through a feathered mask (§4.3, §4.4).

The mechanism of harmonization and editing, which differ only in their defaults.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import torch

from ..core.errors import ImageInputError, check_number
from ..core.images import denormalize
from ..core.memory import check_generation
from ..core.pyramid import resize
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from .shared import check_input, model_scale_shape, notice, regenerate_from, spatial_shape, working_shapes

EMPTY_MASK = "the mask is empty: paint the region to change in the mask layer"


def feathered_mask(mask: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """Dilate a mask by a disk, blur it, and scale it to [0, 1].

    The Gaussian is truncated at 4 sigma, so the weight is exactly 0 further out.

    Parameters
    ----------
    mask
        2-D array; non-zero pixels mark the region.
    radius
        Dilation radius in pixels.
    sigma
        Standard deviation of the Gaussian blur in pixels (0: no blur).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float64 weights, 1 at the region's centre, 0 far from it.
    """
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    region = np.asarray(mask) != 0
    if not region.any():
        raise ImageInputError(EMPTY_MASK)
    if radius > 0:  # dilation by a disk: every pixel within ``radius`` of the region
        region = distance_transform_edt(~region) <= radius
    soft = gaussian_filter(region.astype(np.float64), sigma, truncate=4.0) if sigma > 0 else region * 1.0
    soft[soft < 1e-12] = 0.0
    return soft / soft.max()


def _mask_2d(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype.kind in "fc" and not np.isfinite(mask).all():
        raise ImageInputError(
            "the mask contains NaN or infinite values: mark the region with 1 and the rest 0"
        )
    if mask.ndim == 3 and mask.shape[-1] in (3, 4):
        mask = mask.any(axis=-1)
    if mask.ndim != 2:
        raise ImageInputError(f"the mask must be a 2-D image or labels array, got shape {mask.shape}")
    if not mask.any():
        raise ImageInputError(EMPTY_MASK)
    if mask.shape == tuple(hw):
        return mask
    size = f"the mask ({mask.shape[0]}x{mask.shape[1]})"
    rows = np.minimum((np.arange(hw[0]) * mask.shape[0] / hw[0]).astype(int), mask.shape[0] - 1)
    cols = np.minimum((np.arange(hw[1]) * mask.shape[1] / hw[1]).astype(int), mask.shape[1] - 1)
    mask = mask[np.ix_(rows, cols)]  # nearest neighbour
    if not mask.any():
        raise ImageInputError(
            f"{size} is not the image's size ({hw[0]}x{hw[1]}) and its region vanished when resized to it; "
            "give a mask of the image's size"
        )
    notice(f"{size} was resized to the image ({hw[0]}x{hw[1]})")
    return mask


def blend_weight(
    model: SinGANModel,
    image: np.ndarray,
    mask: np.ndarray,
    start_scale: int,
    radius: float,
    sigma: float,
    what: str,
    force: bool = False,
) -> np.ndarray:
    """The feathered mask of an input, on the input's pixel grid, after checking every input.

    Harmonization and editing call it before any work: it refuses an input
    that cannot be regenerated from ``start_scale``, a bad mask, bad
    ``radius`` or ``sigma``, and unless ``force`` a regeneration estimated
    not to fit in memory. A ``sigma`` beyond the image's diagonal is taken as
    the diagonal (the blur is as uniform).

    Parameters
    ----------
    model
        The model; ``radius`` and ``sigma`` are in pixels of its resolution.
    image
        The input the mask belongs to, laid out like the training image.
    mask
        2-D (or RGB) mask; non-zero marks the region. Resized to the input
        (nearest neighbour, with a notice) when its size differs.
    start_scale
        The scale the input will enter at, as in :func:`~napari_singan.apps.shared.regenerate_from`.
    radius
        Dilation radius in pixels at the model's resolution.
    sigma
        Feathering sigma in pixels at the model's resolution.
    what
        What the input is, for error messages.
    force
        Skip the memory estimate.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float64 weights in [0, 1] (see :func:`feathered_mask`).
    """
    check_input(model, image, what)
    shapes = working_shapes(model, image, start_scale, what)  # (regenerate_from gets them again)
    check_generation(model, shapes[-1], force=force)
    check_number("the mask's dilation radius", radius)
    check_number("the mask's feathering sigma", sigma)
    # A wider blur is as uniform, and its kernel could fill memory.
    sigma = min(sigma, math.hypot(*shapes[-1]))
    hw = spatial_shape(model, image)
    per_model_px = hw[0] / model_scale_shape(model, hw)[0]
    return feathered_mask(_mask_2d(mask, hw), radius * per_model_px, sigma * per_model_px)


@torch.no_grad()
def regenerate_and_blend(
    model: SinGANModel,
    image: np.ndarray,
    weight: np.ndarray,
    start_scale: int,
    *,
    seed: int | None,
    what: str,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Regenerate ``image`` from ``start_scale`` and keep the result where ``weight`` > 0.

    Parameters
    ----------
    model, image
        As in :func:`~napari_singan.apps.shared.regenerate_from`.
    weight
        ``(H, W)`` blend weights from :func:`blend_weight`.
    start_scale, seed, what
        As in :func:`~napari_singan.apps.shared.regenerate_from`.

    Yields
    ------
    SampleProgress
        ``(1, 1)`` once the regenerated image is ready, before blending.

    Returns
    -------
    numpy.ndarray
        ``image``'s shape and dtype; where ``weight`` is 0 the pixels are ``image``'s own.
    """
    hw = spatial_shape(model, image)
    out = regenerate_from(model, image, start_scale, what, seed=seed)
    generated = denormalize(resize(out, hw), model.spec)[0].astype(np.float64)  # input size, model range
    yield SampleProgress(1, 1)
    original = np.asarray(image)
    w = weight if generated.ndim == 2 else np.expand_dims(weight, model.spec.channel_axis)
    blended = w * generated + (1.0 - w) * original.astype(np.float64)
    if original.dtype.kind in "ui":
        info = np.iinfo(original.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    return blended.astype(original.dtype)  # w == 0 gives back the input's own values exactly
