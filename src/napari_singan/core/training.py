"""Coarse-to-fine training (paper §2.2) as a generator of progress events.

``train(...)`` and ``resume(...)`` yield :class:`ScaleStarted`,
:class:`Progress`, :class:`Preview` and :class:`ScaleFinished` events and
return the :class:`SinGANModel`. Every :class:`ScaleFinished` carries the
model trained so far, so a consumer that stops iterating keeps a usable model.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Generator, Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import SinGANConfig, TrainConfig, as_config
from .device import check_precision, resolve_device
from .errors import TrainingError, check_seed
from .events import Preview, Progress, ScaleFinished, ScaleStarted, TrainEvent
from .graphs import GraphedWork
from .images import channels_last, denormalize, prepare_image, validate_image
from .labels import (
    LabelMode,
    check_label_mode,
    check_labels,
    decode_labels,
    encode_labels,
    reduce_labels,
)
from .memory import FORCE_ARGUMENT, check_memory
from .models import Discriminator, GeneratorStage, PenaltyConv2d, init_weights, scale_width
from .pyramid import build_pyramid, resize, trainable_shapes
from .sampling import random_noise, reconstruct, reconstruction_noise, synthesize
from .singan import SinGANModel


def _scale_seed(seed: int, scale: int) -> int:
    """Seed of scale ``scale``: resuming at that scale reproduces an uninterrupted run."""
    return int(np.random.SeedSequence([seed, scale]).generate_state(1, np.uint64)[0]) & (2**63 - 1)


def train(
    image: np.ndarray,
    config: SinGANConfig | str | None = None,
    *,
    labels: np.ndarray | None = None,
    label_mode: LabelMode = "auto",
    channel_axis: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    metadata: dict | None = None,
    force: bool = False,
) -> Generator[TrainEvent, None, SinGANModel]:
    """Train a SinGAN on one image (and, optionally, its label image).

    Parameters
    ----------
    image
        2-D grayscale, RGB(A) or multichannel (with ``channel_axis``) array of
        any integer or float dtype.
    config
        Training configuration, or a preset's name (default: the paper's).
    labels
        Optional ``(H, W)`` integer label image of ``image`` (a napari Labels
        layer): learned as extra channels, so that every sample comes with its
        labels (``generate(..., with_labels=True)``). With labels the
        model trains with :meth:`SinGANConfig.for_labels` of ``config``.
    label_mode
        ``"classes"``, ``"instances"`` or ``"auto"``; see :mod:`napari_singan.core.labels`.
    channel_axis
        Axis holding channels, or ``None`` (2-D = grayscale, ``(H, W, 3|4)`` = RGB).
    device
        ``"auto"``, ``"cpu"``, ``"cuda[:i]"`` or ``"mps"``.
    seed
        Same seed on the same device and torch build gives the same model.
    metadata
        Free-form, JSON-like facts stored with the model (e.g. napari layer scale).
    force
        Skip the memory estimate that refuses, before any work, a training
        that would not fit in the device's available memory.

    Yields
    ------
    TrainEvent
        Progress events; see the module docstring.

    Returns
    -------
    SinGANModel
        The trained model.
    """
    config = as_config(config)
    seed = check_seed(seed)
    check_label_mode(labels, label_mode)
    dev = resolve_device(device)
    tensor, spec = prepare_image(image, channel_axis, dev)
    label_spec = None
    if labels is not None:
        label_spec = replace(
            check_labels(labels, (spec.height, spec.width), label_mode), first_channel=spec.channels
        )
        config = config.for_labels()  # the model's config says which alpha and schedule it trained with
    shapes = trainable_shapes(spec.height, spec.width, config)
    finest = resize(tensor, shapes[-1])  # (1, C, H, W)
    if label_spec is not None:  # label channels made at the working size, so thin boundaries survive
        reduced = reduce_labels(np.asarray(labels), shapes[-1])
        cfg_t = config.train
        coded = encode_labels(reduced, label_spec, cfg_t.label_amplitude, dev, cfg_t.label_encoding)
        finest = torch.cat([finest, coded], dim=1)  # (1, C + K, H, W)
    model = SinGANModel(
        config=config,
        spec=spec,
        labels=label_spec,
        shapes=tuple(shapes),
        image=finest,
        z_star=torch.zeros(1, 1, *shapes[0], device=dev),  # drawn when scale 0 trains
        seed=seed,
        generators=nn.ModuleList(),
        metadata=metadata,
    )
    return (yield from _fit(model, force))


def training_layout(
    image: np.ndarray,
    channel_axis: int | None = None,
    labels: np.ndarray | None = None,
    label_mode: LabelMode = "auto",
) -> tuple[int, int, int]:
    """What :func:`train` would learn from ``image`` (and ``labels``), checked as it checks them.

    For a training plan made before any work: the arguments are :func:`train`'s.

    Returns
    -------
    tuple of int
        Height, width and channels: the image's, plus the label channels.

    Raises
    ------
    ImageInputError
        One line, for an image or label image (or a label mode) that ``train`` refuses.
    """
    check_label_mode(labels, label_mode)
    hwc, _ = channels_last(image, channel_axis)
    validate_image(hwc)
    height, width, channels = hwc.shape
    if labels is not None:  # learned as channels beside the image's
        channels += check_labels(labels, (height, width), label_mode).channels
    return height, width, channels


def resume(
    model: SinGANModel, *, device: str | torch.device | None = None, force: bool = False
) -> Generator[TrainEvent, None, SinGANModel]:
    """Continue training a partly trained model at its next scale.

    With the same device, the result equals an uninterrupted run with the same
    seed. ``force`` skips the memory estimate, as in :func:`train`.
    """
    if device is not None:
        model = model.to(resolve_device(device))
    return (yield from _fit(model, force))


def check_training(
    model: SinGANModel, remedy: str = "train at a smaller max_size or on a crop of the image"
) -> None:
    """Refuse, before any work, training the untrained scales of ``model`` estimated not to fit.

    Parameters
    ----------
    model
        A partly trained model (or a new one, as :func:`train` makes it), on its device.
    remedy
        What to do instead, in the caller's terms.

    Raises
    ------
    MemoryEstimateError
        One line with the estimate, what is available and what to do (or ``force=True``).
    """
    from .plan import training_bytes  # the plan's estimates use this module's choices

    spec, dev = model.spec, model.device
    needed = training_bytes(
        spec.height, spec.width, model.config, dev, model.channels, model.num_trained, model.shapes
    )
    check_memory(needed, dev, force_flag=FORCE_ARGUMENT, what="training", remedy=remedy)


def _fit(model: SinGANModel, force: bool) -> Generator[TrainEvent, None, SinGANModel]:
    check_precision(model.config.train, model.device)
    if not force:
        check_training(model)
    reals = build_pyramid(model.image, list(model.shapes))
    for scale in range(model.num_trained, model.num_scales):
        model = yield from _train_scale(model, scale, reals[scale])
    return model


def use_cuda_graphs(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether a scale's iterations run as one replayed CUDA graph on ``device``.

    Only on CUDA, when ``cfg.cuda_graphs`` allows it, every iteration applies
    the gradient penalty on the same critic steps (``d_steps`` a multiple of
    ``gp_every``) and one stage trains at a time (concurrent training has not
    been run captured on a GPU).
    """
    return (
        device.type == "cuda"
        and cfg.cuda_graphs
        and cfg.d_steps % cfg.gp_every == 0
        and cfg.concurrent_stages == 1
    )


