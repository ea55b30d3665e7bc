"""The plugin in a real napari viewer: manifest, sample data, train, stop, generate, save/load, errors."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from napari.layers import Image

from napari_singan._napari.models import MODELS
from napari_singan.core import ScaleFinished

from ..conftest import make_texture
from .conftest import tiny_settings, wait_idle


def test_manifest_validates():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-singan"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout + out.stderr


def test_sample_data_is_bundled(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-singan", "cell")
    viewer.open_sample("napari-singan", "immunohistochemistry")
    assert viewer.layers["cell"].data.shape == (660, 550)
    assert viewer.layers["immunohistochemistry"].rgb


def _train_widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    return widget


def _generate_widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    return widget


def test_train_generate_save_load(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    source = viewer.add_image(
        make_texture(40, 40, dtype=np.uint16),
        name="tex",
        scale=(2.0, 2.0),
        translate=(10.0, 5.0),
        colormap="magma",
    )
    train = _train_widget(viewer)
    assert train.layer.value is source  # defaults to the active layer
    tiny_settings(train)
    updates = []
    viewer.layers.events.inserted.connect(
        lambda e: (
            e.value.events.data.connect(lambda _: updates.append(e.value.data.shape))
            if e.value.name.endswith("preview")
            else None
        )
    )
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)

    preview = train.preview_layer
    assert preview is not None and preview.data.shape == (32, 32) and preview.data.dtype == np.uint16
    assert len(updates) >= 3  # updated in place at every finer scale
    assert updates[0] != updates[-1]  # ... as the pyramid grows
    np.testing.assert_allclose(preview.scale, [2.5, 2.5])  # 40 px at scale 2 shown as 32 px
    assert len(MODELS) == 1 and train.last_model_name.startswith("tex ")
    model = MODELS.get(train.last_model_name)
    assert model.is_complete and model.metadata["layer"]["scale"] == [2.0, 2.0]

    viewer.layers.remove(source)  # the model survives its source layer
    gen = _generate_widget(viewer)
    assert gen.picker.model_name == train.last_model_name
    assert (
        gen.start_scale.slider.max == model.num_trained - 1
        and "scale 0 of 3: 14×14" in gen.start_scale.info.value
    )
    gen.num.value, gen.scale_w.value, gen.seed.value = 3, 2.0, 5
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    out = gen.output_layer
    assert out.data.shape == (3, 32, 64) and out.data.dtype == np.uint16
    np.testing.assert_allclose(out.scale, [1.0, 2.5, 2.5])
    np.testing.assert_allclose(out.translate, [0.0, 10.25, 5.25])
    assert out.colormap.name == "magma"
    first = out.data.copy()

    path = tmp_path / "tex.singan"
    gen.picker.save(str(path))
    loaded = gen.picker.load(str(path))
    assert loaded == "tex" and gen.picker.model_name == "tex"
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    np.testing.assert_array_equal(gen.output_layer.data, first)  # same seed, same samples after a round trip

    gen.exact.value = True
    gen.out_height.value, gen.out_width.value, gen.num.value, gen.start_scale.slider.value = 20, 50, 1, 2
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert gen.output_layer.data.shape == (1, 20, 50)


def test_the_image_choice_follows_new_images_but_not_a_models_outputs(make_napari_viewer):
    """After Generate, 'image' showed the samples: pressing Train again trained on a sample."""
    viewer = make_napari_viewer()
    source = viewer.add_image(make_texture(40, 40), name="tex")
    train = _train_widget(viewer)
    samples = viewer.add_image(make_texture(40, 40), name="tex samples", metadata={"singan_model": "tex"})
    assert viewer.layers.selection.active is samples and train.layer.value is source
    assert samples in [layer for _, layer in train._image_layers()]  # still there to choose by hand
    other = viewer.add_image(make_texture(40, 40), name="other")
    assert train.layer.value is other


def test_saving_a_model_checks_the_path_first_and_adds_the_extension(
    make_napari_viewer, tmp_path, tiny_model, notes, read_only
):
    """Before: a read-only folder or a folder path traced back, and a name without .singan was saved so
    that neither the Load dialog nor the reader showed it."""
    MODELS.add(tiny_model, "cell 14:03:12")
    viewer = make_napari_viewer()
    gen = _generate_widget(viewer)
    gen.picker.select("cell 14:03:12")
    gen.picker.save(str(tmp_path / "cells_model"))
    assert (tmp_path / "cells_model.singan").is_file() and notes[-1].endswith("cells_model.singan")
    locked = read_only(tmp_path / "locked")
    (tmp_path / "dir.singan").mkdir()
    for path, expected in [
        (locked / "m.singan", "permission denied"),
        (tmp_path / "dir.singan", "is a folder"),
        (tmp_path / "m.tif", "name the output with one of .singan"),
    ]:
        gen.picker.save(str(path))
        assert expected in notes[-1] and "\n" not in notes[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells_model.singan", "dir.singan", "locked"]


@pytest.mark.parametrize(
    ("error", "reported"),
    [(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "memory"), (ValueError("a bug"), None)],
)
def test_a_failed_training_keeps_its_finished_scales(
    error, reported, make_napari_viewer, qtbot, monkeypatch, notes
):
    """Before: out of memory at a finer scale (or any error) lost every scale trained before it."""
    import napari_singan._qt.train_widget as train_widget

    real_train = train_widget.train

    def fails_after_two_scales(*args, **kwargs):
        finished = 0
        for event in real_train(*args, **kwargs):
            yield event
            finished += isinstance(event, ScaleFinished)
            if finished == 2:
                raise error

    monkeypatch.setattr(train_widget, "train", fails_after_two_scales)
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _train_widget(viewer)
    tiny_settings(train, iters=3)
    if reported is None:  # an unexpected error is napari's traceback, once; the scales are kept all the same
        errors = []
        monkeypatch.setattr(sys, "excepthook", lambda *exc: errors.append(exc[1]))
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    qtbot.waitUntil(lambda: len(MODELS) == 1, timeout=5_000)
    (name,) = MODELS.names()
    model = MODELS.get(name)
    assert name.startswith("tex (failed)") and model.num_trained == 2 < model.num_scales
    assert train.last_model_name == name and list(train.resume_from.choices) == [None, name]
    assert any(f"{name!r} keeps the 2 of {model.num_scales} scales" in note for note in notes)
    if reported is None:
        assert errors == [error]
    else:
        assert reported in train.runner.status.value
    assert train.runner.run_button.enabled


def test_training_another_kind_of_image_adds_its_own_preview(make_napari_viewer, qtbot):
    """Before: an RGB image's preview was written into a grayscale image's preview layer (a 3-D stack under
    the old name) and the other way round raised in napari's event handler at every preview."""
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40, channels=3), name="colour", rgb=True)
    viewer.add_image(make_texture(40, 40), name="gray")
    train = _train_widget(viewer)
    tiny_settings(train, iters=4)
    for name in ("colour", "gray", "colour"):
        train.layer.value = viewer.layers[name]
        train.runner.run_button.clicked.emit()
        wait_idle(qtbot, train)
        preview = train.preview_layer
        assert preview.name == f"{name} SinGAN preview" and preview.rgb == (name == "colour")
        assert preview.data.shape == ((32, 32, 3) if name == "colour" else (32, 32))
    assert [layer.name for layer in viewer.layers][2:] == ["colour SinGAN preview", "gray SinGAN preview"]
    assert len(MODELS) == 3


