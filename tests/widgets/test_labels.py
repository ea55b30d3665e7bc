"""Image + label pairs in the widgets: train with a Labels layer, paired samples, dataset export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_singan._napari.models import MODELS
from napari_singan._qt.controls import STEPS
from napari_singan.apps import augment as augment_module
from napari_singan.apps.augment import MASK_NET, augment, load_pair, read_manifest
from napari_singan.core import SinGANConfig, SinGANError, drain, generate, train
from napari_singan.core.masknet import fit_mask_net, load_mask_net

from ..conftest import make_texture
from .conftest import tiny_settings, wait_idle


def _widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", name)
    return widget


def _classes(image: np.ndarray, value: int = 2) -> np.ndarray:
    """Two-class labels (0 and ``value``) that follow the image's structure."""
    return (image > np.median(image)).astype(np.uint8) * value


@pytest.fixture(scope="module")
def label_model():
    """A 3-scale uint16 model trained with labels 0 and 2."""
    image = make_texture(dtype=np.uint16)
    config = SinGANConfig().with_overrides(max_size=32, min_size=14, iters_per_scale=8, preview_every=0)
    return drain(train(image, config, labels=_classes(image), device="cpu", seed=0))


def test_train_with_a_labels_layer_then_generate_pairs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = make_texture(dtype=np.uint16)
    source = viewer.add_image(image, name="tex", scale=(2.0, 2.0), translate=(10.0, 5.0))
    mask = viewer.add_labels(_classes(image), name="mask", scale=(2.0, 2.0), translate=(10.0, 5.0))
    viewer.layers.selection.active = source
    train = _widget(viewer, "Train")
    assert train.label_layer.value is None and train.label_mode.native.isHidden()  # labels are opt-in
    train.label_layer.value = mask
    assert not train.label_mode.native.isHidden()
    tiny_settings(train)
    train.coarsest_iters.value = 30  # typed: applies with labels too
    assert train.config().for_labels().train.coarsest_iters == 30
    train.coarsest_iters.value = 1000  # the preset's, which fast leaves out for label models (measured)
    shown = []
    train.runner.bar.changed.connect(shown.append)  # bar steps of STEPS
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    model = MODELS.get(train.last_model_name)
    assert model.config.train.coarsest_iters == 0 and model.config.train.rec_weight == 10.0
    iterations = [model.config.train.iterations(n, model.shapes[n]) for n in range(model.num_scales)]
    assert round(iterations[0] / sum(iterations) * STEPS) in shown  # counted what the model trained
    assert model.labels is not None and model.labels.classes == (0, 2) and not model.labels.instances
    assert model.metadata["labels_source"] == "mask"
    assert "label classes 0, 2 (distance encoding)" in train.runner.status.value
    assert train.preview_layer.data.shape == (32, 32)  # the preview shows the image channels only

    gen = _widget(viewer, "Generate")
    gen.picker.select(train.last_model_name)
    gen.num.value, gen.scale_w.value = 3, 1.5
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    out, labels = gen.output_layer, gen.labels_layer
    assert out.data.shape == (3, 32, 48) and out.data.dtype == np.uint16
    assert labels is not None and labels in viewer.layers and labels.name == f"{train.last_model_name} labels"
    assert labels.data.shape == out.data.shape and labels.data.dtype == np.uint8
    assert set(np.unique(labels.data)) == {0, 2}  # the training labels' values, both present
    np.testing.assert_allclose(labels.scale, out.scale)
    np.testing.assert_allclose(labels.translate, out.translate)
    assert labels.metadata["singan_model"] == train.last_model_name
    # Labels sit on the image's structure: class 2 marks the brighter pixels, as in training.
    assert out.data[labels.data == 2].mean() > out.data[labels.data == 0].mean()


