"""`napari-singan sample` tile by tile into a BigTIFF: forced, chosen by itself, refused with one line."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_singan.cli import main
from napari_singan.core import drain, generate, load_model, memory, save_model

from .conftest import TINY_CLI, make_texture


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A model trained from an ImageJ TIFF with a 0.5 µm pixel size."""
    folder = tmp_path_factory.mktemp("tiled")
    image = folder / "tex.tif"
    data = make_texture(40, 48, dtype=np.uint16)
    tifffile.imwrite(image, data, imagej=True, metadata={"axes": "YX", "unit": "um"}, resolution=(2.0, 2.0))
    model = folder / "tex.singan"
    assert main(["train", str(image), "-o", str(model), *TINY_CLI]) == 0
    return model


def test_tiled_sample_writes_a_calibrated_bigtiff_with_progress(calibrated, tmp_path, capsys):
    out = tmp_path / "big.tif"
    argv = ["sample", str(calibrated), "-n", "2", "--height", "90", "--width", "70", "-o", str(out)]
    assert main([*argv, "--tiled", "--seed", "3", "--device", "cpu"]) == 0
    assert "tile by tile" in capsys.readouterr().out
    with tifffile.TiffFile(out) as tif:
        assert tif.is_bigtiff
        stack = tif.asarray()
        x_resolution = tif.pages[0].tags["XResolution"].value
    assert stack.shape == (2, 90, 70) and stack.dtype == np.uint16
    # 0.5 µm source pixels x 48/32 (trained at 32 px of a 48 px image) = 0.75 µm = 0.75e-4 cm per pixel
    assert x_resolution[0] / x_resolution[1] == pytest.approx(1 / 0.75e-4)
    whole = drain(generate(load_model(calibrated), 2, size=(90, 70), seed=3))
    assert (
        np.abs(stack.astype(float) - whole).mean() < 0.25 * np.abs(whole[0].astype(float) - whole[1]).mean()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["big.tif"]


def test_sample_tiles_by_itself_when_the_whole_would_not_fit(calibrated, tmp_path, capsys, monkeypatch):
    model = load_model(calibrated)
    whole, tiled = memory.sampling_bytes(model, 1, size=(1500, 1500)), memory.tiled_bytes(model, (1500, 1500))
    assert tiled < whole
    monkeypatch.setattr(memory, "available_bytes", lambda device: (whole + tiled) // 2)
    out = tmp_path / "s.tif"
    argv = [
        "sample",
        str(calibrated),
        "-n",
        "1",
        "--height",
        "1500",
        "--width",
        "1500",
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    assert "tile by tile" in capsys.readouterr().out
    assert tifffile.imread(out).shape == (1, 1500, 1500)


def test_samples_with_a_variation_too_large_for_memory_are_refused_not_tiled(
    calibrated, tmp_path, capsys, monkeypatch
):
    model = load_model(calibrated)
    monkeypatch.setattr(memory, "available_bytes", lambda device: memory.sampling_bytes(model, 4) // 2)
    out = tmp_path / "s.tif"
    argv = ["sample", str(calibrated), "-n", "4", "--variation", "0.5", "-o", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "memory" in err and "--force" in err and "--tiled" not in err and not out.exists()


@pytest.mark.parametrize(
    ("extra", "output", "match"),
    [
        (["--tiled"], "s.png", "name the output .tif"),
        (["--tiled", "--height", "99999", "--width", "99999"], "s.tif", "estimated"),
    ],
)
def test_tiled_refusals_are_one_line_and_write_nothing(calibrated, tmp_path, capsys, extra, output, match):
    assert main(["sample", str(calibrated), "-o", str(tmp_path / output), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]
    assert list(tmp_path.iterdir()) == []


def test_label_models_are_refused_tiled(tmp_path, capsys, tiny_model):
    from napari_singan.core import train

    from .conftest import TINY as CONFIG

    image = make_texture()
    model = drain(
        train(image, CONFIG.with_overrides(iters_per_scale=2), labels=(image > 128).astype(np.uint8))
    )
    path = save_model(model, tmp_path / "pairs.singan")
    assert main(["sample", str(path), "--tiled", "-o", str(tmp_path / "s.tif")]) == 2
    assert "in memory only" in capsys.readouterr().err
