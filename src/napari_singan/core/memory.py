"""How much memory a generation needs, and whether the device has it, checked before any work.

A generator stage (:class:`napari_singan.core.models.GeneratorStage`) runs
its input, padded by ``num_blocks`` px per side, through ``num_blocks - 1``
conv blocks of ``width`` filters. Without gradients a block's input, kept by
the enclosing ``nn.Sequential``, its convolution's output and its norm's (or
LeakyReLU's) output are alive together: three feature maps of the stage's
width. The widest stage (width x padded area) sets the peak; the
image-sized maps beside it, the conversion back to the training dtype and the
finished images are added. Measured peaks (``resource.getrusage``, CPU, one
sample of 700-1500 px at widths 32-128) were 2.98-3.13 width maps above the
memory in use before.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from .errors import MemoryEstimateError
from .models import scale_width
from .pyramid import Shape
from .sampling import output_shapes, samples_per_batch
from .singan import SinGANModel

#: float32 feature maps of a stage's width alive at once (a block's input, conv output, norm output).
LIVE_FEATURE_MAPS = 3
#: float32 image-sized maps alive beside them (the upsampled previous image, the noise, the padded sum).
LIVE_IMAGE_MAPS = 3
#: float64 copies of a batch while it is mapped back to the training image's dtype and range.
CONVERSION_COPIES = 3
#: Copies of the finished images in the training image's dtype (the batches and their concatenation).
RESULT_COPIES = 2
#: Peak of one tile over its bound ``tile_bytes`` (the convolutions' working copies). With it,
#: :func:`tiled_bytes` gives 0.70 and 1.76 GiB where benchmarks/bench_large.py measured 0.68 and
#: 1.45 GiB above the loaded model (CPU, paper architecture, 2048 and 8192 px uint16).
TILE_PEAK = 2.5
#: Bound on the float32 feature maps of one tile of tiled generation (width x padded area x 3 maps).
TILE_BYTES = 2**28


def tile_side(width: int, num_blocks: int, tile_bytes: int = TILE_BYTES) -> int:
    """Side of the square output tiles of a stage of ``width`` filters, bounded by ``tile_bytes``.

    Parameters
    ----------
    width
        Conv filters of the stage.
    num_blocks
        Conv blocks of its networks (the tile is read with ``num_blocks`` px of context per side).
    tile_bytes
        Bound on ``3 x width x (side + 2 num_blocks)^2`` float32 values.

    Returns
    -------
    int
        At least 16 px.
    """
    padded = math.isqrt(tile_bytes // (4 * LIVE_FEATURE_MAPS * width))
    return max(16, padded - 2 * num_blocks)


def stage_tile_side(model: SinGANModel, scale: int, tile_bytes: int = TILE_BYTES) -> int:
    """:func:`tile_side` of the model's stage ``scale``, from its width and blocks."""
    cfg = model.config.model
    return tile_side(scale_width(scale, cfg), cfg.num_blocks, tile_bytes)


def generation_bytes(model: SinGANModel, size: Shape, batch: int = 1, outputs: int = 1) -> int:
    """Estimate the peak memory of generating images of ``size`` with ``model``.

    Parameters
    ----------
    model
        The trained model; every trained stage runs, at sizes scaled to ``size``.
    size
        Output ``(H, W)`` of the finest stage.
    batch
        Images generated at once.
    outputs
        Images kept in the result (e.g. all samples, all frames).

    Returns
    -------
    int
        Bytes: ``batch x`` (the widest stage's live feature maps, the image-sized
        maps and the conversion copies) + ``outputs x`` the finished images.
    """
    cfg = model.config.model
    grow = 2 * (cfg.num_blocks - 1)  # padded by num_blocks px per side, less 1 px per side by the first conv
    shapes = output_shapes(model, size=size)
    widest = max(scale_width(s, cfg) * (h + grow) * (w + grow) for s, (h, w) in enumerate(shapes))
    h, w = shapes[-1]
    channels = model.channels  # image and label channels
    padded = channels * (h + 2 * cfg.num_blocks) * (w + 2 * cfg.num_blocks)
    per_image = (
        4 * (LIVE_FEATURE_MAPS * widest + LIVE_IMAGE_MAPS * padded) + 8 * CONVERSION_COPIES * channels * h * w
    )
    result = RESULT_COPIES * channels * h * w * np.dtype(model.spec.dtype).itemsize
    return batch * per_image + outputs * result


def tiled_bytes(model: SinGANModel, size: Shape, outputs: int = 1, tile_bytes: int = TILE_BYTES) -> int:
    """Estimate the peak memory of :func:`napari_singan.core.tiled.generate_tiled` for outputs of ``size``.

    Parameters
    ----------
    model
        The trained model.
    size
        Output ``(H, W)``.
    outputs
        Images written (they are counted whole: the pages of a memory-mapped
        output file count towards the process's memory until the system writes
        them out).
    tile_bytes
        The tile bound given to ``generate_tiled``.

    Returns
    -------
    int
        Bytes: the image-sized float32 maps alive at the largest stage (its
        upsampled input, the noise, their sum and the padded input, plus the
        stage's output below the finest), one tile's peak (:data:`TILE_PEAK`
        x ``tile_bytes``) and its conversion copies, and the outputs.
    """
    grow = 2 * model.config.model.num_blocks
    shapes = output_shapes(model, size=size)
    channels = model.channels
    maps = max(
        (4 if s == len(shapes) - 1 else 5) * (h + grow) * (w + grow) for s, (h, w) in enumerate(shapes)
    )
    side = stage_tile_side(model, model.num_trained - 1, tile_bytes)  # finest tiles
    conversion = 8 * CONVERSION_COPIES * channels * min(side * side, size[0] * size[1])
    result = outputs * channels * size[0] * size[1] * np.dtype(model.spec.dtype).itemsize
    return 4 * channels * maps + round(TILE_PEAK * tile_bytes) + conversion + result


