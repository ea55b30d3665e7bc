"""Paint-to-image (paper §4.2): a rough painting becomes a realistic image.

The paint is reduced to the coarse scale below ``start_scale`` and injected
there; the finer generators add the texture they learned. Optionally the
paint's colours are first snapped to the few dominant colours (k-means
centres) of the training image, as the reference does; and, as the
reference's quantisation option does, the generator at ``start_scale`` can
first be retrained briefly on such colour-quantised inputs (the coarser
generators' images snapped to the same colours), so that it learns to turn
flat palette regions into the training image's colours and texture.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import torch

from ..core.errors import SinGANError, check_whole
from ..core.images import denormalize
from ..core.memory import check_generation
from ..core.sampling import SampleProgress
from ..core.singan import SinGANModel
from ..core.training import TrainEvent
from .shared import check_input, regenerate_from, retrain, seeded_generators, working_shapes

#: The most colours a paint may be snapped to (the reference snaps to a handful).
MAX_COLORS = 256


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
        ``(N, C, H, W)`` normalised images.
    centres
        ``(K, C)`` colours, e.g. from :func:`palette`.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)`` with every pixel one of the centres.
    """
    n, c, h, w = image.shape
    pixels = image.permute(0, 2, 3, 1).reshape(-1, c)  # (N*H*W, C)
    snapped = centres[torch.cdist(pixels, centres).argmin(dim=1)]
    return snapped.reshape(n, h, w, c).permute(0, 3, 1, 2)


def fine_tune_quantized(
    model: SinGANModel, start_scale: int, centres: torch.Tensor, iters: int, *, force: bool = False
) -> Generator[TrainEvent, None, SinGANModel]:
    """Retrain the generator at ``start_scale`` on colour-quantised inputs (the reference's paint training).

    The stage learns the training image as usual, except that the image it
    receives from the coarser scales is snapped to ``centres``, as a quantised
    paint is: it learns to turn flat palette regions into the training image's
    colours and texture. Coarser and finer stages are kept.

    Parameters
    ----------
    model
        The trained model; it is not changed.
    start_scale
        1 .. N-1: the scale a paint is injected below.
    centres
        ``(K, C)`` colours, e.g. from :func:`palette`.
    iters
        Training iterations.
    force
        Skip the memory estimate of the retrained scale.

    Yields
    ------
    TrainEvent
        Training events of the retrained scale.

    Returns
    -------
    SinGANModel
        A new model whose generator at ``start_scale`` is retrained.
    """
    return (
        yield from retrain(
            model,
            model.image,
            start_scale,
            stop=start_scale + 1,
            iters=iters,
            inputs=lambda x: quantize(x, centres),
            force=force,
        )
    )


def paint_to_image(
    model: SinGANModel,
    paint: np.ndarray,
    start_scale: int = 1,
    *,
    num_samples: int = 1,
    quantize_colors: int = 0,
    fine_tune_iters: int = 0,
    seed: int | None = 0,
    force: bool = False,
) -> Generator[TrainEvent | SampleProgress, None, np.ndarray]:
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
        If > 0, snap the paint to this many dominant colours of the training image
        first (at most :data:`MAX_COLORS`).
    fine_tune_iters
        If > 0 (needs ``quantize_colors``), first retrain the generator at
        ``start_scale`` for this many iterations on inputs quantised to the
        same colours (:func:`fine_tune_quantized`) and paint with the
        retrained model; ``model`` itself is not changed.
    seed
        Same seed, same outputs; ``None`` draws a random seed.
    force
        Skip the memory estimate that refuses, before any work, outputs that
        would not fit in the device's available memory.

    Yields
    ------
    TrainEvent or SampleProgress
        The retraining's training events (if any), then once, when the outputs are ready.

    Returns
    -------
    numpy.ndarray
        ``(num_samples, H, W[, C])`` in the model's dtype, ``H x W`` being the
        paint's size at the model's resolution.
    """
    num_samples = check_whole("the number of outputs", num_samples, 1)
    quantize_colors = check_whole("the number of colours", quantize_colors, 0, MAX_COLORS)
    fine_tune_iters = check_whole("the fine-tuning iterations", fine_tune_iters)
    check_input(model, paint, "paint")  # bad inputs fail before any retraining
    shapes = working_shapes(model, paint, start_scale, "paint")  # (regenerate_from gets them again)
    check_generation(model, shapes[-1], num_samples, num_samples, force)
    if fine_tune_iters > 0 and quantize_colors < 1:
        raise SinGANError("fine-tuning retrains on quantised colours: set the number of colours too (e.g. 5)")
    centres = palette(model, quantize_colors) if quantize_colors else None
    if fine_tune_iters > 0:
        model = yield from fine_tune_quantized(model, start_scale, centres, fine_tune_iters, force=force)
    prepare = (lambda x: quantize(x, centres)) if centres is not None else None
    out = regenerate_from(
        model, paint, start_scale, "paint", num_samples=num_samples, seed=seed, prepare=prepare
    )
    yield SampleProgress(num_samples, num_samples)
    return denormalize(out, model.spec)
