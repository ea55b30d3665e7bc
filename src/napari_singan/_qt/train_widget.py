"""Dock widget: train SinGAN on an image layer and watch the pyramid learn."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, SpinBox
from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_error, show_info

from .._napari.layers import (
    Region,
    channel_axis_choices,
    cropped_layer,
    layer_hw,
    layer_image,
    layer_metadata,
    layer_pixel_size,
    look,
    placement,
    shapes_region,
    source_layer,
    spatial_hw,
    view_region,
)
from .._napari.models import MODELS, timestamped
from ..core import (
    DEFAULT_PRESET,
    PRESETS,
    Preview,
    Progress,
    ScaleFinished,
    ScaleStarted,
    SinGANConfig,
    SinGANError,
    pyramid_shapes,
    resolve_device,
    resume,
    source_metadata,
    train,
)
from ..core.config import LabelEncoding, Precision
from ..core.events import training_steps
from ..core.microscopy import check_region, native_max_size
from ..core.plan import check_training_memory, training_plan
from ..core.training import training_layout
from .controls import TaskRunner, device_picker, layer_picker

if TYPE_CHECKING:
    import napari

    from ..core import SinGANModel


#: The "region" choices: the part of the layer's 2-D image to train on.
WHOLE, RECTANGLE, VIEW = "whole image", "shapes rectangle", "field of view"

#: What to do when a training run is refused for memory, in the widget's terms.
MEMORY_REMEDY = (
    "train on a smaller region (region: shapes rectangle or field of view), uncheck 'native pixel size' "
    "or lower the max size"
)


class _Source(NamedTuple):
    """The layer being trained on, as the preview needs it."""

    name: str
    hw: tuple[int, int]  # spatial size of the training array
    axis: int | None  # channel axis of the training array
    rgb: bool
    meta: dict[str, Any]  # layer_metadata of the source layer, moved onto the crop trained on


class TrainWidget(Container):
    """Train a model on the chosen image layer (default: the active one).

    Training runs in a thread worker: progress shows here and in the activity
    dock, a preview layer is updated in place (with a Labels layer of the
    preview's labels when training with labels), and Stop keeps every scale
    finished so far as a usable (resumable) model.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._viewer = viewer
        self.partial: SinGANModel | None = None  # latest finished scales of the running training
        self._schedule: tuple[int, ...] = ()  # iterations of each scale of the running training
        self.last_model_name: str | None = None
        self.preview_layer: Image | None = None
        self.preview_labels_layer: Labels | None = None  # the preview's labels, when training with labels
        self._source: _Source | None = None
        default = PRESETS[DEFAULT_PRESET]
        self.layer = ComboBox(label="image", choices=self._image_layers, nullable=True)
        self.channels = ComboBox(label="channels", choices=self._channel_choices)
        self.label_layer = layer_picker(viewer, "labels", Labels, nullable=True)
        self.label_layer.value = None
        self.label_layer.tooltip = (
            "Optional Labels layer annotating the image (same height and width): the model learns it "
            "too, and every sample comes with its label image."
        )
        self.label_mode = ComboBox(
            label="label mode",
            choices=["auto", "classes", "instances"],
            value="auto",
            visible=False,
            tooltip="classes: each label value is a class (kept as is in samples). instances: each id is "
            "one object (samples get new objects numbered 1..n). auto: instances when every id is one "
            "connected object.",
        )
        self.label_encoding = ComboBox(
            label="label encoding",
            choices=list(get_args(LabelEncoding)),
            value=default.train.label_encoding,
            visible=False,
            tooltip="Values of the label channels the networks learn. distance: a ramp across each class "
            "edge (signed distance, clipped at 4 px); measured better pairs. one-hot: +1 inside a class, -1 "
            "outside.",
        )
        self.preset = ComboBox(label="preset", choices=list(PRESETS), value=DEFAULT_PRESET)
        self._preset_name = DEFAULT_PRESET  # the preset the fields were last filled from
        self.preset_note = Label(value="")
        self.preset_note.native.setWordWrap(True)
        self.max_size = SpinBox(label="max size (px)", min=16, max=4096, value=default.pyramid.max_size)
        self.native_size = CheckBox(
            text="native pixel size",
            value=False,
            tooltip="Train at the layer's own pixel size: the finest scale is the (cropped) image itself "
            "(max size = its long side; the max size field is ignored).",
        )
        self.region = ComboBox(
            label="region",
            choices=[WHOLE, RECTANGLE, VIEW],
            value=WHOLE,
            tooltip="The part of the image to train on: all of it, the first rectangle of a Shapes layer, "
            "or the part visible in the canvas now. Outputs are placed on that region.",
        )
        self.region_shapes = layer_picker(viewer, "rectangle in", Shapes, nullable=True)
        self.region_shapes.value = None
        self.region_shapes.visible = False
        self.region_shapes.tooltip = (
            "Shapes layer whose first rectangle is the region (none: any Shapes layer)."
        )
        self.min_size = SpinBox(label="min size (px)", min=12, max=1024, value=default.pyramid.min_size)
        self.iters = SpinBox(
            label="iterations / scale", min=1, max=100_000, value=default.train.iters_per_scale
        )
        taper = default.train.coarse_taper
        self.coarsest_iters = SpinBox(
            label="coarsest-scale iterations",
            min=0,
            max=100_000,
            value=default.train.coarsest_iters,
            tooltip="Iterations at the coarsest scale, where samples get their layout from noise; "
            f"the scales above get {taper:g}x, {taper**2:g}x, ... as many, at least iterations / scale. "
            "0: as every other scale (the paper). The fast preset draws two random samples per step at "
            "those longer scales. With a labels layer, the fast preset's 1000 becomes 0 (measured); a count "
            "you type applies.",
        )
        self.precision = ComboBox(
            label="precision",
            choices=list(get_args(Precision)),
            value=default.train.precision,
            tooltip="Arithmetic of the networks while they train. float32: the paper's. bfloat16: "
            "the networks compute in bfloat16 (weights and samples stay float32). Measured on a processor "
            "with bfloat16 instructions (AVX512-BF16): fast in 0.8x the time, the same quality on two "
            "images of three and a little worse on the third; the paper's wide scales 1.7-2.3x faster "
            "steps. Without such instructions it may be slower; on a CPU the plan shown at the start "
            "times it on this machine. See docs/performance.md.",
        )
        self.device = device_picker()
        self.seed = SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.resume_from = ComboBox(
            label="continue model", choices=lambda _: _unfinished_models(), nullable=True, value=None
        )
        self.runner = TaskRunner("Train", self.start_training)
        super().__init__(
            widgets=[
                self.resume_from,
                self.layer,
                self.channels,
                self.label_layer,
                self.label_mode,
                self.label_encoding,
                self.preset,
                self.preset_note,
                self.max_size,
                self.native_size,
                self.region,
                self.region_shapes,
                self.min_size,
                self.iters,
                self.coarsest_iters,
                self.precision,
                self.device,
                self.seed,
                self.runner,
            ]
        )
        self.preset.changed.connect(self._apply_preset)
        self.layer.changed.connect(lambda _: self.channels.reset_choices())
        self.label_layer.changed.connect(self._toggle_label_mode)
        self.native_size.changed.connect(self._toggle_native)
        self.region.changed.connect(self._toggle_region)
        self._new_model_values: dict[Any, Any] | None = None  # the fields' values while a stopped model shows
        self.resume_from.changed.connect(self._toggle_resume)
        MODELS.changed.connect(self.resume_from.reset_choices)
        self.native.destroyed.connect(lambda: MODELS.changed.disconnect(self.resume_from.reset_choices))
        self.runner.stop_when_undocked(self.native)  # closing the panel stops training as Stop does
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._refresh_layers)
        viewer.layers.selection.events.active.connect(self._follow_active)
        self._follow_active()

    # --- layer choice -------------------------------------------------------------------------

    def _image_layers(self, _: Any = None) -> list[tuple[str, Image]]:
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, Image) and layer is not self.preview_layer
        ]

    def _channel_choices(self, _: Any = None) -> list[tuple[str, int | None]]:
        return channel_axis_choices(self.layer.value)

    def _refresh_layers(self, _: Any = None) -> None:
        self.layer.reset_choices()
        self._follow_active()

    def _follow_active(self, _: Any = None) -> None:
        """Choose the active image layer, unless a model made it (samples, application outputs: they stay
        in the list, but training does not move onto a sample because it was just added)."""
        active = self._viewer.layers.selection.active
        made = isinstance(active, Image) and (
            "singan_model" in active.metadata or active is self.preview_layer
        )
        if isinstance(active, Image) and not made and not self.runner.is_running:
            self.layer.reset_choices()
            self.layer.value = active
        elif self.layer.value is None and self._image_layers():
            self.layer.value = self._image_layers()[0][1]

    def _toggle_label_mode(self, _: Any = None) -> None:
        self.label_mode.visible = self.label_encoding.visible = self.label_layer.value is not None

    def _toggle_native(self, _: Any = None) -> None:
        self.max_size.enabled = self.resume_from.value is None and not self.native_size.value

    def _toggle_resume(self, _: Any = None) -> None:
        """Disable the fields of a new model while a stopped one is chosen: it continues with its own
        image, settings and seed (only the device may change), which they show meanwhile; the values they
        had come back when no stopped model is chosen."""
        name = self.resume_from.value
        kept = (self.resume_from, self.preset_note, self.max_size, self.device, self.runner)
        for box in self:  # every field but these: max_size follows native_size as well (_toggle_native)
            if not any(box is keep for keep in kept):
                box.enabled = name is None
        shown = {**self._preset_fields(), "seed": self.seed, "label_encoding": self.label_encoding}
        if name is not None and name in MODELS:
            if self._new_model_values is None:
                self._new_model_values = {box: box.value for box in shown.values()}
            model = MODELS.get(name)
            values = {**_flat(model.config), "seed": model.seed}
            for key, box in shown.items():
                # a value beyond what the field takes (e.g. a 5000 px native model) is not shown
                with contextlib.suppress(ValueError):
                    box.value = values[key]
        elif name is None and self._new_model_values is not None:
            for box, value in self._new_model_values.items():
                box.value = value
            self._new_model_values = None
        self._toggle_native()

    def _toggle_region(self, _: Any = None) -> None:
        self.region_shapes.visible = self.region.value == RECTANGLE

    def crop(self, layer: Image, hw: tuple[int, int]) -> Region | None:
        """The ``(y, x, h, w)`` region of ``layer``'s 2-D image (``hw``) to train on (None: all of it).

        Raises
        ------
        SinGANError
            When the chosen region cannot be found or misses the image.
        """
        if self.region.value == RECTANGLE:
            chosen = self.region_shapes.value
            candidates = [chosen] if chosen is not None else self._shapes_layers()
            for shapes in candidates:
                found = shapes_region(shapes, layer, hw)
                if found is not None:
                    return found
            where = repr(chosen.name) if chosen is not None else "any Shapes layer"
            raise SinGANError(
                f"region 'shapes rectangle': no rectangle of {where} lies over {layer.name!r}; draw one "
                "with a Shapes layer's rectangle tool"
            )
        if self.region.value == VIEW:
            camera = self._viewer.scene.camera if hasattr(self._viewer, "scene") else self._viewer.camera
            found = view_region(
                camera.center, camera.zoom, self._canvas_hw(), self._viewer.dims.point, layer, hw
            )
            if found is None:
                raise SinGANError(f"region 'field of view': {layer.name!r} is not in view; pan onto it")
            return found
        return None

    def _shapes_layers(self) -> list[Shapes]:
        """Shapes layers, the active one first."""
        active = self._viewer.layers.selection.active
        layers = [layer for layer in self._viewer.layers if isinstance(layer, Shapes)]
        return sorted(layers, key=lambda layer: layer is not active)

    def _canvas_hw(self) -> tuple[float, float]:
        """The canvas size in screen pixels (height, width)."""
        canvas = getattr(self._viewer, "canvas", None)  # the canvas model (napari >= 0.6)
        size = getattr(canvas, "size", None) or getattr(self._viewer, "_canvas_size", None)
        if size is None:
            size = self._viewer.window._qt_viewer.canvas.size
        return float(size[0]), float(size[1])

    def _preset_fields(self) -> dict[str, SpinBox | ComboBox]:
        """Config field -> the widget field that overrides it."""
        return {
            "max_size": self.max_size,
            "min_size": self.min_size,
            "iters_per_scale": self.iters,
            "coarsest_iters": self.coarsest_iters,
            "precision": self.precision,
        }

    def _apply_preset(self, name: str) -> None:
        """Switch presets without losing what the user typed, and say what changed.

        A field still showing the previous preset's value follows the new
        preset; a field the user edited keeps its value. ``preset_note`` lists
        both, and the settings without a field that the preset changed.
        """
        old, new = _flat(PRESETS[self._preset_name]), _flat(PRESETS[name])
        self._preset_name = name
        fields = self._preset_fields()
        changed, kept = [], []
        for key, box in fields.items():
            if new[key] == old[key] or box.value == new[key]:
                continue
            if box.value == old[key]:
                box.value = new[key]
                changed.append(f"{box.label} {old[key]} → {new[key]}")
            else:
                kept.append(f"{box.label} {box.value}")
        changed += [
            f"{key} {old[key]} → {new[key]}" for key in new if key not in fields and new[key] != old[key]
        ]
        note = [f"preset {name!r} changed: {', '.join(changed) or 'nothing'}"]
        if kept:
            note.append(f"kept your {', '.join(kept)}")
        self.preset_note.value = "; ".join(note)

    # --- training -----------------------------------------------------------------------------

    def config(self, max_size: int | None = None):
        """The training configuration the widget's values describe (``max_size``: instead of the field's).

        A coarsest-scale count other than the preset's applies to label models
        too; the preset's own follows the preset (``fast``: 0 with labels).
        """
        chosen, coarsest = PRESETS[self.preset.value], self.coarsest_iters.value
        return chosen.with_overrides(
            max_size=max_size or self.max_size.value,
            min_size=self.min_size.value,
            iters_per_scale=self.iters.value,
            coarsest_iters=None if coarsest == chosen.train.coarsest_iters else coarsest,
            label_encoding=self.label_encoding.value,
            precision=self.precision.value,
        )

    def start_training(self) -> None:
        """Start training on the chosen layer, or continue the chosen stopped model (the Train button)."""
        if self.resume_from.value is not None:
            self.continue_training(self.resume_from.value)
            return
        layer = self.layer.value
        if layer is None:
            active = self._viewer.layers.selection.active
            hint = f"{active.name!r} is a {active.__class__.__name__} layer; " if active is not None else ""
            self.runner.refuse(
                f"No image layer to train on: {hint}open an image (or File ▸ Open Sample ▸ SinGAN) and "
                "choose it under 'image'."
            )
            return
        full_hw, native = layer_hw(layer), self.native_size.value
        try:
            crop = self.crop(layer, full_hw)
            if crop is not None:
                check_region(crop, full_hw, self.min_size.value)
            image, axis, note = layer_image(layer, self._viewer.dims.point, self.channels.value, crop)
            config = self.config(native_max_size(image, axis) if native else None)
            labels, labels_layer, labels_note = None, self.label_layer.value, ""
            if labels_layer is not None:
                config = config.for_labels()  # what the model will train with, for the plan and the progress
                # The same displayed slice as the image; the core checks shape and values.
                region = crop if layer_hw(labels_layer) == full_hw else None  # else the core says they differ
                labels, _, labels_note = layer_image(labels_layer, self._viewer.dims.point, region=region)
            if not self._planned(layer.name, image, axis, config, labels):
                return
            hw = spatial_hw(image, axis)
            schedule = config.train.schedule(pyramid_shapes(*hw, config.pyramid))
        except SinGANError as error:
            self.runner.refuse(f"{layer.name}: {error}")
            return
        meta = layer_metadata(layer, self.channels.value)
        self.partial = None
        self._schedule = schedule
        self._train_from(_Source(layer.name, hw, axis, bool(layer.rgb), cropped_layer(meta, crop)))
        if note:
            show_info(f"{layer.name}: {note}")
        metadata = source_metadata(
            layer.name, note=note, layer=meta, pixel_size=layer_pixel_size(meta), crop=crop, native=native
        )  # the pixel size in µm (or another length) goes with the model's output files too
        if labels_layer is not None:
            if labels_note:
                show_info(f"{labels_layer.name}: {labels_note}")
            metadata["labels_source"] = labels_layer.name
        work = train(
            image,
            config,
            labels=labels,
            label_mode=self._label_mode(labels),
            channel_axis=axis,
            device=self.device.value,
            seed=self.seed.value,
            metadata=metadata,
            force=True,  # the plan checked it
        )
        self.runner.start(
            work,
            f"SinGAN training on {layer.name}",
            self._on_event,
            self._on_returned,
            self._on_aborted,
            self._on_failed,
        )

    def _planned(
        self, name: str, image: np.ndarray, axis: int | None, config: SinGANConfig, labels: np.ndarray | None
    ) -> bool:
        """Show the training plan of ``image`` (and its ``labels``' channels); False (after saying why) when it
        cannot train here."""
        try:
            height, width, channels = training_layout(image, axis, labels, self._label_mode(labels))
        except SinGANError:
            return True  # the worker says what is wrong with it, as without a plan
        return self._check_plan(name, height, width, config, resolve_device(self.device.value), channels)

    def _label_mode(self, labels: np.ndarray | None) -> str:
        """The label mode chosen, where there are labels (the hidden choice means nothing without)."""
        return "auto" if labels is None else self.label_mode.value

    def _check_plan(self, name: str, *plan_args: Any) -> bool:
        """Show the plan (:func:`training_plan` of ``plan_args``); False (after saying why) when the device
        cannot train it (e.g. bfloat16 on MPS) or it would not fit in memory."""
        try:
            plan = training_plan(*plan_args)
            show_info(f"{name}: plan: {plan.summary()}")
            self.runner.status.value = f"plan: {plan.summary()}"
            check_training_memory(plan, MEMORY_REMEDY)
        except SinGANError as error:
            show_error(f"{name}: not trained: {error}")
            self.runner.status.value = f"not trained: {error}"
            return False
        return True

    def continue_training(self, name: str) -> None:
        """Train the remaining scales of the stopped model ``name`` (same result as an uninterrupted run)."""
        model = MODELS.get(name)
        spec = model.spec
        meta = source_layer(model)
        device = resolve_device(self.device.value)
        if not self._check_plan(
            name, spec.height, spec.width, model.config, device, model.channels, model.num_trained
        ):
            return
        self.partial = None
        self._schedule = model.config.train.schedule(model.shapes)
        source = meta.get("source", name)
        self._train_from(_Source(source, (spec.height, spec.width), spec.channel_axis, spec.is_rgb, meta))
        self.runner.start(
            resume(model, device=self.device.value, force=True),  # the plan checked it
            f"SinGAN training of {name}",
            self._on_event,
            self._on_returned,
            self._on_aborted,
            self._on_failed,
        )

    def _train_from(self, source: _Source) -> None:
        """Train from ``source``: its previews are the layers named after it (added when missing); the
        previews of another source stay as they are."""
        if self._source is None or source.name != self._source.name:
            named = {layer.name: layer for layer in self._viewer.layers}
            self.preview_layer = named.get(f"{source.name} SinGAN preview")
            self.preview_labels_layer = named.get(f"{source.name} SinGAN preview labels")
        self._source = source

    def _on_event(self, event: Any) -> float | None:
        if isinstance(event, ScaleStarted):
            h, w = event.shape
            self.runner.status.value = (
                f"scale {event.scale + 1}/{event.num_scales}: {h}×{w} px, {event.width} filters"
            )
        if isinstance(event, Progress):
            self.runner.status.value = (
                f"scale {event.scale + 1}/{event.num_scales}, iteration {event.iteration}/{event.iters} · "
                f"D {event.d_loss:.3f} · G {event.g_loss:.3f} · rec {event.rec_loss:.4f}"
            )
        if isinstance(event, Preview):
            self._show_preview(event.image)
            self._show_preview_labels(event.labels)
        if isinstance(event, ScaleFinished):
            self.partial = event.model
        steps = training_steps(event, self._schedule.__getitem__)  # of the whole pyramid, in iterations
        return None if steps is None else steps[0] / steps[1]

    def _show_preview(self, image: np.ndarray) -> None:
        src = self._source
        where = placement(src.meta, src.hw, spatial_hw(image, src.axis), src.axis, src.rgb, leading=0)
        layer = self.preview_layer
        shown = layer is not None and layer in self._viewer.layers
        if shown and (layer.data.ndim != image.ndim or layer.rgb != src.rgb):
            # The same source trained with another channel layout: its preview replaces the old one
            self._viewer.layers.remove(layer)
            shown = False
        if not shown:
            self.preview_layer = self._viewer.add_image(
                image, name=f"{src.name} SinGAN preview", **where, **look(src.meta, src.rgb)
            )
            return
        layer.data = image
        _place(layer, where)

    def _show_preview_labels(self, labels: np.ndarray | None) -> None:
        """Overlay the preview's labels on the preview (and drop a stale overlay when there are none)."""
        layer = self.preview_labels_layer
        shown = layer is not None and layer in self._viewer.layers
        if labels is None:
            if shown:
                self._viewer.layers.remove(layer)
            self.preview_labels_layer = None
            return
        src = self._source
        where = placement(src.meta, src.hw, labels.shape, None, False, leading=0)
        if not shown:
            self.preview_labels_layer = self._viewer.add_labels(
                labels, name=f"{src.name} SinGAN preview labels", **where
            )
            return
        layer.data = labels
        _place(layer, where)

    def _register(self, model: SinGANModel, label: str) -> str:
        name = MODELS.add(model, timestamped(label))
        self.last_model_name = name
        for layer in (self.preview_layer, self.preview_labels_layer):
            if layer is not None:
                layer.metadata["singan_model"] = name
        return name

    def _on_returned(self, model: SinGANModel | None) -> None:
        if model is None:  # failed: the Failed event was shown and _on_failed kept the finished scales
            return
        name = self._register(model, self._source.name)
        self.resume_from.value = None  # a continued model is done: the fields are a new model's again
        self.runner.status.value = f"done: model {name!r} ({model.num_trained} scales{_labels_note(model)})"
        show_info(f"SinGAN model {name!r} trained")

    def _on_aborted(self) -> None:
        model = self.partial
        if model is None:
            self.runner.status.value = "stopped before the first scale finished: no model kept"
            return
        name = self._register(model, f"{self._source.name} (stopped)")
        self.runner.status.value = (
            f"stopped: model {name!r} keeps {model.num_trained} of {model.num_scales} scales"
        )
        show_info(f"training stopped; {name!r} keeps the {model.num_trained} finished scales")

    def _on_failed(self) -> None:
        """Keep the scales a failed training finished (e.g. out of memory at the finest one)."""
        model, self.partial = self.partial, None
        if model is None:
            return
        name = self._register(model, f"{self._source.name} (failed)")
        show_info(
            f"{name!r} keeps the {model.num_trained} of {model.num_scales} scales finished before the failure: "
            "use it as it is, or continue it under 'continue model' once the cause is fixed"
        )


