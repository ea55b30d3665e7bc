"""ApplicationWidget: the base of the Generate widget and of every application widget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from magicgui.widgets import Container, SpinBox, Widget
from napari.layers import Image
from napari.utils.notifications import show_info

from .._napari.layers import layer_image, layer_metadata, look, model_channel_axis, placement, spatial_hw
from ..core import Progress, SampleProgress, SinGANError, resolve_device
from ..core.events import MaskNetProgress, TileProgress
from ..core.memory import check_memory, generation_bytes
from .controls import NO_MODEL, ModelPicker, StartScale, TaskRunner, device_picker

if TYPE_CHECKING:
    import napari

    from ..core import SinGANModel


class ApplicationWidget(Container):
    """Model picker, application inputs, start scale, seed, device and a Run/Stop row.

    Subclasses set ``title`` and ``lowest_start`` (``None``: no start scale),
    pass their own input widgets, and define ``work(model)`` returning the
    core generator, the output layer's name and its ``add_image`` arguments.
    ``work`` receives the chosen model moved to the chosen device, and checks
    its inputs and estimated memory (:meth:`check_fits`) before returning.
    """

    title = ""
    run_text = "Run"
    lowest_start: int | None = 1

    def __init__(self, viewer: napari.viewer.Viewer, inputs: list[Widget]) -> None:
        self._viewer = viewer
        self.device = device_picker()
        self.picker = ModelPicker(self.device)
        self.start_scale = StartScale(self.picker, self.lowest_start or 0)
        self.start_scale.visible = self.lowest_start is not None
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.runner = TaskRunner(self.run_text, self.run)
        self.output_layer: Image | None = None
        super().__init__(
            widgets=[self.picker, *inputs, self.start_scale, self.seed, self.device, self.runner]
        )
        self.runner.stop_when_undocked(self.native)

    def run(self) -> None:
        """Start the application (the Run button)."""
        model = self.picker.model
        if model is None:
            self.runner.refuse(NO_MODEL)
            return
        try:
            work, name, kwargs = self.work(model.to(resolve_device(self.device.value)))
        except (ValueError, SinGANError) as exc:  # a missing input layer, an unusable device
            self.runner.refuse(str(exc))
            return
        kwargs["metadata"] = {**kwargs.get("metadata", {}), "singan_model": self.picker.model_name}
        self.runner.start(
            work,
            f"SinGAN {self.title}",
            progress_fraction,
            lambda out: self._add(out, name, kwargs),
            lambda: show_info(f"{self.title} stopped; no layer added"),
        )

    def _add(self, data: np.ndarray | None, name: str, kwargs: dict[str, Any]) -> None:
        if data is None:
            return
        self.output_layer = self._viewer.add_image(data, name=name, **kwargs)
        self.runner.status.value = (
            f"added {self.output_layer.name!r}: {data.shape} {data.dtype}"  # napari's name
        )

    def check_fits(self, model: SinGANModel, size: tuple[int, int], batch: int = 1, outputs: int = 1) -> None:
        """Refuse, before any work, outputs of ``size`` px at the model's resolution estimated not to fit in
        the memory of the model's device (:func:`~napari_singan.core.memory.generation_bytes`)."""
        check_memory(generation_bytes(model, size, batch, outputs), model.device)

    def input_of(self, layer: Any, what: str, model: SinGANModel) -> Input:
        """The displayed 2-D slice of an image layer, with channels laid out as the model's."""
        if layer is None:
            raise ValueError(f"choose {what} first (add one to the viewer if the list is empty)")
        image, axis, _ = layer_image(layer, self._viewer.dims.point, model_channel_axis(layer, model))
        return Input(layer, image, spatial_hw(image, axis), axis)

    def overlay(self, src: Input, native: tuple[int, int], leading: int = 0) -> dict[str, Any]:
        """Placement and display settings that overlay an output of ``native`` size on the input."""
        meta = layer_metadata(src.layer)
        return {
            **placement(meta, src.hw, native, src.axis, src.layer.rgb, leading),
            **look(meta, src.layer.rgb),
        }


class Input(NamedTuple):
    """An application's input image layer, as the model sees it."""

    layer: Image  # the input layer
    image: np.ndarray  # its displayed slice, channels as the model's
    hw: tuple[int, int]  # spatial size
    axis: int | None  # channel axis of ``image``


def progress_fraction(event: Any) -> float | None:
    """Fraction done of an application's (or a quality measurement's) event, ``None`` if it has none."""
    if isinstance(event, (SampleProgress, TileProgress, MaskNetProgress)):
        return event.fraction
    if isinstance(event, Progress):  # fine-tuning before harmonization
        return event.iteration / event.iters
    return None
