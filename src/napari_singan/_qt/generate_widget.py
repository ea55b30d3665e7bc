"""Dock widget: generate new images of any size from a trained model."""

from __future__ import annotations

import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)
from napari.utils.notifications import show_info

from .._napari.large import tiled_into_file
from .._napari.layers import FILE_KEY, check_not_shown, labels_layer_kwargs, output_layer_kwargs
from .._napari.models import file_stem
from ..apps.augment import augment
from ..core import SampleProgress, SinGANError, generate, resolve_device
from ..core.config import MaskSource
from ..core.errors import MemoryEstimateError
from ..core.events import MaskNetProgress
from ..core.files import TIFF_SUFFIXES, check_output_path
from ..core.masknet import fit_mask_net
from ..core.memory import check_memory, sampling_bytes, tiled_bytes
from ..core.sampling import check_variation, output_shapes, runnable_shapes
from ..metrics import QualityReport, measure_model, summary
from .application import ApplicationWidget, progress_fraction
from .controls import NO_MODEL

if TYPE_CHECKING:
    import napari
    import torch
    from napari.layers import Labels
    from torch import nn

    from ..core import SinGANModel


class GenerateWidget(ApplicationWidget):
    """Generate a stack of samples ``(N, H, W[, C])`` as a new layer.

    Output size is given by factors of the training size (any aspect ratio)
    or in exact pixels. Start scale 0 draws everything from noise; a higher
    start scale keeps the training image's layout up to that scale. A model
    trained with labels also gives a Labels layer ``(N, H, W)`` that overlays
    the samples, drawn from the images by a small net fit to the model's
    training pair (:mod:`napari_singan.core.masknet`; fit once per model,
    device and seed, and kept in an exported dataset) or, with "masks" set
    to "model", by the model itself.

    Samples that do not fit in memory, or any samples when a file is chosen
    under "write to file", are generated tile by tile into that BigTIFF (a
    temporary one without a choice) and open as a lazy, multiscale layer
    (:mod:`napari_singan.core.tiled`).

    "Measure quality" draws random samples at the training size, and "Export
    dataset" writes numbered image (and label) TIFFs with a manifest
    (:func:`napari_singan.apps.augment.augment`), both in the same worker slot
    (same progress bar and Stop).
    """

    title = "generation"
    run_text = "Generate"
    lowest_start = 0

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.num = SpinBox(label="samples", min=1, max=10_000, value=4)
        self.variation = FloatSpinBox(
            label="variation",
            min=0.0,
            max=1.0,
            step=0.05,
            value=1.0,
            tooltip="1: every sample a new layout. Towards 0: nearer the training image's layout, and the "
            "labels of a model trained with labels follow its images more closely (start scale 0, the "
            "model's own size).",
        )
        self.scale_h = FloatSpinBox(label="height ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.scale_w = FloatSpinBox(label="width ×", min=0.1, max=20.0, step=0.1, value=1.0)
        self.exact = CheckBox(text="exact size in pixels", value=False)
        self.out_height = SpinBox(label="height (px)", min=1, max=100_000, value=250, visible=False)
        self.out_width = SpinBox(label="width (px)", min=1, max=100_000, value=250, visible=False)
        self.output_file = FileEdit(
            label="write to file",
            mode="w",
            filter="*.tif",
            nullable=True,
            tooltip="Generate tile by tile into this BigTIFF and open it lazily: any size in bounded "
            "memory (variation 1 only). Left empty, samples too large for memory go to a temporary file.",
        )
        self.masks = ComboBox(
            label="masks",
            choices=get_args(MaskSource),
            value="redrawn",
            visible=False,
            tooltip="Labels of a model trained with labels. redrawn (the better masks where measured): a "
            "small net, fit first to the model's training image and labels (about 25 s on a CPU, once per "
            "model, device and seed), draws them from each image. model: drawn by the model with each image; "
            "keeps labels that only the surrounding tissue decides, which redrawn masks lose.",
        )
        super().__init__(
            viewer,
            [
                self.num,
                self.variation,
                self.scale_h,
                self.scale_w,
                self.exact,
                self.out_height,
                self.out_width,
                self.output_file,
                self.masks,
            ],
        )
        # the latest mask net fit for the Labels layer, and what it was fit for: (model chosen, device, seed)
        self._mask_net: tuple[tuple[SinGANModel, torch.device, int], nn.Module] | None = None
        self.labels_layer: Labels | None = None  # the labels of the latest samples, if the model has labels
        self._labels_out: tuple[str, dict[str, Any]] | None = None  # name and placement of the next one
        self.quality_samples = SpinBox(label="quality samples", min=2, max=1000, value=25)
        self.measure_button = PushButton(text="Measure quality")
        self.quality = Label(value="")
        self.quality.native.setWordWrap(True)
        self.append(Container(widgets=[self.quality_samples, self.measure_button], layout="horizontal"))
        self.append(self.quality)
        self.export_folder = FileEdit(label="dataset folder", mode="d", nullable=True)
        self.export_num = SpinBox(label="dataset samples", min=1, max=1_000_000, value=200)
        self.export_button = PushButton(
            text="Export dataset",
            tooltip="Write numbered image (and label) TIFFs and manifest.json to the folder, at the size, "
            "start scale, variation and seed above. Exporting again into the same folder with the same settings "
            "continues an interrupted export or extends it.",
        )
        self.append(self.export_folder)
        self.append(Container(widgets=[self.export_num, self.export_button], layout="horizontal"))
        self.report: QualityReport | None = None
        self.measure_button.changed.connect(self.measure)
        self.export_button.changed.connect(self.export)
        self.exact.changed.connect(self._toggle_exact)
        self.picker.combo.changed.connect(self._model_changed)
        self._model_changed()

    def _toggle_exact(self, exact: bool) -> None:
        self.out_height.visible = self.out_width.visible = exact
        self.scale_h.visible = self.scale_w.visible = not exact

    def _model_changed(self, _: Any = None) -> None:
        model = self.picker.model
        self.masks.visible = model is not None and model.labels is not None
        if model is not None:
            self.out_height.value, self.out_width.value = model.trained_shapes[-1]

    def _size(self) -> tuple[int, int] | None:
        """The exact output size, or ``None`` for factors of the training size."""
        return (self.out_height.value, self.out_width.value) if self.exact.value else None

    def work(self, model: SinGANModel):
        paired = model.labels is not None
        size = self._size()
        name = self.picker.model_name
        target = _chosen(self.output_file)
        shapes = runnable_shapes(model, self.start_scale.value, self.scale_h.value, self.scale_w.value, size)
        check_variation(model, self.variation.value, self.start_scale.value, shapes)
        whole = sampling_bytes(model, self.num.value, self.scale_h.value, self.scale_w.value, size)
        if target is None:
            try:
                check_memory(whole, model.device)
            except MemoryEstimateError:
                if paired:
                    raise
                return self._tiled(model, None, shapes[-1], name)
        else:
            return self._tiled(model, target, shapes[-1], name)
        settings = {
            "num_samples": self.num.value,
            "start_scale": self.start_scale.value,
            "scale_h": self.scale_h.value,
            "scale_w": self.scale_w.value,
            "size": size,
            "seed": self.seed.value,
            "with_labels": paired,
            "variation": self.variation.value,
            "force": True,  # checked above
        }
        redraw = paired and self.masks.value == "redrawn"
        work = self._redrawn(model, settings) if redraw else generate(model, **settings)
        # Only one task runs at a time, so the labels of this run are the next ones added.
        self._labels_out = (f"{name} labels", labels_layer_kwargs(model, leading=1)) if paired else None
        return work, f"{name} samples", output_layer_kwargs(model, leading=1)

    def _fitted(self, model: SinGANModel, seed: int) -> nn.Module | None:
        """The latest mask net fit, if it was fit for the chosen model, ``model``'s device and ``seed``."""
        cached = self._mask_net
        if cached is None:
            return None
        (chosen, device, fit_seed), net = cached
        return net if chosen is self.picker.model and (device, fit_seed) == (model.device, seed) else None

    def _redrawn(self, model: SinGANModel, settings: dict[str, Any]) -> Generator[Any, None, Any]:
        """:func:`generate` with ``settings``, the labels drawn by the mask net of the chosen model, device
        and seed: fit first, unless it is the latest one fit (``model`` is the chosen one on the device)."""
        net = self._fitted(model, settings["seed"])
        if net is None:
            net = yield from fit_mask_net(model, seed=settings["seed"])
            self._mask_net = ((self.picker.model, model.device, settings["seed"]), net)
        return (yield from generate(model, mask_net=net, **settings))

    def _tiled(self, model: SinGANModel, target: Path | None, size: tuple[int, int], name: str):
        """Work, layer name and layer arguments of a tiled generation into ``target`` (None: a temporary file)."""
        if model.labels is not None:
            raise SinGANError(
                "samples with labels are generated in memory only: leave 'write to file' empty and "
                "choose a size that fits"
            )
        if self.variation.value != 1:
            raise SinGANError(
                "samples written to a file, or too large for memory, draw every layout afresh: clear "
                "'write to file' and ask for fewer samples, or set variation to 1"
            )
        if target is not None:
            check_output_path(target, TIFF_SUFFIXES)
            check_not_shown(self._viewer, target)
        check_memory(tiled_bytes(model, size, self.num.value), "cpu")  # the image-sized maps stay on the host
        if target is None:
            target = Path(tempfile.mkdtemp(prefix="napari-singan-")) / f"{file_stem(name)} samples.tif"
            show_info(f"these samples do not fit in memory: writing them tile by tile to {target}")
        work = tiled_into_file(
            model, target, size, self.num.value, start_scale=self.start_scale.value, seed=self.seed.value
        )
        self._labels_out = None
        kwargs = {**output_layer_kwargs(model, leading=1), "metadata": {FILE_KEY: str(target)}}
        return work, f"{name} samples", kwargs

    def _add(self, data: Any, name: str, kwargs: dict[str, Any]) -> None:
        if isinstance(data, list):  # levels of a file written tile by tile
            self.labels_layer = None
            multiscale = len(data) > 1
            layer_data = data if multiscale else data[0]
            self.output_layer = self._viewer.add_image(layer_data, name=name, multiscale=multiscale, **kwargs)
            self.runner.status.value = f"added {name!r}: {data[0].shape} {data[0].dtype}, read from its file"
            return
        if not isinstance(data, tuple):  # a model without labels, or failed (None)
            if data is not None:
                self.labels_layer = None
            super()._add(data, name, kwargs)
            return
        images, labels = data
        super()._add(images, name, kwargs)
        labels_name, placement = self._labels_out
        if labels.dtype.kind == "b":  # a boolean mask from the command line; napari wants integers
            labels = labels.astype(np.uint8)
        self.labels_layer = self._viewer.add_labels(
            labels, name=labels_name, metadata=dict(kwargs.get("metadata", {})), **placement
        )
        self.runner.status.value = f"added {name!r} {images.shape} {images.dtype} and {labels_name!r}"

    def measure(self) -> None:
        """Measure the chosen model's sample quality in a worker (the Measure quality button)."""
        model = self.picker.model
        if model is None:
            self.runner.refuse(NO_MODEL)
            return
        if self.runner.is_running:
            show_info("Wait for the running task to finish (or Stop it) before measuring.")
            return
        self.quality.value = ""
        try:
            device = resolve_device(self.device.value)
            check_memory(sampling_bytes(model, self.quality_samples.value), device)
        except SinGANError as exc:
            self.runner.refuse(str(exc))
            return
        work = measure_model(
            model.to(device),
            self.quality_samples.value,
            seed=self.seed.value,
            force=True,  # checked above
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

    def export(self) -> None:
        """Write a dataset of ``export_num`` samples to ``export_folder`` in a worker (Export dataset)."""
        model = self.picker.model
        if model is None:
            self.runner.refuse(NO_MODEL)
            return
        if self.runner.is_running:
            show_info("Wait for the running task to finish (or Stop it) before exporting.")
            return
        folder = _chosen(self.export_folder)
        if folder is None:
            self.runner.refuse(
                "Choose a dataset folder first (an empty folder, or one to continue exporting into)."
            )
            return
        total = self.export_num.value
        try:
            size = self._size()
            if size is None and (self.scale_h.value, self.scale_w.value) != (1.0, 1.0):
                size = output_shapes(model, self.scale_h.value, self.scale_w.value)[-1]
            shapes = runnable_shapes(model, self.start_scale.value, size=size)
            check_variation(model, self.variation.value, self.start_scale.value, shapes)
            device = resolve_device(self.device.value)
            check_memory(sampling_bytes(model, 1, size=size), device)  # one pair at a time
            redraw = model.labels is not None and self.masks.value == "redrawn"
            on_device = model.to(device)
            work = augment(
                on_device,
                total,
                folder,
                size=size,
                start_scale=self.start_scale.value,
                variation=self.variation.value,
                seed=self.seed.value,
                masks=self.masks.value if model.labels is not None else None,
                mask_net=self._fitted(on_device, self.seed.value) if redraw else None,  # the samples' net
                force=True,  # checked above
            )
        except (ValueError, SinGANError) as exc:  # an unusable device, a size too small
            self.runner.refuse(str(exc))
            return
        what = "image/label pairs" if model.labels is not None else "images"
        done = [0]

        def on_event(event: Any) -> float | None:
            if isinstance(event, SampleProgress):
                done[0] = event.done
                self.runner.status.value = f"dataset: {event.done}/{event.total} {what} in {folder}"
            elif isinstance(event, MaskNetProgress):
                self.runner.status.value = f"dataset: fitting the mask net, step {event.step}/{event.steps}"
            return progress_fraction(event)

        def on_returned(manifest: Path | None) -> None:
            if manifest is None:  # failed: the Failed event was already shown
                return
            self.runner.status.value = f"dataset: {total} {what} and {manifest.name} in {folder}"
            show_info(f"exported {total} {what} to {folder}")

        def on_aborted() -> None:
            self.runner.status.value = f"export stopped at {done[0]}/{total} {what} in {folder}"
            show_info(
                f"export stopped at {done[0]} of {total} {what} in {folder}; "
                "Export dataset again with the same settings to continue"
            )

        self.runner.start(work, "SinGAN dataset export", on_event, on_returned, on_aborted)


def _chosen(edit: FileEdit) -> Path | None:
    """The path chosen in a nullable file field, or None when it is empty."""
    value = edit.value
    return None if value is None or str(value) in ("", ".") else Path(value)
