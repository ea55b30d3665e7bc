"""Train widget: native pixel size, a region (Shapes rectangle or field of view), the plan and its refusal."""

from __future__ import annotations

import numpy as np
import pytest

from napari_singan._napari.layers import box_region
from napari_singan._napari.models import MODELS
from napari_singan._qt.train_widget import RECTANGLE, VIEW
from napari_singan.core import memory
from napari_singan.core.files import PixelSize
from napari_singan.core.microscopy import output_pixel_size

from ..conftest import make_texture
from .conftest import tiny_settings, wait_idle

SCALE, TRANSLATE = (0.5, 0.5), (3.0, 4.0)
CROP = (10, 20, 40, 36)  # y, x, h, w of the rectangle, in image pixels


def _widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", name)
    return widget


def _world(y, x):
    """World coordinates of image data coordinates (y, x)."""
    return TRANSLATE[0] + SCALE[0] * y, TRANSLATE[1] + SCALE[1] * x


def _viewer_with_rectangle(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(make_texture(60, 70), name="tex", scale=SCALE, translate=TRANSLATE)
    y, x, h, w = CROP
    # Pixel i spans data coordinates i - 0.5 .. i + 0.5: the rectangle's edges cover pixels y .. y + h - 1.
    corners = [_world(y - 0.5, x - 0.5), _world(y + h - 0.5, x + w - 0.5)]
    viewer.add_shapes([np.array(corners)], shape_type="rectangle", name="roi")
    viewer.layers.selection.active = image
    return viewer, image


def test_box_region_rounds_to_pixel_centres_and_clips():
    assert box_region((9.5, 19.5), (49.5, 55.5), (60, 70)) == CROP
    assert box_region((-5.0, 60.2), (10.0, 90.0), (60, 70)) == (0, 60, 10, 10)
    assert box_region((61.0, 0.0), (70.0, 5.0), (60, 70)) is None
    # Sides a rounding error off a pixel edge (a rectangle read through a rotation) are on it.
    assert box_region((9.5 - 1e-12, 19.5 + 1e-12), (49.5 + 1e-12, 55.5 - 1e-12), (60, 70)) == CROP


def test_native_training_on_a_rectangle_sits_on_it(make_napari_viewer, qtbot, notes):
    viewer, image = _viewer_with_rectangle(make_napari_viewer)
    image.units = ("µm", "µm")
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=4)
    train.native_size.value = True
    assert not train.max_size.enabled
    train.region.value = RECTANGLE
    assert not train.region_shapes.native.isHidden()
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)

    model = MODELS.get(train.last_model_name)
    assert model.trained_shapes[-1] == (40, 36)  # the rectangle at the layer's own pixel size
    assert model.metadata["crop"] == list(CROP) and model.metadata["native"] is True
    assert model.metadata["layer"]["translate"] == list(TRANSLATE)  # the layer itself, as it is
    # The layer's pixel size reaches the model's output files (it stayed in the layer metadata only).
    assert model.metadata["pixel_size"] == list(SCALE) and model.metadata["unit"] == "µm"
    assert output_pixel_size(model) == PixelSize(*SCALE, "µm")
    plans = [note for note in notes if "plan:" in note]
    assert plans and "40x36 px" in plans[0]

    on_crop = _world(CROP[0], CROP[1])  # the centre of the region's top left pixel
    preview = train.preview_layer
    assert preview.data.shape == (40, 36)
    np.testing.assert_allclose(preview.scale, SCALE)
    np.testing.assert_allclose(preview.translate, on_crop)

    gen = _widget(viewer, "Generate")
    gen.picker.select(train.last_model_name)
    gen.num.value = 2
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    out = gen.output_layer
    assert out.data.shape == (2, 40, 36)
    np.testing.assert_allclose(out.scale, (1.0, *SCALE))
    np.testing.assert_allclose(out.translate, (0.0, *on_crop))


