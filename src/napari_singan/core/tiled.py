"""Outputs of any size in bounded memory: each generator stage runs tile by tile (paper §2.1, Fig. 4).

Whole-image generation keeps a stage's feature maps (32-128 channels) for the
whole output alive at once: about 7.6 GB for one 2000x2000 sample from a
paper-architecture model. Here only image-sized maps with the image's own
channels are kept whole (the upsampled coarser image, the noise and the
padded input of the current stage), and the networks, which are fully
convolutional, run on tiles of the padded input: a stage's output pixel sees
``2 x num_blocks + 1`` input pixels per axis, so a tile with ``num_blocks``
extra pixels per side gives exactly the pixels the whole image would.

Instance norm is the one non-local operation. Every stage first records each
layer's statistics on a reference window of the same sample, by default its
central tile (at least 400 x 400 px; thousands of times the texture's
correlation length at each scale), and all tiles are normalised with those
(:meth:`GeneratorStage.fix_statistics`), so tiles join without seams. A stage
that fits in one tile runs whole. When the reference window covers the stage
(``stats_pixels``) the result equals whole-image generation with the same
seed up to float rounding, since the noise is drawn exactly as
:func:`napari_singan.core.generate` draws it; gathering over a window of
several tiles costs about two passes over it, one tile one pass.

The finest stage writes each finished tile, in the training image's dtype,
straight into ``out``: a numpy array, or a memory-mapped file such as
:func:`open_tiff` returns, so the output never has to fit in memory as floats.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import OutputPathError, SinGANError, check_whole
from .events import TileProgress
from .files import TIFF_SUFFIXES, prepare_output, temporary_beside
from .images import ImageSpec, denormalize
from .memory import TILE_BYTES, readable_bytes, stage_tile_side
from .pyramid import Shape, resize
from .sampling import injected_start, random_noise, runnable_shapes, sample_seeds, torch_generators
from .singan import SinGANModel


def tiles(shape: Shape, side: int) -> Iterator[tuple[slice, slice]]:
    """Row-major ``(rows, cols)`` windows of at most ``side`` x ``side`` covering ``shape``."""
    for y in range(0, shape[0], side):
        for x in range(0, shape[1], side):
            yield slice(y, min(y + side, shape[0])), slice(x, min(x + side, shape[1]))


def _reference_window(shape: Shape, pixels: int) -> tuple[slice, slice]:
    """The central window of at most ``pixels`` pixels (the whole shape when it is smaller)."""
    side = max(1, math.isqrt(pixels))
    h, w = min(shape[0], side), min(shape[1], side)
    if h < side:  # a thin image: spend the remaining pixels along the other axis
        w = min(shape[1], pixels // h)
    elif w < side:
        h = min(shape[0], pixels // w)
    y, x = (shape[0] - h) // 2, (shape[1] - w) // 2
    return slice(y, y + h), slice(x, x + w)


def _reference_tiles(shape: Shape, pixels: int, side: int) -> Iterator[tuple[slice, slice]]:
    """Tiles of at most ``side`` px covering the central window of at most ``pixels`` pixels."""
    rows, cols = _reference_window(shape, pixels)
    for r, c in tiles((rows.stop - rows.start, cols.stop - cols.start), side):
        yield (
            slice(rows.start + r.start, rows.start + r.stop),
            slice(cols.start + c.start, cols.start + c.stop),
        )


def _edges(shape: Shape, rows: slice, cols: slice) -> tuple[bool, bool, bool, bool]:
    """Whether a window touches the (top, bottom, left, right) edge of an image of ``shape``."""
    return rows.start == 0, rows.stop == shape[0], cols.start == 0, cols.stop == shape[1]


def output_index(spec: ImageSpec, rows: slice, cols: slice) -> tuple[slice, ...]:
    """Index of a window in one output image laid out as :func:`denormalize` lays it out."""
    index = [rows, cols]
    if spec.channel_axis is not None:
        index.insert(spec.channel_axis, slice(None))
    return tuple(index)


@torch.no_grad()
def generate_tiled(
    model: SinGANModel,
    out: Any,
    *,
    start_scale: int = 0,
    injected: torch.Tensor | None = None,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    tile_bytes: int = TILE_BYTES,
    stats_pixels: int | None = None,
) -> Generator[TileProgress, None, Any]:
    """Generate ``len(out)`` samples tile by tile into ``out``; yields progress, returns ``out``.

    Parameters
    ----------
    model
        Trained model without label channels, on any device (tiles run there;
        the image-sized maps stay in host memory).
    out
        ``(N, H, W[, C])`` (or ``(N, C, H, W)`` for a channels-first model)
        writable array in the training image's dtype, laid out as
        :func:`napari_singan.core.generate` returns samples: a numpy array, a
        ``numpy.memmap`` (see :func:`open_tiff`) or a zarr array. Its shape
        gives the number of samples and the output size.
    start_scale, injected, seed, seeds
        As in :func:`napari_singan.core.generate`: sample ``i`` draws the same
        noise as ``generate``'s sample ``i``.
    tile_bytes
        Bound on the feature maps of one tile (see :func:`~napari_singan.core.memory.tile_side`).
    stats_pixels
        Pixels of the central window whose norm statistics a stage's tiles
        share (default: one tile's).

    Returns
    -------
    array
        ``out``, filled.
    """
    if model.labels is not None:
        raise SinGANError(
            "tiled generation writes images only; generate label pairs at sizes that fit in memory"
        )
    spec = model.spec
    count = len(out)
    size = _output_size(out.shape[1:], spec)
    if np.dtype(out.dtype) != np.dtype(spec.dtype):
        raise SinGANError(f"the output array is {out.dtype} but the model's images are {spec.dtype}")
    shapes = runnable_shapes(model, start_scale, size=size)
    host = torch.device("cpu")
    prev = None
    if start_scale > 0:
        source = model.image if injected is None else injected
        prev = injected_start(source.to(host), start_scale, shapes)
    sides = [stage_tile_side(model, s, tile_bytes) for s in range(len(shapes))]
    stages = range(start_scale, model.num_trained)
    total = count * sum(len(list(tiles(shapes[s], sides[s]))) for s in stages)
    gens = torch_generators(sample_seeds(seed, count) if seeds is None else list(seeds), model.device)
    if len(gens) != count:
        raise SinGANError(f"{len(gens)} seeds given for {count} output images")
    done = 0
    for i, gen in enumerate(gens):
        noise = random_noise(model, [gen])
        x = torch.zeros(1, spec.channels, *shapes[0]) if prev is None else prev
        for scale in stages:
            last = scale == model.num_trained - 1
            up = resize(x, shapes[scale])  # (1, C, H_n, W_n) on the host
            x = None if last else torch.empty_like(up)
            drawn = noise(scale, (1, spec.channels, *shapes[scale])).to(host)  # as generate draws it
            work = stage_tiles(model, scale, drawn, up, sides[scale], stats_pixels)
            del drawn  # only the stage's padded input keeps it
            for rows, cols, result in work:
                if last:
                    out[i][output_index(spec, rows, cols)] = denormalize(result, spec)[0]
                else:
                    x[:, :, rows, cols] = result
                done += 1
                yield TileProgress(sample=i, scale=scale, done=done, total=total)
            del up, work
    return out


def stage_tiles(
    model: SinGANModel,
    scale: int,
    noise: torch.Tensor,
    up: torch.Tensor,
    side: int,
    stats_pixels: int | None,
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """Run stage ``scale`` tile by tile on the host maps ``noise`` and ``up`` (1, C, H, W).

    Yields each tile's window and output ``(1, C, h, w)`` on the host, row by row.
    """
    stage = copy.deepcopy(model.generators[scale])  # holds its own fixed statistics
    shape = tuple(up.shape[-2:])
    grid = list(tiles(shape, side))
    if len(grid) == 1:  # one tile: the stage as whole-image generation runs it
        yield *grid[0], stage(noise.to(model.device), up.to(model.device)).to(up.device)
        return
    padded = stage.pad_input(noise, up)  # (1, C, H + 2 pad, W + 2 pad)
    del noise

    def window(rows: slice, cols: slice) -> torch.Tensor:
        pad = stage.pad
        return padded[:, :, rows.start : rows.stop + 2 * pad, cols.start : cols.stop + 2 * pad].to(
            model.device
        )

    stage.fix_statistics(
        (window(rows, cols), _edges(shape, rows, cols))
        for rows, cols in _reference_tiles(shape, stats_pixels or side * side, side)
    )
    for rows, cols in grid:
        yield rows, cols, up[:, :, rows, cols] + stage.residual(window(rows, cols)).to(up.device)


def _output_size(shape: Sequence[int], spec: ImageSpec) -> Shape:
    """The ``(H, W)`` of one output image of ``shape``, checked against the model's layout."""
    axes = 2 if spec.channel_axis is None else 3
    if len(shape) != axes:
        raise SinGANError(
            f"the output array holds images of shape {tuple(shape)}; this model's have {axes} axes"
        )
    if spec.channel_axis is None:
        return int(shape[0]), int(shape[1])
    if shape[spec.channel_axis] != spec.channels:
        raise SinGANError(
            f"the output array has {shape[spec.channel_axis]} channels; the model has {spec.channels}"
        )
    h, w = (int(v) for k, v in enumerate(shape) if k != spec.channel_axis)
    return h, w


def open_tiff(
    path: str | os.PathLike, shape: Sequence[int], dtype: str, *, rgb: bool = False, **tiff: Any
) -> np.memmap:
    """Create an uncompressed BigTIFF of ``shape`` and map it into memory for writing.

    Parameters
    ----------
    path
        The file to create.
    shape
        ``(N, H, W[, C])`` (or ``(N, C, H, W)``) as :func:`generate_tiled` fills it.
    dtype
        The images' dtype.
    rgb
        The trailing axis holds RGB(A) colour.
    **tiff
        More ``tifffile.imwrite`` keywords (``resolution``, ``metadata``, ...).

    Returns
    -------
    numpy.memmap
        Writes go to the file through the page cache; call ``flush()`` at the end.
    """
    import tifffile

    return tifffile.memmap(
        Path(path),
        shape=tuple(shape),
        dtype=dtype,
        bigtiff=True,
        photometric="rgb" if rgb else "minisblack",
        **tiff,
    )


def write_tiff(
    model: SinGANModel,
    path: str | os.PathLike,
    size: Shape,
    num_samples: int = 1,
    *,
    tiff: dict[str, Any] | None = None,
    **options: Any,
) -> Generator[TileProgress, None, Path]:
    """Generate ``num_samples`` images of ``size`` tile by tile into a BigTIFF at ``path``.

    The file is written under a temporary name beside ``path`` and renamed
    into place when complete, so an interrupted run never leaves a partial
    file at ``path`` (nor replaces an existing one).

    Parameters
    ----------
    model
        Trained model without label channels.
    path
        The ``.tif``/``.tiff`` to write (``~`` expanded, missing folders created).
    size
        Output ``(H, W)`` in pixels.
    num_samples
        Images in the file (a stack ``(N, H, W[, C])``).
    tiff
        More ``tifffile`` keywords for the file (``resolution``, ``metadata``, ...).
    **options
        :func:`generate_tiled`'s keywords (``seed``, ``start_scale``, ...).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputPathError
        Before any work, if ``path`` is not a TIFF name, is a folder or cannot
        be written, or the disk holding it has too little space.
    """
    path = prepare_output(path, TIFF_SUFFIXES)
    num_samples = check_whole("the number of samples", num_samples, 1)
    spec = model.spec
    image = [*size]
    if spec.channel_axis is not None:
        image.insert(spec.channel_axis, spec.channels)
    needed = num_samples * math.prod(image) * np.dtype(spec.dtype).itemsize
    free = shutil.disk_usage(path.parent).free
    if needed > free:  # a memory-mapped file on a full disk fails mid-write (SIGBUS), so check first
        raise OutputPathError(
            f"{path} needs {readable_bytes(needed)} but its disk has {readable_bytes(free)} free; "
            "choose another folder or a smaller output"
        )
    tmp = temporary_beside(path)  # .NAME.PID.*.tmp: a killed writer's is removed by the next write
    out = open_tiff(tmp, (num_samples, *image), spec.dtype, rgb=spec.is_rgb, **(tiff or {}))
    try:
        yield from generate_tiled(model, out, **options)
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