#: Indices of the CUDA devices a scale has trained on in this process (start-up paid; core.plan asks).
_WARM_DEVICES: set[int] = set()


def cuda_warm(device: torch.device | str) -> bool:
    """Whether a training scale has run on CUDA ``device`` in this process (cuDNN and its kernels loaded)."""
    return (torch.device(device).index or 0) in _WARM_DEVICES


def use_penalty_conv(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the critics use :class:`PenaltyConv2d`: where ``cfg.penalty_conv`` allows it, on CUDA in
    float32 (1.5x faster whole training on an H200; slower on the CPU, and bfloat16 keeps torch's convs)."""
    return cfg.penalty_conv and device.type == "cuda" and cfg.precision == "float32"


def training_autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """The context of a training iteration: nothing for float32, bfloat16 autocast with ``cfg.precision``.

    Convolutions, norms and activations then compute in bfloat16, while the
    weights, Adam's state, the reconstruction loss and everything outside the
    iteration (noise amplitudes, sampling) stay float32. No cache of cast
    weights, so a CUDA graph can capture it (torch's rule for autocast in graphs).
    """
    if cfg.precision != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)


def noise_amplitude(rec_prev: torch.Tensor, real: torch.Tensor, weight: float) -> float:
    """sigma_n = weight x RMSE between the upsampled coarser reconstruction and x_n (§2.2, §3)."""
    return weight * math.sqrt(F.mse_loss(rec_prev, real).item())


def _critic_scores(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator, penalize: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Mean critic scores of real (1, C, H, W) and fake (B, C, H, W) and, with ``penalize``, the
    WGAN-GP term on B interpolates.

    As in the SinGAN reference, the gradient norm is taken over channels at
    each pixel and averaged (the lambda = 0.1 default was tuned with it).
    """
    scores = critic(torch.cat([real, fake]))  # (1 + B, 1, h, w); norms are per sample
    d_real, d_fake = scores[:1].mean(), scores[1:].mean()
    if not penalize:
        return d_real, d_fake, None
    alpha = torch.rand(fake.shape[0], 1, 1, 1, generator=gen, device=real.device)
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    d_interp = critic(interp)  # apart, so the penalty's gradients skip real and fake
    (grad,) = torch.autograd.grad(d_interp.sum(), interp, create_graph=True)
    penalty = ((grad.norm(2, dim=1) - 1) ** 2).mean()
    return d_real, d_fake, penalty


def discriminator_step(
    netd: nn.Module,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    gen: torch.Generator,
    cfg: TrainConfig,
    step: int,
) -> torch.Tensor:
    """One WGAN-GP critic update on ``real`` (1, C, H, W) and ``fake`` (B, C, H, W) (§2.2): returns the loss.

    With ``cfg.gp_every = k > 1`` the penalty is applied on every k-th step only,
    weighted k x (lazy regularisation); the paper's k = 1 penalises every step.
    """
    opt_d.zero_grad(set_to_none=True)
    penalize = step % cfg.gp_every == 0
    d_real, d_fake, penalty = _critic_scores(netd, real, fake, gen, penalize)
    d_loss = d_fake - d_real
    if penalty is not None:
        d_loss = d_loss + cfg.gp_weight * cfg.gp_every * penalty
    d_loss.backward()
    opt_d.step()
    return d_loss


class StageChain(nn.Module):
    """Generator stages run one after the other, the new stage last.

    With ``TrainConfig.concurrent_stages = k > 1`` the k - 1 stages below the new
    one keep learning with it (ConSinGAN-style concurrent training); with k = 1
    the chain is the new stage alone, as in the paper (§2.2).
    """

    def __init__(self, stages: list[nn.Module], shapes: list[tuple[int, int]]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.shapes = shapes  # (H, W) of each stage's output

    def forward(self, noises: list[torch.Tensor], prev: torch.Tensor) -> torch.Tensor:
        """``noises``: one (B, C, H_s, W_s) per stage; ``prev``: the image entering the first stage
        (resized to its shape here unless it has it already)."""
        x = prev
        for stage, z, shape in zip(self.stages, noises, self.shapes, strict=True):
            x = stage(z, resize(x, shape))  # (B, C, H_s, W_s)
        return x


def generator_step(
    chain: StageChain,
    netd: nn.Module,
    opt_g: torch.optim.Optimizer,
    inputs: tuple[list[torch.Tensor], torch.Tensor],
    rec_inputs: tuple[list[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    cfg: TrainConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One G update: adversarial loss + alpha x reconstruction MSE (§2.2, Eq. 1).

    ``inputs`` and ``rec_inputs`` are (the noise of every stage of ``chain``, each
    (B, C, H_s, W_s); the image entering its first stage, (B, C, H, W)) for B
    random samples and (batch 1) for the reconstruction path; they run as one batch.
    Returns the loss, the reconstruction loss and the random samples.
    """
    opt_g.zero_grad(set_to_none=True)
    noises = [torch.cat(pair) for pair in zip(inputs[0], rec_inputs[0], strict=True)]
    out = chain(noises, torch.cat([inputs[1], rec_inputs[1]]))  # (B + 1, C, H_n, W_n)
    gen_fake, rec = out[:-1], out[-1:]
    rec_loss = F.mse_loss(rec, real)
    g_loss = -netd(gen_fake).mean() + cfg.rec_weight * rec_loss
    g_loss.backward()
    opt_g.step()
    return g_loss, rec_loss, gen_fake


def _check_finite(losses: Sequence[float], scale: int, iteration: int) -> None:
    """Stop a run whose losses (critic, adversarial, reconstruction) are no longer finite numbers."""
    if not all(map(math.isfinite, losses)):
        critic, adversarial, reconstruction = losses
        raise TrainingError(
            f"training diverged at scale {scale}, iteration {iteration} (losses: critic {critic:g}, "
            f"generator {adversarial:g}, reconstruction {reconstruction:g}): "
            "lower the learning rates or the loss weights and train again"
        )


def _train_scale(
    model: SinGANModel, scale: int, real: torch.Tensor
) -> Generator[TrainEvent, None, SinGANModel]:
    """Train G_n and D_n at ``scale`` (§2.2).

    The coarser stages are frozen, except the ``concurrent_stages - 1`` just below
    ``scale``, which train along at learning rates scaled by ``concurrent_lr_scale``
    per stage of distance; they are copies, so the model of the previous
    :class:`ScaleFinished` event stays as it was.
    """
    cfg_m, cfg_t = model.config.model, model.config.train
    dev = model.device
    started = time.perf_counter()
    gen = torch.Generator(device=dev).manual_seed(_scale_seed(model.seed, scale))
    if scale == 0:  # z*: one fixed noise channel at the coarsest scale (§2.2)
        model = replace(model, z_star=torch.randn(model.z_star.shape, generator=gen, device=dev))
    channels = model.channels
    width = scale_width(scale, cfg_m)
    netg = GeneratorStage(channels, width, cfg_m).to(dev)
    conv = PenaltyConv2d if use_penalty_conv(cfg_t, dev) else nn.Conv2d
    netd = Discriminator(channels, width, cfg_m, conv).to(dev)
    init_weights(netg, gen)
    init_weights(netd, gen)
    if cfg_t.init_from_previous and scale > 0 and width == scale_width(scale - 1, cfg_m):
        netg.load_state_dict(model.generators[scale - 1].state_dict())
        if model.discriminator_state is not None:
            netd.load_state_dict(model.discriminator_state)
    low = scale + 1 - min(cfg_t.concurrent_stages, scale + 1)  # the lowest stage trained at this scale
    lower = [copy.deepcopy(model.generators[s]).requires_grad_(True) for s in range(low, scale)]
    chain = StageChain([*lower, netg], list(model.shapes[low : scale + 1]))
    chain_shapes = [(1, channels, *hw) for hw in chain.shapes]  # its outputs, (1, C, H_s, W_s)
    batch = cfg_t.batch(scale)  # random samples per step
    fake_shapes = [(batch, *s[1:]) for s in chain_shapes]
    # The reconstruction path enters the chain from the frozen stages below it: (1, C, H_low, W_low).
    rec_start = (
        torch.zeros(chain_shapes[0], device=dev)
        if low == 0
        else resize(reconstruct(model, stop=low), chain_shapes[0][-2:])
    )

    shape = tuple(real.shape)  # (1, C, H_n, W_n)
    if scale == 0:
        noise_amp = label_amp = 1.0
    else:  # the upsampled reconstruction from the coarser scales
        rec_prev = rec_start if low == scale else resize(reconstruct(model), shape[-2:])
        c = model.spec.channels  # image channels; label channels (if any) get their own sigma_n
        noise_amp = noise_amplitude(rec_prev[:, :c], real[:, :c], cfg_t.noise_amp_weight)
        label_amp = (
            noise_amplitude(rec_prev[:, c:], real[:, c:], cfg_t.noise_amp_weight) if model.labels else 0.0
        )
    trained = replace(  # the noise source sees sigma_n of this scale too
        model,
        noise_amps=(*model.noise_amps, noise_amp),
        label_noise_amps=(*model.label_noise_amps, label_amp) if model.labels else (),
    )
    yield ScaleStarted(scale, model.num_scales, shape[-2:], width, noise_amp)

    graphed = use_cuda_graphs(cfg_t, dev)
    adam = {"betas": (cfg_t.beta1, cfg_t.beta2), "capturable": graphed}
    if cfg_t.fused_adam and dev.type == "cpu":  # measured on CPU only (docs/performance.md)
        adam["fused"] = True
    lower_groups = [
        {"params": stage.parameters(), "lr": cfg_t.lr_g * cfg_t.concurrent_lr_scale ** (scale - s)}
        for s, stage in zip(range(low, scale), lower, strict=True)
    ]
    opt_g = torch.optim.Adam([{"params": netg.parameters()}, *lower_groups], lr=cfg_t.lr_g, **adam)
    opt_d = torch.optim.Adam(netd.parameters(), lr=cfg_t.lr_d, **adam)
    iters = cfg_t.iterations(scale, model.shapes[scale])
    milestone = [int(cfg_t.lr_decay_at * iters)]
    sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestone, cfg_t.lr_decay)
    sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestone, cfg_t.lr_decay)
    noise = random_noise(trained, [gen] * batch)
    # The reconstruction path's noise: z* at the coarsest scale, zeros above (§2.2).
    rec_noises = [reconstruction_noise(trained)(s, chain_shapes[s - low]) for s in range(low, scale + 1)]
    first_d_step = 0  # index of the iteration's first critic step (for gp_every)
    precision = training_autocast(cfg_t, dev)

    def iteration() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One adversarial iteration: d_steps critic updates, then g_steps generator updates."""
        with torch.no_grad():
            # Random images from the frozen coarser stages, upsampled to enter stage `low`: (B, C, H, W).
            prev = (
                torch.zeros(fake_shapes[0], device=dev)
                if low == 0
                else resize(synthesize(trained, noise, batch=batch, stop=low), fake_shapes[0][-2:])
            )
            zs = [noise(s, fake_shapes[s - low]) for s in range(low, scale + 1)]
            fake = chain(zs, prev)  # (B, C, H_n, W_n)
        netd.requires_grad_(True)
        for step in range(cfg_t.d_steps):
            d_loss = discriminator_step(netd, opt_d, real, fake, gen, cfg_t, first_d_step + step)
        netd.requires_grad_(False)
        for _ in range(cfg_t.g_steps):
            g_loss, rec_loss, gen_fake = generator_step(
                chain, netd, opt_g, (zs, prev), (rec_noises, rec_start), real, cfg_t
            )
        return d_loss, g_loss, rec_loss, gen_fake

    # On CUDA the iteration is captured once and replayed; the penalty pattern of every
    # iteration is then the first one's, which use_cuda_graphs guarantees is the right one.
    run = GraphedWork(iteration, gen) if graphed else iteration
    last_report = time.perf_counter()
    for it in range(1, iters + 1):
        first_d_step = (it - 1) * cfg_t.d_steps
        with precision:  # eager calls, and on CUDA the calls that capture the graph
            d_loss, g_loss, rec_loss, gen_fake = run()
        lr = opt_g.param_groups[0]["lr"]
        sched_g.step()
        sched_d.step()
        if graphed and opt_g.param_groups[0]["lr"] != lr:
            run.recapture()  # the learning rates are baked into the captured optimiser steps

        now = time.perf_counter()
        if now - last_report >= cfg_t.report_seconds or it == iters:
            last_report = now
            losses = d_loss.item(), g_loss.item(), rec_loss.item()
            _check_finite(losses, scale, it)
            yield Progress(scale, model.num_scales, it, iters, *losses)
        if it == iters or (cfg_t.preview_every and it % cfg_t.preview_every == 0):
            first = gen_fake[:1].detach()  # (1, C + K, H, W): the sample the preview shows
            labels = decode_labels(first, model.labels)[0] if model.labels else None
            yield Preview(scale, it, denormalize(first, model.spec)[0], labels)

    del run  # frees a captured graph's memory pool
    chain.zero_grad(set_to_none=True)
    netd.zero_grad(set_to_none=True)
    chain.requires_grad_(False)
    finished = replace(
        trained,
        generators=nn.ModuleList([*model.generators[:low], *lower, netg]),
        discriminator_state={k: v.detach().clone() for k, v in netd.state_dict().items()},
    )
    rec_rmse = math.sqrt(F.mse_loss(reconstruct(finished), real).item())
    if dev.type == "cuda":
        _WARM_DEVICES.add(dev.index or 0)
    yield ScaleFinished(scale, model.num_scales, time.perf_counter() - started, rec_rmse, finished)
    return finished