#: A rotated, sheared and affine-transformed layer (and its rectangle, drawn in the same frame).
TURNED = {"rotate": 30.0, "shear": [0.2], "affine": [[1.0, 0.1, 2.0], [0.0, 0.9, -3.0], [0.0, 0.0, 1.0]]}


def test_outputs_of_a_rotated_sheared_affine_layer_lie_on_its_pixels(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    kwargs = {"scale": SCALE, "translate": TRANSLATE, **TURNED}
    image = viewer.add_image(make_texture(60, 70), name="tex", **kwargs)
    y, x, h, w = CROP
    rectangle = np.array([[y - 0.5, x - 0.5], [y + h - 0.5, x + w - 0.5]])  # in the image's data frame
    viewer.add_shapes([rectangle], shape_type="rectangle", name="roi", **kwargs)
    viewer.layers.selection.active = image
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=4)
    train.native_size.value = True
    train.region.value = RECTANGLE
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert MODELS.get(train.last_model_name).metadata["crop"] == list(CROP)

    gen = _widget(viewer, "Generate")
    gen.picker.select(train.last_model_name)
    gen.num.value = 2
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    pixels = [(0, 0), (39, 0), (0, 35), (17, 29)]  # output pixel (i, j) is the crop's pixel (y + i, x + j)
    on_image = [image.data_to_world((y + i, x + j)) for i, j in pixels]
    np.testing.assert_allclose([train.preview_layer.data_to_world(p) for p in pixels], on_image, atol=1e-9)
    np.testing.assert_allclose(
        [gen.output_layer.data_to_world((1, *p))[1:] for p in pixels], on_image, atol=1e-9
    )

    sr = _widget(viewer, "Super-resolution")
    sr.image.value, sr.factor.value = image, 2.0
    sr.runner.run_button.clicked.emit()
    wait_idle(qtbot, sr)
    out = sr.output_layer
    assert out.data.shape == (120, 140)
    # Output pixel i covers input pixels i / 2 - 0.25 .. : its centre is input coordinate (i + 0.5) / 2 - 0.5.
    below = [(i, j) for i in (0, 57, 119) for j in (0, 139)]
    np.testing.assert_allclose(
        [out.data_to_world(p) for p in below],
        [image.data_to_world(((i + 0.5) / 2 - 0.5, (j + 0.5) / 2 - 0.5)) for i, j in below],
        atol=1e-9,
    )


def test_a_reused_preview_follows_a_changed_rotation(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(make_texture(40, 40), name="tex", **TURNED)
    viewer.layers.selection.active = image
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=2)
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    preview = train.preview_layer
    image.rotate, image.shear, image.affine = 0.0, [0.0], np.eye(3)  # the source is straightened
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert train.preview_layer is preview  # reused, and placed as the source is now
    np.testing.assert_allclose(preview.affine.affine_matrix, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(preview.rotate, np.eye(2), atol=1e-12)


def test_a_run_estimated_beyond_memory_is_refused(make_napari_viewer, qtbot, notes, monkeypatch):
    viewer, _ = _viewer_with_rectangle(make_napari_viewer)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**6)
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=4)
    train.native_size.value = True
    layers = len(viewer.layers)
    train.runner.run_button.clicked.emit()
    qtbot.wait(50)
    assert not train.runner.is_running and train.last_model_name is None
    assert MODELS.names() == [] and len(viewer.layers) == layers  # no model, no preview
    assert any("plan:" in note and "60x70 px" in note for note in notes)
    refusal = [note for note in notes if "not trained" in note]
    assert refusal and "available on cpu" in refusal[0] and "native pixel size" in refusal[0]
    assert "not trained" in train.runner.status.value


def test_a_missing_rectangle_is_said_and_nothing_trains(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(60, 70), name="tex")
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=4)
    train.region.value = RECTANGLE
    train.runner.run_button.clicked.emit()
    qtbot.wait(50)
    assert not train.runner.is_running and MODELS.names() == []
    assert any("no rectangle" in note for note in notes)
    assert train.runner.status.value.startswith("not run: tex: region 'shapes rectangle': no rectangle")


