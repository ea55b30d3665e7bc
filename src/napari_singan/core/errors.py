"""Exceptions and warnings with messages meant for the person using the tool."""

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
