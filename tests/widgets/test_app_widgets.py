"""The application widgets in a real napari viewer with a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_singan._napari.models import MODELS
from napari_singan.apps import super_resolve
from napari_singan.apps.masked import feathered_mask
from napari_singan.apps.super_resolution import BACK_PROJECTION
from napari_singan.core import drain, memory

from ..conftest import make_texture
from .conftest import wait_idle


@pytest.fixture
def viewer_with_model(make_napari_viewer, tiny_model):
    viewer = make_napari_viewer()
    MODELS.add(tiny_model, "tiny")
    return viewer


def _open(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", name)
    assert widget.picker.model_name == "tiny"
    return widget


def _run(qtbot, widget):
    widget.runner.run_button.clicked.emit()
    wait_idle(qtbot, widget)
    return widget.output_layer


def test_super_resolution_overlays_its_input(viewer_with_model, tiny_model, qtbot):
    viewer = viewer_with_model
    img = viewer.add_image(make_texture(), name="img", scale=(2.0, 2.0), translate=(3.0, 4.0))
    sr = _open(viewer, "Super-resolution")
    assert not sr.start_scale.visible
    out = _run(qtbot, sr)
    assert out.name == "SR ×4" and out.data.shape == (128, 128)  # training image (32 px) by default
    sr.image.value, sr.factor.value = img, 2.0
    out = _run(qtbot, sr)
    assert out.name == "SR ×2 img" and out.data.shape == (80, 80) and out.data.dtype == np.uint8
    np.testing.assert_allclose(out.scale, [1.0, 1.0])  # input pixel size / 2
    np.testing.assert_allclose(out.translate, [2.5, 3.5])

    # Same world extent as the input: the outer pixel edges coincide.
    def edges(layer):
        return layer.extent.world + np.array([-1, 1])[:, None] * layer.scale / 2

    np.testing.assert_allclose(edges(out), edges(img))
    again = _run(qtbot, sr)
    assert (
        again.name == "SR ×2 img [1]" and "added 'SR ×2 img [1]'" in sr.runner.status.value
    )  # napari's name
    np.testing.assert_array_equal(again.data, out.data)
    assert sr.back_projection.value == BACK_PROJECTION
    sr.back_projection.value = 0
    paper = _run(qtbot, sr).data  # the paper's steps, uncorrected
    np.testing.assert_array_equal(paper, drain(super_resolve(tiny_model, img.data, 2.0, back_projection=0)))
    assert not np.array_equal(paper, out.data)


def test_paint_to_image(viewer_with_model, qtbot):
    viewer = viewer_with_model
    paint = np.full((40, 40), 30, np.uint8)
    paint[:, 20:] = 220
    viewer.add_image(paint, name="paint")
    widget = _open(viewer, "Paint to image")
    assert widget.start_scale.slider.min == 1 and widget.start_scale.slider.max == 3
    widget.start_scale.slider.value, widget.num.value = 2, 2
    out = _run(qtbot, widget)
    assert out.name == "paint-to-image paint" and out.data.shape == (2, 32, 32)
    left, right = out.data[:, :, :12].mean(), out.data[:, :, 20:].mean()
    assert left < right  # the layout of the paint survives


@pytest.mark.parametrize("name, radius", [("Harmonization", 7.0), ("Editing", 20.0)])
def test_masked_widgets_change_only_the_masked_region(viewer_with_model, qtbot, name, radius):
    viewer = viewer_with_model
    composite = make_texture()
    composite[16:24, 16:24] = 255
    mask = np.zeros((40, 40), np.uint8)
    mask[16:24, 16:24] = 1
    viewer.add_image(composite, name="comp", scale=(0.5, 0.5))
    viewer.add_labels(mask, name="mask", scale=(0.5, 0.5))
    widget = _open(viewer, name)
    assert widget.radius.value == radius
    assert [c for c in widget.mask.choices] == [viewer.layers["mask"]]  # images are not offered as masks
    widget.radius.value, widget.sigma.value = 2.0, 1.0
    out = _run(qtbot, widget)
    assert out.data.shape == composite.shape and out.data.dtype == composite.dtype
    np.testing.assert_allclose(out.scale, [0.5, 0.5])
    scale = 40 / 32  # radius and sigma are in model pixels
    outside = feathered_mask(mask, 2.0 * scale, 1.0 * scale) == 0
    np.testing.assert_array_equal(out.data[outside], composite[outside])
    assert not np.array_equal(out.data[mask == 1], composite[mask == 1])


@pytest.mark.parametrize("kind", ["shapes", "labels"])
def test_masks_are_placed_on_the_image_through_world_coordinates(viewer_with_model, qtbot, kind):
    """Before: a mask was taken in its own pixels, so on an image with another scale or position the
    wrong region was edited without a word."""
    viewer = viewer_with_model
    composite = make_texture()
    viewer.add_image(composite, name="comp", scale=(2.0, 2.0))  # 40 px = 80 world units
    if kind == "shapes":  # world rows and columns 20-40: image pixels 10-20
        viewer.add_shapes(
            [np.array([[20, 20], [20, 40], [40, 40], [40, 20]])], shape_type="rectangle", name="m"
        )
    else:  # pixels 0-9 of a layer at world 20: world 20-38, image pixels 10-19
        region = np.zeros((40, 40), np.uint8)
        region[:10, :10] = 1
        viewer.add_labels(region, name="m", scale=(2.0, 2.0), translate=(20.0, 20.0))
    widget = _open(viewer, "Editing")
    widget.mask.value = viewer.layers["m"]
    widget.radius.value, widget.sigma.value = 0.0, 0.0
    out = _run(qtbot, widget)
    rows, cols = np.nonzero(out.data != composite)
    assert len(rows) > 20
    assert rows.min() >= 10 and rows.max() <= 20 and cols.min() >= 10 and cols.max() <= 20


def test_harmonization_with_fine_tuning_and_a_shapes_mask(viewer_with_model, qtbot):
    viewer = viewer_with_model
    viewer.add_image(make_texture(), name="comp")
    viewer.add_shapes([np.array([[10, 10], [10, 25], [25, 25], [25, 10]])], shape_type="polygon", name="roi")
    widget = _open(viewer, "Harmonization")
    widget.fine_tune.value, widget.tune_iters.value = True, 2
    widget.radius.value, widget.sigma.value = 1.0, 1.0
    out = _run(qtbot, widget)
    assert out.data.shape == (40, 40) and out.data[0, 0] == make_texture()[0, 0]


def test_animation_and_export(viewer_with_model, qtbot, tmp_path):
    viewer = viewer_with_model
    widget = _open(viewer, "Animation")
    widget.frames.value = 6
    out = _run(qtbot, widget)
    assert out.data.shape == (6, 32, 32) and out.name == "animation tiny"
    widget.export(str(tmp_path / "walk.gif"))
    import imageio.v3 as iio

    assert iio.imread(tmp_path / "walk.gif").shape[0] == 6


def test_the_applications_notices_become_notifications(viewer_with_model, qtbot, notes):
    """napari 0.9's thread workers did not relay warnings: the notice never reached the user."""
    widget = _open(viewer_with_model, "Animation")
    widget.frames.value = 2
    _run(qtbot, widget)
    qtbot.waitUntil(lambda: any("padding" in n for n in notes), timeout=5_000)  # tiny pads with zeros