def test_a_min_size_above_the_max_size_is_one_line_and_native_size_ignores_the_max_size(
    make_napari_viewer, qtbot, notes
):
    """Before: the configuration's error escaped the Train button as a traceback, also when native pixel
    size had disabled the max size field."""
    viewer = make_napari_viewer()
    viewer.add_image(make_texture(40, 40), name="tex")
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=2)
    train.max_size.value, train.min_size.value = 16, 25
    train.runner.run_button.clicked.emit()
    assert not train.runner.is_running
    assert notes[-1] == "tex: min size (25 px) must not exceed max size (16 px)"
    train.native_size.value = True  # trains at the image's own 40 px: the max size field does not apply
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    (name,) = MODELS.names()
    assert MODELS.get(name).trained_shapes[-1] == (40, 40)


@pytest.mark.parametrize("native", [False, True])
def test_field_of_view_trains_on_the_visible_part(make_napari_viewer, qtbot, native):
    viewer = make_napari_viewer()
    image = viewer.add_image(make_texture(60, 70), name="tex", scale=SCALE, translate=TRANSLATE)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center = _world(30, 35)
    camera.zoom = max(viewer.canvas.size) / (30 * SCALE[0])  # the canvas's long side shows 30 px
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=4)
    train.native_size.value = native
    train.region.value = VIEW
    y, x, h, w = train.crop(image, (60, 70))
    assert min(h, w) >= 14 and max(h, w) <= 31
    assert abs(y + h / 2 - 30.5) <= 1.5 and abs(x + w / 2 - 35.5) <= 1.5
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    model = MODELS.get(train.last_model_name)
    assert model.metadata["crop"] == [y, x, h, w]
    assert model.spec.height == h and model.spec.width == w
    if native:
        assert model.trained_shapes[-1] == (h, w)


def test_a_lazy_slide_is_read_only_where_the_rectangle_is(make_napari_viewer, qtbot, notes):
    """Before: the whole full-resolution plane of a lazy (dask, zarr, multiscale) layer was read in the GUI
    thread before the region was cut out: napari froze, or a MemoryError traced back."""
    import dask.array as da

    side, chunk = 200_000, 1000  # 80 GB of float32
    read = []

    def block(block_info=None):
        (y0, _), (x0, _) = block_info[None]["array-location"]
        read.append((y0, x0))
        return make_texture(chunk, chunk, seed=len(read)).astype(np.float32)

    slide = da.map_blocks(block, chunks=((chunk,) * (side // chunk),) * 2, dtype=np.float32)
    viewer = make_napari_viewer()
    overview = da.from_array(make_texture(side // 100, side // 100).astype(np.float32), chunks=500)
    layer = viewer.add_image([slide, overview], name="slide", multiscale=True, contrast_limits=(0.0, 1.0))
    read.clear()  # napari shows the overview, and may read the full level where the canvas zooms in
    train = _widget(viewer, "Train")
    tiny_settings(train, iters=2)
    train.runner.run_button.clicked.emit()  # the whole slide: refused before reading it
    assert not train.runner.is_running and read == []
    assert "reading 'slide' needs an estimated 160.0 GB of memory" in notes[-1]
    assert notes[-1].endswith("train on a part of it (region: shapes rectangle or field of view)")

    viewer.add_shapes([np.array([[1499.5, 2499.5], [1539.5, 2539.5]])], shape_type="rectangle", name="roi")
    viewer.layers.selection.active = layer
    train.layer.value, train.region.value = layer, RECTANGLE
    train.runner.run_button.clicked.emit()
    wait_idle(qtbot, train)
    assert sorted(read) == [(1000, 2000)]  # one block of the 40 000 holds the 40x40 px rectangle
    assert MODELS.get(train.last_model_name).metadata["crop"] == [1500, 2500, 40, 40]