def test_training_preview_shows_its_labels(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = make_texture(dtype=np.uint16)
    viewer.add_image(image, name="tex", scale=(2.0, 2.0), translate=(10.0, 5.0))
    mask = viewer.add_labels(_classes(image), name="mask", scale=(2.0, 2.0), translate=(10.0, 5.0))
    train = _widget(viewer, "Train")
    train.label_layer.value = mask
    assert not train.label_encoding.native.isHidden() and train.label_encoding.value == "distance"
    train.label_encoding.value = "one-hot"
    tiny_settings(train, iters=4)
    updates = []
    viewer.layers.events.inserted.connect(
        lambda e: (
            e.value.events.data.connect(lambda _: updates.append(e.value.data.shape))
            if e.value.name == "tex SinGAN preview labels"
            else None
        )
    )
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    model = MODELS.get(train.last_model_name)
    assert model.config.train.label_encoding == "one-hot"
    preview, labels = train.preview_layer, train.preview_labels_layer
    assert labels is not None and labels in viewer.layers and labels.name == "tex SinGAN preview labels"
    assert labels.data.shape == preview.data.shape == (32, 32)
    assert labels.data.dtype == np.uint8 and set(np.unique(labels.data)) <= {0, 2}  # the input's values
    assert len(updates) >= 2 and updates[0] != updates[-1]  # updated in place with every preview
    np.testing.assert_allclose(labels.scale, preview.scale)
    np.testing.assert_allclose(labels.translate, preview.translate)
    assert labels.metadata["singan_model"] == train.last_model_name

    # Training the same image without labels drops the stale labels preview.
    train.label_layer.value = None
    assert train.label_encoding.native.isHidden()
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert train.preview_labels_layer is None and "tex SinGAN preview labels" not in viewer.layers
    assert train.preview_layer in viewer.layers


def test_models_without_labels_add_no_labels_layer(make_napari_viewer, qtbot, tiny_model):
    viewer = make_napari_viewer()
    MODELS.add(tiny_model, "tiny")
    gen = _widget(viewer, "Generate")
    gen.num.value = 2
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert [layer.name for layer in viewer.layers] == ["tiny samples"] and gen.labels_layer is None


def test_variation_reaches_samples_and_datasets(make_napari_viewer, qtbot, tmp_path, notes, label_model):
    viewer = make_napari_viewer()
    MODELS.add(label_model, "pairs")
    gen = _widget(viewer, "Generate")
    gen.num.value, gen.seed.value, gen.device.value, gen.variation.value = 3, 2, "cpu", 0.25
    gen.masks.value = "model"  # the labels the model draws with its images
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    images, labels = drain(generate(label_model, 3, seed=2, variation=0.25, with_labels=True))
    assert np.array_equal(viewer.layers["pairs samples"].data, images)
    assert np.array_equal(gen.labels_layer.data, labels)

    gen.export_folder.value, gen.export_num.value = tmp_path / "ds", 2
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert (
        read_manifest(tmp_path / "ds")["variation"] == 0.25
        and read_manifest(tmp_path / "ds")["masks"] == "model"
    )
    gen.exact.value = True
    gen.out_height.value, gen.out_width.value = 24, 40  # not the model's size: refused, nothing written
    gen.export_folder.value = tmp_path / "other"
    gen.export_button.clicked.emit()
    gen.runner.run_button.clicked.emit()
    assert not gen.runner.is_running and not (tmp_path / "other").exists() and len(viewer.layers) == 2
    assert sum("needs the model's own size" in n for n in notes) == 2


def test_labels_of_the_wrong_shape_are_a_notification(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    image = make_texture()
    viewer.add_image(image, name="tex")
    wrong = viewer.add_labels(np.zeros((30, 30), np.uint8), name="small")
    train = _widget(viewer, "Train")
    train.layer.value = viewer.layers["tex"]
    train.label_layer.value = wrong
    tiny_settings(train, iters=2)
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert any("the labels are 30x30 but the image is 40x40" in n for n in notes)
    assert train.runner.status.value.startswith("failed:") and len(MODELS) == 0
    assert [layer.name for layer in viewer.layers] == ["tex", "small"]
    assert train.runner.run_button.enabled

    # Fixing the labels and choosing a label mode works in the same widget.
    right = viewer.add_labels(_classes(image, 1), name="mask")
    train.label_layer.value, train.label_mode.value = right, "instances"
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert MODELS.get(train.last_model_name).labels.instances


def test_labels_follow_the_displayed_slice(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    stack = np.stack([make_texture(seed=s) for s in range(3)])
    viewer.add_image(stack, name="zstack")
    viewer.add_labels(np.stack([_classes(stack[k], k + 1) for k in range(3)]), name="zlabels")
    viewer.dims.set_current_step(0, 2)
    train = _widget(viewer, "Train")
    train.layer.value = viewer.layers["zstack"]
    train.label_layer.value = viewer.layers["zlabels"]
    tiny_settings(train, iters=2)
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert any(n.startswith("zlabels:") and "axis 0 = 2" in n for n in notes)
    assert MODELS.get(train.last_model_name).labels.classes == (0, 3)  # slice 2's values


def test_export_dataset(make_napari_viewer, qtbot, tmp_path, notes, label_model, tiny_model, reflect_model):
    viewer = make_napari_viewer()
    MODELS.add(label_model, "pairs")
    gen = _widget(viewer, "Generate")
    gen.export_button.clicked.emit()  # no folder yet
    assert any("Choose a dataset folder" in n for n in notes) and not gen.runner.is_running

    folder = tmp_path / "ds"
    gen.export_folder.value = folder
    gen.export_num.value, gen.seed.value, gen.device.value = 5, 3, "cpu"
    gen.exact.value = True
    gen.out_height.value, gen.out_width.value = 24, 40
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any(f"exported 5 image/label pairs to {folder}" in n for n in notes)
    assert gen.runner.bar.value == 1000 and len(viewer.layers) == 0  # exporting adds no layer
    meta = read_manifest(folder)
    assert meta["size"] == [24, 40] and meta["seed"] == 3 and meta["start_scale"] == 0
    assert len(meta["samples"]) == 5
    assert sorted(p.name for p in (folder / "images").iterdir()) == [f"{i:05d}.tif" for i in range(5)]
    assert sorted(p.name for p in (folder / "labels").iterdir()) == [f"{i:05d}.tif" for i in range(5)]
    image, labels = load_pair(folder, 4)
    assert image.shape == labels.shape == (24, 40) and image.dtype == np.uint16
    assert set(np.unique(labels)) <= {0, 2}

    # Stop keeps what was written; exporting again with the same settings continues.
    gen.export_num.value = 60
    gen.export_button.clicked.emit()
    qtbot.waitUntil(lambda: gen.runner.bar.value > 100, timeout=60_000)
    gen.runner.stop_button.clicked.emit()
    wait_idle(qtbot, gen, timeout=5_000)
    assert any("export stopped" in n and "again" in n for n in notes)
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert len(read_manifest(folder)["samples"]) == 60 and len(list((folder / "labels").iterdir())) == 60

    # A folder of another dataset is refused with a notification; image-only models write images.
    gen.seed.value = 4
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any("another model or other settings" in n for n in notes)
    MODELS.add(tiny_model, "tiny")
    gen.picker.select("tiny")
    gen.export_folder.value, gen.export_num.value = tmp_path / "plain", 2
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any("exported 2 images to" in n for n in notes)

    # An output too small for a reflect-padded model is refused before any folder is made.
    MODELS.add(reflect_model, "reflect")
    gen.picker.select("reflect")
    gen.export_folder.value, gen.out_height.value, gen.out_width.value = tmp_path / "small", 4, 40
    gen.export_button.clicked.emit()
    assert not gen.runner.is_running and not (tmp_path / "small").exists()
    assert any("the output is too small for this model" in n for n in notes)
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["images", "manifest.json"]


def test_the_training_plan_counts_the_labels_channels(make_napari_viewer, qtbot, monkeypatch):
    from napari_singan._qt import train_widget

    viewer = make_napari_viewer()
    image = make_texture(dtype=np.uint16)
    source = viewer.add_image(image, name="tex")
    viewer.add_labels((image // 16384).astype(np.uint8), name="four classes")
    viewer.layers.selection.active = source
    train = _widget(viewer, "Train")
    tiny_settings(train)
    planned = []

    def refuse(height, width, config, device, channels):
        planned.append(channels)
        raise SinGANError("not now")  # refused: nothing trains

    monkeypatch.setattr(train_widget, "training_plan", refuse)
    train.runner.run_button.clicked.emit()
    train.label_layer.value = viewer.layers["four classes"]
    train.label_mode.value = "classes"
    train.runner.run_button.clicked.emit()
    qtbot.wait(50)
    assert planned == [1, 1 + 4] and not train.runner.is_running

    monkeypatch.undo()  # a label mode left chosen means nothing once the labels layer is unset
    train.label_layer.value = None
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert MODELS.get(train.last_model_name).labels is None


def test_redrawn_masks_reach_layers_and_datasets(
    make_napari_viewer, qtbot, tmp_path, notes, label_model, tiny_model, monkeypatch
):
    viewer = make_napari_viewer()
    MODELS.add(tiny_model, "tiny")
    gen = _widget(viewer, "Generate")
    assert gen.masks.native.isHidden()  # no labels, nothing to redraw
    MODELS.add(label_model, "pairs")
    gen.picker.select("pairs")
    assert not gen.masks.native.isHidden() and gen.masks.value == "redrawn"  # the default
    gen.num.value, gen.seed.value, gen.device.value = 3, 2, "cpu"
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    net = drain(fit_mask_net(label_model, seed=2))
    images, labels = drain(generate(label_model, 3, seed=2, with_labels=True, mask_net=net))
    assert np.array_equal(viewer.layers["pairs samples"].data, images)
    assert np.array_equal(gen.labels_layer.data, labels)
    assert not np.array_equal(labels, drain(generate(label_model, 3, seed=2, with_labels=True))[1])
    fitted = gen._mask_net[1]
    gen.runner.run_button.clicked.emit()  # same model, device and seed: the net is not fit again
    wait_idle(qtbot, gen)
    assert gen._mask_net[1] is fitted and np.array_equal(gen.labels_layer.data, labels)
    gen.seed.value = 3  # another seed: another fit
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert gen._mask_net[1] is not fitted

    fits = []  # the export keeps the samples' net (same model, device and seed) instead of fitting one
    monkeypatch.setattr(
        augment_module, "fit_mask_net", lambda *a, **k: fits.append(a) or fit_mask_net(*a, **k)
    )
    gen.export_folder.value, gen.export_num.value = tmp_path / "ds", 2
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert read_manifest(tmp_path / "ds")["masks"] == "redrawn" and not fits
    kept = load_mask_net(tmp_path / "ds" / MASK_NET).state_dict()
    assert all(torch.equal(kept[k], v) for k, v in gen._mask_net[1].state_dict().items())
    drain(augment(label_model, 2, tmp_path / "api", seed=3))  # as the API writes it
    assert np.array_equal(load_pair(tmp_path / "ds", 1)[1], load_pair(tmp_path / "api", 1)[1])
    gen.picker.select("tiny")  # hidden again, and image-only datasets have the model's "masks"
    assert gen.masks.native.isHidden()
    gen.export_folder.value = tmp_path / "plain"
    gen.export_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert read_manifest(tmp_path / "plain")["masks"] == "model"
    assert any("exported 2 images to" in n for n in notes)
