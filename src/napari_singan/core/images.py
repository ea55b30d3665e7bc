"""Arrays in, arrays out: channel layout, validation and an exact intensity round trip.

Normalisation choice: each channel is mapped linearly from its own
``[min, max]`` in the training image to ``[-1, 1]`` (the range of the
generator's tanh). Min/max rather than percentiles, so that no pixel of the
training image is clipped and the model reproduces the full intensity range;
outputs are clamped to that range and cast back to the input dtype (integers
are rounded), so a uint16 micrograph comes back as uint16 in its own range,
never squeezed through 8 bits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from .errors import ImageInputError, check_whole

#: dtypes an image may have (bool and complex are refused).
_KINDS = {"u": "unsigned integer", "i": "integer", "f": "float"}


@dataclass(frozen=True)
class ImageSpec:
    """What is needed to give outputs the training image's layout, dtype and range."""

    dtype: str  # numpy dtype name of the training image, e.g. "uint16"
    channel_axis: int | None  # axis of the channels in the input array; None for a 2-D grayscale image
    low: tuple[float, ...]  # per-channel minimum of the training image (maps to -1)
    high: tuple[float, ...]  # per-channel maximum of the training image (maps to +1)
    height: int  # spatial size of the training image as given
    width: int

    @property
    def channels(self) -> int:
        """Number of channels."""
        return len(self.low)

    @property
    def is_rgb(self) -> bool:
        """Channels-last with 3 or 4 channels: colour, as napari's ``rgb`` means it."""
        return self.channel_axis == 2 and self.channels in (3, 4)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the model file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "low": tuple(data["low"]), "high": tuple(data["high"])})


def channels_last(array: np.ndarray, channel_axis: int | None = None) -> tuple[np.ndarray, int | None]:
    """Return the image as ``(H, W, C)`` and the channel axis that was used.

    ``channel_axis=None`` means: 2-D arrays are grayscale, 3-D arrays whose last
    axis has 3 or 4 entries are RGB(A) (napari's rule); anything else needs an
    explicit ``channel_axis``.
    """
    given = array
    if np.ma.is_masked(array):  # np.asarray would drop the mask without a word
        raise ImageInputError(
            "the image is a masked array with masked pixels; SinGAN learns from every pixel: fill them "
            "(image.filled(value)) or crop to a region without them"
        )
    if isinstance(array, torch.Tensor):  # one that requires grad or lives on a GPU, too
        array = array.detach().cpu()
    try:
        array = np.asarray(array)
    except ValueError:  # ragged nested lists
        array = np.empty(0, object)
    if array.dtype.kind not in _KINDS:
        if array.dtype.kind == "b":
            remedy = "is a boolean mask; SinGAN needs an intensity image: train on the image it marks instead"
        elif array.dtype.kind == "c":
            remedy = f"is of dtype {array.dtype}; SinGAN needs an intensity image: give e.g. its magnitude"
        else:  # None, a path, ragged lists, objects
            remedy = (
                f"must be an array of pixel values (numpy, dask or a PIL image), got {type(given).__name__}; "
                "read an image file first with napari_singan.core.files.read_image"
            )
        raise ImageInputError(f"the image {remedy}")
    if channel_axis is None:
        if array.ndim == 2:
            return array[..., None], None
        if array.ndim == 3 and array.shape[-1] in (3, 4):
            return array, array.ndim - 1
        raise ImageInputError(
            f"the image has shape {array.shape}: SinGAN learns from ONE 2-D image. Give the "
            "channel axis (channel_axis= / --channel-axis) if one axis holds channels, or pick "
            "a single 2-D plane of a z-stack or time series."
        )
    channel_axis = check_whole("the channel axis", channel_axis, -math.inf)
    if not -array.ndim <= channel_axis < array.ndim:
        raise ImageInputError(
            f"channel axis {channel_axis} does not exist in an image of shape {array.shape}"
        )
    channel_axis %= array.ndim
    if array.ndim != 3:
        raise ImageInputError(
            f"with a channel axis the image must be 3-D (2 spatial axes + channels); got shape {array.shape}"
        )
    return np.moveaxis(array, channel_axis, -1), channel_axis


def validate_image(hwc: np.ndarray) -> None:
    """Raise :class:`ImageInputError` for images SinGAN cannot learn from."""
    height, width, _ = hwc.shape
    if min(height, width) < 2:
        raise ImageInputError(f"the image is {height}x{width} pixels: it is empty or too small to learn from")
    if hwc.dtype.kind == "f" and not np.isfinite(hwc).all():
        raise ImageInputError(
            "the image contains NaN or infinite values; replace them (e.g. numpy.nan_to_num) first"
        )
    low, high = hwc.min(), hwc.max()
    if low == high:
        raise ImageInputError("the image is constant: there is nothing to learn from it")
    if ((hwc == low) | (hwc == high)).all():  # of any dtype: a 0.0/1.0 float image is a mask too
        raise ImageInputError(
            "the image has only two values, like a binary mask or label image; "
            "train on an intensity image instead"
        )