def test_animation_export_refuses_unwritable_and_shown_files_in_one_line(
    viewer_with_model, qtbot, tmp_path, notes, read_only
):
    """Before: a read-only folder or a folder path traced back; a shown layer's file was replaced."""
    viewer = viewer_with_model
    widget = _open(viewer, "Animation")
    widget.frames.value = 2
    _run(qtbot, widget)
    locked = read_only(tmp_path / "locked")
    (tmp_path / "walk.gif").mkdir()
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, make_texture(32, 32))
    viewer.open(str(source))
    before = source.read_bytes()
    for path, expected in [
        (locked / "a.gif", "permission denied"),
        (tmp_path / "walk.gif", "is a folder"),
        (tmp_path / "walk.avi", "name the output with one of .gif, .mp4, .tif, .tiff"),
        (source, "is the file of the layer 'cells'"),
    ]:
        widget.export(str(path))
        assert expected in notes[-1] and "\n" not in notes[-1]
    assert source.read_bytes() == before and list(locked.iterdir()) == []


@pytest.mark.parametrize(
    "name", ["Super-resolution", "Paint to image", "Harmonization", "Editing", "Animation"]
)
def test_applications_estimate_memory_before_any_work(viewer_with_model, qtbot, notes, monkeypatch, name):
    """Before: only Generate estimated; the applications allocated whatever was asked of them."""
    viewer = viewer_with_model
    viewer.add_image(make_texture(), name="img")
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1
    viewer.add_labels(mask, name="mask")
    widget = _open(viewer, name)
    for picker in ("paint", "image"):
        if hasattr(widget, picker):
            getattr(widget, picker).value = viewer.layers["img"]
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)  # 100 kB left
    layers = len(viewer.layers)
    widget.runner.run_button.clicked.emit()
    assert not widget.runner.is_running and len(viewer.layers) == layers
    assert "estimated" in notes[-1] and "available on cpu" in notes[-1]
    monkeypatch.undo()
    assert _run(qtbot, widget) is not None  # the same inputs run when there is room


def test_missing_inputs_are_notified(viewer_with_model, qtbot, notes):
    viewer = viewer_with_model
    viewer.add_image(make_texture(), name="img")
    widget = _open(viewer, "Editing")
    widget.runner.run_button.clicked.emit()
    assert any("choose a mask layer" in n for n in notes)
    assert not widget.runner.is_running and len(viewer.layers) == 1
    assert widget.runner.status.value.startswith("not run: choose a mask layer")  # not the last run's text
    anim = _open(viewer, "Animation")
    anim.export("never.gif")
    assert any("nothing to export" in n for n in notes)
