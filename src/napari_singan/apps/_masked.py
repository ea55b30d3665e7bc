"""Inject an image at a scale, then blend the result back through a feathered mask (§4.3, §4.4).

Shared by harmonization and editing, which differ only in their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import torch

from ..core.errors import ImageInputError
from ..core.images import denormalize
from ..core.pyramid import resize
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from ._shared import model_scale_shape, notice, regenerate_from, spatial_shape


def feathered_mask(mask: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """Dilate ``mask`` by a disk of ``radius`` px, blur with ``sigma``, scale to [0, 1]: (H, W) float64.

    The Gaussian is truncated at 4 sigma, so the weight is exactly 0 further out.
    """
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    region = np.asarray(mask) != 0
    if not region.any():
        raise ImageInputError("the mask is empty: paint the region to change in the mask layer")
    if radius > 0:  # dilation by a disk: every pixel within ``radius`` of the region
        region = distance_transform_edt(~region) <= radius
    soft = gaussian_filter(region.astype(np.float64), sigma, truncate=4.0) if sigma > 0 else region * 1.0
    soft[soft < 1e-12] = 0.0
    return soft / soft.max()


def _mask_2d(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] in (3, 4):
        mask = mask.any(axis=-1)
    if mask.ndim != 2:
        raise ImageInputError(f"the mask must be a 2-D image or labels array, got shape {mask.shape}")
    if mask.shape != tuple(hw):
        notice(f"the mask ({mask.shape[0]}x{mask.shape[1]}) was resized to the image ({hw[0]}x{hw[1]})")
        rows = np.minimum((np.arange(hw[0]) * mask.shape[0] / hw[0]).astype(int), mask.shape[0] - 1)
        cols = np.minimum((np.arange(hw[1]) * mask.shape[1] / hw[1]).astype(int), mask.shape[1] - 1)
        mask = mask[np.ix_(rows, cols)]  # nearest neighbour
    return mask


@torch.no_grad()
def inject_and_blend(
    model: SinGANModel,
    image: np.ndarray,
    mask: np.ndarray,
    start_scale: int,
    *,
    radius: float,
    sigma: float,
    seed: int | None,
    what: str,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Regenerate ``image`` from ``start_scale`` and keep the result only inside the feathered ``mask``.

    Returns ``image``'s shape and dtype; where the feathered mask is 0 the
    output equals ``image`` exactly. ``radius`` and ``sigma`` are in pixels of
    the model's resolution and scaled to the input's.
    """
    hw = spatial_shape(model, image)
    work_hw = model_scale_shape(model, hw)
    weight = feathered_mask(_mask_2d(mask, hw), radius * hw[0] / work_hw[0], sigma * hw[0] / work_hw[0])
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


def masked_application(radius: float, sigma: float, what: str, doc: str) -> Callable[..., Generator]:
    """An application that injects ``what`` at ``start_scale`` and blends it back through a mask.

    ``radius`` and ``sigma`` become its defaults; ``doc`` its docstring.
    """

    def application(
        model: SinGANModel,
        image: np.ndarray,
        mask: np.ndarray,
        start_scale: int = 1,
        *,
        radius: float = radius,
        sigma: float = sigma,
        seed: int | None = 0,
    ) -> Generator[SampleProgress, None, np.ndarray]:
        return (
            yield from inject_and_blend(
                model, image, mask, start_scale, radius=radius, sigma=sigma, seed=seed, what=what
            )
        )

    application.__doc__ = doc
    return application
