"""Steps the applications share: inputs in model units, seeded randomness, notices, injection, retraining."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from ..core.errors import SinGANError, SinGANNotice
from ..core.images import conform_like, like_model, normalize
from ..core.pyramid import Shape, resize
from ..core.sampling import (
    NoiseFn,
    check_stage_shapes,
    injected_start,
    output_shapes,
    random_noise,
    sample_seeds,
    smallest_output,
    synthesize,
    torch_generators,
)
from ..core.singan import SinGANModel
from ..core.training import TrainEvent, check_training, resume


def notice(message: str) -> None:
    """Tell the user something about their input (a warning in scripts, a notification in napari).

    Parameters
    ----------
    message
        One sentence, e.g. that an input was resized.
    """
    warnings.warn(message, SinGANNotice, stacklevel=3)


def spatial_shape(model: SinGANModel, image: np.ndarray) -> Shape:
    """Height and width of an input image laid out like the model's training image.

    Parameters
    ----------
    model
        The model whose channel layout the image follows.
    image
        A 2-D image, or 3-D with channels where the model has them.

    Returns
    -------
    tuple of int
        ``(H, W)``.
    """
    hwc = like_model(image, model.spec)
    return hwc.shape[0], hwc.shape[1]


def model_scale_shape(model: SinGANModel, hw: Shape) -> Shape:
    """Size of an input of ``hw`` pixels at the model's working resolution.

    The model was trained on its source image shrunk to its finest scale; an
    input is shrunk by the same factor so its content has the scale the
    generators learned.

    Parameters
    ----------
    model
        The model.
    hw
        ``(H, W)`` of the input in the source image's pixels.

    Returns
    -------
    tuple of int
        ``(h, w)`` at the model's resolution, at least 1x1.
    """
    finest = model.trained_shapes[-1]
    fy, fx = finest[0] / model.spec.height, finest[1] / model.spec.width
    return max(1, round(hw[0] * fy)), max(1, round(hw[1] * fx))


def input_tensor(model: SinGANModel, image: np.ndarray, what: str) -> torch.Tensor:
    """Normalise an input with the model's intensity ranges, after :func:`check_input`.

    Parameters
    ----------
    model
        The model whose ranges and device are used.
    image
        The input, laid out like the training image.
    what
        What the input is ("paint", "composite", ...), prefixed to error messages.

    Returns
    -------
    torch.Tensor
        ``(1, C, H, W)`` on the model's device.
    """
    return normalize(check_input(model, image, what), model.spec, model.device)


def check_input(model: SinGANModel, image: np.ndarray, what: str) -> np.ndarray:
    """Refuse an input the model cannot read (labelled model, dtype, channels, size, NaN).

    Parameters
    ----------
    model, image, what
        As in :func:`input_tensor`.

    Returns
    -------
    numpy.ndarray
        ``image`` laid out ``(H, W, C)``, not yet normalised.

    Raises
    ------
    SinGANError
        With ``what`` prefixed to the message.
    """
    require_image_only(model, what)
    try:
        return conform_like(image, model.spec)
    except SinGANError as exc:
        raise type(exc)(f"{what}: {exc}") from None


def require_image_only(model: SinGANModel, application: str) -> None:
    """Refuse a model trained with labels in an application that works on images alone.

    Parameters
    ----------
    model
        The model.
    application
        What is refused, e.g. "paint" or "animation", prefixed to the message.

    Raises
    ------
    SinGANError
        If ``model`` has label channels.
    """
    if model.labels is not None:
        raise SinGANError(
            f"{application}: this model was trained with labels; applications need a model trained on the "
            "image alone (labelled models are for samples and datasets: generate, augment)"
        )


def seeded_generators(model: SinGANModel, seed: int | None, count: int = 1) -> list[torch.Generator]:
    """``count`` independent random streams drawn from one seed, on the model's device.

    The one seed recipe of the applications: the same one as
    :func:`napari_singan.core.generate` (stream ``i`` belongs to output ``i``).

    Parameters
    ----------
    model
        The model whose device the generators live on.
    seed
        Same seed, same streams; ``None`` draws a random seed.
    count
        Number of streams.

    Returns
    -------
    list of torch.Generator
        One seeded generator per stream.
    """
    return torch_generators(sample_seeds(seed, count), model.device)


def seeded_noise(model: SinGANModel, seed: int | None, count: int = 1) -> NoiseFn:
    """Noise source for a batch of ``count`` images drawn from ``seed``.

    Parameters
    ----------
    model, seed, count
        As in :func:`seeded_generators`; the noise is scaled by the model's
        noise amplitudes, and sample ``i`` of the batch draws from stream ``i``.

    Returns
    -------
    NoiseFn
        See :func:`napari_singan.core.sampling.random_noise`.
    """
    return random_noise(model, seeded_generators(model, seed, count))


def working_shapes(model: SinGANModel, image: np.ndarray, start_scale: int, what: str) -> list[Shape]:
    """Per-scale shapes at which an input of ``image``'s size is regenerated from ``start_scale``.

    Applications call it before any work (retraining included): it refuses a
    start scale the model does not have and an input too small for the
    generators that run.

    Parameters
    ----------
    model
        The trained model.
    image
        The input, laid out like the training image, in the source image's pixels.
    start_scale
        1 .. N-1: the input enters at the scale below.
    what
        What the input is, for error messages.

    Returns
    -------
    list of tuple of int
        ``(h, w)`` of every scale; the last is the input's size at the model's resolution.
    """
    model.check_start_scale(start_scale, lowest=1)
    hw = spatial_shape(model, image)
    shapes = output_shapes(model, size=model_scale_shape(model, hw))
    try:
        check_stage_shapes(model, shapes, start_scale)
    except SinGANError:
        least = smallest_output(model, start_scale)
        finest, full = model.trained_shapes[-1], (model.spec.height, model.spec.width)
        source = [math.ceil(n * whole / f) for n, whole, f in zip(least, full, finest, strict=True)]
        for axis in (0, 1):  # the smallest source size that model_scale_shape takes to ``least``
            while source[axis] > 1 and model_scale_shape(model, (source[axis] - 1,) * 2)[axis] >= least[axis]:
                source[axis] -= 1
        finer = " or a higher start scale" if start_scale < model.num_trained - 1 else ""
        raise SinGANError(
            f"the {what} ({hw[0]}x{hw[1]} px) is too small for this model from start scale {start_scale}: "
            f"it needs at least {source[0]}x{source[1]} px (the training image is "
            f"{model.spec.height}x{model.spec.width}){finer}"
        ) from None
    return shapes


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

    Parameters
    ----------
    model
        The trained model.
    image
        The input, laid out like the training image.
    start_scale
        1 .. N-1: the input enters at the scale below.
    what
        What the input is, for notices and error messages.
    num_samples
        Number of outputs regenerated from the same input.
    seed
        Same seed, same outputs; ``None`` draws a random seed.
    prepare
        Optional transformation of the normalised ``(1, C, h, w)`` input.

    Returns
    -------
    torch.Tensor
        ``(num_samples, C, h, w)`` normalised output at the model's resolution.
    """
    shapes = working_shapes(model, image, start_scale, what)
    hw, work_hw = spatial_shape(model, image), shapes[-1]
    if (model.spec.height, model.spec.width) != tuple(hw):
        notice(
            f"the {what} ({hw[0]}x{hw[1]}) differs in size from the training image "
            f"({model.spec.height}x{model.spec.width}); it is processed at {work_hw[0]}x{work_hw[1]} px"
        )
    x = resize(input_tensor(model, image, what), work_hw)  # (1, C, h, w)
    if prepare is not None:
        x = prepare(x)
    return synthesize(
        model,
        seeded_noise(model, seed, num_samples),
        batch=num_samples,
        start=start_scale,
        prev=injected_start(x, start_scale, shapes),
        shapes=shapes,
    )


