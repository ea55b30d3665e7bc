"""napari-singan: learn a generative model from one image (SinGAN) and use it in napari.

The core API (``train``, ``generate``, ``load_model``, ...) is re-exported here
lazily, so importing the package (as napari does at start-up) does not import torch.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-singan")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"


def __getattr__(name: str):
    core = import_module("napari_singan.core")
    if name == "__all__":  # what `from napari_singan import *` imports
        return list(core.__all__)
    if name in core.__all__:
        return getattr(core, name)
    raise AttributeError(f"module 'napari_singan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *import_module("napari_singan.core").__all__])
