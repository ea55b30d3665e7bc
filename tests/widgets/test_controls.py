"""Widget controls in a real viewer: presets keep what the user typed; one device selector everywhere."""

from __future__ import annotations

import numpy as np
import torch

from napari_singan._napari.models import MODELS
from napari_singan._qt.controls import STEPS
from napari_singan.core import SinGANModel, available_devices, save_model

from ..conftest import make_texture
from .conftest import wait_idle


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", name)
    return widget


def test_preset_keeps_edited_fields_and_says_what_it_changed(make_napari_viewer):
    viewer = make_napari_viewer()
    train = _dock(viewer, "Train")
    assert train.preset_note.value == ""
    assert train.preset.value == "fast" and train.iters.value == 120  # the default preset
    assert train.coarsest_iters.value == 1000
    train.iters.value = 300  # typed by the user
    train.preset.value = "paper"
    assert train.iters.value == 300  # kept
    assert train.max_size.value == 250 and train.min_size.value == 25  # the preset's (unchanged)
    note = train.preset_note.value
    assert "preset 'paper' changed" in note
    assert "max_width 32 → 128" in note and "padding reflect → zero" in note  # settings without a field
    assert "kept your iterations / scale 300" in note and "coarsest-scale iterations 1000 → 0" in note
    assert "critic_norm after-first → instance" in note and "label_critic_norm after-first → instance" in note
    assert "rec_weight" not in note  # alpha = 10 in both
    config = train.config()
    assert config.train.iters_per_scale == 300 and config.model.max_width == 128
    assert config.model.padding == "zero" and config.train.coarsest_iters == 0  # as the other scales
    train.coarsest_iters.value = 1000
    assert train.config().train.schedule([(25, 25)] * 3) == (1000, 400, 300)  # tapered, at least 300
    assert train.precision.value == "float32" and train.config().train.precision == "float32"
    train.precision.value = "bfloat16"
    assert train.config().train.precision == "bfloat16"

    train.preset.value = "super-resolution"
    assert train.min_size.value == 18 and train.iters.value == 300 and train.max_size.value == 250
    assert "min size (px) 25 → 18" in train.preset_note.value
    assert train.precision.value == "bfloat16"  # no preset sets it: it stays as chosen
    assert "rec_weight 10.0 → 100.0" in train.preset_note.value
    assert (
        "label_rec_weight 10.0 → 100.0" in train.preset_note.value and "critic" not in train.preset_note.value
    )


def test_one_device_selector_everywhere(make_napari_viewer, qtbot, tmp_path, tiny_model, monkeypatch):
    viewer = make_napari_viewer()
    widgets = [_dock(viewer, name) for name in ("Train", "Generate", "Super-resolution", "Animation")]
    for widget in widgets:
        assert list(widget.device.choices) == available_devices() and widget.device.value == "auto"

    moved_to = []
    original_to = SinGANModel.to

    def spy(model, device):
        moved_to.append(torch.device(device))
        return original_to(model, device)

    monkeypatch.setattr(SinGANModel, "to", spy)
    gen = widgets[1]
    gen.device.value = "cpu"
    loaded = gen.picker.load(str(save_model(tiny_model, tmp_path / "m.singan")))
    assert MODELS.get(loaded).device == torch.device("cpu")  # loaded on the chosen device
    gen.num.value = 1
    moved_to.clear()
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert moved_to == [torch.device("cpu")]  # the model runs on the chosen device
    assert gen.output_layer.data.shape == (1, 32, 32)


def test_train_widget_writes_the_shared_metadata(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40, dtype=np.uint16), name="tex")
    train = _dock(viewer, "Train")
    train.max_size.value, train.min_size.value, train.iters.value = 32, 14, 1
    train.coarsest_iters.value = 0
    train.device.value = "cpu"
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    meta = MODELS.get(train.last_model_name).metadata
    assert meta["source"] == "tex" and set(meta) == {"source", "layer"}
    assert meta["layer"]["source"] == "tex"


def test_train_widget_bar_counts_each_scales_iterations(make_napari_viewer, qtbot):
    """With more iterations at the coarsest scale, the bar moves in step with the iterations done."""
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _dock(viewer, "Train")
    train.max_size.value, train.min_size.value, train.iters.value = 32, 14, 2
    train.coarsest_iters.value = 14  # 14 + 6 + 2 + 2 iterations over 4 scales (tapered by 0.4 per scale)
    train.device.value = "cpu"
    shown = []
    train.runner.bar.changed.connect(shown.append)  # bar steps of STEPS
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert MODELS.get(train.last_model_name).num_scales == 4
    assert shown[-1] == STEPS and shown == sorted(shown)
    assert round(14 / 24 * STEPS) in shown  # the coarsest scale done: 14 of 24 iterations, not 1 of 4 scales


def test_train_widget_refuses_bfloat16_where_it_cannot_run_in_one_line(make_napari_viewer, monkeypatch):
    """bfloat16 on a device that cannot train in it (here MPS, as a Mac would pick): the plan step says so
    in the status line, and nothing starts."""
    import napari_singan._qt.train_widget as train_widget

    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _dock(viewer, "Train")
    train.max_size.value, train.min_size.value, train.iters.value = 32, 14, 2
    train.precision.value = "bfloat16"
    monkeypatch.setattr(train_widget, "resolve_device", lambda name: torch.device("mps"))
    models_before = MODELS.names()
    train.runner.run_button.clicked.emit()
    assert train.runner.status.value == (
        "not trained: bfloat16 training runs on cpu or cuda, not mps; train in float32 there"
    )
    assert MODELS.names() == models_before and not train.runner.is_running
