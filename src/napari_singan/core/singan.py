"""The trained model: a pyramid of generator stages plus what is needed to use them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .config import SinGANConfig
from .images import ImageSpec
from .pyramid import Shape, resize


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
    image: torch.Tensor  # (1, C, H, W) normalised training image at the finest planned scale
    z_star: torch.Tensor  # (1, 1, H0, W0) fixed reconstruction noise at the coarsest scale (§2.2)
    seed: int  # training seed; scale n draws its randomness from (seed, n)
    generators: nn.ModuleList  # one frozen GeneratorStage per trained scale
    noise_amps: tuple[float, ...] = ()  # sigma_n per trained scale; 1.0 at the coarsest
    discriminator_state: dict[str, torch.Tensor] | None = None  # last trained D (to resume training)
    metadata: dict[str, Any] | None = None  # free-form facts about the source (napari layer scale, ...)

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
