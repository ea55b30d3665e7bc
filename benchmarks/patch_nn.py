"""A training-free peer to compare with: generative patch nearest neighbours (GPNN).

Our own implementation, for the benchmarks only, of the method of Granot,
Feinstein, Shocher, Bagon and Irani, "Drop the GAN: In Defense of Patches
Nearest Neighbors as Single Image Generative Models" (CVPR 2022), with the
defaults of the public reimplementations (iyttor/GPNN, and
ariel415el/Efficient-GPNN, which the GPDM paper compares with; where they
differ, this follows the latter):

- an image pyramid of factor ~0.75 (SinGAN's ``pyramid_shapes``) from a
  coarsest short side of ``min_size`` = 14 px, images in [-1, 1];
- coarsest scale: the image plus one Gaussian noise field (sigma 0.75, shared
  by the channels) is the first guess, and one patch-nearest-neighbour (PNN)
  step with the coarsest image's own patches as keys and values turns it into
  an image (more steps there copy the image);
- each finer scale: the guess is upsampled; ``iters`` PNN steps each replace
  every 7x7 query patch of the guess by the value patch (the real image at this
  scale) whose key patch (the real image of the coarser scale, upsampled, so
  as blurry as the upsampled guess) is nearest, and average the overlapping
  patches (fold);
- the nearest key minimises ``d(q, k) / (alpha + min_q' d(q', k))`` with
  ``alpha = 0.005`` (d: mean squared difference over the patch, in [-1, 1]),
  which favours keys no query is close to yet, so every part of the image is
  used ("completeness").

Extra channels (labels) can ride along in the values: keys and queries are
matched on the image channels alone, and the label channels of the chosen
patches are folded like the image's.

Exact nearest neighbours cost (pixels at a scale)^2 per step, so this runs on a
CPU at the sizes of the quality benchmarks (<= 96 px) but not at 250 px.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from napari_singan.core.config import PyramidConfig
from napari_singan.core.images import denormalize, prepare_image
from napari_singan.core.pyramid import build_pyramid, pyramid_shapes, resize

PATCH = 7  # patch side
ALPHA = 0.005  # completeness weight of the normalised distance
NOISE = 0.75  # std of the noise added to the coarsest image, images in [-1, 1]
ITERS = 10  # PNN steps at each scale but the coarsest
MIN_SIZE = 14  # short side of the coarsest scale in px
CHUNK = 2048  # queries per block of the distance matrix (bounded memory)


def _columns(x: torch.Tensor) -> torch.Tensor:
    """Every ``PATCH x PATCH`` patch of ``(C, H, W)``, flattened: ``(L, C * PATCH**2)``."""
    return F.unfold(x[None], PATCH)[0].T.contiguous()


def _fold(columns: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Overlapping patches ``(L, C * PATCH**2)`` back to ``(C, H, W)``, overlaps averaged."""
    cols = columns.T[None]
    total = F.fold(cols, shape, PATCH)
    count = F.fold(torch.ones_like(cols[:, : PATCH * PATCH]), shape, PATCH)
    return (total / count)[0]


def _min_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """For each row of ``a``, the smallest mean squared difference to a row of ``b``: ``(len(a),)``."""
    return (
        torch.cat([torch.cdist(part, b).square_().min(dim=1).values for part in a.split(CHUNK)]) / a.shape[1]
    )


def _nearest(queries: torch.Tensor, keys: torch.Tensor, alpha: float) -> torch.Tensor:
    """Index of the key nearest to each query under GPNN's normalised distance: ``(L,)``."""
    weight = 1.0 / (alpha + _min_distances(keys, queries))  # (K,) keys far from every query weigh more
    return torch.cat(
        [(torch.cdist(part, keys).square_() * weight).argmin(dim=1) for part in queries.split(CHUNK)]
    )


def pnn(guess: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, alpha: float) -> torch.Tensor:
    """One PNN step: every patch of ``guess`` ``(C, H, W)`` matched against the key patches ``(K, C *
    PATCH**2)``; the fold of the chosen value patches ``(K, C' * PATCH**2)``: ``(C', H, W)``."""
    chosen = _nearest(_columns(guess), keys, alpha)
    return _fold(values[chosen], guess.shape[-2:])


def gpnn_samples(
    image: np.ndarray,
    count: int,
    *,
    max_size: int,
    min_size: int = MIN_SIZE,
    labels: np.ndarray | None = None,
    iters: int = ITERS,
    alpha: float = ALPHA,
    noise: float = NOISE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, list[tuple[int, int]]]:
    """``count`` GPNN samples of ``image`` at the size SinGAN would train at.

    Parameters
    ----------
    image
        ``(H, W[, C])`` image, any dtype (as :func:`napari_singan.core.train` takes it).
    count
        Samples to draw.
    max_size
        Long side of the finest scale (the samples' size).
    min_size
        Short side of the coarsest scale.
    labels
        Optional ``(H, W)`` mask of 0 and 1, carried along as an extra value channel.
    iters
        PNN steps at every scale but the coarsest (which takes one).
    alpha
        Completeness weight of the normalised distance.
    noise
        Std of the noise field added to the coarsest image (in [-1, 1]).
    seed
        Seeds the noise.

    Returns
    -------
    samples
        ``(N, H, W[, C])`` in the image's dtype and range, as :func:`napari_singan.core.generate` returns them.
    labels
        ``(N, H, W)`` uint8 masks by majority of the folded label values, or None.
    real
        The training image at the samples' size, as the metrics compare it.
    shapes
        The pyramid's ``(h, w)``, coarse to fine.
    """
    tensor, spec = prepare_image(image)
    x = tensor[0]  # (C, H, W) in [-1, 1]
    if labels is not None:
        if labels.shape != tuple(x.shape[-2:]) or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"labels must be a {tuple(x.shape[-2:])} mask of 0 and 1")
        x = torch.cat([x, torch.from_numpy(labels[None].astype(np.float32)) * 2 - 1])
    shapes = pyramid_shapes(*x.shape[-2:], PyramidConfig(min_size=min_size, max_size=max_size))
    reals = [r[0] for r in build_pyramid(x[None], shapes)]  # coarse to fine, (C', h, w) each
    c = spec.channels
    # Per scale, keys: the coarser real upsampled (as blurry as the upsampled guess), the coarsest's
    # own; values: the real at that scale, label channels included.
    keys = [_columns(reals[0][:c])]
    keys += [
        _columns(resize(coarser[None, :c], real.shape[-2:])[0]) for coarser, real in zip(reals, reals[1:])
    ]
    values = [_columns(real) for real in reals]
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(count):
        field = torch.randn((1, *shapes[0]), generator=generator)  # one field for every channel
        out = pnn(reals[0][:c] + noise * field, keys[0], values[0], alpha)
        for scale in range(1, len(shapes)):
            out = resize(out[None], shapes[scale])[0]
            for _ in range(iters):
                out = pnn(out[:c], keys[scale], values[scale], alpha)
        samples.append(out)
    batch = torch.stack(samples)  # (N, C', H, W)
    made_labels = (batch[:, c] > 0).numpy().astype(np.uint8) if labels is not None else None
    return denormalize(batch, spec), made_labels, denormalize(reals[-1][None], spec)[0], shapes
