"""Paint-to-image (paper §4.2): a rough painting becomes a realistic image.

The paint is reduced to the coarse scale below ``start_scale`` and injected
there; the finer generators add the texture they learned. Optionally the
paint's colours are first snapped to the few dominant colours (k-means
centres) of the training image, as the reference does.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import torch

from ..core.images import denormalize
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from .shared import regenerate_from, seeded_generators


def palette(model: SinGANModel, colors: int = 5, iterations: int = 20, seed: int = 0) -> torch.Tensor:
    """The dominant colours of the training image: k-means centres of its pixels.

    Parameters
    ----------
    model
        The model whose training image is clustered.
    colors
        Number of centres K.
    iterations
        Lloyd iterations.
    seed
        Seed of the initial centres (random training pixels).

    Returns
    -------
    torch.Tensor
        ``(K, C)`` centres in normalised model units.
    """
    pixels = model.image[0].flatten(1).T  # (H*W, C)
    (gen,) = seeded_generators(model, seed)
    centres = pixels[torch.randperm(len(pixels), generator=gen, device=pixels.device)[:colors]].clone()
    for _ in range(iterations):
        nearest = torch.cdist(pixels, centres).argmin(dim=1)
        for k in range(len(centres)):
            members = pixels[nearest == k]
            if len(members):
                centres[k] = members.mean(dim=0)
    return centres


def quantize(image: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Replace every pixel of an image by its nearest centre.

    Parameters
    ----------
    image
        ``(1, C, H, W)`` normalised image.
    centres
        ``(K, C)`` colours, e.g. from :func:`palette`.

    Returns
    -------
    torch.Tensor
        ``(1, C, H, W)`` with every pixel one of the centres.
    """
    _, c, h, w = image.shape
    pixels = image[0].flatten(1).T  # (H*W, C)
    snapped = centres[torch.cdist(pixels, centres).argmin(dim=1)]
    return snapped.T.reshape(1, c, h, w)


@torch.no_grad()
def paint_to_image(
    model: SinGANModel,
    paint: np.ndarray,
    start_scale: int = 1,
    *,
    num_samples: int = 1,
    quantize_colors: int = 0,
    seed: int | None = 0,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Turn a rough painting into ``num_samples`` realistic images.

    Parameters
    ----------
    model
        The model whose learned texture the paint takes on.
    paint
        The painting, in the source image's pixels and with the training image's channels.
    start_scale
        1 .. N-1; lower keeps less of the paint's detail (the paper uses a coarse scale).
    num_samples
        Number of outputs.
    quantize_colors
        If > 0, snap the paint to this many dominant colours of the training image first.
    seed
        Same seed, same outputs; ``None`` draws a random seed.

    Yields
    ------
    SampleProgress
        Once, when the outputs are ready.

    Returns
    -------
    numpy.ndarray
        ``(num_samples, H, W[, C])`` in the model's dtype, ``H x W`` being the
        paint's size at the model's resolution.
    """
    prepare = (lambda x: quantize(x, palette(model, quantize_colors))) if quantize_colors else None
    out = regenerate_from(
        model, paint, start_scale, "paint", num_samples=num_samples, seed=seed, prepare=prepare
    )
    yield SampleProgress(num_samples, num_samples)
    return denormalize(out, model.spec)
