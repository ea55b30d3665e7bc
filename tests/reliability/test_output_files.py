"""Output files: formats refused before the work, atomic writes, dataset folders, ImageJ channel axes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_singan.apps.augment import augment, read_manifest
from napari_singan.cli import main
from napari_singan.core import drain, train
from napari_singan.core.errors import ImageInputError, OutputPathError
from napari_singan.core.files import check_output_format, read_image, write_image, write_stack

from ..conftest import TINY, TINY_CLI, make_texture
from .conftest import EXISTING, assert_one_line, snapshot


@pytest.fixture(scope="module")
def rgba_model():
    return drain(
        train(make_texture(channels=4), TINY.with_overrides(iters_per_scale=2), device="cpu", seed=0)
    )


def test_jpeg_of_an_rgba_model_is_refused_before_sampling_and_the_old_file_kept(rgba_model, tmp_path, capsys):
    from napari_singan.core import save_model

    save_model(rgba_model, tmp_path / "m.singan")
    (tmp_path / "prev.jpg").write_bytes(EXISTING)
    before = snapshot(tmp_path)
    assert main(["sample", str(tmp_path / "m.singan"), "-n", "1", "-o", str(tmp_path / "prev.jpg")]) == 2
    out = capsys.readouterr()
    assert_one_line(out.err, ".jpg cannot hold RGBA uint8 images; write a .tif or .png instead")
    assert "wrote" not in out.out and snapshot(tmp_path) == before
    assert (
        main(["sample", str(tmp_path / "m.singan"), "-n", "1", "-o", str(tmp_path / "new.png"), "--quiet"])
        == 0
    )
    assert iio.imread(tmp_path / "new.png").shape == (32, 32, 4)


@pytest.mark.parametrize(
    ("dtype", "axis", "channels", "suffix", "expected"),
    [
        ("uint8", 2, 4, ".jpg", ".jpg cannot hold RGBA uint8 images; write a .tif or .png instead"),
        ("uint8", 2, 4, ".jpeg", "write a .tif or .png instead"),
        ("uint16", None, 1, ".jpg", ".jpg cannot hold grayscale uint16 images; write a .tif or .png instead"),
        ("uint16", 2, 4, ".png", ".png cannot hold RGBA uint16 images; write a .tif instead"),
        ("uint8", 2, 2, ".png", ".png cannot hold multichannel images; write a .tif instead"),
        ("uint8", 2, 2, ".mp4", ".mp4 cannot hold multichannel images; write a .tif instead"),
    ],
)
def test_formats_that_cannot_hold_the_channels_name_one_that_can(
    dtype, axis, channels, suffix, expected, tiny_model
):
    low = (0.0,) * channels
    spec = replace(tiny_model.spec, dtype=dtype, channel_axis=axis, low=low, high=low)
    with pytest.raises(OutputPathError) as info:
        check_output_format(f"x{suffix}", spec)
    assert_one_line(str(info.value), expected)


@pytest.mark.parametrize(("channels", "suffix"), [(4, ".png"), (4, ".gif"), (4, ".mp4"), (3, ".jpg")])
def test_formats_that_hold_colour_pass(channels, suffix, tiny_model):
    low = (0.0,) * channels
    check_output_format(f"x{suffix}", replace(tiny_model.spec, channel_axis=2, low=low, high=low))


def test_binary_images_go_to_png_not_jpeg(tmp_path):
    mask = make_texture() > 128
    (tmp_path / "m.jpg").write_bytes(EXISTING)
    with pytest.raises(ImageInputError) as info:
        write_image(tmp_path / "m.jpg", mask)
    assert_one_line(str(info.value), ".jpg cannot hold grayscale bool images; write a .tif or .png instead")
    assert (tmp_path / "m.jpg").read_bytes() == EXISTING
    write_image(tmp_path / "m.png", mask)
    np.testing.assert_array_equal(iio.imread(tmp_path / "m.png"), mask)


#: Child process: writes an image over an existing file while files may grow to only 4 kB (as on a full disk).
FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from napari_singan.core.files import write_stack
    noise = np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3), np.uint8)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        write_stack(sys.argv[1], noise, rgb=True)
    except OSError as exc:
        sys.exit(f"failed: {exc}")
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
@pytest.mark.parametrize("name", ["out.tif", "out.png", "out.jpg"])
def test_a_failed_write_keeps_the_existing_file_whole(name, tmp_path):
    target = tmp_path / name
    target.write_bytes(EXISTING)
    run = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True, text=True)
    assert run.returncode == 1 and run.stderr.startswith("failed: "), run.stderr
    assert snapshot(tmp_path) == {name: EXISTING}  # old content, and no temporary left beside it
    image = make_texture(channels=3)
    write_image(target, image, rgb=True)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert read_image(target).shape == image.shape


@pytest.mark.parametrize("sub", ["images", "labels"])
def test_augment_refuses_a_folder_with_files_but_no_dataset(sub, tiny_model, tmp_path):
    (tmp_path / sub).mkdir()
    tifffile.imwrite(tmp_path / sub / "00000.tif", make_texture(seed=5))
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError) as info:
        drain(augment(tiny_model, 2, tmp_path))
    assert_one_line(str(info.value), f"{tmp_path / sub} holds files that are not a napari-singan dataset")
    assert "choose an empty or new folder" in str(info.value)
    assert snapshot(tmp_path) == before


def test_an_interrupted_augment_resumes(tiny_model, tmp_path):
    work = augment(tiny_model, 3, tmp_path, seed=2)
    next(work), next(work)  # the first sample is written, the manifest not yet updated
    work.close()
    assert (tmp_path / "images" / "00000.tif").is_file() and read_manifest(tmp_path)["samples"] == []
    drain(augment(tiny_model, 3, tmp_path, seed=2))
    fresh = tmp_path / "fresh"
    drain(augment(tiny_model, 3, fresh, seed=2))
    assert len(read_manifest(tmp_path)["samples"]) == 3
    for i in range(3):
        np.testing.assert_array_equal(
            read_image(tmp_path / "images" / f"{i:05d}.tif"), read_image(fresh / "images" / f"{i:05d}.tif")
        )


@pytest.mark.parametrize(("dtype", "imagej"), [(np.uint16, True), (np.float32, True), (np.float64, False)])
def test_uncalibrated_channels_first_are_imagej_hyperstacks(dtype, imagej, tmp_path):
    stack = np.stack([np.moveaxis(make_texture(20, 30, 2, seed=s), -1, 0) for s in range(3)]).astype(dtype)
    write_stack(tmp_path / "s.tif", stack, channel_axis=0)
    write_image(tmp_path / "i.tif", stack[0], channel_axis=0)
    for name, axes, data in [("s.tif", "TCYX", stack), ("i.tif", "CYX", stack[0])]:
        with tifffile.TiffFile(tmp_path / name) as tif:
            assert tif.is_imagej == imagej
            if imagej:
                assert tif.series[0].axes == axes
            np.testing.assert_array_equal(tif.asarray(), data)


def test_sampled_channels_keep_their_axes_without_a_pixel_size(tmp_path):
    image = np.moveaxis(make_texture(40, 40, 2, dtype=np.uint16), -1, 0)
    tifffile.imwrite(tmp_path / "cyx.tif", image, imagej=True, metadata={"axes": "CYX"})
    model = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "cyx.tif"), "-o", str(model), *TINY_CLI]) == 0
    assert main(["sample", str(model), "-n", "3", "-o", str(tmp_path / "s.tif"), "--quiet"]) == 0
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TCYX" and tif.series[0].shape == (3, 2, 32, 32)
        assert tif.series[0].dtype == np.uint16
