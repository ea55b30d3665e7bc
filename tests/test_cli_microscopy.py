"""The CLI on microscopy files: axes, planes, pixel sizes into outputs and napari, crops, native size, the plan."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_singan._napari.layers import labels_layer_kwargs, output_layer_kwargs
from napari_singan.apps.train_many import train_one
from napari_singan.cli import main
from napari_singan.core import SinGANConfig, load_model, memory
from napari_singan.core.files import PixelSize
from napari_singan.core.microscopy import output_pixel_size, read_microscopy

from .conftest import TINY_CLI, make_texture


def _stack(*leading: int, height: int = 40, width: int = 48) -> np.ndarray:
    """uint16 textures, a different one per leading index."""
    count = int(np.prod(leading))
    planes = [make_texture(height, width, dtype=np.uint16, seed=k) for k in range(count)]
    return np.stack(planes).reshape(*leading, height, width)


def _imagej(path, data, axes, pixel=0.5):
    tifffile.imwrite(
        path, data, imagej=True, metadata={"axes": axes, "unit": "um"}, resolution=(1 / pixel,) * 2
    )
    return str(path)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("napari-singan: error: ")
    return lines[0]


def test_imagej_channels_are_found_and_the_pixel_size_reaches_the_outputs(tmp_path, capsys):
    image = _imagej(tmp_path / "cyx.tif", _stack(2), "CYX")
    model_path = tmp_path / "m.singan"
    assert main(["train", image, "-o", str(model_path), *TINY_CLI]) == 0
    plan = capsys.readouterr().out.splitlines()[0]
    model = load_model(model_path)
    (h0, w0), (h, w) = model.shapes[0], model.shapes[-1]
    head = (
        f"plan: {model.num_scales} scale(s) of {h0}x{w0} … {h}x{w} px, 32 filters, 2 iterations each: about "
    )
    assert plan.startswith(head) and plan.endswith(" on cpu")
    assert model.spec.channels == 2 and model.spec.channel_axis == 0 and model.spec.dtype == "uint16"
    assert model.metadata["pixel_size"] == [0.5, 0.5] and model.metadata["unit"] == "µm"

    out = tmp_path / "s.tif"
    assert main(["sample", str(model_path), "-n", "2", "--scale-w", "2", "-o", str(out), "--quiet"]) == 0
    expected = output_pixel_size(model)
    assert expected == PixelSize(0.5 * 40 / h, 0.5 * 48 / w, "µm")  # the model works at h x w
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].axes == "TCYX" and tif.imagej_metadata["unit"] == "micron"
        assert tif.pages.first.resolution == pytest.approx((1 / expected.x, 1 / expected.y))
        assert tif.asarray().shape == (2, 2, h, 2 * w)
    assert read_microscopy(out, {"T": 1}).pixel_size == pytest.approx(expected)

    kwargs = output_layer_kwargs(model)
    assert kwargs["scale"] == pytest.approx([1.0, 1.0, expected.y, expected.x])
    assert kwargs["units"] == ["pixel", "pixel", "µm", "µm"]
    assert labels_layer_kwargs(model)["scale"] == pytest.approx([1.0, expected.y, expected.x])


def test_application_outputs_take_the_pixel_size_of_their_input_file(tmp_path):
    """sr of a 1 µm input by 2 gives 0.5 µm pixels, whatever the model's source had (0.25 µm) or without it."""
    source = _imagej(tmp_path / "source.tif", _stack(1)[0], "YX", pixel=0.25)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, _stack(1)[0])
    inputs = _imagej(tmp_path / "in.tif", _stack(1, height=20, width=24)[0], "YX", pixel=1.0)
    for model_source in (source, str(plain)):
        model_path = tmp_path / "m.singan"
        assert main(["train", model_source, "-o", str(model_path), *TINY_CLI]) == 0
        out = tmp_path / "sr.tif"
        assert main(["sr", str(model_path), inputs, "--factor", "2", "-o", str(out), "--quiet"]) == 0
        found = read_microscopy(out)
        assert found.data.shape == (40, 48)
        assert found.pixel_size == pytest.approx(PixelSize(0.5, 0.5, "µm"))


def test_a_stack_needs_a_plane(tmp_path, capsys):
    image = _imagej(tmp_path / "zcyx.tif", _stack(3, 2), "ZCYX")
    model_path = tmp_path / "m.singan"
    assert main(["train", image, "-o", str(model_path), *TINY_CLI]) == 2
    line = _one_error_line(capsys)
    assert line.endswith("the image is a ZCYX stack (Z=3, C=2); pick one plane with --plane Z=<0..2>")
    assert not model_path.exists()
    assert main(["train", image, "--plane", "Z=7", "-o", str(model_path), *TINY_CLI]) == 2
    assert _one_error_line(capsys).endswith("--plane Z=7: the Z axis has 3 planes, numbered 0..2")
    assert main(["train", image, "--plane", "Z=1", "-o", str(model_path), *TINY_CLI]) == 0
    model = load_model(model_path)
    assert model.spec.channels == 2
    assert model.metadata["plane"] == {"Z": 1} and "plane Z=1 of a ZCYX stack" in model.metadata["note"]