def retrain(
    model: SinGANModel,
    target: torch.Tensor,
    first: int,
    *,
    stop: int | None = None,
    iters: int | None = None,
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
    force: bool = False,
) -> Generator[TrainEvent, None, SinGANModel]:
    """Retrain the generator stages ``first .. stop-1`` on ``target``; the other stages are kept.

    The stages are trained again as in :func:`napari_singan.core.resume`
    (each from the weights of the stage below it, the paper's initialisation
    rule), so a few hundred iterations suffice.

    Parameters
    ----------
    model
        The trained model; it is not changed.
    target
        ``(1, C, h, w)`` normalised image to learn, at the model's resolution.
    first
        First retrained scale, 1 .. N (at least the coarsest scale is kept).
    stop
        One past the last retrained scale (default: the finest trained scale
        is retrained too); finer stages are kept as they are.
    iters
        Iterations per retrained scale (default: the model's configuration).
    inputs
        Applied to the output of stage ``first - 1`` while retraining, so the
        retrained stages learn from such inputs (e.g. quantised colours); the
        returned model's stage ``first - 1`` is the original.
    force
        Skip the memory estimate of the retrained scales (see :func:`napari_singan.core.train`).

    Yields
    ------
    TrainEvent
        Training events of the retrained scales.

    Returns
    -------
    SinGANModel
        A new model.
    """
    stop = model.num_trained if stop is None else stop
    below = nn.ModuleList(model.generators[:first])
    if inputs is not None:
        below[-1] = copy.deepcopy(below[-1])
        below[-1].register_forward_hook(lambda _stage, _args, out: inputs(out))
    # Only the stages from `first` on may change: no concurrent training of the kept ones below it;
    # each trains `iters`, whatever taper or fine-scale counts the model's schedule had.
    cfg = model.config.with_overrides(
        iters_per_scale=iters, coarsest_iters=0, fine_area=0, concurrent_stages=1
    )
    start = replace(
        model,
        config=cfg,
        image=resize(target, model.shapes[-1]),
        shapes=model.trained_shapes[:stop],
        generators=below,
        noise_amps=model.noise_amps[:first],
    )
    if not force:
        elsewhere = " or run it on the CPU" if start.device.type != "cpu" else ""
        check_training(start, f"leave out the fine-tuning (fine_tune_iters=0, --fine-tune 0){elsewhere}")
    tuned = yield from resume(start, force=True)  # checked above in its own terms
    return replace(
        tuned,
        shapes=model.trained_shapes,
        generators=nn.ModuleList(
            [*model.generators[:first], *tuned.generators[first:], *model.generators[stop:]]
        ),
        noise_amps=(*model.noise_amps[:first], *tuned.noise_amps[first:], *model.noise_amps[stop:]),
    )
