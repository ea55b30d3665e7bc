"""The trained model: a pyramid of generator stages plus what is needed to use them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .config import SinGANConfig
from .errors import SinGANError
from .images import ImageSpec
from .labels import LabelSpec
from .pyramid import Shape, resize

if TYPE_CHECKING:
    from .files import PixelSize


@dataclass(frozen=True)
class SinGANModel:
    """A (possibly partly) trained SinGAN.

    Scales are indexed coarse to fine. ``shapes`` lists the whole planned
    pyramid; only the first ``num_trained`` scales have a generator (a model
    stopped early generates at the size of its finest trained scale, and can be
    resumed).
    """

    config: SinGANConfig  # the configuration it was trained with
    spec: ImageSpec  # dtype, channel layout and intensity range of the training image
    shapes: tuple[Shape, ...]  # (H, W) of every planned scale, coarse to fine
    image: (
        torch.Tensor
    )  # (1, C, H, W) normalised training image (+ label channels) at the finest planned scale
    z_star: torch.Tensor  # (1, 1, H0, W0) fixed reconstruction noise at the coarsest scale (§2.2)
    seed: int  # training seed; scale n draws its randomness from (seed, n)
    generators: nn.ModuleList  # one frozen GeneratorStage per trained scale
    noise_amps: tuple[float, ...] = ()  # sigma_n per trained scale; 1.0 at the coarsest
    discriminator_state: dict[str, torch.Tensor] | None = None  # last trained D (to resume training)
    metadata: dict[str, Any] | None = None  # free-form facts about the source (napari layer scale, ...)
    labels: LabelSpec | None = None  # label channels after the image channels, when trained with labels
    label_noise_amps: tuple[float, ...] = ()  # sigma_n of the label channels per trained scale (labels only)

    def noise_amp(self, scale: int) -> float | torch.Tensor:
        """sigma_n of ``scale``: a number, or ``(1, C, 1, 1)`` per channel for a model with labels.

        Labels get their own sigma_n: their sharp edges would otherwise raise the
        image channels' noise (measured 2-3x at 64 px on the cell micrograph).
        """
        if self.labels is None:
            return self.noise_amps[scale]
        amps = [self.noise_amps[scale]] * self.spec.channels + [
            self.label_noise_amps[scale]
        ] * self.labels.channels
        return torch.tensor(amps, device=self.device).view(1, -1, 1, 1)

    @property
    def channels(self) -> int:
        """Channels the networks work on: the image's, then the labels' (if any)."""
        return self.spec.channels + (self.labels.channels if self.labels else 0)

    @property
    def num_scales(self) -> int:
        """Number of planned scales."""
        return len(self.shapes)

    @property
    def num_trained(self) -> int:
        """Number of scales that have a generator."""
        return len(self.generators)

    @property
    def is_complete(self) -> bool:
        """True when every planned scale is trained."""
        return self.num_trained == self.num_scales

    @property
    def trained_shapes(self) -> tuple[Shape, ...]:
        """Shapes of the trained scales (the last one is the output size)."""
        return self.shapes[: self.num_trained]

    @property
    def device(self) -> torch.device:
        """Device holding the tensors and weights."""
        return self.image.device

    def check_start_scale(self, start_scale: int, lowest: int = 0) -> None:
        """Raise :class:`SinGANError` unless generation can start at ``start_scale``.

        Parameters
        ----------
        start_scale
            Scale at which generation starts (an input is injected below it).
        lowest
            Smallest start scale the caller accepts: 0 for sampling from pure
            noise, 1 for applications that inject an image at the scale below.
        """
        highest = self.num_trained - 1
        if highest < lowest:
            raise SinGANError(
                f"this model has {self.num_trained} trained scale(s); starting at scale {lowest} or above "
                "needs more: train (or continue training) it further"
            )
        if not lowest <= start_scale <= highest:
            raise SinGANError(
                f"start scale must be between {lowest} and {highest} for this model, got {start_scale}"
            )

    def real(self, scale: int) -> torch.Tensor:
        """The training image at ``scale``: (1, C, H_n, W_n)."""
        return resize(self.image, self.shapes[scale])

    def to(self, device: torch.device | str) -> SinGANModel:
        """The model on ``device``; ``self`` is returned unchanged if it is already there."""
        device = torch.device(device)
        if device == self.device:
            return self
        state = self.discriminator_state
        return replace(
            self,
            image=self.image.to(device),
            z_star=self.z_star.to(device),
            generators=copy.deepcopy(self.generators).to(device),
            discriminator_state=None if state is None else {k: v.to(device) for k, v in state.items()},
        )


def source_metadata(
    source: str,
    *,
    note: str = "",
    layer: dict[str, Any] | None = None,
    pixel_size: PixelSize | None = None,
    plane: dict[str, int] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    native: bool = False,
) -> dict[str, Any]:
    """The metadata a newly trained model stores about its training image (CLI and widget alike).

    Parameters
    ----------
    source
        Where the image came from: a file path, ``sample:<name>`` or a layer name.
    note
        A sentence about how the image was taken from its source (e.g. which
        2-D slice of a stack); left out when empty.
    layer
        The napari layer's properties (scale, translate, colormap, ...) when
        trained from a layer; left out otherwise.
    pixel_size
        The source file's physical pixel size (:mod:`napari_singan.core.microscopy`).
    plane
        The index taken along each stack axis of the file, e.g. ``{"Z": 12}``.
    crop
        ``(y, x, height, width)`` of the region trained on, in source pixels.
    native
        Whether the finest scale is the (cropped) image at its own pixel size.

    Returns
    -------
    dict
        ``{"source": ..., ["note": ...,] ["layer": ...,] ["pixel_size": [y, x], "unit": ...,]
        ["plane": {...},] ["crop": [y, x, h, w],] ["native": True]}``, plain containers for
        :attr:`SinGANModel.metadata`.
    """
    meta: dict[str, Any] = {"source": source}
    if note:
        meta["note"] = note
    if layer is not None:
        meta["layer"] = layer
    if pixel_size is not None:
        meta.update(pixel_size.to_metadata())
    if plane:
        meta["plane"] = {str(axis): int(index) for axis, index in plane.items()}
    if crop is not None:
        meta["crop"] = [int(v) for v in crop]
    if native:
        meta["native"] = True
    return meta
