"""Exceptions and warnings with messages meant for the person using the tool."""

import math

#: What to do when a device (or the host) runs out of memory; the CLI and the widgets both say this.
OUT_OF_MEMORY_HINT = (
    "the device ran out of memory: use a smaller max size or output size, fewer samples, or the CPU"
)


class SinGANError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ImageInputError(SinGANError, ValueError):
    """The image cannot be used for training or as an input."""


class ModelFileError(SinGANError, OSError):
    """A model file is missing, damaged or not a napari-singan model."""


class OutputPathError(SinGANError, OSError):
    """An output file cannot be written where or in the format asked for."""


class MemoryEstimateError(SinGANError):
    """A request needs more memory than the device has available (checked before any work)."""


class SinGANNotice(UserWarning):
    """Something the user should know about their input (e.g. it was resized)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means that memory ran out, on the host or on a device.

    Parameters
    ----------
    exc
        An exception raised by the work.

    Returns
    -------
    bool
        True for ``MemoryError``, torch's ``OutOfMemoryError`` (CUDA), and the
        ``RuntimeError`` s of the MPS backend and of the CPU allocator.
    """
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class ConfigError(SinGANError, ValueError):
    """A configuration value is out of its valid range."""


def check_number(
    what: str, value: float, low: float = 0.0, high: float = math.inf, above: bool = False
) -> None:
    """Refuse, in one line, a value that is not a finite number in ``[low, high]``.

    Parameters
    ----------
    what
        The option's name as the user knows it, e.g. "the upscaling factor".
    value
        The value given.
    low, high
        The allowed range.
    above
        Whether ``low`` itself is excluded.

    Raises
    ------
    ConfigError
        If ``value`` is NaN, infinite or out of range.
    """
    inside = low < value <= high if above else low <= value <= high
    if not (math.isfinite(value) and inside):
        bound = f"above {low:g}" if above else f"at least {low:g}"
        limit = "" if math.isinf(high) else f" and at most {high:g}"
        raise ConfigError(f"{what} must be a number {bound}{limit}, got {value}")
