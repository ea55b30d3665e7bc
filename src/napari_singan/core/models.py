"""The per-scale generator and discriminator (paper §2.1, Fig. 4-5, supplementary)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .config import CriticNorm, ModelConfig, Norm


def scale_width(scale: int, config: ModelConfig) -> int:
    """Conv filters at coarse-to-fine ``scale``: 32, doubled every 4 scales, capped at 128."""
    return min(config.base_width * 2 ** (scale // config.double_every), config.max_width)


class _ValidConvFunction(torch.autograd.Function):
    """Unpadded, stride-1 convolution whose backward is itself made of ordinary convolutions.

    The WGAN-GP penalty differentiates the critic's input gradient once more
    (double backward). torch's built-in double backward of a convolution
    computes the weight term as a convolution whose *kernel* is a whole feature
    map, which runs on FFT or direct kernels: on an H100 about 8x slower than
    the rest of the training step together. Here the input gradient is a
    transposed convolution, whose own backward is the standard weight-gradient
    kernel.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias)  # (N, C_in, H, W) -> (N, C_out, H-2, W-2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        gx = F.conv_transpose2d(grad, weight) if ctx.needs_input_grad[0] else None  # (N, C_in, H, W)
        gw = torch.nn.grad.conv2d_weight(x, weight.shape, grad) if ctx.needs_input_grad[1] else None
        gb = grad.sum((0, 2, 3)) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


class PenaltyConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, 3)`` (same parameters and state_dict) with a fast double backward."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ValidConvFunction.apply(x, self.weight, self.bias)


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d(channels, affine=True)`` (same state_dict) whose statistics can be held fixed.

    Tiled generation (:mod:`napari_singan.core.tiled`) runs a stage on many
    tiles of one image; per-tile statistics would give every tile its own
    contrast. :meth:`GeneratorStage.fix_statistics` gathers each layer's
    statistics over a region instead, and every later call uses them.
    """

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)
        self.fixed: tuple[torch.Tensor, torch.Tensor] | None = None  # (N, C, 1, 1) mean and variance
        # while gathering: [pixels, mean, summed squared deviations] (float64)
        self.totals: list | None = None
        self.share: tuple[int, int, tuple[bool, ...]] | None = None  # while gathering: see ``_own``
        self.settle = False  # while gathering from one window: fix the statistics at once and use them

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W), normalised by its own statistics unless fixed ones are set."""
        if self.totals is not None:
            self._add(self._own(x))
            if self.settle:
                self.fix()
        if self.fixed is None:
            return super().forward(x)
        mean, var = self.fixed
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)

    def _add(self, x: torch.Tensor) -> None:
        """Merge the statistics of ``x`` (N, C, h, w) into ``totals`` (Chan et al.'s pairwise update)."""
        var, mean = (t.double() for t in torch.var_mean(x, dim=(2, 3), unbiased=False, keepdim=True))
        pixels = x.shape[2] * x.shape[3]
        count, old_mean, squares = self.totals
        total = count + pixels
        delta = mean - old_mean
        self.totals = [
            total,
            old_mean + delta * (pixels / total),
            squares + var * pixels + delta.square() * (count * pixels / total),
        ]

    def fix(self) -> None:
        """Hold the statistics gathered so far fixed."""
        count, mean, squares = self.totals
        self.fixed = mean.float(), (squares / count).float()

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """The part of a window's feature map that belongs to that window alone.

        ``share`` is the window's output ``(h, w)`` and whether it touches the
        image's (top, bottom, left, right) edge. The map is larger than the
        output by a margin per side; inner margins belong to the neighbouring
        windows, outer ones (the frame padding adds) to this window, as in the
        whole image's map.
        """
        h, w, (top, bottom, left, right) = self.share
        mh, mw = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        rows = slice(0 if top else mh, x.shape[2] if bottom else x.shape[2] - mh)
        cols = slice(0 if left else mw, x.shape[3] if right else x.shape[3] - mw)
        return x[:, :, rows, cols]


def _block(in_ch: int, out_ch: int, config: ModelConfig, norm: Norm, conv: type[nn.Conv2d]) -> nn.Sequential:
    """Conv3x3 (no padding) -> Norm -> LeakyReLU; shrinks H and W by 2."""
    layer: nn.Module = InstanceNorm(out_ch) if norm == "instance" else nn.Identity()
    return nn.Sequential(conv(in_ch, out_ch, 3), layer, nn.LeakyReLU(config.leaky_slope))


def _body(
    in_ch: int, width: int, config: ModelConfig, norm: Norm | CriticNorm, conv: type[nn.Conv2d] = nn.Conv2d
) -> nn.Sequential:
    """The shared head + body: ``num_blocks - 1`` conv blocks (the tail is the last conv).

    ``norm`` "after-first": no norm in the first block, instance norm in the others.
    """
    first, rest = ("none", "instance") if norm == "after-first" else (norm, norm)
    layers = [_block(in_ch, width, config, first, conv)]
    layers += [_block(width, width, config, rest, conv) for _ in range(config.num_blocks - 2)]
    return nn.Sequential(*layers)


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Paper initialisation: conv weights N(0, 0.02), norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