def test_ome_time_series(tmp_path):
    path = tmp_path / "t.ome.tif"
    meta = {
        "axes": "TCYX",
        "PhysicalSizeX": 0.2,
        "PhysicalSizeY": 0.2,
        "PhysicalSizeXUnit": "nm",
        "PhysicalSizeYUnit": "nm",
    }
    tifffile.imwrite(path, _stack(2, 3), ome=True, metadata=meta)
    model_path = tmp_path / "m.singan"
    assert main(["train", str(path), "--plane", "T=1", "-o", str(model_path), *TINY_CLI]) == 0
    model = load_model(model_path)
    assert model.spec.channels == 3 and not model.spec.is_rgb
    assert model.metadata["pixel_size"] == pytest.approx([0.2, 0.2]) and model.metadata["unit"] == "nm"


def test_wrong_metadata_is_one_line(tmp_path, capsys):
    image = _imagej(tmp_path / "zcyx.tif", _stack(3, 2), "ZCYX")
    tifffile.tiffcomment(image, b"ImageJ=1.11a\nimages=6\nchannels=4\nslices=3\nhyperstack=true\n")
    assert main(["train", image, "--plane", "Z=0", "-o", str(tmp_path / "m.singan"), *TINY_CLI]) == 2
    assert "ImageJ metadata declares Z=3, C=4 but the file holds IYX 6x40x48" in _one_error_line(capsys)


def test_native_crop_trains_at_the_file_pixel_size(tmp_path, capsys):
    image = _imagej(tmp_path / "yx.tif", _stack(1, height=60, width=70)[0], "YX", pixel=0.3)
    model_path = tmp_path / "m.singan"
    argv = ["train", image, "--preset", "paper", "--crop", "10", "20", "30", "36", "--max-size", "native"]
    argv += ["--min-size", "14"]
    assert main([*argv, "--iters", "1", "--device", "cpu", "--quiet", "-o", str(model_path)]) == 0
    assert "… 30x36 px" in capsys.readouterr().out
    model = load_model(model_path)
    assert model.shapes[-1] == (30, 36) and model.config.pyramid.max_size == 36
    assert model.metadata["crop"] == [10, 20, 30, 36] and model.metadata["native"] is True
    assert output_pixel_size(model) == pytest.approx(PixelSize(0.3, 0.3, "µm"))
    kwargs = output_layer_kwargs(model, leading=0)
    assert kwargs["scale"] == pytest.approx([0.3, 0.3])
    assert kwargs["translate"] == pytest.approx([10 * 0.3, 20 * 0.3])  # overlays the crop on the file

    folder = tmp_path / "dataset"
    assert main(["augment", str(model_path), "-n", "1", "-o", str(folder), "--quiet"]) == 0
    with tifffile.TiffFile(folder / "images" / "00000.tif") as tif:
        assert tif.imagej_metadata["unit"] == "micron"
        assert tif.pages.first.resolution == pytest.approx((1 / 0.3, 1 / 0.3))


@pytest.mark.parametrize(
    "crop, message",
    [
        (["30", "0", "20", "20"], "the crop 20x20 at y=30, x=0 is not inside the 40x48 image"),
        (["0", "0", "10", "40"], "the crop is 10x40 px, smaller than the coarsest scale (14 px)"),
    ],
)
def test_bad_crop_is_one_line_and_writes_nothing(tmp_path, capsys, crop, message):
    tifffile.imwrite(tmp_path / "in.tif", _stack(1)[0])
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.tif"), "--crop", *crop, "-o", str(model_path), *TINY_CLI]) == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == [tmp_path / "in.tif"]


def test_memory_refusal_and_force(tmp_path, capsys, monkeypatch):
    tifffile.imwrite(tmp_path / "in.tif", _stack(1)[0])
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**6)
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), *TINY_CLI]) == 2
    line = _one_error_line(capsys)
    assert "training needs an estimated" in line and "but only 1.0 MB is available on cpu" in line
    assert "--crop Y X H W" in line and "--max-size" in line and "--force" in line
    assert not model_path.exists()
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), "--force", *TINY_CLI]) == 0
    assert load_model(model_path).is_complete


def test_a_2048_native_paper_training_is_refused_on_24_gb(tmp_path, capsys, monkeypatch):
    big = np.random.default_rng(0).integers(0, 256, (2048, 2048), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", big)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 24 * 10**9)
    model_path = tmp_path / "m.singan"
    argv = [
        "train",
        str(tmp_path / "big.tif"),
        "--preset",
        "paper",
        "--max-size",
        "native",
        "--device",
        "cpu",
        "-o",
        str(model_path),
    ]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out.startswith("plan: 17 scale(s) of 25x25 … 2048x2048 px, 32 … 128 filters, 2000 iterations")
    assert "but only 24.0 GB is available on cpu: train on a region (--crop Y X H W)" in out.err
    assert not model_path.exists()


def test_max_size_accepts_only_pixels_or_native(capsys):
    with pytest.raises(SystemExit):
        main(["train", "x.tif", "--max-size", "big", "-o", "m.singan"])
    assert "give a whole number of pixels or native, not 'big'" in capsys.readouterr().err


def test_train_many_task_takes_the_plane_and_native_size(tmp_path):
    image = _imagej(tmp_path / "zyx.tif", _stack(3, height=30, width=34), "ZYX")
    config = SinGANConfig().with_overrides(min_size=14, iters_per_scale=1)
    train_one(image, str(tmp_path / "m.singan"), config.to_dict(), device="cpu", plane={"Z": 2}, native=True)
    model = load_model(tmp_path / "m.singan")
    assert model.shapes[-1] == (30, 34) and model.metadata["native"] is True
    assert model.metadata["plane"] == {"Z": 2} and model.metadata["pixel_size"] == [0.5, 0.5]