def _flat(config: SinGANConfig) -> dict[str, object]:
    """Every field of a configuration by name (names are unique across its sections); the label
    models' alpha and critic norm as they take effect (:meth:`SinGANConfig.for_labels`)."""
    flat = {key: value for section in config.to_dict().values() for key, value in section.items()}
    labels = config.for_labels()
    return {
        **flat,
        "label_rec_weight": labels.train.rec_weight,
        "label_critic_norm": labels.model.critic_norm,
    }


def _labels_note(model: SinGANModel) -> str:
    """How the model's labels were learned, for the status line ("" without labels)."""
    spec = model.labels
    if spec is None:
        return ""
    if spec.instances:
        return ", instance labels"
    encoding = model.config.train.label_encoding
    return f", label classes {', '.join(map(str, spec.classes))} ({encoding} encoding)"


def _unfinished_models() -> list[str]:
    """Models in the list that were stopped before their finest scale."""
    return [name for name in MODELS.names() if not MODELS.get(name).is_complete]


def _place(layer: Any, where: dict[str, Any]) -> None:
    """Move a reused preview layer to ``where`` (:func:`placement`: scale, translate and any affine)."""
    layer.scale, layer.translate = where["scale"], where["translate"]
    layer.affine = where.get("affine", np.eye(layer.ndim + 1))
