"""Dock widgets for SinGAN's applications (paper §4): one per application, on ``application.ApplicationWidget``.

Each runs the application's core generator in a thread worker (progress,
Stop) and adds its result as a new layer named after the application and the
input, in the input's dtype, placed to overlay the input in world coordinates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, FloatSpinBox, PushButton, SpinBox, Widget
from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_error, show_info

from .._napari.layers import check_not_shown, mask_on, output_layer_kwargs
from .._napari.models import MODELS
from ..apps import (
    animate,
    edit,
    editing,
    harmonization,
    harmonize,
    paint_to_image,
    save_animation,
    super_resolve,
)
from ..apps.animation import VIDEO_FPS
from ..apps.shared import model_scale_shape
from ..apps.super_resolution import BACK_PROJECTION, check_super_resolution
from ..core.files import ANIMATION_SUFFIXES, check_output_path
from .application import ApplicationWidget, Input
from .controls import layer_picker, write_file

if TYPE_CHECKING:
    import napari

    from ..core import SinGANModel


class SuperResolutionWidget(ApplicationWidget):
    """Upscale an image layer (default: the model's training image) by any factor (§4.1)."""

    title = "super-resolution"
    lowest_start = None

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.image = layer_picker(viewer, "image (empty: training image)", Image, nullable=True)
        self.factor = FloatSpinBox(label="factor", min=1.05, max=16.0, step=0.25, value=4.0)
        self.back_projection = SpinBox(
            label="back-projection passes",
            min=0,
            max=100,
            value=BACK_PROJECTION,
            tooltip="after each upscaling step, correct the output this many times towards agreeing, shrunk, "
            "with the input (0: the paper's steps, which drift from it)",
        )
        super().__init__(viewer, [self.image, self.factor, self.back_projection])
        self.image.value = None

    def work(self, model: SinGANModel):
        s, passes = self.factor.value, self.back_projection.value
        if self.image.value is None:
            h, w = model.shapes[-1]
            native = (round(s * h), round(s * w))
            check_super_resolution(model, native)
            kwargs = output_layer_kwargs(model, leading=0, native=native)
            work = super_resolve(model, None, s, back_projection=passes, seed=self.seed.value, force=True)
            return work, f"SR ×{s:g}", kwargs
        src = self.input_of(self.image.value, "an image layer", model)
        native = (round(s * src.hw[0]), round(s * src.hw[1]))
        check_super_resolution(model, native)
        return (
            super_resolve(model, src.image, s, back_projection=passes, seed=self.seed.value, force=True),
            f"SR ×{s:g} {src.layer.name}",
            self.overlay(src, native),
        )


class PaintWidget(ApplicationWidget):
    """Turn a paint / clip-art layer into a realistic image (§4.2)."""

    title = "paint-to-image"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.paint = layer_picker(viewer, "paint", Image)
        self.num = SpinBox(label="outputs", min=1, max=100, value=1)
        self.colors = SpinBox(label="quantize to colours (0: off)", min=0, max=32, value=0)
        self.tune_iters = SpinBox(label="retrain on quantized colours (iterations, 0: off)", max=10_000)
        super().__init__(viewer, [self.paint, self.num, self.colors, self.tune_iters])

    def work(self, model: SinGANModel):
        src = self.input_of(self.paint.value, "a paint layer", model)
        native = model_scale_shape(model, src.hw)
        self.check_fits(model, native, self.num.value, self.num.value)
        work = paint_to_image(
            model,
            src.image,
            self.start_scale.value,
            num_samples=self.num.value,
            quantize_colors=self.colors.value,
            fine_tune_iters=self.tune_iters.value,
            seed=self.seed.value,
            force=True,  # check_fits above
        )
        return work, f"paint-to-image {src.layer.name}", self.overlay(src, native, leading=1)


class _MaskedWidget(ApplicationWidget):
    """Shared by harmonization and editing: an image, a mask layer, dilation and feathering.

    Subclasses set ``app`` (the application's module, for its defaults) and
    ``verb`` (the output layer's name prefix), and define ``apply``.
    """

    app: Any = None
    verb = ""

    def __init__(self, viewer: napari.viewer.Viewer, extra: list[Widget] | None = None) -> None:
        self.image = layer_picker(viewer, "image", Image)
        self.mask = layer_picker(viewer, "mask (labels or shapes)", (Labels, Shapes))
        # In the model's pixels, scaled to the image: the same blend whatever the image's size.
        model_px = "px of the model's working size, scaled to the image"
        self.radius = FloatSpinBox(
            label="dilation radius (model px)", min=0.0, max=200.0, value=self.app.RADIUS, tooltip=model_px
        )
        self.sigma = FloatSpinBox(
            label="feathering sigma (model px)", min=0.0, max=100.0, value=self.app.SIGMA, tooltip=model_px
        )
        super().__init__(viewer, [self.image, self.mask, self.radius, self.sigma, *(extra or [])])

    def inputs(self, model: SinGANModel) -> tuple[Input, np.ndarray]:
        """The image input and a 2-D mask on its pixel grid, placed through world coordinates (Labels: the
        displayed slice; Shapes: rasterised)."""
        src = self.input_of(self.image.value, "an image layer", model)
        layer = self.mask.value
        if layer is None:
            raise ValueError("choose a mask layer first: a Labels or Shapes layer marking the region")
        if isinstance(layer, Shapes) and not len(layer.data):
            raise ValueError(f"the shapes layer {layer.name!r} is empty: draw the region first")
        return src, mask_on(layer, src.layer, src.hw, self._viewer.dims.point)

    def work(self, model: SinGANModel):
        src, mask = self.inputs(model)
        self.check_fits(model, model_scale_shape(model, src.hw))
        blend = dict(radius=self.radius.value, sigma=self.sigma.value, seed=self.seed.value, force=True)
        work = self.apply(model, src.image, mask, self.start_scale.value, **blend)
        return work, f"{self.verb} {src.layer.name}", self.overlay(src, src.hw)


class HarmonizeWidget(_MaskedWidget):
    """Make an object pasted into an image match it (§4.3), optionally fine-tuning first."""

    title = "harmonization"
    app = harmonization
    verb = "harmonized"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.fine_tune = CheckBox(text="fine-tune the finest scale on the composite first", value=False)
        self.tune_iters = SpinBox(label="fine-tuning iterations", min=1, max=10_000, value=300)
        super().__init__(viewer, [self.fine_tune, self.tune_iters])

    def apply(self, model: SinGANModel, image: np.ndarray, mask: np.ndarray, start_scale: int, **blend):
        """:func:`~napari_singan.apps.harmonize`, fine-tuning first if asked."""
        iters = self.tune_iters.value if self.fine_tune.value else 0
        return harmonize(model, image, mask, start_scale, fine_tune_iters=iters, **blend)


class EditWidget(_MaskedWidget):
    """Blend an edited region into the image (§4.4)."""

    title = "editing"
    app = editing
    verb = "edited"

    def apply(self, model: SinGANModel, image: np.ndarray, mask: np.ndarray, start_scale: int, **blend):
        """:func:`~napari_singan.apps.edit`."""
        return edit(model, image, mask, start_scale, **blend)


class AnimateWidget(ApplicationWidget):
    """Render a smooth random walk around the training image (§4.5) as a (T, H, W[, C]) layer."""

    title = "animation"
    lowest_start = 0

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.frames = SpinBox(label="frames", min=2, max=2000, value=50)
        self.fps = FloatSpinBox(  # the export checks the file format's own range
            label="fps",
            min=min(low for low, _ in VIDEO_FPS.values()),
            max=max(high for _, high in VIDEO_FPS.values()),
            value=10.0,
            step=0.5,
            tooltip="frames per second of an exported GIF (0.01-50) or MP4 (0.01-240)",
        )
        self.alpha = FloatSpinBox(label="alpha (pull to z*)", min=0.0, max=1.0, step=0.01, value=0.1)
        self.beta = FloatSpinBox(label="beta (momentum)", min=0.0, max=1.0, step=0.01, value=0.9)
        self.export_button = PushButton(text="Export GIF / MP4 / TIFF…")
        super().__init__(viewer, [self.frames, self.fps, self.alpha, self.beta])
        self.append(self.export_button)
        self.export_button.changed.connect(self._ask_export)

    def work(self, model: SinGANModel):
        self.check_fits(model, model.trained_shapes[-1], outputs=self.frames.value)
        work = animate(
            model,
            self.frames.value,
            start_scale=self.start_scale.value,
            alpha=self.alpha.value,
            beta=self.beta.value,
            seed=self.seed.value,
            force=True,  # check_fits above
        )
        return work, f"animation {self.picker.model_name}", output_layer_kwargs(model, leading=1)

    def _add(self, data: np.ndarray | None, name: str, kwargs: dict[str, Any]) -> None:
        super()._add(data, name, kwargs)
        if data is not None:
            self._viewer.dims.set_current_step(0, 0)

    def export(self, path: str) -> None:
        """Write the last animation (GIF/MP4 as 8-bit video at the chosen fps, TIFF in its dtype)."""
        layer = self.output_layer
        name = None if layer is None else layer.metadata.get("singan_model")
        if layer is None or layer not in self._viewer.layers or name not in MODELS:
            show_error("nothing to export: run the animation first")
            return

        def export() -> Path:
            check_output_path(path, ANIMATION_SUFFIXES)
            check_not_shown(self._viewer, path)
            return save_animation(path, np.asarray(layer.data), self.fps.value, MODELS.get(name))

        written = write_file(export, path)
        if written is not None:
            show_info(f"animation written to {written}")

    def _ask_export(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(
            self.native, "Export animation", "animation.gif", "GIF (*.gif);;MP4 (*.mp4);;TIFF stack (*.tif)"
        )
        if path:
            self.export(path)
