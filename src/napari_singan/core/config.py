"""Frozen configuration dataclasses; every default is the SinGAN paper's value.

Options the paper does not have default to its behaviour (``coarse_taper`` and
``coarse_batch`` act only with ``coarsest_iters``, ``fine_min_iters`` only with
``fine_area``; ``label_rec_weight`` 0 means ``rec_weight``).

Nothing here is ever mutated: derive a variant with :func:`dataclasses.replace`
(or :meth:`SinGANConfig.with_overrides`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args

import numpy as np

from .errors import ConfigError, check_number, check_whole

Norm = Literal["instance", "none"]
# The critics' norm; "after-first": none in the first block, instance norm in the others (core.models).
CriticNorm = Literal["instance", "none", "after-first"]
LabelMode = Literal["auto", "classes", "instances"]  # how a label image is encoded (core.labels)
LabelEncoding = Literal["distance", "one-hot"]  # the values of the label channels (core.labels)
# Where exported label images come from: the model's label channels, or redrawn from each image (core.masknet)
MaskSource = Literal["model", "redrawn"]
Padding = Literal["zero", "reflect", "noise"]
Precision = Literal["float32", "bfloat16"]  # arithmetic of the networks while they train (core.training)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_types(owner: object) -> None:
    """Whole numbers in ``int`` fields, finite numbers in ``float`` fields, ``True``/``False`` in ``bool``
    fields, all stored as Python values (a model file holds only those; numpy numbers are converted)."""
    for f in fields(owner):
        value, name = getattr(owner, f.name), f.name.replace("_", " ")
        if f.type == "int":
            value = check_whole(name, value, -math.inf)  # each class checks its ranges
        elif f.type == "float":
            check_number(name, value, -math.inf)
            value = float(value)
        elif f.type == "bool":
            _require(isinstance(value, bool | np.bool_), f"{name} must be True or False, got {value!r}")
            value = bool(value)
        else:
            continue
        object.__setattr__(owner, f.name, value)


def _require_choice(owner: object, name: str, choices: tuple[str, ...]) -> None:
    """``owner.name`` must be one of ``choices`` ("" is allowed, unnamed, where it is one)."""
    value = getattr(owner, name)
    _require(
        value in choices,
        f"{name.replace('_', ' ')} must be one of {', '.join(c for c in choices if c)}, got {value!r}",
    )


@dataclass(frozen=True)
class PyramidConfig:
    """How the training image is turned into a multi-scale pyramid (paper §2.1)."""

    scale_factor: float = 0.75  # nominal ratio between consecutive scales; recomputed exactly from the sizes
    min_size: int = 25  # short side of the coarsest scale, in pixels
    max_size: int = 250  # long side of the finest scale; larger images are downsampled to this

    def __post_init__(self) -> None:
        _check_types(self)
        _require(
            0.0 < self.scale_factor < 1.0, f"scale factor must be between 0 and 1, got {self.scale_factor}"
        )
        _require(self.min_size >= 1, f"min size must be at least 1 px, got {self.min_size}")
        _require(
            self.min_size <= self.max_size,
            f"min size ({self.min_size} px) must not exceed max size ({self.max_size} px)",
        )


@dataclass(frozen=True)
class ModelConfig:
    """Generator / discriminator architecture at each scale (paper §2.1, supplementary)."""

    base_width: int = 32  # conv filters at the coarsest scales
    double_every: int = 4  # the width doubles after this many scales
    max_width: int = 128  # cap on the width
    num_blocks: int = 5  # conv blocks per network (receptive field 2*num_blocks+1 = 11)
    leaky_slope: float = 0.2  # LeakyReLU negative slope
    norm: Norm = "instance"  # G's: "instance" (= BatchNorm with batch size 1, as in the paper) or "none"
    critic_norm: CriticNorm = "instance"  # D's; "instance" (paper) makes D blind to each sample's contrast
    label_critic_norm: CriticNorm | Literal[""] = ""  # critic_norm instead with labels ("": critic_norm)
    padding: Padding = "zero"  # G's input padding: "zero" (paper), "reflect" or "noise" (animation models)

    def __post_init__(self) -> None:
        _check_types(self)
        _require_choice(self, "norm", get_args(Norm))
        _require_choice(self, "critic_norm", get_args(CriticNorm))
        _require_choice(self, "label_critic_norm", ("", *get_args(CriticNorm)))
        _require_choice(self, "padding", get_args(Padding))
        _require(
            1 <= self.base_width <= self.max_width,
            f"widths must satisfy 1 <= base width <= max width, got {self.base_width} and {self.max_width}",
        )
        _require(self.double_every >= 1, f"double every must be at least 1, got {self.double_every}")
        _require(self.num_blocks >= 2, f"networks need at least 2 conv blocks, got {self.num_blocks}")
        _require(0.0 <= self.leaky_slope < 1.0, f"leaky slope must be in [0, 1), got {self.leaky_slope}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of each scale (paper §2.2)."""

    iters_per_scale: int = 2000  # adversarial iterations per scale
    coarsest_iters: int = 0  # iterations at the coarsest scale instead (0: iters_per_scale, as the paper)
    coarse_taper: float = 0.4  # with coarsest_iters, scale n: coarsest_iters*taper^n, >= iters_per_scale
    coarse_batch: int = 1  # random samples per step at the scales coarsest_iters lengthens (1: one, as paper)
    fine_area: int = 0  # scales of more pixels train iters_per_scale*fine_area/pixels iterations (0: off)
    fine_min_iters: int = 30  # with fine_area, never fewer iterations than this (nor than iters_per_scale)
    d_steps: int = 3  # discriminator updates per iteration
    g_steps: int = 3  # generator updates per iteration
    lr_g: float = 5e-4  # Adam learning rate of the generator
    lr_d: float = 5e-4  # Adam learning rate of the discriminator
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    lr_decay_at: float = 0.8  # fraction of a scale's iterations after which the learning rates drop
    lr_decay: float = 0.1  # factor applied to the learning rates at lr_decay_at
    gp_weight: float = 0.1  # WGAN-GP gradient-penalty weight lambda
    rec_weight: float = 10.0  # reconstruction-loss weight alpha (100 for super-resolution)
    label_rec_weight: float = 0.0  # alpha instead of rec_weight when training with labels (0: rec_weight)
    coarse_with_labels: bool = True  # coarsest_iters with labels too (False: iters_per_scale at every scale)
    noise_amp_weight: float = 0.1  # sigma_n = noise_amp_weight * RMSE(upsampled reconstruction, x_n)
    init_from_previous: bool = True  # copy the previous scale's weights when the widths match
    report_seconds: float = 0.25  # at most this long between progress events (also the Stop latency)
    preview_every: int = 500  # iterations between preview samples within a scale (0: only at scale ends)
    gp_every: int = 1  # gradient penalty on every k-th D step only, weighted k x (lazy regularisation)
    label_amplitude: float = 1.0  # label channels are +/- this (image: [-1, 1]); 0.25: better images
    label_encoding: LabelEncoding = "distance"  # class channels: "distance" ramps or "one-hot" steps
    cuda_graphs: bool = True  # CUDA: replay each iteration as one captured graph (same math, less overhead)
    penalty_conv: bool = True  # CUDA, float32: critic convs whose penalty skips cuDNN's FFT path (same math)
    fused_adam: bool = True  # CPU: Adam's fused kernel (same update, ~0.9x the time); else torch's default
    concurrent_stages: int = 1  # stages trained at once: the new one and those below (1: paper; MPS untried)
    concurrent_lr_scale: float = 0.1  # learning-rate factor per stage below the new one (ConSinGAN's 0.1)
    precision: Precision = "float32"  # "bfloat16": autocast G and D in training (weights, sampling: fp32)

    def __post_init__(self) -> None:
        _check_types(self)
        for name in (
            "iters_per_scale",
            "coarse_batch",
            "fine_min_iters",
            "d_steps",
            "g_steps",
            "gp_every",
            "concurrent_stages",
        ):
            _require(
                getattr(self, name) >= 1,
                f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}",
            )
        for name in ("lr_g", "lr_d"):
            _require(
                getattr(self, name) > 0,
                f"{name.replace('_', ' ')} must be positive, got {getattr(self, name)}",
            )
        _require(self.coarsest_iters >= 0, f"coarsest iters must not be negative, got {self.coarsest_iters}")
        _require(self.fine_area >= 0, f"fine area must not be negative, got {self.fine_area}")
        _require(0.0 <= self.coarse_taper <= 1.0, f"coarse taper must be in [0, 1], got {self.coarse_taper}")
        _require(0.0 < self.beta1 < 1.0 and 0.0 < self.beta2 < 1.0, "Adam betas must be between 0 and 1")
        _require(0.0 <= self.lr_decay_at <= 1.0, f"lr decay at must be in [0, 1], got {self.lr_decay_at}")
        _require(0.0 < self.lr_decay <= 1.0, f"lr decay must be in (0, 1], got {self.lr_decay}")
        _require(
            0.0 < self.concurrent_lr_scale <= 1.0,
            f"concurrent lr scale must be in (0, 1], got {self.concurrent_lr_scale}",
        )
        _require(
            0.0 < self.label_amplitude <= 1.0,
            f"label amplitude must be in (0, 1], got {self.label_amplitude}",
        )
        _require_choice(self, "precision", get_args(Precision))
        _require_choice(self, "label_encoding", get_args(LabelEncoding))
        for name in (
            "gp_weight",
            "rec_weight",
            "label_rec_weight",
            "noise_amp_weight",
            "preview_every",
            "report_seconds",
        ):
            _require(
                getattr(self, name) >= 0,
                f"{name.replace('_', ' ')} must not be negative, got {getattr(self, name)}",
            )

    def iterations(self, scale: int, shape: tuple[int, int]) -> int:
        """Adversarial iterations at ``scale`` (0 = coarsest), of ``shape`` (H, W).

        ``iters_per_scale``, unless ``coarsest_iters`` is set: then the coarsest
        scale, the one that makes samples from noise alone (their layout, §2.1)
        and the cheapest to train longer, trains ``coarsest_iters``, and the
        scales above it ``coarsest_iters * coarse_taper**scale``, never fewer
        than ``iters_per_scale`` (1000 with 0.4: 1000, 400, 160, then
        ``iters_per_scale``). With ``fine_area`` set, a scale of more pixels
        than that, where one critic pass already scores that many more
        patches, trains ``iters_per_scale * fine_area / (H * W)``, never fewer
        than ``fine_min_iters`` (with 16384, a 250 x 208 scale trains 38 of 120).
        """
        coarse = self._coarse_iterations(scale)
        pixels = shape[0] * shape[1]
        if coarse != self.iters_per_scale or not self.fine_area or pixels <= self.fine_area:
            return coarse
        fewest = min(self.fine_min_iters, self.iters_per_scale)
        return max(fewest, round(self.iters_per_scale * self.fine_area / pixels))

    def schedule(self, shapes: Sequence[tuple[int, int]]) -> tuple[int, ...]:
        """:meth:`iterations` of every scale of a pyramid of ``shapes`` (H, W), coarse to fine."""
        return tuple(self.iterations(n, shape) for n, shape in enumerate(shapes))

    def batch(self, scale: int) -> int:
        """Random samples per critic and generator step at ``scale``: ``coarse_batch`` at the
        scales ``coarsest_iters`` lengthens (more than ``iters_per_scale``), else one."""
        return self.coarse_batch if self._coarse_iterations(scale) > self.iters_per_scale else 1

    def _coarse_iterations(self, scale: int) -> int:
        """``iters_per_scale``, or the longer count ``coarsest_iters`` gives ``scale``."""
        if not self.coarsest_iters:
            return self.iters_per_scale
        if scale == 0:
            return self.coarsest_iters
        return max(self.iters_per_scale, round(self.coarsest_iters * self.coarse_taper**scale))


