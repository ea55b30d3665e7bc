"""Dock widget: generate new images of any size from a trained model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, Container, FloatSpinBox, Label, PushButton, SpinBox
from napari.utils.notifications import show_error, show_info

from .._napari.layers import output_layer_kwargs
from ..core import generate, resolve_device
from ..metrics import QualityReport, measure_model, summary
from .application import ApplicationWidget, progress_fraction

if TYPE_CHECKING:
    import napari

    from ..core import SinGANModel


class GenerateWidget(ApplicationWidget):
    """Generate a stack of samples ``(N, H, W[, C])`` as a new layer.

    Output size is given by factors of the training size (any aspect ratio)
    or in exact pixels. Start scale 0 draws everything from noise; a higher
    start scale keeps the training image's layout up to that scale.

    "Measure quality" draws random samples at the training size in the same
    worker slot (same progress bar and Stop) and shows the
    :mod:`napari_singan.metrics` numbers below the button.
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
        self.quality_samples = SpinBox(label="quality samples", min=2, max=1000, value=25)
        self.measure_button = PushButton(text="Measure quality")
        self.quality = Label(value="")
        self.quality.native.setWordWrap(True)
        self.append(Container(widgets=[self.quality_samples, self.measure_button], layout="horizontal"))
        self.append(self.quality)
        self.report: QualityReport | None = None
        self.measure_button.changed.connect(self.measure)
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

    def measure(self) -> None:
        """Measure the chosen model's sample quality in a worker (the Measure quality button)."""
        model = self.picker.model
        if model is None:
            show_error("No model: train one with 'SinGAN: Train' or load a .singan file first.")
            return
        if self.runner.is_running:
            show_info("Wait for the running task to finish (or Stop it) before measuring.")
            return
        self.quality.value = ""
        work = measure_model(
            model.to(resolve_device(self.device.value)), self.quality_samples.value, seed=self.seed.value
        )
        self.runner.start(
            work,
            "SinGAN quality",
            progress_fraction,
            self._show_report,
            lambda: show_info("quality measurement stopped"),
        )

    def _show_report(self, report: QualityReport | None) -> None:
        if report is None:
            return
        self.report = report
        self.quality.value = f"{self.picker.model_name}: {summary(report)}"
        self.runner.status.value = "quality measured"
