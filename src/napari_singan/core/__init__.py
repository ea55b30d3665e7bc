"""Pure PyTorch/numpy SinGAN engine: no napari, Qt or magicgui imports.

Scripts, the CLI and the napari widgets all call these functions.
"""

from .config import DEFAULT_PRESET, PRESETS, ModelConfig, PyramidConfig, SinGANConfig, TrainConfig, preset
from .device import available_devices, resolve_device
from .errors import (
    OUT_OF_MEMORY_HINT,
    ConfigError,
    ImageInputError,
    MemoryEstimateError,
    ModelFileError,
    OutputPathError,
    SinGANError,
    SinGANNotice,
    TrainingError,
    is_out_of_memory,
)
from .events import ImageFinished, drain
from .images import ImageSpec, denormalize, normalize_like, prepare_image
from .persistence import load_model, save_model
from .pyramid import pyramid_shapes
from .sampling import SampleProgress, generate, sample, synthesize
from .singan import SinGANModel, source_metadata
from .training import Preview, Progress, ScaleFinished, ScaleStarted, TrainEvent, resume, train

__all__ = [
    "DEFAULT_PRESET",
    "OUT_OF_MEMORY_HINT",
    "PRESETS",
    "ConfigError",
    "ImageFinished",
    "ImageInputError",
    "ImageSpec",
    "MemoryEstimateError",
    "ModelConfig",
    "ModelFileError",
    "OutputPathError",
    "Preview",
    "Progress",
    "PyramidConfig",
    "SampleProgress",
    "ScaleFinished",
    "ScaleStarted",
    "SinGANConfig",
    "SinGANError",
    "SinGANModel",
    "SinGANNotice",
    "TrainConfig",
    "TrainEvent",
    "TrainingError",
    "available_devices",
    "denormalize",
    "drain",
    "generate",
    "is_out_of_memory",
    "load_model",
    "normalize_like",
    "prepare_image",
    "preset",
    "pyramid_shapes",
    "resolve_device",
    "resume",
    "sample",
    "save_model",
    "source_metadata",
    "synthesize",
    "train",
]
