"""Generation from any scale, at any size (paper §3, Fig. 8).

Every application calls :func:`synthesize`: run the generator stages from
``start`` to the finest trained scale, starting from an injected image (or
from nothing at the coarsest scale) and drawing noise scaled by each stage's
sigma_n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence

import numpy as np
import torch

from .errors import SinGANError, check_number, check_seed, check_whole
from .events import SampleProgress, drain
from .images import denormalize
from .labels import decode_labels
from .masknet import check_mask_net, redraw_labels
from .pyramid import Shape, resize, scaled_shapes
from .singan import SinGANModel

#: Noise source: (scale index, (N, C, H, W) shape) -> noise tensor already multiplied by sigma_n.
NoiseFn = Callable[[int, tuple[int, int, int, int]], torch.Tensor]

#: Default bound on pixels generated at once (batch x H x W at the finest scale).
MAX_BATCH_PIXELS = 2**22


def random_noise(
    model: SinGANModel, generators: Sequence[torch.Generator], variation: float = 1.0
) -> NoiseFn:
    """Fresh Gaussian noise, one ``torch.Generator`` per sample in the batch.

    At the coarsest scale one noise channel is repeated over all image
    channels; finer scales draw each channel independently (as the reference).
    With ``variation`` v < 1 the coarsest noise is ``sqrt(1 - v²) z* + v z``
    (see :func:`check_variation`): still unit Gaussian at every pixel, and
    nearer the reconstruction noise z* (§2.2) the smaller v is.
    """

    amps = [model.noise_amp(scale) for scale in range(len(model.noise_amps))]  # made once, outside any graph

    def noise(scale: int, shape: tuple[int, int, int, int]) -> torch.Tensor:
        n, c, h, w = shape
        draw_c = 1 if scale == 0 else c
        z = torch.cat(
            [torch.randn(1, draw_c, h, w, generator=g, device=model.device) for g in generators[:n]]
        )
        if scale == 0 and variation < 1:  # (n, 1, H0, W0), z* the shape of the trained coarsest scale
            z = math.sqrt(1 - variation**2) * model.z_star + variation * z
        return amps[scale] * z.expand(n, c, h, w)

    return noise


def reconstruction_noise(model: SinGANModel) -> NoiseFn:
    """The fixed reconstruction path: z* at the coarsest scale, zeros above (§2.2)."""

    def noise(scale: int, shape: tuple[int, int, int, int]) -> torch.Tensor:
        if scale == 0:
            return model.noise_amps[0] * model.z_star.expand(shape)
        return torch.zeros(shape, device=model.device)

    return noise


@torch.no_grad()
def synthesize(
    model: SinGANModel,
    noise: NoiseFn,
    *,
    batch: int = 1,
    start: int = 0,
    prev: torch.Tensor | None = None,
    shapes: Sequence[Shape] | None = None,
    stop: int | None = None,
) -> torch.Tensor:
    """Run generator stages ``start .. stop-1`` and return ``(batch, C, H, W)``.

    Parameters
    ----------
    model
        Trained model.
    noise
        Noise source, e.g. :func:`random_noise` or :func:`reconstruction_noise`.
    batch
        Number of images generated together.
    start
        First stage to run. With ``start == 0`` the input is pure noise.
    prev
        Image entering stage ``start`` (any size; it is resized to
        ``shapes[start]``). Required when ``start > 0``.
    shapes
        Output shape of every scale (default: the trained pyramid).
    stop
        One past the last stage to run (default: all trained stages).
    """
    shapes = list(shapes or model.trained_shapes)
    stop = model.num_trained if stop is None else stop
    channels = model.channels
    if prev is None:
        if start != 0:
            raise SinGANError("an injected image is needed to start above the coarsest scale")
        prev = torch.zeros(batch, channels, *shapes[0], device=model.device)
    x = prev.expand(batch, -1, -1, -1)
    for scale in range(start, stop):
        x = resize(x, shapes[scale])  # (B, C, H_n, W_n): upsampled output of the coarser stage
        x = model.generators[scale](noise(scale, (batch, channels, *shapes[scale])), x)
    return x


def reconstruct(model: SinGANModel, stop: int | None = None) -> torch.Tensor:
    """The reconstruction of the training image through stages ``< stop``: (1, C, H, W)."""
    return synthesize(model, reconstruction_noise(model), stop=stop)


def sample_seeds(seed: int | None, count: int) -> list[int]:
    """Independent per-sample seeds derived from one seed (random when ``None``)."""
    seed = None if seed is None else check_seed(seed)
    state = np.random.SeedSequence(seed).generate_state(count, np.uint64)
    return [int(s) & (2**63 - 1) for s in state]


def torch_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One seeded ``torch.Generator`` per seed, on ``device``."""
    return [torch.Generator(device=device).manual_seed(s) for s in seeds]


