"""Small controls the napari-singan dock widgets share: device selector, model picker, start-scale
slider, layer picker, and the Run/Stop/progress row around a thread worker."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton, Slider
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, QObject

from .._napari.models import MODELS, file_stem
from ..core import SinGANError, available_devices
from ..core.files import check_output_path
from ..core.persistence import SUFFIX
from . import workers

if TYPE_CHECKING:
    from napari.qt.threading import GeneratorWorker

    from ..core import SinGANModel

#: Resolution of the widget's progress bar.
STEPS = 1000
#: What the widgets that need a model say when there is none.
NO_MODEL = (
    "No model: train one with the Train widget (Plugins ▸ SinGAN ▸ Train) or load a .singan file first."
)


def device_picker() -> ComboBox:
    """The device selector of every widget; its value is a name for :func:`~napari_singan.core.resolve_device`.

    Offers ``auto`` (CUDA, then MPS, then the CPU) and this machine's devices
    (``cpu``, ``cuda``, ``cuda:N``, ``mps``): training runs there, models are
    loaded there, and a model is moved there before it generates.
    """
    return ComboBox(
        label="device",
        choices=available_devices(),
        value="auto",
        tooltip="auto: CUDA, then MPS, then the CPU. The model is loaded on and moved to this device.",
    )


class ModelPicker(Container):
    """Choose a model from the plugin-wide list; load one from / save one to a file.

    Files are loaded onto the device chosen in ``device`` (a :func:`device_picker`).
    """

    def __init__(self, device: ComboBox) -> None:
        self.device = device
        self.combo = ComboBox(label="model", choices=lambda _: MODELS.names(), nullable=True)
        self.load_button = PushButton(text="Load…")
        self.save_button = PushButton(text="Save…")
        buttons = Container(widgets=[self.load_button, self.save_button], layout="horizontal", labels=False)
        super().__init__(widgets=[self.combo, buttons])
        self.load_button.changed.connect(self._ask_load)
        self.save_button.changed.connect(self._ask_save)
        MODELS.changed.connect(self._refresh)
        self.native.destroyed.connect(lambda: MODELS.changed.disconnect(self._refresh))
        self._refresh()

    def _refresh(self) -> None:
        self.combo.reset_choices()
        if self.combo.value is None and len(MODELS):
            self.combo.value = MODELS.names()[-1]

    @property
    def model_name(self) -> str | None:
        """Name of the chosen model."""
        return self.combo.value

    @property
    def model(self) -> SinGANModel | None:
        """The chosen model, or ``None``."""
        return None if self.combo.value is None else MODELS.get(self.combo.value)

    def select(self, name: str) -> None:
        """Choose the model called ``name``."""
        self.combo.reset_choices()
        self.combo.value = name

    def load(self, path: str) -> str | None:
        """Load a model file onto the chosen device into the list and choose it; errors become notifications."""
        try:
            name = MODELS.load(path, self.device.value)
        except SinGANError as exc:
            show_error(str(exc))
            return None
        self.select(name)
        show_info(f"loaded model {name!r}")
        return name

    def save(self, path: str) -> None:
        """Save the chosen model to ``path`` (``.singan`` added when it has no extension)."""
        if self.model_name is None:
            show_error("no model to save: train one or load one first")
            return
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(SUFFIX)

        def save() -> Path:
            check_output_path(target, (SUFFIX,))
            return MODELS.save(self.model_name, target)

        if write_file(save, target) is not None:
            show_info(f"saved model {self.model_name!r} to {target}")

    def _ask_load(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "Load SinGAN model", "", "SinGAN model (*.singan)")
        if path:
            self.load(path)

    def _ask_save(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        if self.model_name is None:
            show_error("no model to save: train one or load one first")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save SinGAN model", file_stem(self.model_name) + SUFFIX, "SinGAN model (*.singan)"
        )
        if path:
            self.save(path)


def write_file(write: Callable[[], Path], path: str | Path) -> Path | None:
    """Run ``write`` (checks, then the writing of ``path``); a refused path or a failed write becomes one
    error notification and ``None`` (an existing file is kept whole: every writer is atomic)."""
    try:
        return write()
    except SinGANError as exc:
        show_error(str(exc))
    except OSError as exc:  # e.g. the disk is full
        show_error(f"could not write {path}: {exc.strerror or exc}")
    return None


class StartScale(Container):
    """A start-scale slider labelled with the chosen model's scale sizes."""

    def __init__(self, picker: ModelPicker, lowest: int = 0) -> None:
        self.picker = picker
        self.lowest = lowest
        self.slider = Slider(label="start scale", min=lowest, max=lowest, value=lowest)
        self.info = Label(label=" ", value="")
        super().__init__(widgets=[self.slider, self.info])
        picker.combo.changed.connect(self.update_range)
        self.slider.changed.connect(self._describe)
        self.update_range()

    @property
    def value(self) -> int:
        """The chosen start scale."""
        return self.slider.value

    def update_range(self, _: Any = None) -> None:
        """Fit the slider to the chosen model's trained scales."""
        model = self.picker.model
        self.slider.max = max(self.lowest, 0 if model is None else model.num_trained - 1)
        self._describe()

    def _describe(self, _: Any = None) -> None:
        model = self.picker.model
        if model is None:
            self.info.value = "no model yet: train one or load one"
            return
        n = self.slider.value
        h, w = model.trained_shapes[min(n, model.num_trained - 1)]
        how = "pure noise: most diverse" if n == 0 else f"injected below, regenerated from {h}×{w} px up"
        self.info.value = f"scale {n} of {model.num_trained - 1}: {h}×{w} px ({how})"


