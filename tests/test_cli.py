import numpy as np
import pytest
import tifffile

from napari_singan.cli import build_parser, main
from napari_singan.core import load_model

from .conftest import make_texture

TINY_FLAGS = ["--max-size", "32", "--min-size", "14", "--iters", "4", "--device", "cpu", "--quiet"]


def test_train_sample_info_end_to_end_uint16_tiff(tmp_path, capsys):
    img = make_texture(48, 40, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", img)
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), *TINY_FLAGS, "--seed", "3"]) == 0
    model = load_model(model_path)
    assert model.is_complete and model.spec.dtype == "uint16" and model.config.train.iters_per_scale == 4
    out = tmp_path / "s.tif"
    assert main(["sample", str(model_path), "-n", "3", "--scale-w", "2", "--seed", "1", "-o", str(out), "--quiet"]) == 0
    stack = tifffile.imread(out)
    assert stack.shape == (3, 32, 54) and stack.dtype == np.uint16
    assert stack.min() >= img.min() and stack.max() <= img.max()
    exact = tmp_path / "e.tif"
    main(["sample", str(model_path), "-n", "1", "--height", "20", "--width", "50", "--start-scale", "1", "-o", str(exact), "--quiet"])
    assert tifffile.imread(exact).shape == (1, 20, 50)  # always a stack
    assert main(["info", str(model_path)]) == 0
    assert "uint16" in capsys.readouterr().out


def test_rgb_png_and_resume(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "in.png", make_texture(40, 40, 3))
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.png"), "-o", str(model_path), *TINY_FLAGS]) == 0
    assert main(["train", "--resume", str(model_path), "-o", str(tmp_path / "again.singan"), "--quiet"]) == 0
    assert main(["sample", str(model_path), "-n", "2", "-o", str(tmp_path / "s.png"), "--quiet"]) == 0
    first = iio.imread(tmp_path / "s_000.png")
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8


def test_builtin_sample_is_available(tmp_path):
    args = build_parser().parse_args(["train", "--sample", "cell", "-o", "x"])
    assert args.sample == "cell" and args.preset == "paper" and args.iters is None


@pytest.mark.parametrize("argv, match", [
    (["train", "MISSING.tif", "-o", "m.singan"], "no image file"),
    (["sample", "MISSING.singan", "-o", "s.tif"], "no model file"),
    (["sample", "MISSING.singan", "-o", "s.tif", "--height", "3"], "both --height and --width"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_bad_image_content_is_reported(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((40, 40), np.uint16))
    assert main(["train", str(tmp_path / "flat.tif"), "-o", str(tmp_path / "m.singan"), *TINY_FLAGS]) == 2
    assert "constant" in capsys.readouterr().err
    assert not (tmp_path / "m.singan").exists()


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("train", "sample", "info"))
