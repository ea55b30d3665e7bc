"""Exceptions and warnings with messages meant for the person using the tool."""

from __future__ import annotations

import math
import numbers

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
    """A request needs more memory than the device has available (checked before any work).

    ``force_flag`` is the option that skips the check, as the message names it (None: none named).
    """

    def __init__(self, message: str, force_flag: str | None = None):
        super().__init__(message)
        self.force_flag = force_flag

    def naming(self, force_flag: str) -> MemoryEstimateError:
        """The same refusal naming ``force_flag`` (e.g. the CLI's ``--force``) as the option that skips it."""
        if self.force_flag is None:
            return self
        return MemoryEstimateError(str(self).replace(self.force_flag, force_flag), force_flag)


class TrainingError(SinGANError):
    """Training cannot go on: its losses stopped being finite numbers."""


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
        If ``value`` is not a number (a string, say), NaN, infinite or out of range.
    """
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    inside = low < value <= high if above else low <= value <= high
    if not (math.isfinite(value) and inside):
        bounds = [] if math.isinf(low) else [f"above {_shown(low)}" if above else f"at least {_shown(low)}"]
        bounds += [] if math.isinf(high) else [f"at most {_shown(high)}"]
        kind = "a number " + " and ".join(bounds) if bounds else "a finite number"
        raise ConfigError(f"{what} must be {kind}, got {value}")


def _scalar(value: object) -> object:
    """A 0-d numpy array or torch tensor as its Python number; anything else as it is."""
    return value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value


def _shown(bound: float) -> str:
    """A bound as a message writes it: whole numbers in full (seeds), others short."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def check_whole(what: str, value: float, low: float = 0.0, high: float = math.inf) -> int:
    """Refuse, in one line, a value that is not a whole number in ``[low, high]``; return it as an ``int``.

    numpy integers and whole floats (``3.0``) are accepted, so values computed
    in a notebook pass; ``2.5``, ``True`` or ``"3"`` are refused.

    Raises
    ------
    ConfigError
        Naming ``what`` and the value given.
    """
    value = _scalar(value)
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    check_number(what, int(value), low, high)
    return int(value)


#: Seeds are used as 64-bit unsigned integers (torch.Generator.manual_seed, numpy's SeedSequence).
MAX_SEED = 2**64 - 1


def check_seed(value: float, what: str = "the seed") -> int:
    """A seed as a Python ``int`` in ``[0, 2**64)``, or one line (:func:`check_whole`) saying why not."""
    seed = check_whole(what, value, 0)
    if seed > MAX_SEED:
        raise ConfigError(f"{what} must be below 2**64, got {seed}")
    return seed
