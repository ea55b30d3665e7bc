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
from ._masked import inject_and_blend

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
) -> Generator[SampleProgress, None, np.ndarray]:
    """Blend the edited region ``mask`` of ``edited`` into the image; returns ``edited``'s shape and dtype."""
    return (yield from inject_and_blend(model, edited, mask, start_scale, radius=radius, sigma=sigma,
                                        seed=seed, what="edited image"))