@dataclass(frozen=True)
class SinGANConfig:
    """Everything that defines a SinGAN training run."""

    pyramid: PyramidConfig = field(default_factory=PyramidConfig)  # pyramid geometry
    model: ModelConfig = field(default_factory=ModelConfig)  # network architecture
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation schedule

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (for the model file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> SinGANConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``.

        Files written before ``label_encoding`` existed were trained one-hot,
        those written before ``coarse_taper`` without a taper, and those
        written before ``critic_norm`` with ``norm`` in both networks.
        """
        return cls(
            pyramid=PyramidConfig(**data["pyramid"]),
            model=ModelConfig(**{"critic_norm": data["model"]["norm"], **data["model"]}),
            train=TrainConfig(**{"label_encoding": "one-hot", "coarse_taper": 0.0, **data["train"]}),
        )

    def for_labels(self) -> SinGANConfig:
        """The configuration a model trained with labels uses (and records): alpha ``label_rec_weight``
        and the critics' ``label_critic_norm`` if set, and ``iters_per_scale`` at the coarsest scales
        too unless ``coarse_with_labels``.

        Applying it twice changes nothing.
        """
        train = self.train
        return self.with_overrides(
            rec_weight=train.label_rec_weight or None,
            critic_norm=self.model.label_critic_norm or None,
            coarsest_iters=None if train.coarse_with_labels else 0,
        )

    def with_overrides(self, **overrides: Any) -> SinGANConfig:
        """Return a copy with fields replaced by name, e.g. ``max_size=128``.

        Each name is looked up in the pyramid, model and train sections;
        ``None`` values are ignored so CLI/widget options can be passed as-is.
        A ``rec_weight``, ``critic_norm`` or ``coarsest_iters`` given without
        its label counterpart applies to label models too (``label_rec_weight``
        becomes 0, ``label_critic_norm`` "", ``coarse_with_labels`` True), so
        ``rec_weight=3`` means alpha = 3 whether or not the model learns
        labels; give both to keep them apart.
        """
        for name, label_name, as_images in (
            ("rec_weight", "label_rec_weight", 0.0),
            ("critic_norm", "label_critic_norm", ""),
            ("coarsest_iters", "coarse_with_labels", True),
        ):
            if overrides.get(name) is not None and overrides.get(label_name) is None:
                overrides = {**overrides, label_name: as_images}
        sections = {"pyramid": self.pyramid, "model": self.model, "train": self.train}
        updates: dict[str, dict[str, Any]] = {name: {} for name in sections}
        for key, value in overrides.items():
            if value is None:
                continue
            owner = next((s for s, obj in sections.items() if key in _field_names(obj)), None)
            if owner is None:
                raise TypeError(f"unknown SinGAN option {key!r}")
            updates[owner][key] = value
        return SinGANConfig(**{s: replace(obj, **updates[s]) for s, obj in sections.items()})


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in fields(obj)}


PRESETS: dict[str, SinGANConfig] = {
    # The paper's pyramid with a short schedule, chosen by measurement (benchmarks/bench_quality.py,
    # docs/performance.md): 120 iterations per scale instead of 2000, 32-filter nets, reflection
    # padding, which leaves the nets no frame to anchor objects to (more diverse borders), critics with
    # no instance norm in their first block, which otherwise divides out each sample's contrast so that
    # only the reconstruction loss holds it (grey samples of black-and-white textures), and 1000
    # iterations at the coarsest scale, tapering to 120 (1000, 400, 160), where samples get their
    # layout, with two random samples per step there. Label models have the same critics (their images
    # and masks agree better than with the paper's critics) but 120 iterations of one sample at every
    # scale (unless a coarsest count is given): the longer coarsest scales did not give better pairs
    # (measured with the paper's critics).
    "fast": SinGANConfig(
        model=ModelConfig(max_width=32, padding="reflect", critic_norm="after-first"),
        train=TrainConfig(
            iters_per_scale=120,
            coarsest_iters=1000,
            coarse_batch=2,
            preview_every=25,
            coarse_with_labels=False,
        ),
    ),
    # The published defaults.
    "paper": SinGANConfig(),
    # Super-resolution (paper §4.1): stronger reconstruction, smaller coarsest scale.
    "super-resolution": SinGANConfig(pyramid=PyramidConfig(min_size=18), train=TrainConfig(rec_weight=100.0)),
}

#: The preset of the README's main job, the Train widget and the CLI's training commands
#: (in Python, ``config=None`` is the paper's).
DEFAULT_PRESET = "fast"


def as_config(config: SinGANConfig | str | None) -> SinGANConfig:
    """A configuration given as itself, a preset's name, or ``None`` (the paper's).

    Raises
    ------
    TypeError
        For anything else (a dict, say), with how to build one.
    """
    config = preset(config) if isinstance(config, str) else SinGANConfig() if config is None else config
    if not isinstance(config, SinGANConfig):
        raise TypeError(
            f"config must be a SinGANConfig or a preset's name, got {type(config).__name__}; "
            "e.g. preset('fast').with_overrides(max_size=128)"
        )
    return config


def preset(name: str) -> SinGANConfig:
    """Return a named preset (``fast``, ``paper`` or ``super-resolution``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