def prepare_image(
    array: np.ndarray, channel_axis: int | None = None, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ImageSpec]:
    """Validate an image and normalise it for training.

    Parameters
    ----------
    array
        2-D grayscale, ``(H, W, 3|4)`` RGB(A), or any 3-D array with ``channel_axis``.
    channel_axis
        Axis holding the channels, or ``None`` for napari's grayscale/RGB rule.
    device
        Where the returned tensor lives.

    Returns
    -------
    tensor, spec
        ``(1, C, H, W)`` float32 tensor in ``[-1, 1]`` and the :class:`ImageSpec`
        that maps generated tensors back to the input's dtype and range.
    """
    hwc, axis = channels_last(array, channel_axis)
    validate_image(hwc)
    flat = hwc.reshape(-1, hwc.shape[-1])
    low = tuple(float(v) for v in flat.min(axis=0))
    high = tuple(float(v) for v in flat.max(axis=0))
    spec = ImageSpec(str(hwc.dtype), axis, low, high, hwc.shape[0], hwc.shape[1])
    return normalize(hwc, spec, device), spec


def normalize(hwc: np.ndarray, spec: ImageSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """Map an ``(H, W, C)`` array with ``spec``'s channels to a ``(1, C, H, W)`` tensor with its ranges,
    clamped to [-1, 1]."""
    low = np.asarray(spec.low, dtype=np.float64)
    span = np.asarray(spec.high, dtype=np.float64) - low
    span[span == 0] = 1.0  # a constant channel maps to -1 and comes back as its constant
    scaled = (hwc.astype(np.float64) - low) / span * 2.0 - 1.0
    tensor = torch.from_numpy(np.clip(scaled, -1.0, 1.0).astype(np.float32))
    return tensor.permute(2, 0, 1)[None].contiguous().to(device)


def like_model(array: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """:func:`channels_last` of another image laid out like a model's training image.

    3-D arrays hold channels where the model's image did; a grayscale model
    also reads ``(H, W, 1)`` as its 2-D plane.
    """
    if spec.channels == 1 and np.ndim(array) == 3 and np.shape(array)[-1] == 1:
        array = np.asarray(array)[..., 0]
    return channels_last(array, spec.channel_axis if np.ndim(array) == 3 else None)[0]


def conform_like(array: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Check another image (paint, composite, ...) against a trained model and lay it out ``(H, W, C)``.

    The image must have the training image's dtype (any float dtype for a
    float model), since its values are read in the training image's units, and
    its channels; a grayscale image is repeated into the channels of a colour model.
    """
    hwc = like_model(array, spec)
    if hwc.shape[-1] == 1 and spec.is_rgb:
        hwc = np.repeat(hwc, spec.channels, axis=-1)
    if min(hwc.shape[:2]) < 2:
        raise ImageInputError(f"the input image is {hwc.shape[0]}x{hwc.shape[1]} pixels: too small")
    if hwc.dtype.kind == "f" and not np.isfinite(hwc).all():
        raise ImageInputError("the input image contains NaN or infinite values")
    model = np.dtype(spec.dtype)
    if hwc.dtype != model and not (hwc.dtype.kind == model.kind == "f"):
        raise ImageInputError(
            f"the image is {hwc.dtype} but the model was trained on {model} images (values "
            f"{min(spec.low):g} to {max(spec.high):g}); give it as {model} in those units"
        )
    if hwc.shape[-1] != spec.channels:
        raise ImageInputError(
            f"the image has {hwc.shape[-1]} channel(s) but the model was trained on {spec.channels}"
        )
    return hwc


def normalize_like(array: np.ndarray, spec: ImageSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalise another image (paint, composite, ...) with a trained model's layout and ranges.

    :func:`conform_like` checks it first; the result is ``(1, C, H, W)`` on ``device``.
    """
    return normalize(conform_like(array, spec), spec, device)


def denormalize(batch: torch.Tensor, spec: ImageSpec) -> np.ndarray:
    """Map ``(N, C, H, W)`` generator output back to the training image's dtype and range.

    The result is ``(N, H, W)`` for grayscale, otherwise ``(N, ...)`` with the
    channels where the input had them (e.g. ``(N, H, W, 3)`` for RGB). Channels
    after the image's (labels, see :mod:`napari_singan.core.labels`) are left out.
    """
    array = (
        batch[:, : spec.channels]
        .detach()
        .clamp(-1.0, 1.0)
        .permute(0, 2, 3, 1)
        .to("cpu", torch.float64)
        .numpy()
    )
    low = np.asarray(spec.low)
    high = np.asarray(spec.high)
    values = low + (array + 1.0) / 2.0 * (high - low)
    dtype = np.dtype(spec.dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    values = values.astype(dtype)
    if spec.channel_axis is None:
        return values[..., 0]
    return np.moveaxis(values, -1, spec.channel_axis + 1)