def test_stop_keeps_finished_scales_and_ui_stays_responsive(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _train_widget(viewer)
    tiny_settings(train, iters=400)
    train.runner.run_button.clicked.emit()
    qtbot.waitUntil(lambda: train.partial is not None, timeout=120_000)
    assert train.runner.is_running
    # The GUI thread is free: widgets change and layers can be added while the worker runs.
    train.seed.value = 42
    viewer.add_points([[1, 1]])
    qtbot.wait(50)
    assert train.runner.is_running and train.seed.value == 42 and len(viewer.layers) >= 3
    stopped_at = time.perf_counter()
    train.runner.stop_button.clicked.emit()
    wait_idle(qtbot, train, timeout=5_000)
    assert time.perf_counter() - stopped_at < 1.0  # issue 9: Stop ends the worker within a second
    assert train.runner.run_button.enabled and not train.runner.stop_button.enabled
    assert train.runner.bar.value < 1000
    (name,) = MODELS.names()
    model = MODELS.get(name)
    assert "(stopped)" in name and 1 <= model.num_trained < model.num_scales
    assert "keeps" in train.runner.status.value

    # Continue the stopped model: only unfinished models are offered.
    assert list(train.resume_from.choices) == [None, name]
    train.iters.value = 1  # ignored: the model keeps its own configuration
    train.resume_from.value = name
    new_model_fields = (train.layer, train.preset, train.max_size, train.iters, train.precision, train.seed)
    assert not any(box.enabled for box in new_model_fields) and train.device.enabled
    assert (train.iters.value, train.seed.value) == (400, 0)  # the model's own (they showed 1 and 42)
    finished_before = model.num_trained
    viewer.layers.remove(viewer.layers["tex"])  # continuing needs no layer
    train.runner.run_button.clicked.emit()
    qtbot.waitUntil(lambda: train.partial is not None, timeout=120_000)
    assert train.partial.num_trained == finished_before + 1
    train.runner.stop_button.clicked.emit()
    wait_idle(qtbot, train, timeout=5_000)
    assert MODELS.names()[-1].startswith("tex (stopped)") and len(MODELS) == 2
    train.resume_from.value = None  # a new model again: its fields come back, with the values they had
    assert all(box.enabled for box in new_model_fields)
    assert (train.iters.value, train.seed.value) == (1, 42)


def test_closing_napari_stops_training(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _train_widget(viewer)
    tiny_settings(train, iters=400)
    train.runner.run_button.clicked.emit()
    worker = train.runner.worker
    qtbot.waitUntil(lambda: worker.is_running, timeout=10_000)
    done = []
    worker.finished.connect(lambda: done.append(True))
    viewer.close()
    qtbot.waitUntil(lambda: bool(done), timeout=5_000)


def test_closing_the_train_panel_stops_training_and_keeps_the_finished_scales(
    make_napari_viewer, qtbot, notes
):
    """napari's close button takes the panel out of its dock without destroying it: training went on out
    of sight, with no Stop button, and napari's exit lost its finished scales."""
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    dock, train = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    tiny_settings(train, iters=400)
    train.runner.run_button.clicked.emit()
    qtbot.waitUntil(lambda: train.partial is not None, timeout=120_000)
    dock.destroyOnClose()  # the panel's close button
    wait_idle(qtbot, train, timeout=5_000)
    (name,) = MODELS.names()
    assert "(stopped)" in name and 1 <= MODELS.get(name).num_trained < MODELS.get(name).num_scales
    assert any("training stopped" in n for n in notes)


def test_errors_become_notifications(make_napari_viewer, qtbot, notes, reflect_model):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((40, 40), np.uint8), name="mask")
    train = _train_widget(viewer)
    train.runner.run_button.clicked.emit()
    assert any("No image layer" in n and "Labels" in n for n in notes)

    viewer.add_image(np.random.default_rng(0).random((10, 10)), name="tiny")
    tiny_settings(train)
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert any("too small for the networks" in n for n in notes)
    assert [layer.name for layer in viewer.layers] == ["mask", "tiny"] and labels in viewer.layers
    assert len(MODELS) == 0

    gen = _generate_widget(viewer)
    gen.runner.run_button.clicked.emit()
    assert any("No model" in n for n in notes)
    gen.picker.load("/nonexistent/model.singan")
    assert any("no model file" in n for n in notes)

    MODELS.add(reflect_model, "reflect")
    gen.picker.select("reflect")
    gen.scale_w.value, gen.device.value = 0.2, "cpu"
    gen.runner.run_button.clicked.emit()  # too narrow for reflect padding: refused before any work
    assert not gen.runner.is_running and gen.output_layer is None
    assert any("the output is too small for this model" in n for n in notes)


def test_slice_of_a_z_stack_and_channel_axis(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    stack = np.stack([make_texture(40, 40, seed=s) for s in range(3)])
    viewer.add_image(stack, name="zstack")
    viewer.dims.set_current_step(0, 2)
    train = _train_widget(viewer)
    tiny_settings(train, iters=2)
    assert [c for c in train.channels.choices] == [None, 0]
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert any("axis 0 = 2" in n for n in notes)
    model = MODELS.get(train.last_model_name)
    assert model.spec.channels == 1 and "axis 0 = 2" in model.metadata["note"]

    train.channels.value = 0  # the leading axis holds channels
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    model = MODELS.get(train.last_model_name)
    assert model.spec.channels == 3
    previews = [layer for layer in viewer.layers if "preview" in layer.name]
    assert previews == [train.preview_layer] and previews[0].name == "zstack SinGAN preview"  # no stale one
    gen = _generate_widget(viewer)
    gen.picker.select(train.last_model_name)
    gen.num.value = 2
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert gen.output_layer.data.shape == (2, 3, 32, 32)


def test_applications_read_channels_from_the_axis_the_model_was_trained_with(
    make_napari_viewer, qtbot, notes
):
    """Before: applications took a channels-first model's channels from the layer's first axis, so a
    (Z, C, Y, X) layer trained with channels on axis 1 fed z-planes of one channel as channels."""
    from napari_singan.apps import super_resolve
    from napari_singan.core import drain

    viewer = make_napari_viewer()
    zcyx = np.stack([np.stack([make_texture(40, 40, seed=3 * z + c) for c in range(3)]) for z in range(2)])
    viewer.add_image(zcyx, name="zcyx")  # (2, 3, 40, 40)
    viewer.dims.set_current_step(0, 1)
    train = _train_widget(viewer)
    tiny_settings(train, iters=2)
    train.channels.value = 1
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    model = MODELS.get(train.last_model_name)
    assert model.spec.channels == 3 and model.metadata["layer"]["channel_axis"] == 1
    _, sr = viewer.window.add_plugin_dock_widget("napari-singan", "Super-resolution")
    sr.picker.select(train.last_model_name)
    sr.image.value, sr.factor.value, sr.device.value = viewer.layers["zcyx"], 2.0, "cpu"
    sr.runner.run_button.clicked.emit()
    wait_idle(qtbot, sr)
    expected = drain(super_resolve(model, zcyx[1], 2.0, seed=0))  # the displayed plane, its three channels
    np.testing.assert_array_equal(sr.output_layer.data, expected)

    sr.image.value = viewer.add_image(np.zeros((2, 4, 40, 40), np.uint8), name="four")
    sr.runner.run_button.clicked.emit()
    assert not sr.runner.is_running
    assert notes[-1] == (
        "the layer 'four' (2x4x40x40) has no axis of the model's 3 channels before its image axes: "
        "give it one axis of 3 channels"
    )


def test_reader_and_writer(make_napari_viewer, qtbot, tmp_path, tiny_model, notes):
    from napari_singan.core import SinGANError, save_model

    path = save_model(tiny_model, tmp_path / "texmodel.singan")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="napari-singan")
    assert isinstance(layer, Image) and layer.name == "texmodel (training image)"
    assert layer.data.shape == (32, 32) and "texmodel" in MODELS
    out = tmp_path / "copy.singan"
    written = viewer.layers.save(str(out), selected=True, plugin="napari-singan")
    assert written == [str(out)] and out.read_bytes() == path.read_bytes()
    viewer.add_image(np.zeros((5, 5)), name="plain")
    viewer.layers.selection.select_only(viewer.layers["plain"])
    with pytest.raises(SinGANError, match="does not come from a SinGAN model"):
        viewer.layers.save(str(tmp_path / "x.singan"), selected=True, plugin="napari-singan")
    bad = tmp_path / "bad.singan"
    bad.write_bytes(b"not a model")  # napari said only that the reader "gave an error"
    assert viewer.open(str(bad), plugin="napari-singan") == [] and len(viewer.layers) == 2
    assert any("not a napari-singan model file" in n for n in notes)


def test_generate_widget_measures_quality(make_napari_viewer, qtbot, tiny_model, notes):
    from napari_singan.metrics import evaluate_model

    viewer = make_napari_viewer()
    gen = _generate_widget(viewer)
    gen.measure_button.clicked.emit()  # no model yet: a notification, no worker
    assert not gen.runner.is_running and any("No model" in n for n in notes)
    MODELS.add(tiny_model, "tiny")
    gen.picker.combo.value = "tiny"
    gen.quality_samples.value, gen.seed.value, gen.device.value = 5, 3, "cpu"
    layers = len(viewer.layers)
    gen.measure_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert gen.report == evaluate_model(tiny_model, 5, seed=3)
    assert gen.quality.value.startswith("tiny: patch-SWD") and "copies" in gen.quality.value
    assert len(viewer.layers) == layers  # measuring adds no layer


def test_measuring_more_samples_than_fit_is_refused_in_the_widgets_terms(
    make_napari_viewer, qtbot, tiny_model, notes, monkeypatch
):
    from napari_singan.core import memory

    viewer = make_napari_viewer()
    gen = _generate_widget(viewer)
    MODELS.add(tiny_model, "tiny")
    gen.picker.combo.value = "tiny"
    gen.device.value = "cpu"
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)
    gen.measure_button.clicked.emit()
    qtbot.wait(50)
    assert not gen.runner.is_running and gen.quality.value == ""
    refusal = [n for n in notes if "estimated" in n]
    assert refusal and "force=True" not in refusal[0]  # no option a widget user could not pass


