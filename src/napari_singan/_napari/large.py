"""Outputs too large for memory: a BigTIFF on disk, shown as a lazy multiscale napari layer.

Works on files and arrays; imports neither napari nor Qt.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..core import SinGANModel
    from ..core.events import TileProgress

#: Overview levels halve the image until both sides are at most this many pixels.
OVERVIEW_SIDE = 2048


def spatial_axes(model: SinGANModel) -> tuple[int, int]:
    """The height and width axes of a stack ``(N, ...)`` of the model's images."""
    axes = [1, 2]
    axis = model.spec.channel_axis
    if axis is not None:
        axes = [a if a <= axis else a + 1 for a in axes]
    return axes[0], axes[1]


def lazy_levels(path: str | os.PathLike, axes: tuple[int, int]) -> list[Any]:
    """A written stack as napari multiscale data: the file through dask, then in-memory overviews.

    Parameters
    ----------
    path
        An uncompressed TIFF (as :func:`napari_singan.core.tiled.write_tiff` writes).
    axes
        Its height and width axes (:func:`spatial_axes`).

    Returns
    -------
    list
        The full-resolution level, a ``dask.array`` reading the memory-mapped
        file on demand, then copies subsampled by 2, 4, ... until both sides
        are at most :data:`OVERVIEW_SIDE` (none for a stack already that small).
    """
    import dask.array as da
    import tifffile

    full = tifffile.memmap(Path(path), mode="r")
    # one image per chunk along N, 1024 px tiles, channels whole
    chunks = [1024 if a in axes else 1 if a == 0 else full.shape[a] for a in range(full.ndim)]
    levels: list[Any] = [da.from_array(full, chunks=tuple(chunks))]
    step = 2
    while max(full.shape[a] for a in axes) > OVERVIEW_SIDE * step // 2:
        index = [slice(None)] * full.ndim
        for a in axes:
            index[a] = slice(None, None, step)
        levels.append(np.ascontiguousarray(full[tuple(index)]))
        step *= 2
    return levels


def tiled_into_file(
    model: SinGANModel, path: str | os.PathLike, size: tuple[int, int], num_samples: int, **options: Any
) -> Generator[TileProgress, None, list[Any]]:
    """Generate tile by tile into ``path`` (:func:`~napari_singan.core.tiled.write_tiff`), then open it lazily.

    Returns :func:`lazy_levels` of the written file; the overviews are read in
    the same (worker) thread as the generation.
    """
    from ..core.tiled import write_tiff

    written = yield from write_tiff(model, path, size, num_samples, **options)
    return lazy_levels(written, spatial_axes(model))
