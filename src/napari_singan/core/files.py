"""Image files in and out (PNG, JPEG, TIFF incl. 16-bit and float) and the bundled sample images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ImageInputError

#: Bundled micrographs (shipped inside scikit-image's wheel; nothing is downloaded).
BUILTIN_IMAGES = {
    "cell": "cell",  # 660x550 uint8 grayscale phase-contrast cell
    "immunohistochemistry": "immunohistochemistry",  # 512x512 RGB IHC staining
}

_TIFF = {".tif", ".tiff"}


def builtin_image(name: str) -> np.ndarray:
    """Return a bundled sample micrograph by name (see :data:`BUILTIN_IMAGES`)."""
    if name not in BUILTIN_IMAGES:
        raise ImageInputError(f"unknown sample {name!r}; choose one of {', '.join(BUILTIN_IMAGES)}")
    from skimage import data

    return getattr(data, BUILTIN_IMAGES[name])()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/TIFF (any bit depth) as a numpy array, keeping its dtype."""
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"no image file at {path}")
    try:
        if path.suffix.lower() in _TIFF:
            import tifffile

            return tifffile.imread(path)
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))
    except Exception as exc:  # readers raise many types for unreadable files
        raise ImageInputError(f"cannot read {path} as an image: {exc}") from None


def write_image(path: str | os.PathLike, image: np.ndarray, rgb: bool = False) -> Path:
    """Write one image (``(H, W[, C])``, or a TIFF stack) keeping its dtype where the format allows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in _TIFF:
        import tifffile

        tifffile.imwrite(path, image, photometric="rgb" if rgb else "minisblack")
        return path
    if image.dtype.kind == "f":
        raise ImageInputError(f"{path.suffix} cannot hold float images; write a .tif instead")
    import imageio.v3 as iio

    iio.imwrite(path, image)
    return path


def write_stack(path: str | os.PathLike, stack: np.ndarray, rgb: bool = False) -> list[Path]:
    """Write ``(N, H, W[, C])`` images; TIFF holds the stack, PNG/JPEG write one file per image.

    Returns the paths written. ``rgb`` marks a trailing 3/4-channel axis as colour.
    """
    path = Path(path)
    if path.suffix.lower() in _TIFF or len(stack) == 1:
        return [write_image(path, stack if path.suffix.lower() in _TIFF else stack[0], rgb)]
    return [
        write_image(path.with_name(f"{path.stem}_{i:03d}{path.suffix}"), image, rgb)
        for i, image in enumerate(stack)
    ]
