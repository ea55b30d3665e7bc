"""Pick the torch device explicitly; nothing else in the package guesses."""

from __future__ import annotations

import torch

from .config import TrainConfig
from .errors import ConfigError, SinGANError


def available_devices() -> list[str]:
    """Names that :func:`resolve_device` accepts on this machine, ``"auto"`` first."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda[:i]"`` or ``"mps"`` into a usable device.

    ``"auto"`` picks CUDA, then MPS, then the CPU.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        # a device as it is, an int i as torch reads it (cuda:i), anything else by its name
        device = torch.device(name if isinstance(name, torch.device | int) else str(name or ""))
    except RuntimeError:
        raise SinGANError(f"unknown device {name!r}; use one of {', '.join(available_devices())}") from None
    usable = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": torch.backends.mps.is_available(),
    }.get(device.type, False)
    if not usable:
        raise SinGANError(
            f"device {str(name)!r} is not available here; use one of {', '.join(available_devices())}"
        )
    return device


def check_precision(cfg: TrainConfig, device: torch.device) -> None:
    """Refuse bfloat16 training where it cannot run or never ran: only the CPU (where it was measured)
    and CUDA GPUs with bfloat16 support (where torch supports it; unmeasured here)."""
    if cfg.precision != "bfloat16":
        return
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"bfloat16 training runs on cpu or cuda, not {device.type}; train in float32 there")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bfloat16 support; train in float32")