class GeneratorStage(nn.Module):
    """G_n: adds detail to the upsampled coarser image (residual, paper Fig. 5).

    ``x_n = prev + tail(body(pad(noise + prev)))``; the input is padded by
    ``num_blocks`` px per side so the output has the size of ``prev``: with
    zeros as in the paper; by reflection, which leaves the nets no constant
    frame to anchor objects to; or with noise, as the reference trains its
    animation models: ``prev`` is zero-padded but the noise map continues into
    the frame, so the border keeps changing when the noise does.
    """

    def __init__(self, channels: int, width: int, config: ModelConfig):
        super().__init__()
        self.pad = config.num_blocks  # each unpadded 3x3 conv removes 1 px per side
        self.padding = config.padding
        self.body = _body(channels, width, config, config.norm)
        self.tail = nn.Sequential(nn.Conv2d(width, channels, 3), nn.Tanh())

    def forward(self, noise: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """``noise``, ``prev``: (N, C, H, W) -> (N, C, H, W).

        With noise padding the frame's noise is the noise map's own, continued
        periodically (values from the opposite side): noise of the same
        amplitude, independent of its neighbours in every receptive field once
        the map is larger than one, and as seeded as ``noise`` itself.
        """
        return prev + self.residual(self.pad_input(noise, prev))

    def pad_input(self, noise: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """``noise``, ``prev``: (N, C, H, W) -> the networks' padded input (N, C, H + 2 pad, W + 2 pad)."""
        pads = (self.pad,) * 4
        if self.padding == "noise":
            return self._wrap(noise) + F.pad(prev, pads)
        return F.pad(noise + prev, pads, mode="constant" if self.padding == "zero" else "reflect")

    def residual(self, padded: torch.Tensor) -> torch.Tensor:
        """The detail added to ``prev``: (N, C, h + 2 pad, w + 2 pad) -> (N, C, h, w), for any window.

        Output pixel (i, j) sees only ``padded[..., i : i + 2 pad + 1, j : j + 2 pad + 1]``, so a
        window of the padded input gives the same window of the output (up to the norm statistics).
        """
        return self.tail(self.body(padded))

    def fix_statistics(self, windows: Iterable[tuple[torch.Tensor, tuple[bool, ...]]]) -> None:
        """Gather every norm layer's statistics over windows of the padded input, and keep them.

        ``windows`` are the padded input of a region piece by piece (see
        :meth:`residual`), each with whether it touches the image's (top,
        bottom, left, right) edge; windows of the whole image give exactly the
        whole image's statistics. A layer's input depends on the statistics
        before it, so with several windows the layers are gathered one after
        the other (the blocks up to layer ``k`` run ``k`` times: about twice
        the cost of one pass); one window takes one pass. Every later call
        normalises with the gathered statistics (:class:`InstanceNorm`).
        """
        pieces = list(windows)
        norms = [(depth, b[1]) for depth, b in enumerate(self.body) if isinstance(b[1], InstanceNorm)]
        try:
            if len(pieces) == 1:
                for _, norm in norms:
                    norm.totals, norm.settle = [0, 0.0, 0.0], True
                self._gather(self.body, *pieces[0], [norm for _, norm in norms])
                return
            for depth, norm in norms:
                norm.totals = [0, 0.0, 0.0]
                for window, edges in pieces:
                    self._gather(self.body[: depth + 1], window, edges, [norm])
                norm.fix()
        finally:
            for _, norm in norms:
                norm.totals, norm.share, norm.settle = None, None, False

    def _gather(self, blocks: nn.Module, window: torch.Tensor, edges: tuple[bool, ...], norms: list) -> None:
        """Run ``blocks`` on one padded window so that ``norms`` add its statistics."""
        for norm in norms:
            norm.share = window.shape[2] - 2 * self.pad, window.shape[3] - 2 * self.pad, edges
        blocks(window)

    def _wrap(self, x: torch.Tensor) -> torch.Tensor:
        """Circular padding of (N, C, H, W) by ``self.pad`` px per side, for any H and W (also tiny ones)."""
        h, w = x.shape[-2:]
        rows = torch.arange(-self.pad, h + self.pad, device=x.device) % h
        cols = torch.arange(-self.pad, w + self.pad, device=x.device) % w
        return x[:, :, rows][:, :, :, cols]  # (N, C, H + 2 pad, W + 2 pad)


class Discriminator(nn.Module):
    """D_n: Markovian patch critic with an 11x11 receptive field; returns a score map.

    With instance norm (the paper's) its first norm divides out each sample's
    global contrast and brightness (the first conv is linear): it scores
    ``a * x + b`` as ``x`` for any ``a > 0``, so only the reconstruction loss
    holds a sample's contrast to the image's. Without norm it sees them, and
    with norm "after-first" too: the first block's biases and LeakyReLU come
    before any norm.

    ``conv`` is ``nn.Conv2d`` or :class:`PenaltyConv2d` (same weights, another double backward).
    """

    def __init__(self, channels: int, width: int, config: ModelConfig, conv: type[nn.Conv2d] = nn.Conv2d):
        super().__init__()
        self.body = _body(channels, width, config, config.critic_norm, conv)
        self.tail = conv(width, 1, 3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1, H-10, W-10) patch scores."""
        return self.tail(self.body(image))