def output_shapes(
    model: SinGANModel, scale_h: float = 1.0, scale_w: float = 1.0, size: Shape | None = None
) -> list[Shape]:
    """Per-scale shapes for an output scaled by factors or with an exact ``size`` (H, W)."""
    finest = model.trained_shapes[-1]
    if size is not None:
        if np.ndim(size) != 1 or len(size) != 2:
            raise SinGANError(f"the output size must be (height, width) in pixels, got {size!r}")
        size = tuple(
            check_whole(f"the output {side}", v, -np.inf) for side, v in zip(("height", "width"), size)
        )
        if min(size) < 1:
            raise SinGANError(f"output size must be at least 1x1 pixels, got {size}")
        scale_h, scale_w = size[0] / finest[0], size[1] / finest[1]
        return scaled_shapes(list(model.trained_shapes), scale_h, scale_w, final=tuple(size))
    return scaled_shapes(list(model.trained_shapes), scale_h, scale_w)


def runnable_shapes(
    model: SinGANModel,
    start_scale: int = 0,
    scale_h: float = 1.0,
    scale_w: float = 1.0,
    size: Shape | None = None,
) -> list[Shape]:
    """:func:`output_shapes` of a generation from ``start_scale``, checked before any work.

    Raises
    ------
    SinGANError
        When the model has not trained ``start_scale`` or a stage that runs is
        too small for its shape (:func:`check_stage_shapes`).
    """
    model.check_start_scale(start_scale)
    shapes = output_shapes(model, scale_h, scale_w, size)
    check_stage_shapes(model, shapes, start_scale)
    return shapes


def check_variation(model: SinGANModel, variation: float, start_scale: int, shapes: Sequence[Shape]) -> float:
    """Refuse a ``variation`` that cannot apply, before any work.

    ``variation`` v sets how far samples stray from the training image's layout:
    1 (the paper's random samples, §3) draws the coarsest noise afresh, 0 uses
    the reconstruction noise z* there (the training image's layout, with the
    finer scales' noise still fresh), and values between blend the two. It
    acts at the coarsest scale, so it needs ``start_scale`` 0 and, below 1, the
    trained coarsest size (z* has that size).

    Parameters
    ----------
    model
        Trained model.
    variation
        The value asked for.
    start_scale
        Where generation starts.
    shapes
        Output shape of every scale, from :func:`runnable_shapes`.

    Returns
    -------
    float
        ``variation`` as a Python float.

    Raises
    ------
    SinGANError
        When v is not in [0, 1], or is below 1 with ``start_scale`` > 0 or an
        output of another size than the model's.
    """
    check_number("the variation", variation, 0.0, 1.0)
    variation = float(variation)
    if variation == 1:
        return variation
    if start_scale > 0:
        raise SinGANError(
            "variation acts at the coarsest scale, which a start scale above 0 replaces by the image: "
            "give start scale 0 or variation 1"
        )
    h, w = model.trained_shapes[-1]
    if tuple(shapes[0]) != tuple(model.z_star.shape[-2:]) or tuple(shapes[-1]) != (h, w):
        raise SinGANError(
            f"a variation below 1 keeps the training image's layout, so it needs the model's own size, "
            f"{h}x{w} px: ask for that size or give variation 1"
        )
    return variation


