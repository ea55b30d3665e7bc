"""Dock widget: generate new images of any size from a trained model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, Container, FloatSpinBox, SpinBox
from napari.utils.notifications import show_error, show_info

from .._layers import output_layer_kwargs
from .._models import MODELS
from ..core import SampleProgress, generate
from ._common import ModelPicker, StartScale, TaskRunner

if TYPE_CHECKING:
    import napari
    from napari.layers import Image


class GenerateWidget(Container):
    """Generate a stack of samples ``(N, H, W[, C])`` as a new layer.

    Output size is given by factors of the training size (any aspect ratio)
    or in exact pixels. Start scale 0 draws everything from noise; a higher
    start scale keeps the training image's layout up to that scale.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._viewer = viewer
        self.picker = ModelPicker()
        self.num = SpinBox(label="samples", min=1, max=10_000, value=4)
        self.scale_h = FloatSpinBox(label="height ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.scale_w = FloatSpinBox(label="width ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.exact = CheckBox(text="exact size in pixels", value=False)
        self.out_height = SpinBox(label="height (px)", min=1, max=20_000, value=250, visible=False)
        self.out_width = SpinBox(label="width (px)", min=1, max=20_000, value=250, visible=False)
        self.start_scale = StartScale(self.picker)
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.runner = TaskRunner("Generate", self.start_generating)
        super().__init__(
            widgets=[
                self.picker,
                self.num,
                self.scale_h,
                self.scale_w,
                self.exact,
                self.out_height,
                self.out_width,
                self.start_scale,
                self.seed,
                self.runner,
            ]
        )
        self.output_layer: Image | None = None
        self.exact.changed.connect(self._toggle_exact)
        self.picker.combo.changed.connect(self._model_changed)
        self._model_changed()

    def _toggle_exact(self, exact: bool) -> None:
        self.out_height.visible = self.out_width.visible = exact
        self.scale_h.visible = self.scale_w.visible = not exact

    def _model_changed(self, _: Any = None) -> None:
        model = self.picker.model
        if model is not None:
            self.out_height.value, self.out_width.value = model.trained_shapes[-1]

    def start_generating(self) -> None:
        """Generate with the current settings (the Generate button)."""
        model = self.picker.model
        if model is None:
            show_error("No model: train one with 'SinGAN: Train' or load a .singan file first.")
            return
        size = (self.out_height.value, self.out_width.value) if self.exact.value else None
        work = generate(
            model,
            self.num.value,
            start_scale=self.start_scale.value,
            scale_h=self.scale_h.value,
            scale_w=self.scale_w.value,
            size=size,
            seed=self.seed.value,
        )
        name = self.picker.model_name
        self.runner.start(
            work,
            f"SinGAN samples from {name}",
            lambda e: e.done / e.total if isinstance(e, SampleProgress) else None,
            lambda stack: self._add_layer(name, stack),
            lambda: show_info("generation stopped; no layer added"),
        )

    def _add_layer(self, name: str, stack: np.ndarray | None) -> None:
        if stack is None:
            return
        kwargs = output_layer_kwargs(MODELS.get(name), leading=1)
        self.output_layer = self._viewer.add_image(
            stack, name=f"{name} samples", metadata={"singan_model": name}, **kwargs
        )
        self.runner.status.value = f"added {len(stack)} samples of {stack.shape[1:]} {stack.dtype}"
