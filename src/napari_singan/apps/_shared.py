"""Steps the applications share: inputs in model units, seeded noise, notices."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from ..core.errors import SinGANError
from ..core.images import channels_last, normalize_like
from ..core.pyramid import Shape, resize
from ..core.sampling import (
    injected_start,
    output_shapes,
    random_noise,
    sample_seeds,
    synthesize,
    torch_generators,
)
from ..core.singan import SinGANModel


class SinGANNotice(UserWarning):
    """Something the user should know about their input (e.g. it was resized)."""


def notice(message: str) -> None:
    """Tell the user (a printed warning in scripts, a notification in napari)."""
    warnings.warn(message, SinGANNotice, stacklevel=3)


def spatial_shape(model: SinGANModel, image: np.ndarray) -> Shape:
    """Height and width of an input image in the model's channel layout."""
    axis = model.spec.channel_axis if np.ndim(image) == 3 else None
    hwc, _ = channels_last(image, axis)
    return hwc.shape[0], hwc.shape[1]


def model_scale_shape(model: SinGANModel, hw: Shape) -> Shape:
    """Size of an input of ``hw`` pixels at the model's working resolution.

    The model was trained on its source image shrunk to its finest scale; an
    input is shrunk by the same factor so its content has the scale the
    generators learned.
    """
    finest = model.trained_shapes[-1]
    fy, fx = finest[0] / model.spec.height, finest[1] / model.spec.width
    return max(1, round(hw[0] * fy)), max(1, round(hw[1] * fx))


def input_tensor(model: SinGANModel, image: np.ndarray, what: str) -> torch.Tensor:
    """Normalise an input with the model's ranges: (1, C, H, W) on the model's device."""
    try:
        return normalize_like(image, model.spec, model.device)
    except SinGANError as exc:
        raise type(exc)(f"{what}: {exc}") from None


def seeded_noise(model: SinGANModel, seed: int | None, count: int = 1):
    """Noise source for ``count`` images drawn from ``seed``."""
    return random_noise(model, torch_generators(sample_seeds(seed, count), model.device))


def check_start_scale(model: SinGANModel, start_scale: int, lowest: int = 1) -> None:
    """Injection needs a coarser scale below ``start_scale``."""
    if not lowest <= start_scale < model.num_trained:
        raise SinGANError(
            f"start scale must be between {lowest} and {model.num_trained - 1} for this model, got {start_scale}"
        )


def regenerate_from(
    model: SinGANModel,
    image: np.ndarray,
    start_scale: int,
    what: str,
    *,
    num_samples: int = 1,
    seed: int | None = 0,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Inject an input image below ``start_scale`` and regenerate it from there (§3, §4).

    The input, given in the source image's pixels, is first brought to the
    model's resolution (with a notice when its size is not the training
    image's) and optionally transformed by ``prepare``.

    Returns
    -------
    torch.Tensor
        ``(num_samples, C, h, w)`` normalised output at the model's resolution.
    """
    check_start_scale(model, start_scale)
    hw = spatial_shape(model, image)
    work_hw = model_scale_shape(model, hw)
    if (model.spec.height, model.spec.width) != tuple(hw):
        notice(
            f"the {what} ({hw[0]}x{hw[1]}) differs in size from the training image "
            f"({model.spec.height}x{model.spec.width}); it is processed at {work_hw[0]}x{work_hw[1]} px"
        )
    x = resize(input_tensor(model, image, what), work_hw)  # (1, C, h, w)
    if prepare is not None:
        x = prepare(x)
    shapes = output_shapes(model, size=work_hw)
    return synthesize(
        model,
        seeded_noise(model, seed, num_samples),
        batch=num_samples,
        start=start_scale,
        prev=injected_start(x, start_scale, shapes),
        shapes=shapes,
    )