def check_stage_shapes(model: SinGANModel, shapes: Sequence[Shape], start: int = 0) -> None:
    """Refuse output shapes a stage from ``start`` on (the stages that run) is too small for.

    Raises
    ------
    SinGANError
        When a stage's shape has a side below :func:`smallest_stage_side`; the
        message gives the smallest output that runs (:func:`smallest_output`).
    """
    need = smallest_stage_side(model)
    for scale, (h, w) in enumerate(shapes[start:], start):
        if min(h, w) < need:
            least, finest = smallest_output(model, start), model.trained_shapes[-1]
            raise SinGANError(
                f"the output is too small for this model: {h}x{w} px at scale {scale}, where its generators, "
                f"which pad by reflection, need at least {need} px per side; ask for at least "
                f"{least[0]}x{least[1]} px (scale factors of at least "
                f"{math.ceil(100 * least[0] / finest[0]) / 100:.2f} x "
                f"{math.ceil(100 * least[1] / finest[1]) / 100:.2f})"
            )


def smallest_stage_side(model: SinGANModel) -> int:
    """Fewest pixels per side a generator stage runs on.

    Reflect padding by ``num_blocks`` px needs a map larger than that; zero
    and noise padding run on any size.
    """
    return model.config.model.num_blocks + 1 if model.config.model.padding == "reflect" else 1


def smallest_output(model: SinGANModel, start: int = 0) -> Shape:
    """Smallest ``(H, W)`` output whose stages from ``start`` on are all large enough to run.

    Found per axis by trying sizes upward from :func:`smallest_stage_side`,
    with the rounding :func:`output_shapes` applies.
    """
    need = smallest_stage_side(model)
    trained = list(model.trained_shapes)
    least = []
    for axis in (0, 1):
        side = need
        while True:
            factor = side / trained[-1][axis]  # both axes scaled alike; only this one is read
            if min(s[axis] for s in scaled_shapes(trained, factor, factor)[start:]) >= need:
                break
            side += 1
        least.append(side)
    return least[0], least[1]


def injected_start(image: torch.Tensor, start: int, shapes: Sequence[Shape]) -> torch.Tensor:
    """Prepare ``image`` to enter stage ``start``: reduced to the coarser scale's size (§3)."""
    return resize(image, shapes[start - 1])