def super_resolution_bytes(model: SinGANModel, size: Shape, tile_bytes: int = TILE_BYTES) -> int:
    """Estimate the peak memory of :func:`napari_singan.apps.super_resolve` for an output of ``size``.

    Its image-sized float32 maps stay in host memory and the finest stage runs
    whole (:func:`generation_bytes`) while it fits in one tile, else tile by
    tile (:func:`tiled_bytes`); back-projection keeps three more maps (the
    step's output, the upsampled residual and their sum), and the finished
    image is converted to the model's dtype whole.

    Parameters
    ----------
    model
        The trained model.
    size
        Output ``(H, W)``.
    tile_bytes
        The tile bound given to ``super_resolve``.

    Returns
    -------
    int
        Bytes.
    """
    one_tile = max(size) <= stage_tile_side(model, model.num_trained - 1, tile_bytes)
    stage = generation_bytes(model, size) if one_tile else tiled_bytes(model, size, 1, tile_bytes)
    return stage + (3 * 4 + 8 * CONVERSION_COPIES) * model.channels * size[0] * size[1]


def sampling_bytes(
    model: SinGANModel,
    num_samples: int,
    scale_h: float = 1.0,
    scale_w: float = 1.0,
    size: Shape | None = None,
) -> int:
    """Estimate the peak memory of :func:`napari_singan.core.generate` with the same arguments.

    Parameters
    ----------
    model, num_samples, scale_h, scale_w, size
        As in :func:`napari_singan.core.generate`.

    Returns
    -------
    int
        Bytes, see :func:`generation_bytes`.
    """
    hw = output_shapes(model, scale_h, scale_w, size)[-1]
    return generation_bytes(model, hw, samples_per_batch(num_samples, hw), num_samples)


def available_bytes(device: torch.device | str) -> int | None:
    """Memory that work on ``device`` can still allocate.

    Parameters
    ----------
    device
        ``cpu``: the host's available memory (Linux ``MemAvailable``, or free
        pages from ``os.sysconf``), within a cgroup v2 limit if there is one.
        ``cuda[:i]``: free device memory plus what torch's cache holds unused.

    Returns
    -------
    int or None
        Bytes, or None where it cannot be known (MPS, other systems).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    try:
        host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name (macOS)
        return None
    host = _meminfo_available() or host  # free pages alone leave out the page cache the kernel gives back
    room = _cgroup_room()
    return host if room is None else min(host, room)


def _meminfo_available() -> int | None:
    """Linux's estimate of memory available without swapping (``MemAvailable``), in bytes."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup v2 memory limit (None without a limit)."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def check_memory(
    needed: int,
    device: torch.device | str,
    *,
    force_flag: str | None = None,
    what: str = "this",
    remedy: str = "choose a smaller output size or fewer samples",
) -> None:
    """Refuse a request that needs more memory than ``device`` has available.

    Parameters
    ----------
    needed
        Estimated bytes, e.g. from :func:`generation_bytes`.
    device
        Where the work would run; nothing is checked where the available memory
        is unknown (see :func:`available_bytes`).
    force_flag
        The option that skips this check, named in the message (e.g. ``--force``).
    what
        The work, as the message's subject (e.g. ``training``).
    remedy
        What to do instead, in the caller's terms.

    Raises
    ------
    MemoryEstimateError
        One line with the estimate, the memory available and what to do.
    """
    available = available_bytes(device)
    if available is None or needed <= available:
        return
    if force_flag:
        remedy += f", or pass {force_flag} to try anyway"
    raise MemoryEstimateError(
        f"{what} needs an estimated {readable_bytes(needed)} of memory but only {readable_bytes(available)} "
        f"is available on {torch.device(device)}: {remedy}",
        force_flag,
    )


#: How the Python API's functions name the option that skips their memory estimate.
FORCE_ARGUMENT = "force=True"


def check_generation(
    model: SinGANModel, size: Shape, batch: int = 1, outputs: int = 1, force: bool = False
) -> None:
    """Refuse, before any work, generating images estimated (:func:`generation_bytes`) not to fit.

    Parameters
    ----------
    model, size, batch, outputs
        As in :func:`generation_bytes`; checked on the model's device.
    force
        Skip the check (the caller's ``force=True``; the CLI's ``--force``).

    Raises
    ------
    MemoryEstimateError
        One line with the estimate, what is available and what to do.
    """
    if not force:
        check_memory(generation_bytes(model, size, batch, outputs), model.device, force_flag=FORCE_ARGUMENT)


def readable_bytes(size: float) -> str:
    """Bytes as MB or GB with one decimal."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"
