"""SinGAN's applications (paper §4), one module each, all built on :func:`napari_singan.core.synthesize`.

Pure torch/numpy like the core: no napari or Qt imports.
"""

from .animation import animate, save_animation
from .editing import edit
from .harmonization import fine_tune, harmonize
from .paint_to_image import paint_to_image
from .super_resolution import super_resolve

__all__ = ["animate", "edit", "fine_tune", "harmonize", "paint_to_image", "save_animation", "super_resolve"]
