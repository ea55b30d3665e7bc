"""Exceptions with messages meant for the person using the tool."""


class SinGANError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ImageInputError(SinGANError, ValueError):
    """The image cannot be used for training or as an input."""


class ModelFileError(SinGANError, OSError):
    """A model file is missing, damaged or not a napari-singan model."""
