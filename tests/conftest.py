"""Shared fixtures: tiny images and a tiny trained model (CPU, seconds)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from napari_singan.core import SinGANConfig, drain, train


def make_texture(
    height: int = 40, width: int = 40, channels: int | None = None, dtype=np.uint8, seed: int = 0
):
    """A deterministic blobby texture scaled to the full range of ``dtype``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.sin(xx / 3.0) * np.cos(yy / 4.0) + 0.3 * rng.standard_normal((height, width))
    layers = [np.roll(base, 3 * c, axis=1) for c in range(channels or 1)]
    img = np.stack(layers, axis=-1) if channels else layers[0]
    img = (img - img.min()) / (img.max() - img.min())
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return (img * (info.max - max(info.min, 0)) + max(info.min, 0)).round().astype(dtype)
    return (img * 5.0 - 1.0).astype(dtype)


#: CLI flags of a few-second training with the paper's settings (the CLI itself starts from fast).
TINY_CLI = [
    "--preset",
    "paper",
    "--max-size",
    "32",
    "--min-size",
    "14",
    "--iters",
    "2",
    "--device",
    "cpu",
    "--quiet",
]
TINY = SinGANConfig().with_overrides(max_size=32, min_size=14, iters_per_scale=12, preview_every=6)


@pytest.fixture(autouse=True)
def short_mask_net_fits(monkeypatch):
    """Mask nets (core.masknet) fit in 60 steps, not the ~25 s of the default 1500."""
    from napari_singan.core import masknet

    monkeypatch.setattr(masknet, "MASK_NET_STEPS", 60)


@pytest.fixture
def texture():
    return make_texture()


@pytest.fixture(scope="session")
def tiny_model():
    """A fully trained 3-scale grayscale uint8 model."""
    return drain(train(make_texture(), TINY, device="cpu", seed=0))


@pytest.fixture(scope="session")
def reflect_model():
    """``tiny_model`` with reflect padding (``fast``'s): its stages need more than ``num_blocks`` px per side."""
    return drain(train(make_texture(), TINY.with_overrides(padding="reflect"), device="cpu", seed=0))


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)`` creates ``folder`` read-only; as root, who may write anywhere, ``os.access``
    says so for it, as it would for a read-only mount."""
    made = []
    real_access = os.access

    def make(folder):
        folder.mkdir()
        folder.chmod(0o555)
        made.append(os.fspath(folder))
        if os.geteuid() == 0:
            monkeypatch.setattr(
                os, "access", lambda p, mode, **kw: os.fspath(p) not in made and real_access(p, mode)
            )
        return folder

    yield make
    for folder in made:
        os.chmod(folder, 0o755)
