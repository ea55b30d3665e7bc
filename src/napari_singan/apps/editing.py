"""Editing (paper §4.4): make a copy-and-pasted or retouched region look natural.

Same mechanism as harmonization, with a wider dilation (20 px) so the seams
around the edit are re-rendered too. Choose a finer start scale to keep more
of the edit's own detail.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from .masked import blend_weight, regenerate_and_blend

#: Paper-style defaults: dilation radius and Gaussian sigma in pixels at the model's resolution.
RADIUS = 20.0
SIGMA = 5.0


def edit(
    model: SinGANModel,
    edited: np.ndarray,
    mask: np.ndarray,
    start_scale: int = 1,
    *,
    radius: float = RADIUS,
    sigma: float = SIGMA,
    seed: int | None = 0,
    force: bool = False,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Blend the edited region ``mask`` of ``edited`` into the rest of the image.

    Parameters
    ----------
    model
        The model trained on the unedited image.
    edited
        The edited image, in the source image's pixels and channel layout.
    mask
        2-D mask of the edited region (non-zero inside), resized to ``edited``
        when its size differs.
    start_scale
        1 .. N-1: the edited image is injected at the scale below; higher
        keeps more of the edit's own detail.
    radius, sigma, seed, force
        As in :func:`~napari_singan.apps.harmonize`; the wider default dilation
        re-renders the seams around the edit too.

    Yields
    ------
    SampleProgress
        One event, when the blend is done.

    Returns
    -------
    numpy.ndarray
        ``edited``'s shape and dtype; outside the feathered mask the pixels are
        ``edited``'s own.
    """
    weight = blend_weight(model, edited, mask, start_scale, radius, sigma, "edited image", force)
    return (
        yield from regenerate_and_blend(model, edited, weight, start_scale, seed=seed, what="edited image")
    )
