"""Dock widget: generate new images of any size from a trained model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, FloatSpinBox, SpinBox

from .._napari.layers import output_layer_kwargs
from ..core import generate
from .application import ApplicationWidget

if TYPE_CHECKING:
    import napari

    from ..core import SinGANModel


class GenerateWidget(ApplicationWidget):
    """Generate a stack of samples ``(N, H, W[, C])`` as a new layer.

    Output size is given by factors of the training size (any aspect ratio)
    or in exact pixels. Start scale 0 draws everything from noise; a higher
    start scale keeps the training image's layout up to that scale.
    """

    title = "generation"
    run_text = "Generate"
    lowest_start = 0

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.num = SpinBox(label="samples", min=1, max=10_000, value=4)
        self.scale_h = FloatSpinBox(label="height ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.scale_w = FloatSpinBox(label="width ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.exact = CheckBox(text="exact size in pixels", value=False)
        self.out_height = SpinBox(label="height (px)", min=1, max=20_000, value=250, visible=False)
        self.out_width = SpinBox(label="width (px)", min=1, max=20_000, value=250, visible=False)
        super().__init__(
            viewer, [self.num, self.scale_h, self.scale_w, self.exact, self.out_height, self.out_width]
        )
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

    def work(self, model: SinGANModel):
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
        return work, f"{self.picker.model_name} samples", output_layer_kwargs(model, leading=1)