def test_generate_widget_refuses_what_would_not_fit_in_memory(make_napari_viewer, qtbot, tiny_model, notes):
    viewer = make_napari_viewer()
    gen = _generate_widget(viewer)
    MODELS.add(tiny_model, "tiny")
    gen.picker.combo.value = "tiny"
    gen.device.value = "cpu"
    gen.exact.value = True
    gen.out_height.value = gen.out_width.value = 60_000  # even tiled: tens of GB of image-sized maps
    layers = len(viewer.layers)
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any("estimated" in n and "memory" in n for n in notes)
    assert len(viewer.layers) == layers


def test_dataset_export_estimates_memory_first(make_napari_viewer, tmp_path, tiny_model, notes, monkeypatch):
    from napari_singan.core import memory

    viewer = make_napari_viewer()
    gen = _generate_widget(viewer)
    MODELS.add(tiny_model, "tiny")
    gen.picker.combo.value, gen.device.value = "tiny", "cpu"
    gen.exact.value = True
    gen.out_height.value = gen.out_width.value = 100_000
    gen.export_folder.value = tmp_path / "ds"
    gen.export_button.clicked.emit()
    assert not gen.runner.is_running and "estimated" in notes[-1] and "memory" in notes[-1]
    assert not (tmp_path / "ds").exists()
    gen.out_height.value = gen.out_width.value = 40
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)
    gen.export_button.clicked.emit()
    assert not gen.runner.is_running and "available on cpu" in notes[-1]
