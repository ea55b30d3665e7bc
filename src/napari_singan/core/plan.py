"""What a training run will take, said before it starts: scales, widths, time and peak memory.

**Memory.** One training step at scale *n* holds the autograd graphs of the
critic (real and fake in one pass, the penalty's interpolate with its double
backward) or of the generator (a random sample and the reconstruction in one
pass, then the critic). Both are feature maps of the scale's width over its
padded area, so the peak is ``LIVE_MAPS x 4 bytes x width x (H + 2b) x (W + 2b)``
at the widest scale (``b`` = conv blocks), plus the two networks with their
gradients and Adam state, plus the full-size input tensor kept during
training. Preparing the input (float64 normalisation of the whole image) is
an earlier, separate peak. On the CPU the first training of a process also
takes ``RUNTIME_BYTES`` once (thread pools, kernels and their per-shape state:
a 4-scale 64 px paper run grew 176 MB from cold, 68 MB after a warm-up).
``LIVE_MAPS = 72`` is a CPU measurement (``benchmarks/bench_plan.py``: peak
RSS growth, ``resource.getrusage``, of one scale of 40-256 px at 32, 64 and
128 filters, three runs): measured/estimated 0.72-1.05, so the estimate errs
on the high side. On CUDA (torch's ``max_memory_allocated``, cell at 250 px
on an H200): with :class:`~napari_singan.core.models.PenaltyConv2d` critics
(the default there) 40 maps at 128 filters and 37 at 32, so
``LIVE_MAPS_CUDA = 48``; bfloat16 (torch's convs) 21; torch's convs in float32
304 (one H100 run before the critic's real/fake pass was split from the
penalty's: 351, cuDNN's FFT workspaces included), ``LIVE_MAPS_CUDA_TORCH``.

**Time.** Seconds per iteration on the CPU (and MPS) = ``OVERHEAD_SECONDS`` +
``CONV_EQUIVALENTS`` forward passes of the scale's convolutions on one image
(3x3 convs: ``2 x 9 x c_in x c_out x H x W`` FLOPs each) at the throughput of a
timed ``width -> width`` conv on the device + ``MAP_EQUIVALENTS`` norm +
activation passes over one padded width map at the speed of a timed one +
one forward of every coarser stage (the random input). The probes time maps
of the scale's size up to 64 px (conv) and 128 px (norm), a few ms each, once
per width and size in a process. The three constants were fitted to
``bench_plan.py --cpu-time`` (CPU seconds at one thread, one scale of 24-256
px at 32-128 filters, 2 iterations): measured/estimated 0.84-1.23. On CUDA no
probe runs. Four H200 runs with graphs (cell at 250 px: the paper preset at
100 iterations per scale and ``fast``, each with ``PenaltyConv2d`` and with
torch's convs; ``benchmarks/results/gpu/final``) fit a scale's seconds as
``CUDA_SCALE_SECONDS`` (capturing its graph twice, its first calls) +
iterations x (``CUDA_OVERHEAD_SECONDS`` + the padded width map's values x
``CUDA_SECONDS_PER_MAP_VALUE``, or ``..._TORCH`` where the critics keep torch's
convs and the penalty's double backward runs on FFT kernels), plus
``CUDA_START_SECONDS`` when no scale has trained on the device in the process yet. With
``PenaltyConv2d`` measured/estimated is 0.88-1.11 per scale and 0.99-1.01 for
the whole runs; with torch's convs 0.81-2.1 per scale. Without graphs
(``cuda_graphs`` off, or concurrent training) an iteration costs
``CUDA_EAGER_SECONDS`` more (an H100 run). bfloat16 is estimated as torch's
convs in float32 (it measured 1.4x that). Other GPUs differ by their speed.

**Batched steps** (``coarse_batch``): a scale whose steps draw B random
samples does :func:`batch_work` (``(1 + B) / 2``) times a step's work, in time
and in memory.

**Concurrent training** (``concurrent_stages = k > 1``, not measured for the
estimate): each of the k - 1 stages trained along adds its own step's memory,
and on the CPU ``6 x g_steps`` forward passes per iteration (forward and
backward, on a random sample and the reconstruction, in every generator
step); on CUDA the map-size rate of its size.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import memory
from .config import SinGANConfig, TrainConfig
from .device import check_precision
from .models import scale_width
from .pyramid import Shape, trainable_shapes
from .training import cuda_warm, use_cuda_graphs, use_penalty_conv

#: float32 feature maps of a scale's width alive at the peak of a training step (CPU, measured).
LIVE_MAPS = 72
#: The same on CUDA with PenaltyConv2d critics or in bfloat16 (H200: 40, 37 and 21 measured, + margin).
LIVE_MAPS_CUDA = 48
#: ... and with torch's convs in float32 (H100: 351, cuDNN's FFT workspaces included; H200: 304).
LIVE_MAPS_CUDA_TORCH = 351
#: Bytes the first CPU training of a process takes beyond its tensors (measured 108 MB at one thread, + margin).
RUNTIME_BYTES = 130 * 10**6
#: Bytes per value of the whole input while it is normalised (float64 copies); 20.1 measured (4000 px uint16).
PREPARE_BYTES = 20
#: One training iteration in forward conv passes of the scale's networks on one image (CPU, fitted).
CONV_EQUIVALENTS = 70.0
#: ... plus this many norm + activation passes over one padded feature map of the scale's width (CPU, fitted).
MAP_EQUIVALENTS = 400.0
#: Seconds per iteration beyond those (optimiser steps, autograd, Python; CPU, fitted).
OVERHEAD_SECONDS = 0.02
#: CUDA: seconds of the first scale of a process's first run (CUDA and cuDNN start-up; H200: 6.6-6.9 s).
CUDA_START_SECONDS = 7.0
#: CUDA: seconds per scale beyond its iterations (graph captures, first calls; H200, fitted).
CUDA_SCALE_SECONDS = 0.88
#: CUDA: seconds per iteration replayed as a graph at a tiny scale (H200, fitted).
CUDA_OVERHEAD_SECONDS = 0.005
#: CUDA: ... more per iteration run eagerly, launched from Python (H100: 55-60 ms at the small scales).
CUDA_EAGER_SECONDS = 0.05
#: CUDA: seconds per iteration per value of the scale's padded width map, PenaltyConv2d critics (H200, fitted).
CUDA_SECONDS_PER_MAP_VALUE = 6.8e-9
#: ... and with torch's critic convs (H200, fitted).
CUDA_SECONDS_PER_MAP_VALUE_TORCH = 2.3e-8
#: Largest side of the square maps the conv and norm probes time (scales are probed at their own size up to it).
_CONV_PROBE_SIDE, _MAP_PROBE_SIDE = 64, 128


@dataclass(frozen=True)
class TrainingPlan:
    """The scales a training run will train and what it is estimated to take."""

    shapes: tuple[Shape, ...]  # (H, W) of every scale to train, coarse to fine
    widths: tuple[int, ...]  # conv filters of each of those scales
    iterations: tuple[int, ...]  # adversarial iterations of each of those scales
    batches: tuple[int, ...]  # random samples per step at each of those scales (TrainConfig.batch)
    seconds: float  # estimated training time
    peak_bytes: int  # estimated peak memory above what is in use before training
    device: str  # where it was estimated for

    def summary(self) -> str:
        """One line: scales, shapes first…last, widths, time and memory."""
        if not self.shapes:
            return "no scales left to train"
        first, last = self.shapes[0], self.shapes[-1]
        shapes = f"{first[0]}x{first[1]}" + ("" if first == last else f" … {last[0]}x{last[1]}")
        widths = sorted(set(self.widths))
        filters = str(widths[0]) if len(widths) == 1 else f"{widths[0]} … {widths[-1]}"
        iters_first, iters_last = self.iterations[0], self.iterations[-1]
        iters = (
            f"{iters_first} iterations each"
            if iters_first == iters_last
            else f"{iters_first} … {iters_last} iterations"
        )
        batched = [b for b in self.batches if b > 1]
        if batched:
            iters += f", {max(batched)} samples per step at {len(batched)} scale(s)"
        return (
            f"{len(self.shapes)} scale(s) of {shapes} px, {filters} filters, {iters}: "
            f"about {readable_seconds(self.seconds)} and {memory.readable_bytes(self.peak_bytes)} on {self.device}"
        )


def training_plan(
    height: int,
    width: int,
    config: SinGANConfig,
    device: torch.device | str = "cpu",
    channels: int = 1,
    first_scale: int = 0,
) -> TrainingPlan:
    """Estimate a training run on an image of ``height`` x ``width`` pixels.

    Parameters
    ----------
    height, width
        The training image's size (after any crop).
    config
        The training configuration.
    device
        Where it will train; on devices other than CUDA a few ms of convolutions
        are timed there.
    channels
        Image channels plus label channels.
    first_scale
        The first scale to train (a resumed model's number of trained scales).

    Returns
    -------
    TrainingPlan
        The scales from ``first_scale`` on, with the estimates.

    Raises
    ------
    ConfigError
        bfloat16 training asked of a device that cannot run it.
    """
    device = torch.device(device)
    check_precision(config.train, device)
    cfg = config.model
    shapes = trainable_shapes(height, width, config)
    widths = [scale_width(n, cfg) for n in range(len(shapes))]
    train = config.train
    iterations = list(train.schedule(shapes)[first_scale:])
    batches = [train.batch(n) for n in range(first_scale, len(shapes))]  # random samples per step
    along = train.concurrent_stages - 1  # coarser stages trained with each new one
    padded = [padded_values(shape, n, cfg.num_blocks) for shape, n in zip(shapes, widths, strict=True)]
    if device.type == "cuda":
        seconds = cuda_seconds(padded, iterations, batches, first_scale, train, device)
    else:
        seconds = sum(
            iters
            * iteration_seconds(
                shapes[: n + 1],
                widths[: n + 1],
                channels,
                cfg.num_blocks,
                device,
                along,
                6 * train.g_steps,
                train.precision == "bfloat16",
                batch,
            )
            for n, iters, batch in zip(range(first_scale, len(shapes)), iterations, batches, strict=True)
        )
    return TrainingPlan(
        tuple(shapes[first_scale:]),
        tuple(widths[first_scale:]),
        tuple(iterations),
        tuple(batches),
        seconds,
        training_bytes(height, width, config, device, channels, first_scale, shapes),
        str(device),
    )


def training_bytes(
    height: int,
    width: int,
    config: SinGANConfig,
    device: torch.device | str = "cpu",
    channels: int = 1,
    first_scale: int = 0,
    shapes: Sequence[Shape] | None = None,
) -> int:
    """Estimated peak memory of training (:attr:`TrainingPlan.peak_bytes`), without timing anything.

    Parameters are those of :func:`training_plan`, and ``shapes``: the scales
    (default: the pyramid of ``height`` x ``width``; a model's own, where it
    retrains only some of them). The largest training step of the scales from
    ``first_scale`` on (its stages' live feature maps times their random
    samples), beside the image, or preparing the image if that needs more; on
    the CPU the runtime's own memory is added.
    """
    device = torch.device(device)
    cfg, train = config.model, config.train
    shapes = list(trainable_shapes(height, width, config) if shapes is None else shapes)
    widths = [scale_width(n, cfg) for n in range(len(shapes))]
    along = train.concurrent_stages - 1  # coarser stages trained with each new one
    if device.type == "cuda":
        torch_convs = not use_penalty_conv(train, device) and train.precision == "float32"
        live = LIVE_MAPS_CUDA_TORCH if torch_convs else LIVE_MAPS_CUDA
    else:
        live = LIVE_MAPS
    steps = [
        batch_work(train.batch(n))
        * sum(
            step_bytes(shapes[s], widths[s], channels, cfg.num_blocks, live)
            for s in range(max(0, n - along), n + 1)
        )
        for n in range(first_scale, len(shapes))
    ]
    values = channels * height * width
    runtime = 0 if device.type == "cuda" else RUNTIME_BYTES  # CUDA: host memory, not the device's
    return int(runtime + max(PREPARE_BYTES * values, 4 * values + max(steps, default=0)))


def padded_values(shape: Shape, width: int, num_blocks: int) -> int:
    """Values of one feature map of ``width`` channels over a scale's padded area."""
    h, w = shape
    return width * (h + 2 * num_blocks) * (w + 2 * num_blocks)


def cuda_seconds(
    padded: list[int],
    iterations: list[int],
    batches: list[int],
    first_scale: int,
    train: TrainConfig,
    device: torch.device,
) -> float:
    """Estimated seconds of training on CUDA, from constants fitted on an H200 (no probe runs).

    Parameters
    ----------
    padded
        :func:`padded_values` of every scale.
    iterations
        Iterations of the scales trained, from ``first_scale`` on.
    batches
        Random samples per step of those scales (``TrainConfig.batch``).
    first_scale
        The first scale trained.
    train
        The training options (critic convs, graphs, stages trained along).
    device
        The CUDA device.

    Returns
    -------
    float
        :data:`CUDA_START_SECONDS` unless a scale has trained on ``device`` in this
        process (:func:`~napari_singan.core.training.cuda_warm`), plus
        per scale :data:`CUDA_SCALE_SECONDS` + its iterations x (overhead + the
        padded map values of it and of the stages trained along x a constant
        of the critics' convs x :func:`batch_work`).
    """
    per_value = (
        CUDA_SECONDS_PER_MAP_VALUE if use_penalty_conv(train, device) else CUDA_SECONDS_PER_MAP_VALUE_TORCH
    )
    per_iteration = CUDA_OVERHEAD_SECONDS + (0.0 if use_cuda_graphs(train, device) else CUDA_EAGER_SECONDS)
    along = train.concurrent_stages - 1
    start = 0.0 if cuda_warm(device) else CUDA_START_SECONDS
    return start + sum(
        CUDA_SCALE_SECONDS
        + iters * (per_iteration + batch_work(batch) * sum(padded[max(0, n - along) : n + 1]) * per_value)
        for n, iters, batch in zip(range(first_scale, len(padded)), iterations, batches, strict=True)
    )


def iteration_seconds(
    shapes: list[Shape],
    widths: list[int],
    channels: int,
    num_blocks: int,
    device: torch.device,
    along: int = 0,
    along_passes: float = 0.0,
    bfloat16: bool = False,
    batch: int = 1,
) -> float:
    """Estimated seconds of one training iteration at the last of ``shapes``, on the CPU or MPS.

    Parameters
    ----------
    shapes
        ``(H, W)`` of the scales up to and including the one trained (the
        coarser ones make its random input).
    widths
        Their conv filters.
    channels
        Image plus label channels.
    num_blocks
        Conv blocks per network.
    device
        Where it trains (its convolutions and norms are timed there).
    along
        Coarser stages trained along (``concurrent_stages - 1``).
    along_passes
        Forward-pass equivalents each of them adds per iteration.
    bfloat16
        Whether the networks train in bfloat16 (``TrainConfig.precision``): the
        convolutions are timed that way.
    batch
        Random samples per step (``TrainConfig.batch``).

    Returns
    -------
    float
        Overhead + (:data:`CONV_EQUIVALENTS` x the scale's forward conv FLOPs at
        the timed conv throughput + :data:`MAP_EQUIVALENTS` x its padded width
        maps at the timed norm + activation speed) x :func:`batch_work` +
        ``batch`` forwards of each coarser stage, and ``along_passes`` x
        :func:`batch_work` more of the ``along`` just below it.
    """
    width, maps = widths[-1], padded_values(shapes[-1], widths[-1], num_blocks)
    flops = [forward_flops(s, n, channels, num_blocks) for s, n in zip(shapes, widths, strict=True)]
    side = [_side(shape) for shape in shapes]  # the probes' map sides, like the scales' up to a cap
    conv = [
        conv_seconds_per_flop(device, n, min(s, _CONV_PROBE_SIDE), bfloat16)
        for n, s in zip(widths, side, strict=True)
    ]
    per_value = map_seconds_per_value(device, width, min(side[-1] + 2 * num_blocks, _MAP_PROBE_SIDE))
    work = batch_work(batch)
    return (
        OVERHEAD_SECONDS
        + work * (CONV_EQUIVALENTS * flops[-1] * conv[-1] + MAP_EQUIVALENTS * maps * per_value)
        + batch * sum(f * c for f, c in zip(flops[:-1], conv, strict=False))
        + work
        * along_passes
        * sum(f * c for f, c in zip(flops[-1 - along : -1], conv[-1 - along : -1], strict=True))
    )


def batch_work(batch: int) -> float:
    """A step's work with ``batch`` random samples, in steps of one: ``(1 + batch) / 2``.

    The real image and the reconstruction stay one image each, so the critic
    and generator passes grow from two images to ``1 + batch`` (at 28 px on one
    CPU thread a whole iteration measured 1.45x with 2 and 2.2-2.5x with 4).
    """
    return (1 + batch) / 2


def _side(shape: Shape) -> int:
    """Side of the square with the area of ``shape``, at least 16 px."""
    return max(16, round(math.sqrt(shape[0] * shape[1])))


def forward_flops(shape: Shape, width: int, channels: int, num_blocks: int) -> float:
    """FLOPs of one forward pass of a scale's generator (or critic) on one image.

    ``num_blocks`` 3x3 convolutions: ``channels -> width``, ``num_blocks - 2``
    of ``width -> width`` and ``width -> channels``, counted at the output size.
    """
    h, w = shape
    products = channels * width + (num_blocks - 2) * width * width + width * channels
    return 2.0 * 9 * products * h * w


def step_bytes(shape: Shape, width: int, channels: int, num_blocks: int, live_maps: int = LIVE_MAPS) -> int:
    """Peak bytes of one training step at a scale: live feature maps plus both networks' state.

    Parameters
    ----------
    shape
        ``(H, W)`` of the scale.
    width
        Its conv filters.
    channels
        Image plus label channels.
    num_blocks
        Conv blocks per network (each pads the generator's input by 1 px per side).
    live_maps
        Float32 maps of ``width`` x the padded area alive at the peak.

    Returns
    -------
    int
        Bytes.
    """
    weights = 9 * (channels * width + (num_blocks - 2) * width * width + width * channels)
    # Two networks, each with weights, gradients and Adam's two moments; the frozen coarser stages are small.
    return 4 * (live_maps * padded_values(shape, width, num_blocks) + 2 * 4 * weights)


@functools.cache
def conv_seconds_per_flop(
    device: torch.device, width: int, side: int = _CONV_PROBE_SIDE, bfloat16: bool = False
) -> float:
    """Seconds per FLOP of a ``width -> width`` 3x3 convolution on ``device`` (timed, at most ~0.2 s; cached).

    The best of seven forward passes on a ``side`` x ``side`` map, after one
    warm-up; in bfloat16 with ``bfloat16``, as training casts it.
    """
    dtype = torch.bfloat16 if bfloat16 else torch.float32
    x = torch.randn(1, width, side, side, device=device, dtype=dtype)
    weight = torch.randn(width, width, 3, 3, device=device, dtype=dtype)
    return _best_seconds(lambda: F.conv2d(x, weight), device) / (2.0 * 9 * width * width * (side - 2) ** 2)


@functools.cache
def map_seconds_per_value(device: torch.device, width: int, side: int = _MAP_PROBE_SIDE) -> float:
    """Seconds per value of an instance norm + LeakyReLU over a ``width``-channel map (timed, a few ms; cached).

    The best of seven passes over a ``side`` x ``side`` map, after one warm-up.
    """
    x = torch.randn(1, width, side, side, device=device)
    return _best_seconds(lambda: F.leaky_relu(F.instance_norm(x), 0.2), device) / x.numel()


def _best_seconds(work, device: torch.device) -> float:
    """The shortest of seven timed calls of ``work`` (no gradients) after a warm-up: load slows some, rarely all."""
    best = float("inf")
    with torch.no_grad():
        for k in range(8):
            start = time.perf_counter()
            work()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if k:
                best = min(best, time.perf_counter() - start)
    return best


def readable_seconds(seconds: float) -> str:
    """Seconds as s, min or h, to two significant figures."""
    value, unit = (
        (seconds, "s") if seconds < 90 else (seconds / 60, "min") if seconds < 5400 else (seconds / 3600, "h")
    )
    return f"{float(f'{value:.2g}'):g} {unit}"


def check_training_memory(plan: TrainingPlan, remedy: str) -> None:
    """Refuse a training run estimated to need more memory than its device has available.

    Parameters
    ----------
    plan
        From :func:`training_plan`; nothing is checked where the available
        memory is unknown (:func:`napari_singan.core.memory.available_bytes`).
    remedy
        What to do instead, in the caller's terms (flags or fields).

    Raises
    ------
    MemoryEstimateError
        One line with the estimate, the memory available and ``remedy``.
    """
    memory.check_memory(plan.peak_bytes, plan.device, what="training", remedy=remedy)
