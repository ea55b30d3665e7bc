"""Masks redrawn from the images: a small segmentation net fit to the model's own training pair.

A model trained with labels draws every sample's mask together with its image
(:mod:`napari_singan.core.labels`). Those masks are good but not pixel-exact:
along object edges they stray from the image by a pixel or so
(docs/performance.md, "What the pairs lack"). The net here is fit to the one
annotated pair the model was trained on, its image and label channels at the
model's working resolution, and then draws each generated image's mask from
the image alone; that is what datasets of such models hold by default
(:func:`napari_singan.apps.augment.augment`, ``masks="redrawn"``).

The net (receptive field 15 px): Conv3x3 (16) - ReLU - Conv3x3 dilation 2 (16)
- ReLU - Conv3x3 dilation 4 (16) - ReLU - Conv1x1, from the model's normalised
image channels to one logit per label channel. Class channels learn the
training labels' class by cross-entropy, decoded as the model's own label
channels are (:func:`~napari_singan.core.labels.decode_labels`: argmax of the
classes). In instance mode the third channel learns how deep each pixel lies
inside its object (:func:`~napari_singan.core.labels.edge_distance`, binary
cross-entropy against it), and objects are split along its valleys, smoothed
as a generated sample's depth is
(:data:`~napari_singan.core.labels.SAMPLE_SMOOTHING`), from the peaks that rise
:data:`~napari_singan.core.labels.SAMPLE_PEAK_HEIGHT` px or more above the pass
to a higher one (:func:`~napari_singan.core.labels.split_objects`); the net
keeps both as buffers, ``peak_height`` and ``smoothing``, and decodes with them.
A net kept in a dataset by an earlier version decodes as it did then, so its
pairs regenerate: without ``peak_height`` (fit to the boundary channel of the
model's encoding, which merged touching objects;
docs/augmentation.md#instance-masks) by the cut along its boundaries; without
``smoothing`` (the 2026-12-07 version) from its unsmoothed depth, seeded at
``skimage.morphology.h_maxima``'s tops.

Training: :data:`MASK_NET_STEPS` Adam steps (learning rate 3e-3) on
:data:`PATCHES_PER_STEP` random :data:`PATCH_SIDE` px patches of the training
pair, each flipped and turned by a random quarter; weights and patches drawn
from one seeded ``torch.Generator``, so a model and a seed give the same net on
the same device.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import get_args

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch import nn

from .config import MaskSource
from .errors import SinGANError, check_seed, check_whole
from .events import MaskNetProgress
from .files import atomic_write
from .labels import (
    EDGE_DISTANCE_CAP,
    SAMPLE_PEAK_HEIGHT,
    SAMPLE_SMOOTHING,
    LabelSpec,
    decode_labels,
    edge_distance,
    instance_ids,
    split_objects,
)
from .pyramid import resize
from .singan import SinGANModel

#: Adam steps of the fit (about 25 s on a 2-core CPU).
MASK_NET_STEPS = 1500
#: Adam's learning rate.
LEARNING_RATE = 3e-3
#: Side of the training patches in px (smaller training images give their short side).
PATCH_SIDE = 48
#: Patches per step.
PATCHES_PER_STEP = 16
#: Filters of each hidden layer.
WIDTH = 16
#: Dilation of each 3x3 convolution: a receptive field of 1 + 2 (1 + 2 + 4) = 15 px.
DILATIONS = (1, 2, 4)
#: Steps between progress events.
REPORT_EVERY = 50


def check_mask_source(model: SinGANModel, masks: MaskSource | None = None) -> MaskSource:
    """Where a model's label images are to come from, checked before any work.

    Parameters
    ----------
    model
        The model.
    masks
        ``"model"``, ``"redrawn"`` or ``None``: ``"redrawn"`` for a model trained with labels (the better
        masks where measured, docs/augmentation.md#redrawn-masks), ``"model"`` for one without.

    Returns
    -------
    str
        ``"model"`` or ``"redrawn"``.

    Raises
    ------
    SinGANError
        Another value, or ``"redrawn"`` for a model without labels.
    """
    if masks is None:
        return "redrawn" if model.labels is not None else "model"
    if masks not in get_args(MaskSource):
        raise SinGANError(f"masks must be model or redrawn, got {masks!r}")
    if masks == "redrawn" and model.labels is None:
        raise SinGANError(
            "this model was trained without labels, so there are no masks to redraw: "
            "train it with a label image, or leave masks at 'model'"
        )
    return masks


def mask_net(in_channels: int, out_channels: int, generator: torch.Generator) -> nn.Sequential:
    """A new net, its weights drawn from ``generator`` (He-normal, zero biases).

    Parameters
    ----------
    in_channels
        Image channels.
    out_channels
        Label channels (:attr:`LabelSpec.channels`).
    generator
        A CPU generator: the net is made on the CPU.

    Returns
    -------
    torch.nn.Sequential
        Conv3x3 (16) - ReLU - Conv3x3 dilation 2 (16) - ReLU - Conv3x3 dilation 4 (16) - ReLU - Conv1x1.
    """
    layers: list[nn.Module] = []
    width = in_channels
    for dilation in DILATIONS:
        layers += [nn.Conv2d(width, WIDTH, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        width = WIDTH
    layers.append(nn.Conv2d(width, out_channels, 1))
    net = nn.Sequential(*layers)
    for layer in net:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(layer.bias)
    return net


def fit_mask_net(
    model: SinGANModel, *, seed: int = 0, steps: int | None = None
) -> Generator[MaskNetProgress, None, nn.Sequential]:
    """Fit the net to the model's training image and labels; yields progress, returns the net.

    Parameters
    ----------
    model
        A model trained with labels (``model.labels`` set).
    seed
        Seeds the weights and the patches.
    steps
        Adam steps (default :data:`MASK_NET_STEPS`).

    Yields
    ------
    MaskNetProgress
        Every :data:`REPORT_EVERY` steps, and after the last.

    Returns
    -------
    torch.nn.Sequential
        The net on the model's device, in eval mode, for :func:`redraw_labels`.
    """
    check_mask_source(model, "redrawn")
    spec = model.labels
    steps = MASK_NET_STEPS if steps is None else check_whole("the mask net's steps", steps, 1)
    seed = check_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    # (1, C + K, H, W): normalised image, then the encoded label channels, at the size the model generates
    # (a model stopped early generates below the size of model.image)
    pair = resize(model.image.detach(), model.trained_shapes[-1])
    first, classes = spec.first_channel, len(spec.classes)
    planes = pair[:, first : first + spec.channels]
    # targets of the training pair: (1, 1, H, W) class index, then (instance mode) the depth inside objects
    targets = [planes[:, :classes].argmax(dim=1, keepdim=True).float()]
    if spec.instances:
        objects = decode_labels(pair, spec, exact=True)[0]  # (H, W) the training pair's objects 1..n
        targets.append(torch.from_numpy(edge_distance(objects))[None, None].to(pair))
    pair = torch.cat([pair[:, :first], *targets], dim=1)  # (1, C + 1 [+ 1], H, W)
    side = min(PATCH_SIDE, *pair.shape[-2:])
    net = mask_net(first, spec.channels, gen).to(model.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    for step in range(1, steps + 1):
        batch = _patches(pair, side, PATCHES_PER_STEP, gen)  # (P, C + 1 [+ 1], side, side)
        logits = net(batch[:, :first])  # (P, K, side, side)
        loss = F.cross_entropy(logits[:, :classes], batch[:, first].long())
        if spec.instances:
            loss = loss + F.binary_cross_entropy_with_logits(logits[:, classes], batch[:, first + 1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % REPORT_EVERY == 0 or step == steps:
            yield MaskNetProgress(step, steps, loss.item())
    if spec.instances:  # kept with the net: it decodes as it was fit, whatever later versions choose
        for name, value in (("peak_height", SAMPLE_PEAK_HEIGHT), ("smoothing", SAMPLE_SMOOTHING)):
            net.register_buffer(name, torch.tensor(value, device=model.device))
    return net.eval()


def _patches(pair: torch.Tensor, side: int, count: int, gen: torch.Generator) -> torch.Tensor:
    """``count`` random ``side`` px patches of a ``(1, C, H, W)`` tensor, each flipped and turned at
    random."""
    _, _, height, width = pair.shape
    ys = torch.randint(0, height - side + 1, (count,), generator=gen).tolist()
    xs = torch.randint(0, width - side + 1, (count,), generator=gen).tolist()
    turns = torch.randint(0, 4, (count,), generator=gen).tolist()
    flips = torch.randint(0, 2, (count,), generator=gen).tolist()
    out = []
    for y, x, turn, flip in zip(ys, xs, turns, flips):
        patch = torch.rot90(pair[0, :, y : y + side, x : x + side], turn, dims=(1, 2))
        out.append(patch.flip(2) if flip else patch)
    return torch.stack(out)


@torch.no_grad()
def redraw_labels(net: nn.Module, batch: torch.Tensor, spec: LabelSpec) -> np.ndarray:
    """Label images of a generated ``(N, C + K, H, W)`` batch, drawn by ``net`` from its image channels.

    Parameters
    ----------
    net
        From :func:`fit_mask_net` for the model that generated ``batch``.
    batch
        Normalised generator output (image channels first, as the model's).
    spec
        The model's :class:`~napari_singan.core.labels.LabelSpec`.

    Returns
    -------
    numpy.ndarray
        ``(N, H, W)`` label images, as :func:`~napari_singan.core.labels.decode_labels` gives them.
    """
    image = batch[:, : spec.first_channel]
    logits = net(image)  # (N, K, H, W)
    height = getattr(net, "peak_height", None)
    if not spec.instances or height is None:  # (instances: an earlier version's net, fit to the boundaries)
        return decode_labels(torch.cat([image, logits], dim=1), spec, exact=True)
    foreground, depth = foreground_and_depth(logits)
    smoothing = getattr(net, "smoothing", None)  # None: a net of the 2026-12-07 version, decoded as then
    objects = [
        split_objects(
            part,
            d if smoothing is None else gaussian_filter(d, smoothing.item()),
            height.item(),
            tops=smoothing is None,
        )
        for part, d in zip(foreground, depth)
    ]
    return instance_ids(np.stack(objects), spec)


def foreground_and_depth(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """An instance net's ``(N, 3, H, W)`` logits -> its foreground (``(N, H, W)`` bool) and the depth it
    draws inside objects (``(N, H, W)`` float32 px, up to
    :data:`~napari_singan.core.labels.EDGE_DISTANCE_CAP`), before they are smoothed and split."""
    foreground = (logits[:, :2].argmax(dim=1) == 1).cpu().numpy()
    depth = (torch.sigmoid(logits[:, 2].float()) * EDGE_DISTANCE_CAP).cpu().numpy()
    return foreground, depth


def check_mask_net(net: nn.Module, model: SinGANModel) -> None:
    """Refuse, in one line, a net that cannot redraw ``model``'s labels: not one of :func:`mask_net`'s
    shape for its image and label channels, or not on its device."""
    check_mask_source(model, "redrawn")
    spec = model.labels
    convs = (
        [layer for layer in net.modules() if isinstance(layer, nn.Conv2d)]
        if isinstance(net, nn.Module)
        else []
    )
    if not convs or (convs[0].in_channels, convs[-1].out_channels) != (spec.first_channel, spec.channels):
        raise SinGANError(
            "this mask net was not fit to this model: fit one with fit_mask_net(model), or load the dataset's"
        )
    if convs[0].weight.device != model.device:
        raise SinGANError(
            f"the mask net is on {convs[0].weight.device} and the model on {model.device}: move it with .to()"
        )


def save_mask_net(net: nn.Module, path: str | os.PathLike) -> Path:
    """Write a net's weights to ``path`` atomically (a state_dict, loadable with ``weights_only=True``).

    Parameters
    ----------
    net
        From :func:`fit_mask_net`.
    path
        The file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    state = {name: value.detach().cpu() for name, value in net.state_dict().items()}
    return atomic_write(path, lambda fh: torch.save(state, fh))


def load_mask_net(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Sequential:
    """A net written by :func:`save_mask_net`, in eval mode on ``device``.

    Parameters
    ----------
    path
        The file.
    device
        Where the net runs (the model's device).

    Returns
    -------
    torch.nn.Sequential
        The net.

    Raises
    ------
    SinGANError
        When the file is not such a net.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        # the first convolution and the 1x1 one after the (conv, ReLU) pairs
        first, last = state["0.weight"], state[f"{2 * len(DILATIONS)}.weight"]
        net = mask_net(first.shape[1], last.shape[0], torch.Generator())
        for name in ("peak_height", "smoothing"):  # a net for instances (smoothing: since 2026-12-08)
            if name in state:
                net.register_buffer(name, torch.zeros(()))
        net.load_state_dict(state)
    except Exception:  # a missing, damaged or foreign file raises many types
        raise SinGANError(
            f"{path} is not a mask net written by napari-singan: delete it to fit a new one"
        ) from None
    return net.to(device).eval()