def samples_per_batch(num_samples: int, size: Shape, max_batch_pixels: int = MAX_BATCH_PIXELS) -> int:
    """How many samples :func:`generate` runs at once (the memory estimate uses the same rule).

    Parameters
    ----------
    num_samples
        Samples asked for.
    size
        Output ``(H, W)``.
    max_batch_pixels
        Bound on ``batch x H x W`` (generate's argument of that name).

    Returns
    -------
    int
        At least 1, at most ``num_samples`` (when that is at least 1).
    """
    return max(1, min(num_samples, max_batch_pixels // (size[0] * size[1])))


def generate(
    model: SinGANModel,
    num_samples: int = 1,
    *,
    start_scale: int = 0,
    injected: torch.Tensor | None = None,
    scale_h: float = 1.0,
    scale_w: float = 1.0,
    size: Shape | None = None,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    with_labels: bool = False,
    mask_net: torch.nn.Module | None = None,
    variation: float = 1.0,
    max_batch_pixels: int = MAX_BATCH_PIXELS,
    force: bool = False,
) -> Generator[SampleProgress, None, np.ndarray | tuple[np.ndarray, np.ndarray]]:
    """Generate ``num_samples`` images; yields progress, returns the stack.

    Parameters
    ----------
    model
        Trained (or partly trained) model.
    num_samples
        Number of images.
    start_scale
        0 starts from pure noise (most diverse). ``n > 0`` injects ``injected``
        (default: the training image) at scale ``n - 1`` and keeps its layout.
    injected
        ``(1, C, H, W)`` normalised image to inject (see
        :func:`napari_singan.core.images.normalize_like`).
    scale_h, scale_w
        Output size relative to the training size (any aspect ratio).
    size
        Exact output ``(H, W)`` in pixels; overrides the factors.
    seed
        Same seed, same samples (sample ``i`` does not depend on the batching,
        nor on ``num_samples``: it is the ``i``-th of :func:`sample_seeds`).
    seeds
        One seed per sample instead of ``seed`` (regenerates chosen samples of
        a larger set); ``num_samples`` is then ``len(seeds)``.
    with_labels
        Also return the label images of a model trained with labels.
    mask_net
        With ``with_labels``: draw each sample's labels with this net, fit to the model's training pair by
        :func:`napari_singan.core.masknet.fit_mask_net`, from the sample's image, instead of taking the
        model's own label channels.
    variation
        How far samples stray from the training image's layout, from 1 (every
        sample a new layout, the paper's random samples) to 0 (the training
        image's layout); see :func:`check_variation`. Only with
        ``start_scale`` 0, and below 1 only at the model's own size.
    max_batch_pixels
        Bound on ``batch x H x W`` processed at once, which bounds memory.
    force
        Skip the memory estimate that refuses, before any work, samples that
        would not fit in the device's available memory.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        ``(N, H, W[, C])`` in the training image's dtype and range; with
        ``with_labels`` also ``(N, H, W)`` integer label images: the input
        labels' values (class mode) or objects numbered 1..n in each image
        (instance mode), see :mod:`napari_singan.core.labels`.

    Raises
    ------
    MemoryEstimateError
        Unless ``force``, when the samples are estimated not to fit
        (:func:`napari_singan.core.memory.check_generation`).
    """
    from .memory import check_generation  # memory estimates use this module's shapes

    if seeds is not None:
        seeds = [check_seed(s, "each of the seeds") for s in np.ravel(seeds).tolist()]
        num_samples = len(seeds)
    num_samples = check_whole("the number of samples", num_samples, 1)
    max_batch_pixels = check_whole("max batch pixels", max_batch_pixels, 1)
    if with_labels and model.labels is None:
        raise SinGANError("this model was trained without labels: train it with a label image to get pairs")
    if mask_net is not None:
        if not with_labels:
            raise SinGANError("a mask net draws label images: ask for them too (with_labels=True)")
        check_mask_net(mask_net, model)
    shapes = runnable_shapes(model, start_scale, scale_h, scale_w, size)
    variation = check_variation(model, variation, start_scale, shapes)
    if injected is not None and not (isinstance(injected, torch.Tensor) and injected.ndim == 4):
        raise SinGANError(
            "injected must be a (1, C, H, W) tensor, e.g. from normalize_like(image, model.spec)"
        )
    if injected is not None and start_scale == 0:
        raise SinGANError("an injected image enters above the coarsest scale: give start_scale 1 or more")
    prev = None
    if start_scale > 0:
        source = model.image if injected is None else injected.to(model.device)
        if source.shape[1] != model.channels:
            raise SinGANError(
                f"the injected image has {source.shape[1]} channel(s) but the model works on {model.channels}"
            )
        prev = injected_start(source, start_scale, shapes)
    per_batch = samples_per_batch(num_samples, shapes[-1], max_batch_pixels)
    check_generation(model, shapes[-1], per_batch, num_samples, force)
    gens = torch_generators(sample_seeds(seed, num_samples) if seeds is None else seeds, model.device)
    images, labels = [], []
    for first in range(0, num_samples, per_batch):
        group = gens[first : first + per_batch]
        out = synthesize(
            model,
            random_noise(model, group, variation),
            batch=len(group),
            start=start_scale,
            prev=prev,
            shapes=shapes,
        )
        images.append(denormalize(out, model.spec))
        if mask_net is not None:
            labels.append(redraw_labels(mask_net, out, model.labels))
        elif with_labels:
            labels.append(decode_labels(out, model.labels))
        yield SampleProgress(first + len(group), num_samples)
    return (np.concatenate(images), np.concatenate(labels)) if with_labels else np.concatenate(images)


def sample(model: SinGANModel, num_samples: int = 1, **kwargs) -> np.ndarray:
    """:func:`generate` without progress events; same arguments."""
    return drain(generate(model, num_samples, **kwargs))
