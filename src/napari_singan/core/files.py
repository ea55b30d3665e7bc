"""Image files in and out (PNG, JPEG, TIFF incl. 16-bit, float and a physical pixel size), output path checks and
the bundled sample images. Output files are written atomically: an existing file is replaced whole or kept."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np

from .errors import ImageInputError, OutputPathError

if TYPE_CHECKING:
    from .images import ImageSpec

#: Bundled micrographs (shipped inside scikit-image's wheel; nothing is downloaded).
BUILTIN_IMAGES = {
    "cell": "cell",  # 660x550 uint8 grayscale phase-contrast cell
    "immunohistochemistry": "immunohistochemistry",  # 512x512 RGB IHC staining
}

TIFF_SUFFIXES = (".tif", ".tiff")
#: Extensions :func:`write_image` and :func:`write_stack` write; TIFF keeps any dtype and channel count.
IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".png", ".jpg", ".jpeg")
#: Extensions of animations: 8-bit GIF or MP4 video, or a TIFF stack in the model's dtype.
ANIMATION_SUFFIXES = (".gif", ".mp4", *TIFF_SUFFIXES)

#: How an image's channels are laid out, as far as a file format cares.
Layout = Literal["grayscale", "colour", "RGBA", "multichannel"]
#: Dtype -> layouts each PNG/JPEG suffix holds (JPEG is lossy: no binary images, no alpha, 8 bits).
_HOLDS: dict[str, dict[str, tuple[Layout, ...]]] = {
    ".png": {"uint8": ("grayscale", "colour", "RGBA"), "bool": ("grayscale",), "uint16": ("grayscale",)},
    ".jpg": {"uint8": ("grayscale", "colour")},
    ".jpeg": {"uint8": ("grayscale", "colour")},
}


#: Metres per unit of the length units napari and TIFF resolution tags are given in.
METRES = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "mm": 1e-3, "cm": 1e-2, "inch": 0.0254, "m": 1.0}
#: Pixel dtypes an ImageJ TIFF holds (others are written as plain TIFFs with resolution tags in cm).
_IMAGEJ_DTYPES = ("uint8", "uint16", "float32")


@dataclass(frozen=True)
class PixelSize:
    """Physical size of one pixel: ``y`` by ``x`` in ``unit`` (e.g. ``µm``)."""

    y: float
    x: float
    unit: str

    def scaled(self, source_hw: tuple[int, int], native_hw: tuple[int, int]) -> PixelSize:
        """Pixel size of an image of ``native_hw`` pixels covering ``source_hw`` pixels of this size."""
        return replace(self, y=self.y * source_hw[0] / native_hw[0], x=self.x * source_hw[1] / native_hw[1])

    def to_metadata(self) -> dict[str, Any]:
        """``{"pixel_size": [y, x], "unit": unit}`` (plain floats, for the model file)."""
        return {"pixel_size": [float(self.y), float(self.x)], "unit": self.unit}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> PixelSize | None:
        """Inverse of :meth:`to_metadata`; None when ``metadata`` has no pixel size."""
        if not metadata or "pixel_size" not in metadata:
            return None
        y, x = metadata["pixel_size"]
        return cls(float(y), float(x), str(metadata.get("unit", "")))

    def tiff_options(self, imagej: bool) -> dict[str, Any]:
        """``tifffile.imwrite`` arguments that store this pixel size.

        ImageJ TIFFs get resolution tags in pixels per unit and the unit in the
        ImageJ description (``micron`` for µm, as ImageJ writes it); plain TIFFs
        get resolution tags in pixels per cm (pixels per unit, without a unit,
        for units that are not lengths).
        """
        if imagej:
            unit = "micron" if self.unit == "µm" else self.unit
            return {"resolution": (1 / self.x, 1 / self.y), "metadata": {"unit": unit}}
        per_cm = METRES[self.unit] / 1e-2 if self.unit in METRES else None
        if per_cm is None:
            return {"resolution": (1 / self.x, 1 / self.y), "resolutionunit": "NONE"}
        return {"resolution": (1 / (self.x * per_cm), 1 / (self.y * per_cm)), "resolutionunit": "CENTIMETER"}


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file so that a crash leaves the old file or the new one, never a torn one.

    The temporary file carries the writer's process id; temporaries of ``path``
    left by writers that no longer run (killed mid-write) are removed first.

    Parameters
    ----------
    path
        The file; its folder must exist.
    write
        Writes the contents to the binary file object it is given (a temporary
        file beside ``path``, synced and renamed into place afterwards).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        with open(tmp, "wb") as fh:  # by name: writers such as tifffile need the file's name
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def temporary_beside(path: Path) -> Path:
    """A new empty file ``.NAME.PID.*.tmp`` beside ``path``, to be renamed onto it once complete.

    Temporaries of ``path`` left by writers that no longer run (killed
    mid-write) are removed first; the file gets the usual mode (umask), not
    ``mkstemp``'s 0600.
    """
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.NAME.PID.*.tmp`` files beside ``path`` whose writing process has ended."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def builtin_image(name: str) -> np.ndarray:
    """Return a bundled sample micrograph by name (see :data:`BUILTIN_IMAGES`)."""
    if name not in BUILTIN_IMAGES:
        raise ImageInputError(f"unknown sample {name!r}; choose one of {', '.join(BUILTIN_IMAGES)}")
    from skimage import data

    return getattr(data, BUILTIN_IMAGES[name])()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/TIFF (any bit depth) as a numpy array, keeping its dtype.

    Parameters
    ----------
    path
        The image file.

    Returns
    -------
    numpy.ndarray
        The image as stored, e.g. ``(H, W)`` or ``(H, W, 3)``.

    Raises
    ------
    ImageInputError
        If there is no file, or it is not an image that can be read; the
        message is one line (never the readers' lists of plugins to install).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"no image file at {path}")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            return tifffile.imread(path)
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))
    except Exception:  # readers raise many types for unreadable files, with pages of advice
        raise ImageInputError(
            f"{path} is not an image napari-singan can read (PNG, JPEG or TIFF), or it is damaged; "
            "open it in an image program and save it as .tif or .png"
        ) from None


def check_output_path(path: str | os.PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> Path:
    """Check, before any work, that an output file can be written at ``path``.

    Parameters
    ----------
    path
        The output file.
    suffixes
        The extensions (lower case, with the dot) the output may have, e.g.
        :data:`IMAGE_SUFFIXES`.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputPathError
        If the extension is not one of ``suffixes``, the folder does not exist
        (it is not created), ``path`` is a folder, or the folder or an existing
        file at ``path`` cannot be written.
    """
    path = _check_suffix(Path(path), suffixes)
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputPathError(f"the output folder {folder} {what}; create it or choose another output path")
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; give the output a file name")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputPathError(f"cannot write {path}: permission denied; choose a folder you can write to")
    return path


def _check_suffix(path: Path, suffixes: Sequence[str]) -> Path:
    if path.suffix.lower() not in suffixes:
        given = f"the extension {path.suffix!r}" if path.suffix else "no extension"
        raise OutputPathError(f"{path} has {given}; name the output with one of {', '.join(suffixes)}")
    return path


def prepare_output(path: str | os.PathLike, suffixes: Sequence[str]) -> Path:
    """:func:`check_output_path` for the Python API: ``~`` expanded, missing folders created first.

    Raises
    ------
    OutputPathError
        As :func:`check_output_path`, or when a missing folder cannot be created.
    """
    path = _check_suffix(Path(path).expanduser(), suffixes)
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True)
        except OSError as exc:
            raise OutputPathError(
                f"cannot create the folder {path.parent} ({exc.strerror or exc}); choose another output path"
            ) from None
    return check_output_path(path, suffixes)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one existing file (links and relative paths resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist
        return False


def check_output_format(path: str | os.PathLike, spec: ImageSpec, label_dtype: str | None = None) -> None:
    """Check that the format of ``path``'s extension holds a model's images, before generating them.

    Parameters
    ----------
    path
        The output file; TIFF holds everything, PNG 8-bit images (also RGBA),
        16-bit and binary grayscale, JPEG 8-bit grayscale and RGB, GIF/MP4
        grayscale or colour frames.
    spec
        The layout and dtype of the model's images.
    label_dtype
        The dtype of the label images written beside them in the same format, if any.

    Raises
    ------
    OutputPathError
        If the format cannot hold them (the message names a format that can).
    """
    suffix = Path(path).suffix.lower()
    if label_dtype is not None and (problem := _format_problem(suffix, np.dtype(label_dtype), "grayscale")):
        raise OutputPathError(f"the model's label images: {problem}")
    if spec.channel_axis is None:
        layout: Layout = "grayscale"
    elif spec.is_rgb:
        layout = "RGBA" if spec.channels == 4 else "colour"
    else:
        layout = "multichannel"
    problem = _format_problem(suffix, np.dtype(spec.dtype), layout)
    if problem is not None:
        raise OutputPathError(problem)


def _format_problem(suffix: str, dtype: np.dtype, layout: Layout) -> str | None:
    """Why a ``suffix`` file cannot hold ``dtype`` images of ``layout`` (None when it can)."""
    if suffix in TIFF_SUFFIXES:
        return None
    if layout == "multichannel":
        return f"{suffix} cannot hold multichannel images; write a .tif instead"
    if suffix in ANIMATION_SUFFIXES:  # video frames are mapped to 8 bits
        return None
    if dtype.kind == "f":
        return f"{suffix} cannot hold float images; write a .tif instead"
    if suffix not in _HOLDS or layout in _HOLDS[suffix].get(dtype.name, ()):
        return None
    other = ".tif or .png" if layout in _HOLDS[".png"].get(dtype.name, ()) else ".tif"
    return f"{suffix} cannot hold {layout} {dtype} images; write a {other} instead"


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    rgb: bool = False,
    pixel_size: PixelSize | None = None,
    channel_axis: int | None = None,
) -> Path:
    """Write one image keeping its dtype where the format allows, atomically (see :func:`write_stack`).

    Parameters
    ----------
    path
        The file; its extension picks the format (TIFF holds any dtype and channels).
    image
        ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``.
    rgb
        Whether a trailing 3/4-channel axis is colour.
    pixel_size
        The image's physical pixel size, stored in a TIFF (see :func:`write_stack`).
    channel_axis
        Axis of non-colour channels, which names the axes of an ImageJ TIFF
        (``CYX`` for channels first, see :func:`write_stack`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return _write(Path(path), image, rgb, pixel_size, channel_axis, stack=False)


def write_stack(
    path: str | os.PathLike,
    stack: np.ndarray,
    rgb: bool = False,
    pixel_size: PixelSize | None = None,
    channel_axis: int | None = None,
) -> list[Path]:
    """Write ``(N, ...)`` images; TIFF holds the stack, PNG/JPEG write one file per image.

    Each file is written atomically: an existing file is replaced whole, or
    kept as it was when writing fails.

    Parameters
    ----------
    path
        The file (``NAME_000.png``, ``NAME_001.png``, ... for several PNG/JPEG images).
    stack
        ``N`` images as :func:`write_image` takes them.
    rgb
        Whether a trailing 3/4-channel axis is colour.
    pixel_size
        The images' physical pixel size. A TIFF then gets resolution tags: an
        ImageJ TIFF (axes ``T``, ``C``, ``Y``, ``X``, ``S``; unit in its
        description, read by Fiji and tifffile) for uint8, uint16 and float32
        images whose channels come first or are RGB, else a plain TIFF with
        resolution in pixels per cm. An ImageJ stack of one image reads back
        as that image (tifffile and Fiji drop axes of length 1).
    channel_axis
        Axis of non-colour channels in one image, which names the ImageJ axes;
        uint8, uint16 and float32 channels-first images are ImageJ hyperstacks
        (``TCYX``) with or without a pixel size.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return [_write(path, stack, rgb, pixel_size, channel_axis, stack=True)]
    if len(stack) == 1:
        return [_write(path, stack[0], rgb, pixel_size, channel_axis, stack=False)]
    return [
        _write(
            path.with_name(f"{path.stem}_{i:03d}{path.suffix}"), image, rgb, pixel_size, channel_axis, False
        )
        for i, image in enumerate(stack)
    ]


def _write(
    path: Path,
    image: np.ndarray,
    rgb: bool,
    pixel_size: PixelSize | None,
    channel_axis: int | None,
    stack: bool,
) -> Path:
    """Write ``path`` atomically in the format of its extension (refusing what the format cannot hold)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        import tifffile

        options = _tiff_options(image, stack, rgb, channel_axis, pixel_size)
        photometric = "rgb" if rgb else "minisblack"
        return atomic_write(path, lambda fh: tifffile.imwrite(fh, image, photometric=photometric, **options))
    channels = 1 if image.ndim == 2 else image.shape[-1]
    layouts: dict[int, Layout] = {1: "grayscale", 3: "colour", 4: "RGBA"}
    problem = _format_problem(suffix, image.dtype, layouts.get(channels, "multichannel"))
    if problem is not None:
        raise ImageInputError(problem)
    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", image, extension=suffix)  # Pillow's own file writes miss short writes
    return atomic_write(path, lambda fh: fh.write(data))


def _tiff_options(
    image: np.ndarray, stack: bool, rgb: bool, channel_axis: int | None, pixel_size: PixelSize | None
) -> dict[str, Any]:
    """``tifffile.imwrite`` arguments: ImageJ (with axes) where it holds a calibrated or channels-first ``image``.

    Without a pixel size only channels-first images become ImageJ hyperstacks
    (so Fiji shows their channels); other uncalibrated images are plain TIFFs.
    """
    if rgb:
        axes = "YXS"
    elif channel_axis is None:
        axes = "YX"
    else:
        axes = "CYX" if channel_axis == 0 else ""  # channels last that are not colour: no ImageJ axis
    axes = ("T" if stack else "") + axes if axes else ""
    colour_ok = not rgb or (image.dtype == np.uint8 and image.shape[-1] == 3)
    imagej = len(axes) == image.ndim and str(image.dtype) in _IMAGEJ_DTYPES and colour_ok
    if pixel_size is None:
        return {"imagej": True, "metadata": {"axes": axes}} if imagej and "C" in axes else {}
    if not imagej:
        return pixel_size.tiff_options(imagej=False)
    options = pixel_size.tiff_options(imagej=True)
    return {**options, "imagej": True, "metadata": {**options["metadata"], "axes": axes}}
