"""Generate widget: samples written tile by tile to a BigTIFF open as a lazy (multiscale) layer."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import tifffile

from napari_singan._napari import large
from napari_singan._napari.models import MODELS
from napari_singan._qt import generate_widget
from napari_singan.core import drain, generate

from ..conftest import make_texture
from .conftest import wait_idle


def _generate(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    widget.picker.select(name)
    widget.device.value = "cpu"
    return widget


def test_file_output_opens_lazily_with_overviews(
    make_napari_viewer, qtbot, tmp_path, tiny_model, monkeypatch
):
    monkeypatch.setattr(large, "OVERVIEW_SIDE", 20)  # tiny samples still get overview levels
    MODELS.add(tiny_model, "tiny")
    viewer = make_napari_viewer()
    gen = _generate(viewer, "tiny")
    gen.num.value, gen.seed.value = 2, 4
    gen.exact.value = True
    gen.out_height.value, gen.out_width.value = 70, 90
    gen.output_file.value = tmp_path / "big.tif"
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    layer = gen.output_layer
    assert layer.multiscale and [level.shape for level in layer.data] == [
        (2, 70, 90),
        (2, 35, 45),
        (2, 18, 23),
        (2, 9, 12),  # both sides at most 20
    ]
    assert isinstance(layer.data[0], da.Array)  # read from the file on demand
    on_disk = tifffile.imread(tmp_path / "big.tif")
    np.testing.assert_array_equal(np.asarray(layer.data[0]), on_disk)
    in_memory = drain(generate(tiny_model, 2, size=(70, 90), seed=4))
    assert (
        np.abs(on_disk.astype(int) - in_memory).mean()
        < 0.25 * np.abs(in_memory[0].astype(int) - in_memory[1]).mean()
    )
    np.testing.assert_array_equal(layer.data[1], on_disk[:, ::2, ::2])


def test_a_stopped_file_output_leaves_no_partial_file(make_napari_viewer, qtbot, tmp_path, tiny_model):
    """The stopped worker's generator was never closed, so its temporary file stayed beside the output."""
    MODELS.add(tiny_model, "tiny")
    viewer = make_napari_viewer()
    gen = _generate(viewer, "tiny")
    gen.num.value = 4
    gen.exact.value = True
    gen.out_height.value, gen.out_width.value = 1500, 1500
    gen.output_file.value = tmp_path / "big.tif"
    gen.runner.run_button.clicked.emit()
    qtbot.waitUntil(lambda: gen.runner.bar.value > 0, timeout=60_000)
    gen.runner.stop_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert list(tmp_path.iterdir()) == [] and len(viewer.layers) == 0
    assert gen.runner.status.value == "stopped"  # it stayed at "stopping…"


def test_samples_too_large_for_memory_go_to_a_temporary_file(
    make_napari_viewer, qtbot, tiny_model, notes, monkeypatch
):
    MODELS.add(tiny_model, "tiny")
    monkeypatch.setattr(generate_widget, "sampling_bytes", lambda *a, **k: 10**15)  # "does not fit"
    viewer = make_napari_viewer()
    gen = _generate(viewer, "tiny")
    gen.num.value = 1
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any("do not fit in memory: writing them tile by tile to" in n for n in notes)
    assert gen.output_layer is not None and gen.output_layer.data.shape == (1, 32, 32)
    assert isinstance(gen.output_layer.data, da.Array)


def test_label_models_are_not_written_to_files(make_napari_viewer, qtbot, tmp_path, notes):
    from napari_singan.core import train

    from ..conftest import TINY, make_texture

    image = make_texture()
    model = drain(train(image, TINY.with_overrides(iters_per_scale=2), labels=(image > 128).astype(np.uint8)))
    MODELS.add(model, "paired")
    viewer = make_napari_viewer()
    gen = _generate(viewer, "paired")
    gen.output_file.value = tmp_path / "pairs.tif"
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert any("labels are generated in memory only" in n for n in notes)
    assert not (tmp_path / "pairs.tif").exists() and len(viewer.layers) == 0


def test_write_to_file_refuses_a_file_a_layer_shows_and_keeps_it(
    make_napari_viewer, qtbot, tmp_path, tiny_model, notes
):
    """Before: 'write to file' naming the open image's file (or the file a lazy layer reads) replaced it."""
    MODELS.add(tiny_model, "tiny")
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, make_texture(48, 48))
    before = source.read_bytes()
    viewer = make_napari_viewer()
    viewer.open(str(source))
    gen = _generate(viewer, "tiny")
    gen.num.value = 1
    gen.output_file.value = source
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert source.read_bytes() == before and len(viewer.layers) == 1
    assert notes[-1] == f"{source} is the file of the layer 'cells': choose another output path"

    gen.output_file.value = tmp_path / "samples.tif"  # written tile by tile, then read lazily by its layer
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    written = (tmp_path / "samples.tif").read_bytes()
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    assert (tmp_path / "samples.tif").read_bytes() == written and len(viewer.layers) == 2
    assert "is the file of the layer 'tiny samples'" in notes[-1]


def test_samples_written_to_a_temporary_file_get_a_name_every_system_allows(
    make_napari_viewer, qtbot, tiny_model, notes, monkeypatch
):
    MODELS.add(tiny_model, "cell 14:03:12")  # the Train widget's names carry the time
    monkeypatch.setattr(generate_widget, "sampling_bytes", lambda *a, **k: 10**15)
    viewer = make_napari_viewer()
    gen = _generate(viewer, "cell 14:03:12")
    gen.num.value = 1
    gen.runner.run_button.clicked.emit()
    wait_idle(qtbot, gen)
    path = Path(gen.output_layer.metadata["singan_file"])
    assert path.name == "cell 14-03-12 samples.tif" and path.is_file()