def layer_picker(viewer: Any, label: str, types: type | tuple[type, ...], nullable: bool = False) -> ComboBox:
    """A combo box of the viewer's layers of ``types`` that follows layers being added and removed."""
    combo = ComboBox(
        label=label,
        choices=lambda _: [(layer.name, layer) for layer in viewer.layers if isinstance(layer, types)],
        nullable=nullable,
    )
    for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
        event.connect(lambda _: combo.reset_choices())
    return combo


class TaskRunner(Container):
    """Run / Stop buttons, a progress bar and a status line around one thread worker at a time.

    Progress also shows in napari's activity dock.
    """

    def __init__(self, run_text: str, on_run: Callable[[], None]) -> None:
        self.run_button = PushButton(text=run_text)
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.bar = ProgressBar(min=0, max=STEPS, value=0, label="progress")
        self.status = Label(value="")
        buttons = Container(widgets=[self.run_button, self.stop_button], layout="horizontal", labels=False)
        super().__init__(widgets=[buttons, self.bar, self.status])
        self.worker: GeneratorWorker | None = None
        self._pbar: progress | None = None
        self._closed = False
        self._undocked: _Undocked | None = None  # see stop_when_undocked
        self.run_button.changed.connect(on_run)
        self.stop_button.changed.connect(self.stop)
        self.native.destroyed.connect(self._close)

    @property
    def is_running(self) -> bool:
        """Whether a worker is active."""
        return self.worker is not None

    def start(
        self,
        work: Generator[Any, None, Any],
        description: str,
        on_event: Callable[[Any], float | None],
        on_returned: Callable[[Any], None],
        on_aborted: Callable[[], None],
        on_failed: Callable[[], None] = lambda: None,
    ) -> GeneratorWorker:
        """Run ``work`` in a thread worker.

        ``on_event`` handles each event in the GUI thread and returns the
        fraction done (0..1) or ``None``; :class:`workers.Failed` events are
        shown as error notifications here. ``on_failed`` runs after a failure,
        expected (a :class:`workers.Failed` event) or not (an exception, which
        napari reports), e.g. to keep what the work finished.
        """
        self.bar.value = 0
        self.status.value = f"{description}…"
        self._pbar = progress(total=STEPS, desc=description)

        def handle(event: Any) -> None:
            if isinstance(event, workers.Failed):
                self.status.value = f"failed: {event.message}"
                show_error(event.message)
                on_failed()
                return
            fraction = on_event(event)
            if fraction is not None:
                self.set_fraction(fraction)

        def aborted() -> None:
            self.status.value = "stopped"  # ``on_aborted`` may say more
            on_aborted()

        self.run_button.enabled = False
        self.stop_button.enabled = True
        self.worker = workers.start(
            work,
            self._while_open(handle),
            self._while_open(on_returned),
            self._finished,
            self._while_open(aborted),
            self._while_open(lambda _: on_failed()),
        )
        return self.worker

    def _while_open(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, skipped once the widget is gone (napari closed during the work)."""

        def call(*args: Any) -> None:
            if not self._closed:
                callback(*args)

        return call

    def refuse(self, message: str) -> None:
        """Say why the work did not start: an error notification, and the status line (not the last run's)."""
        show_error(message)
        self.status.value = f"not run: {message}"

    def set_fraction(self, fraction: float) -> None:
        """Show ``fraction`` (0..1) done in the widget and the activity dock."""
        steps = int(round(min(max(fraction, 0.0), 1.0) * STEPS))
        self.bar.value = steps
        if self._pbar is not None:
            self._pbar.update(steps - self._pbar.n)

    def stop(self) -> None:
        """Ask the worker to stop at its next event (well under a second)."""
        if self.worker is not None:
            if not self._closed:
                self.status.value = "stopping…"
            self.worker.quit()

    def _finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        if not self._closed:
            self.run_button.enabled = True
            self.stop_button.enabled = False

    def stop_when_undocked(self, panel: Any) -> None:
        """Stop the work when ``panel`` (the dock widget holding this runner, a QWidget) is closed.

        napari's close button takes a panel out of its dock without destroying it, so the work would
        go on out of sight with no Stop button; stopped here, it ends as Stop ends it.
        """
        self._undocked = _Undocked(self)  # kept: Qt holds only a pointer to an event filter
        panel.installEventFilter(self._undocked)

    def _close(self) -> None:
        """The widget is being destroyed: stop the worker and touch no widget again."""
        self._closed = True
        self.stop()


class _Undocked(QObject):
    """Event filter: a panel that loses its parent (napari's close button) stops its runner's work."""

    def __init__(self, runner: TaskRunner) -> None:
        super().__init__()
        self._runner = runner

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.ParentChange and watched.parent() is None and self._runner.is_running:
            self._runner.stop()
        return False
