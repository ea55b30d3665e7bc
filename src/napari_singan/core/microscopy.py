"""Microscopy files in: TIFF axis metadata, one plane of a stack, physical pixel size, crops.

ImageJ hyperstacks and OME-TIFFs say which axes they hold (``TZCYXS``); a
z/t stack gives one 2-D plane, chosen by the caller, and the channels are
found without being named. Their pixel size (ImageJ: resolution tags + unit;
OME: ``PhysicalSizeY/X`` + units) is stored with the model and carried to its
outputs. Files without axis metadata read as :func:`napari_singan.core.files.read_image`
reads them, except that a plain TIFF's one-image stack is squeezed and its channels stored
plane by plane (``(C, H, W)``) are recognised as channels.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from .config import SinGANConfig
from .errors import ImageInputError
from .files import METRES, TIFF_SUFFIXES, PixelSize, read_image
from .images import channels_last
from .singan import source_metadata

if TYPE_CHECKING:
    from .singan import SinGANModel

#: Length units by their usual spellings (ImageJ writes "micron"), as written in model metadata.
_UNIT_NAMES = {
    "micron": "µm",
    "microns": "µm",
    "um": "µm",
    "μm": "µm",  # Greek mu
    "\\u00b5m": "µm",  # ImageJ's escaped micro sign
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "micrometre": "µm",
    "picometer": "pm",
    "picometre": "pm",
    "in": "inch",
    "inches": "inch",
    "nanometre": "nm",
    "millimetre": "mm",
    "angstrom": "Å",
}
#: Axes that hold channels: C, or S (samples of one pixel, e.g. RGB).
_CHANNELS = "CS"


def unit_name(unit: str | None) -> str | None:
    """A length unit as napari-singan writes it (``micron``, ``um`` -> ``µm``); None when uncalibrated."""
    text = (unit or "").strip()
    if text.lower() in ("", "pixel", "pixels", "none"):
        return None
    return _UNIT_NAMES.get(text.lower(), text)


@dataclass(frozen=True)
class MicroscopyImage:
    """One 2-D image (with its channels) read from a file, and what its metadata says about it."""

    data: np.ndarray  # the image: (H, W), or 3-D with a channel axis
    channel_axis: int | None = None  # from the axis metadata; None: none known (napari's rule applies)
    pixel_size: PixelSize | None = None  # physical pixel size, when the file is calibrated
    plane: dict[str, int] = field(default_factory=dict)  # the index taken along each stack axis (Z, T, ...)
    note: str = ""  # a sentence saying which plane of which stack, "" for a single plane


def parse_plane(text: str, flag: str = "--plane") -> dict[str, int]:
    """``"T=3,Z=0"`` -> ``{"T": 3, "Z": 0}`` (axis letters in any case).

    Raises
    ------
    ImageInputError
        If an entry is not ``AXIS=INDEX`` or an axis is given twice.
    """
    plane: dict[str, int] = {}
    for entry in text.split(","):
        axis, sep, index = entry.strip().partition("=")
        axis = axis.strip().upper()
        if not sep or len(axis) != 1 or not axis.isalpha() or not index.strip().lstrip("-").isdigit():
            raise ImageInputError(
                f"{flag} {text!r}: give AXIS=INDEX pairs separated by commas, e.g. {flag} Z=12 or {flag} T=3,Z=0"
            )
        if axis in plane:
            raise ImageInputError(f"{flag} {text!r} gives the {axis} axis twice")
        plane[axis] = int(index)
    return plane


def read_microscopy(
    path: str | os.PathLike, plane: Mapping[str, int] | None = None, flag: str = "--plane"
) -> MicroscopyImage:
    """Read one 2-D image from a file, using its axis metadata when it has some.

    Parameters
    ----------
    path
        The image file. ImageJ hyperstacks and OME-TIFFs are read by their
        axes; other files as :func:`napari_singan.core.files.read_image` reads
        them (see the module's docstring for plain TIFFs).
    plane
        The index along every stack axis (anything but Y, X, C and S), e.g.
        ``{"Z": 12}``; needed when the file is a stack.
    flag
        How the caller's option for ``plane`` is named in messages.

    Returns
    -------
    MicroscopyImage
        The plane, its channel axis and pixel size when the metadata gives them.

    Raises
    ------
    ImageInputError
        One line: a stack without a plane (listing the axes, their sizes and
        how to pick one), a plane outside the stack or along an axis it does
        not have, or axis metadata that does not match the pixel data.
    """
    path = Path(path)
    plane = {str(a).upper(): int(i) for a, i in (plane or {}).items()}
    read, refused = None, None
    with _quiet_tifffile() as said:
        try:
            read = _read_any(path, plane, flag)
        except ImageInputError as exc:  # said after damage, which may have caused it
            refused = exc
    broken = next((s for s in said if "invalid" in s and "offset" in s), None)
    if broken is not None:  # the file ends early: its metadata and planes past the end are missing
        raise ImageInputError(
            f"{path} is damaged or truncated (its data points past its end: {broken.strip()}); "
            "copy or save the file again"
        )
    if refused is not None:
        raise refused
    return read


def _read_any(path: Path, plane: dict[str, int], flag: str) -> MicroscopyImage:
    """:func:`read_microscopy`'s reading: a TIFF opened once for its metadata and pixels, other files as
    :func:`read_image` reads them."""
    found = _read_tiff(path, plane, flag) if path.suffix.lower() in TIFF_SUFFIXES else None
    if found is not None:
        return found
    if plane:
        _refuse_plane(path, flag)
    return MicroscopyImage(read_image(path))  # also the one-line message of an unreadable TIFF


def _refuse_plane(path: Path, flag: str) -> NoReturn:
    """Refuse a plane asked of a file without axis metadata."""
    raise ImageInputError(
        f"{path} has no axis metadata (ImageJ or OME-TIFF), so {flag} does not apply; "
        "save the plane you want as its own image"
    )


def _check_plane(axes: str, sizes: dict[str, int], plane: dict[str, int], flag: str) -> None:
    """Raise unless ``plane`` picks exactly one plane of an image with ``axes``."""
    layout = ", ".join(f"{a}={n}" for a, n in sizes.items() if a not in "YX") or "a single plane"
    stack = [a for a in axes if a not in "YX" + _CHANNELS]
    for axis, index in plane.items():
        if axis not in axes:
            raise ImageInputError(
                f"{flag} {axis}={index}: the image has no {axis} axis (it is {axes}: {layout})"
            )
        if axis not in stack:
            kind = "a spatial axis" if axis in "YX" else "the channel axis"
            raise ImageInputError(
                f"{flag} {axis}={index}: {axis} is {kind}; planes are picked along stack axes"
            )
        if not 0 <= index < sizes[axis]:
            raise ImageInputError(
                f"{flag} {axis}={index}: the {axis} axis has {sizes[axis]} planes, numbered 0..{sizes[axis] - 1}"
            )
    missing = [a for a in stack if a not in plane]
    if missing:
        choice = ",".join(f"{a}=<0..{sizes[a] - 1}>" for a in missing)
        raise ImageInputError(f"the image is a {axes} stack ({layout}); pick one plane with {flag} {choice}")


def _read_tiff(path: Path, plane: dict[str, int], flag: str) -> MicroscopyImage | None:
    """A TIFF's image: one plane of the first series of an ImageJ or OME-TIFF, by its axes, or a plain
    TIFF's first series. None when tifffile cannot open the file (:func:`read_image` says why)."""
    import tifffile

    if not path.is_file():
        return None
    try:  # tifffile's log is kept quiet by read_microscopy, which reports it
        tif = tifffile.TiffFile(path)
    except Exception:
        return None
    with tif:
        try:
            if tif.is_ome or tif.is_imagej:
                return _read_with_axes(path, tif, plane, flag)
            if plane:
                _refuse_plane(path, flag)
            return _read_plain(tif)
        except ImageInputError:
            raise
        except Exception:  # tifffile's many errors on damaged files (read_microscopy names truncation)
            raise ImageInputError(
                f"{path} is damaged or not a TIFF napari-singan can read; open it in an image program "
                "and save it again"
            ) from None


def _read_plain(tif: Any) -> MicroscopyImage:
    """A TIFF without axis metadata, as :func:`read_image` reads it, but with a one-image stack (e.g. one
    tiled sample) squeezed and channels stored plane by plane (planar configuration) as channel axis 0,
    as an OME-TIFF's are read."""
    series = tif.series[0]
    data, axes = series.asarray(), series.axes
    if data.ndim in (3, 4) and data.shape[0] == 1:
        data, axes = data[0], axes[1:]
    channel = 0 if data.ndim == 3 and axes.endswith("SYX") else None  # (C, H, W)
    return MicroscopyImage(np.ascontiguousarray(data), channel, _plain_tiff_pixel_size(tif.pages.first))


def _read_with_axes(path: Path, tif: Any, plane: dict[str, int], flag: str) -> MicroscopyImage:
    """One plane of the first series of the ImageJ or OME-TIFF ``tif``, read by its axes."""
    series = tif.series[0]
    axes, shape = series.axes, tuple(series.shape)
    if tif.is_ome:
        kind, pixels = "OME", _ome_pixels(tif.ome_metadata)
        declared = {a: int(_ome_number(pixels, f"Size{a}", "1")) for a in "XYZCT"}
        pixel_size = _ome_pixel_size(pixels)
    else:
        kind, meta = "ImageJ", tif.imagej_metadata or {}
        declared = {a: int(meta.get(k, 1)) for a, k in zip("TZC", ("frames", "slices", "channels"))}
        pixel_size = _imagej_pixel_size(tif.pages.first, meta)
    held = f"{axes} {'x'.join(map(str, shape))}"
    sizes = dict(zip(axes, shape, strict=True))
    actual = {a: sizes.get(a, 1) * (sizes.get("S", 1) if a == "C" else 1) for a in declared}
    wrong = [f"{a}={n}" for a, n in declared.items() if n > 1 and actual[a] != n]
    if wrong or "Y" not in axes or "X" not in axes:
        said = f"declares {', '.join(wrong)}" if wrong else "has no Y and X axes"
        raise ImageInputError(
            f"{path}: its {kind} metadata {said} but the file holds {held}; "
            "fix the metadata (Fiji: Image > Properties) or re-save the file"
        )
    if None in series.pages:
        raise ImageInputError(
            f"{path}: its {kind} metadata describes {held} but the file lacks some of those planes; "
            "re-save the file"
        )
    if sum(a in axes for a in _CHANNELS) > 1:
        raise ImageInputError(f"{path} has both C and S channel axes ({held}); save one of them")
    _check_plane(axes, sizes, plane, flag)
    image = _read_plane(series, axes, sizes, plane)  # damaged data: _read_tiff's one line
    images = len(tif.series) if tif.is_ome else 1  # OME images (ImageJ files hold one)
    plane = {a: plane[a] for a in axes if a in plane}
    rest = "".join(a for a in axes if a not in plane)
    channel = next((rest.index(a) for a in _CHANNELS if a in rest), None)
    picked = ", ".join(f"{a}={i}" for a, i in plane.items())
    described = ", ".join(f"{a}={n}" for a, n in sizes.items() if a not in "YX")
    notes = [f"plane {picked} of a {axes} stack ({described})"] if plane else []
    if images > 1:
        notes.append(f"the first of the file's {images} OME images (save the one you want on its own)")
    return MicroscopyImage(image, channel, pixel_size, plane, "; ".join(notes))


def _read_plane(series: Any, axes: str, sizes: dict[str, int], plane: dict[str, int]) -> np.ndarray:
    """The plane of a tifffile series, reading only its pages when there is one page per leading index."""
    within = 3 if axes.endswith("YXS") else 2  # axes inside one page
    lead = axes[:-within]
    shape = [sizes[a] for a in lead]
    if lead and axes[-within:].startswith("YX") and len(series.pages) == math.prod(shape):
        ranges = [[plane[a]] if a in plane else range(sizes[a]) for a in lead]
        keys = [int(np.ravel_multi_index(index, shape)) for index in itertools.product(*ranges)]
        kept = [sizes[a] for a in axes if a not in plane]
        return np.ascontiguousarray(series.asarray(key=keys).reshape(kept))
    return np.ascontiguousarray(series.asarray()[tuple(plane.get(a, slice(None)) for a in axes)])


@contextmanager
def _quiet_tifffile() -> Iterator[list[str]]:
    """Keep tifffile's log from the terminal while reading; yields its messages, to report as one line."""
    logger = logging.getLogger("tifffile")
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _ome_pixels(xml: str | None) -> dict[str, str]:
    """Attributes of the first image's ``Pixels`` element of OME-XML."""
    try:
        root = ET.fromstring(xml or "")
    except ET.ParseError:
        return {}
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    return {} if pixels is None else dict(pixels.attrib)


def _ome_pixel_size(pixels: dict[str, str]) -> PixelSize | None:
    """OME ``PhysicalSizeY/X`` in the X size's unit (µm unless stated, OME's default); Y defaults to X,
    in X's unit. None when uncalibrated (no X size, or the unit ``pixel``)."""
    if "PhysicalSizeX" not in pixels:
        return None
    unit = unit_name(pixels.get("PhysicalSizeXUnit", "µm"))
    x = _ome_number(pixels, "PhysicalSizeX")
    if "PhysicalSizeY" in pixels:
        y, y_unit = _ome_number(pixels, "PhysicalSizeY"), unit_name(pixels.get("PhysicalSizeYUnit", "µm"))
    else:
        y, y_unit = x, unit
    if unit is None or y_unit is None:
        return None
    if y_unit != unit:
        if unit not in METRES or y_unit not in METRES:
            return None
        y *= METRES[y_unit] / METRES[unit]
    return _valid(PixelSize(y, x, unit))


def _ome_number(pixels: dict[str, str], name: str, default: str | None = None) -> float:
    """An OME ``Pixels`` attribute (``default`` when absent) as a number, or one line saying it is damaged."""
    try:
        return float(pixels.get(name, default))
    except ValueError:
        raise ImageInputError(
            f"the file's OME metadata gives {name}={pixels[name]!r}, not a number; "
            "fix the metadata (Fiji: Image > Properties) or re-save the file"
        ) from None


#: Plain TIFF resolution units read as a pixel size, in µm; inches are left out: image programs write
#: 72 or 300 pixels per inch into files that have no physical size.
_RESOLUTION_UM = {"CENTIMETER": 1e4, "MILLIMETER": 1e3, "MICROMETER": 1.0}


def _plain_tiff_pixel_size(page: Any) -> PixelSize | None:
    """A plain TIFF's pixel size from its first page's resolution tags in cm, mm or µm (as napari-singan
    writes them)."""
    try:
        per_um = _RESOLUTION_UM.get(page.resolutionunit.name)
        x_res, y_res = page.resolution
    except Exception:  # no or odd tags: uncalibrated
        return None
    if per_um is None or not (x_res > 0 and y_res > 0):
        return None
    return _valid(PixelSize(per_um / y_res, per_um / x_res, "µm"))


def _imagej_pixel_size(page: Any, meta: dict[str, Any]) -> PixelSize | None:
    """ImageJ: 1 / the resolution tags of the first page, in the description's unit (None when uncalibrated)."""
    unit = unit_name(meta.get("unit"))
    if unit is None or "XResolution" not in page.tags:
        return None
    x_res, y_res = page.resolution
    return _valid(PixelSize(1 / y_res, 1 / x_res, unit)) if x_res > 0 and y_res > 0 else None


def _valid(size: PixelSize) -> PixelSize | None:
    return size if all(math.isfinite(v) and v > 0 for v in (size.y, size.x)) else None


def check_region(region: tuple[int, int, int, int], hw: tuple[int, int], min_size: int = 1) -> None:
    """Refuse a ``(y, x, height, width)`` region outside an ``hw`` image or smaller than ``min_size``.

    Raises
    ------
    ImageInputError
        One line saying what the region needs.
    """
    y, x, h, w = (int(v) for v in region)
    height, width = hw
    if min(h, w) < min_size:
        raise ImageInputError(
            f"the crop is {h}x{w} px, smaller than the coarsest scale ({min_size} px): "
            f"crop at least {min_size}x{min_size}"
        )
    if y < 0 or x < 0 or y + h > height or x + w > width:
        raise ImageInputError(
            f"the crop {h}x{w} at y={y}, x={x} is not inside the {height}x{width} image: "
            f"it needs 0 <= y, y + height <= {height}, 0 <= x and x + width <= {width}"
        )


def crop_region(
    array: np.ndarray, region: tuple[int, int, int, int], channel_axis: int | None = None, min_size: int = 1
) -> np.ndarray:
    """The part of an image inside ``region``, with its channels kept where they were.

    Parameters
    ----------
    array
        A 2-D image, RGB(A), or 3-D with ``channel_axis`` (as for training).
    region
        ``(y, x, height, width)`` in pixels, from the top left corner.
    channel_axis
        Axis of the channels, or None for napari's grayscale/RGB rule.
    min_size
        The smallest height and width accepted (e.g. the coarsest scale's).

    Returns
    -------
    numpy.ndarray
        A copy of the region (so a large source can be freed).

    Raises
    ------
    ImageInputError
        If the region is not inside the image or smaller than ``min_size``.
    """
    y, x, h, w = (int(v) for v in region)
    hwc, axis = channels_last(array, channel_axis)
    check_region(region, hwc.shape[:2], min_size)
    part = hwc[y : y + h, x : x + w].copy()
    return part[..., 0] if axis is None and np.ndim(array) == 2 else np.moveaxis(part, -1, axis)


def native_max_size(array: np.ndarray, channel_axis: int | None = None) -> int:
    """The ``max_size`` that trains at an image's own pixel size: its long side.

    Parameters
    ----------
    array, channel_axis
        The training image, as for :func:`napari_singan.core.train`.

    Returns
    -------
    int
        The longer of its height and width; the finest scale is then the image itself.
    """
    hwc, _ = channels_last(array, channel_axis)
    return max(hwc.shape[:2])


@dataclass(frozen=True)
class TrainingInput:
    """A training image ready for :func:`napari_singan.core.train`, with its config and metadata."""

    image: np.ndarray
    channel_axis: int | None
    config: SinGANConfig
    metadata: dict[str, Any]
    labels: np.ndarray | None = None


def training_input(
    image: MicroscopyImage,
    config: SinGANConfig,
    source: str,
    *,
    channel_axis: int | None = None,
    crop: tuple[int, int, int, int] | None = None,
    native: bool = False,
    labels: np.ndarray | None = None,
) -> TrainingInput:
    """Crop an image (and its labels), resolve a native max size and describe the source.

    Parameters
    ----------
    image
        From :func:`read_microscopy` (or ``MicroscopyImage(array)``).
    config
        The training configuration; with ``native`` its max size is replaced, and
        with ``labels`` it becomes :meth:`~napari_singan.core.SinGANConfig.for_labels`.
    source
        Where the image came from (file path or ``sample:<name>``).
    channel_axis
        The caller's channel axis; None uses the one the metadata gave (another one is refused).
    crop
        ``(y, x, height, width)`` to train on, or None for the whole image.
    native
        Train at the image's own pixel size: max size = the (cropped) image's long side.
    labels
        The image's ``(H, W)`` label image, cropped alike.

    Returns
    -------
    TrainingInput
        Metadata: :func:`napari_singan.core.source_metadata` with the pixel
        size, plane, crop and native flag.

    Raises
    ------
    ImageInputError
        If ``channel_axis`` contradicts the metadata's, or the crop is not inside the image.
    """
    data = image.data
    axis = image.channel_axis if channel_axis is None else channel_axis
    if None not in (channel_axis, image.channel_axis) and channel_axis % data.ndim != image.channel_axis:
        raise ImageInputError(
            f"the file stores the channels of its {data.shape} image on axis {image.channel_axis}, "
            f"not {channel_axis}: leave out the channel axis, which the file gives"
        )
    if crop is not None:
        data = crop_region(data, crop, axis, config.pyramid.min_size)
        if labels is not None:
            labels = crop_region(labels, crop)
    if native:
        config = config.with_overrides(max_size=native_max_size(data, axis))
    metadata = source_metadata(
        source, note=image.note, pixel_size=image.pixel_size, plane=image.plane, crop=crop, native=native
    )
    if labels is not None:
        config = config.for_labels()  # what the model will train with, for the plan and the progress
    return TrainingInput(data, axis, config, metadata, labels)


def output_pixel_size(
    model: SinGANModel, native: tuple[int, int] | None = None, source_hw: tuple[int, int] | None = None
) -> PixelSize | None:
    """Physical pixel size of a model's outputs (None for a model trained without one).

    Parameters
    ----------
    model
        A model whose metadata has the source's ``pixel_size`` and ``unit``.
    native
        Size that ``source_hw`` of the source has in output pixels (default:
        the finest trained scale, as for samples).
    source_hw
        Size of the source region in source pixels (default: the training image's).

    Returns
    -------
    PixelSize or None
        ``source pixel size x source size / native size``.
    """
    pixel = PixelSize.from_metadata(model.metadata)
    if pixel is None:
        return None
    return pixel.scaled(
        source_hw or (model.spec.height, model.spec.width), native or model.trained_shapes[-1]
    )
