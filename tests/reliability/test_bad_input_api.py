"""Bad input to the Python API: a SinGANError subclass with a one-line message, and nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from napari_singan.apps import animate, edit, harmonize, paint_to_image, save_animation, super_resolve
from napari_singan.core import (
    ImageInputError,
    ModelFileError,
    SinGANError,
    drain,
    generate,
    load_model,
    memory,
    train,
)
from napari_singan.core.errors import MemoryEstimateError, OutputPathError
from napari_singan.core.files import (
    ANIMATION_SUFFIXES,
    check_output_format,
    check_output_path,
    read_image,
    write_image,
)
from napari_singan.core.memory import check_memory, generation_bytes

from ..conftest import TINY, make_texture
from .conftest import assert_one_line, snapshot

TEXTURE = make_texture()
_NAN = TEXTURE.astype(np.float32)
_NAN[3, 4] = np.nan
_INF = TEXTURE.astype(np.float32)
_INF[5, 6] = -np.inf
MASK = np.zeros(TEXTURE.shape, np.uint8)
MASK[15:25, 12:22] = 1
_DOT = np.zeros((400, 400), np.uint8)  # a 10x larger mask whose one pixel no nearest-neighbour row keeps
_DOT[1, 1] = 1

#: (case, image, part of the message) for training.
IMAGES = [
    ("empty", np.zeros((0, 0), np.uint8), "empty or too small"),
    ("empty rows", np.zeros((0, 40), np.float32), "empty or too small"),
    ("1-px", np.full((1, 1), 3, np.uint8), "empty or too small"),
    ("1-px wide", TEXTURE[:, :1], "empty or too small"),
    ("NaN", _NAN, "NaN or infinite"),
    ("inf", _INF, "NaN or infinite"),
    ("constant", np.full((40, 40), 0.5, np.float32), "constant"),
    ("constant RGB", np.full((40, 40, 3), 200, np.uint8), "constant"),
    ("boolean", TEXTURE > 128, "boolean mask"),
    ("2-valued labels", np.where(TEXTURE > 128, 3, 1).astype(np.uint16), "only two values"),
    ("2-valued float mask", (TEXTURE > 128).astype(np.float32), "only two values"),  # it trained
    ("4-D", np.stack([np.stack([TEXTURE] * 2)] * 2), "ONE 2-D image"),
    ("1-D", TEXTURE[0], "ONE 2-D image"),
    ("complex", TEXTURE.astype(np.complex64), "intensity image"),
]


@pytest.mark.parametrize(("image", "expected"), [c[1:] for c in IMAGES], ids=[c[0] for c in IMAGES])
def test_training_refuses_bad_images(image, expected, tmp_path):
    with pytest.raises(ImageInputError) as info:
        drain(train(image, TINY, device="cpu"))
    assert_one_line(str(info.value), expected)


#: (case, image, options, part of the message): images too small for the pyramid, and a bad seed.
TOO_SMALL = [
    (
        "10 px",
        TEXTURE[:10, :10],
        {},
        "11x11 receptive field: use a larger image (images are shrunk to the max",
    ),
    (
        "max size 11",
        TEXTURE,
        {"max_size": 11, "min_size": 5},
        "raise the max size (up to the image's long side",
    ),
    ("below the min size", TEXTURE[:12, :12], {}, "or a min size of at most 12 px"),
    ("min size 8", TEXTURE, {"min_size": 8}, "raise the min size above 11"),
]


@pytest.mark.parametrize(
    ("image", "options", "expected"), [c[1:] for c in TOO_SMALL], ids=[c[0] for c in TOO_SMALL]
)
def test_training_refuses_images_too_small_with_advice_that_works(image, options, expected):
    with pytest.raises(ImageInputError) as info:
        drain(train(image, TINY.with_overrides(**options), device="cpu"))
    assert_one_line(str(info.value), expected)


def test_training_refuses_a_negative_seed_before_any_work():
    work = train(TEXTURE, TINY, device="cpu", seed=-5)
    with pytest.raises(SinGANError) as info:
        next(work)
    assert_one_line(str(info.value), "the seed must be a number at least 0, got -5")


def test_a_grayscale_input_to_a_two_channel_model_is_refused(tmp_path):
    two = np.stack([TEXTURE, TEXTURE[::-1]])  # (2, H, W): channels first
    model = drain(train(two, TINY.with_overrides(iters_per_scale=1), channel_axis=0, device="cpu"))
    with pytest.raises(ImageInputError) as info:
        drain(super_resolve(model, TEXTURE, 2.0))
    assert_one_line(str(info.value), "the image has 1 channel(s) but the model was trained on 2")


def test_save_animation_refuses_zero_fps_without_writing(tiny_model, tmp_path):
    frames = np.zeros((2, *TEXTURE.shape), np.uint8)
    with pytest.raises(SinGANError) as info:
        save_animation(tmp_path / "a.gif", frames, 0.0, tiny_model)
    assert_one_line(str(info.value), "frames per second must be a number above 0")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "fps", "expected"),
    [
        ("a.gif", 0.001, "a .gif animation plays 0.01 to 50 frames per second, not 0.001"),
        ("a.gif", 60.0, "not 60; write an .mp4 for faster frames"),
        ("a.mp4", 1e-5, "a .mp4 animation plays 0.01 to 240 frames per second, not 1e-05"),
        ("a.mp4", 1e9, "a .mp4 animation plays 0.01 to 240 frames per second, not 1e+09"),
    ],
)
def test_video_frame_rates_the_formats_cannot_play_are_refused_without_writing(
    name, fps, expected, tiny_model, tmp_path
):
    frames = np.zeros((2, *TEXTURE.shape), np.uint8)
    with pytest.raises(SinGANError) as info:  # before: GIF traced back, MP4 wrote a file no player opens
        save_animation(tmp_path / name, frames, fps, tiny_model)
    assert_one_line(str(info.value), expected)
    assert not any(tmp_path.iterdir())
    assert save_animation(tmp_path / "a.tif", frames, fps, tiny_model).exists()  # a stack has no frame times


def _apps(model):
    """(case, work, part of the message): bad inputs to the applications and to generation."""
    return [
        ("sr of a NaN image", lambda: super_resolve(model, _NAN, 2.0), "NaN or infinite"),
        ("sr of a 1-px image", lambda: super_resolve(model, TEXTURE[:1, :1], 2.0), "too small"),
        ("sr by 0.5", lambda: super_resolve(model, TEXTURE, 0.5), "above 1"),
        ("sr by NaN", lambda: super_resolve(model, TEXTURE, float("nan")), "above 1, got nan"),
        (
            "sr of a uint16 image",
            lambda: super_resolve(model, TEXTURE.astype(np.uint16) * 257, 2.0),
            "uint16 but the model",
        ),
        ("edit of a float image", lambda: edit(model, TEXTURE / 255, MASK), "float64 but the model"),
        ("paint, 0 outputs", lambda: paint_to_image(model, TEXTURE, 1, num_samples=0), "at least 1, got 0"),
        (
            "paint, 10^5 colours",
            lambda: paint_to_image(model, TEXTURE, 1, quantize_colors=10**5),
            "at most 256",
        ),
        ("paint, -2 iterations", lambda: paint_to_image(model, TEXTURE, 1, fine_tune_iters=-2), "at least 0"),
        (
            "harmonize, -2 iterations",
            lambda: harmonize(model, TEXTURE, MASK, fine_tune_iters=-2),
            "at least 0",
        ),
        (
            "harmonize, NaN radius",
            lambda: harmonize(model, TEXTURE, MASK, radius=float("nan")),
            "radius must",
        ),
        ("edit, sigma -5", lambda: edit(model, TEXTURE, MASK, sigma=-5.0), "sigma must be a number"),
        ("edit, NaN mask", lambda: edit(model, TEXTURE, np.full(MASK.shape, np.nan)), "NaN or infinite"),
        ("edit, mask lost in resizing", lambda: edit(model, TEXTURE, _DOT), "vanished when resized"),
        ("generate, seed -1", lambda: generate(model, 1, seed=-1), "seed must be a number at least 0"),
        ("4-D paint", lambda: paint_to_image(model, np.stack([np.stack([TEXTURE] * 2)] * 2), 1), "ONE 2-D"),
        ("paint at scale 0", lambda: paint_to_image(model, TEXTURE, 0), "start scale must be between 1"),
        ("harmonize, all-zero mask", lambda: harmonize(model, TEXTURE, np.zeros_like(MASK)), "mask is empty"),
        ("edit, all-zero mask", lambda: edit(model, TEXTURE, np.zeros_like(MASK)), "mask is empty"),
        ("harmonize, 3-D mask", lambda: harmonize(model, TEXTURE, np.stack([MASK] * 5)), "must be a 2-D"),
        ("edit, 1-D mask", lambda: edit(model, TEXTURE, MASK[0]), "must be a 2-D"),
        ("edit, NaN image", lambda: edit(model, _NAN, MASK), "NaN or infinite"),
        ("animate 1 frame", lambda: animate(model, 1), "at least 2 frames"),
        ("generate 0 samples", lambda: generate(model, 0), "at least 1"),
        ("generate 0 px", lambda: generate(model, 1, size=(0, 5)), "at least 1x1"),
        ("generate from scale 9", lambda: generate(model, 1, start_scale=9), "start scale must be between"),
    ]


APP_CASES = [c[0] for c in _apps(None)]


@pytest.mark.parametrize("case", APP_CASES)
def test_applications_refuse_bad_inputs(case, tiny_model):
    _, work, expected = next(c for c in _apps(tiny_model) if c[0] == case)
    with pytest.raises(SinGANError) as info:
        drain(work())
    assert_one_line(str(info.value), expected)


MODEL_FILES = [
    ("junk.singan", "is not a napari-singan model file (or is damaged)"),
    ("trunc.singan", "is not a napari-singan model file (or is damaged)"),
    ("empty.singan", "is not a napari-singan model file (or is damaged)"),
    ("foreign.singan", "is not a napari-singan model file"),
    ("pickled.singan", "is not a napari-singan model file"),
    ("future.singan", "newer napari-singan"),
    ("badversion.singan", "is not a napari-singan model file"),
    ("inconsistent.singan", "incomplete or inconsistent model file"),
    ("short_amps.singan", "3 noise amplitudes for 4 scales"),
    ("short_shapes.singan", "3 scale shapes for 4 generators"),
    ("missing.singan", "no model file"),
    ("folder.tif", "no model file"),
]


@pytest.mark.parametrize(("name", "expected"), MODEL_FILES)
def test_load_model_refuses_bad_files(name, expected, workspace):
    before = snapshot(workspace)
    with pytest.raises(ModelFileError) as info:
        load_model(workspace / name)
    assert_one_line(str(info.value), expected)
    assert snapshot(workspace) == before


@pytest.mark.parametrize("name", ["junk.png", "text.tif", "trunc.png", "junk.singan", "empty.tif_missing"])
def test_read_image_refuses_unreadable_files(name, workspace):
    with pytest.raises(ImageInputError) as info:
        read_image(workspace / name)
    expected = "no image file" if name.endswith("missing") else "is not an image napari-singan can read"
    assert_one_line(str(info.value), expected)


OUTPUT_PATHS = [
    ("out", None, "no extension; name the output with one of .tif, .tiff, .png, .jpg, .jpeg"),
    ("out.xyz", None, "the extension '.xyz'"),
    ("out.TIF/", None, "is a folder"),
    ("nowhere/s.tif", None, "does not exist"),
    ("in.tif/s.tif", None, "is not a folder"),
    ("folder.tif", None, "is a folder"),
    ("a.avi", ANIMATION_SUFFIXES, "one of .gif, .mp4, .tif, .tiff"),
    ("m.pt", (".singan",), "one of .singan"),
]


@pytest.mark.parametrize(("name", "suffixes", "expected"), OUTPUT_PATHS)
def test_output_paths_are_checked_before_work(name, suffixes, expected, workspace):
    if name.endswith("/"):
        (workspace / name).mkdir()
    before = snapshot(workspace)
    with pytest.raises(OutputPathError) as info:
        check_output_path(workspace / name, *([suffixes] if suffixes else []))
    assert_one_line(str(info.value), expected)
    assert snapshot(workspace) == before


def test_good_output_paths_pass(workspace):
    assert check_output_path(workspace / "new.TIFF") == workspace / "new.TIFF"
    assert check_output_path(workspace / "out.png") == workspace / "out.png"  # existing files may be replaced
    check_output_path(workspace / "a.gif", ANIMATION_SUFFIXES)


@pytest.mark.parametrize(
    ("dtype", "axis", "low", "suffix", "expected"),
    [
        ("float32", None, (0.0,), ".png", "cannot hold float images"),
        ("uint16", None, (0.0,), ".jpg", "cannot hold grayscale uint16 images"),
        ("uint16", 2, (0.0,) * 3, ".png", "cannot hold colour uint16 images"),
        ("int16", None, (0.0,), ".png", "cannot hold grayscale int16"),
        ("uint8", 0, (0.0,) * 5, ".png", "cannot hold multichannel images"),
        ("uint8", 0, (0.0,) * 5, ".gif", "cannot hold multichannel images"),
    ],
)
def test_output_formats_that_cannot_hold_the_images(dtype, axis, low, suffix, expected, tiny_model):
    from dataclasses import replace

    spec = replace(tiny_model.spec, dtype=dtype, channel_axis=axis, low=low, high=low)
    with pytest.raises(OutputPathError) as info:
        check_output_format(f"x{suffix}", spec)
    assert_one_line(str(info.value), expected)


@pytest.mark.parametrize(
    ("dtype", "axis", "channels", "suffix"),
    [
        ("uint8", None, 1, ".jpg"),
        ("uint16", None, 1, ".png"),
        ("float64", 0, 5, ".tif"),
        ("uint16", 2, 3, ".gif"),
        ("float32", None, 1, ".mp4"),
    ],
)
def test_output_formats_that_hold_the_images(dtype, axis, channels, suffix, tiny_model):
    from dataclasses import replace

    low = (0.0,) * channels
    check_output_format(
        f"x{suffix}", replace(tiny_model.spec, dtype=dtype, channel_axis=axis, low=low, high=low)
    )


def test_write_image_refuses_formats_without_writing(tmp_path):
    with pytest.raises(ImageInputError) as info:
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint16), rgb=True)
    assert_one_line(str(info.value), ".png cannot hold colour uint16 images; write a .tif instead")
    assert list(tmp_path.iterdir()) == []


def test_save_animation_refuses_unknown_extension_without_writing(tiny_model, tmp_path):
    frames = drain(animate(tiny_model, 2))
    with pytest.raises(SinGANError) as info:
        save_animation(tmp_path / "a.avi", frames, 5.0, tiny_model)
    assert_one_line(str(info.value), ".gif")
    assert list(tmp_path.iterdir()) == []


def test_memory_check_refuses_with_estimate_and_what_to_do(tiny_model, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**9)
    needed = generation_bytes(tiny_model, (20_000, 20_000))
    with pytest.raises(MemoryEstimateError) as info:
        check_memory(needed, "cpu", force_flag="--force")
    assert_one_line(str(info.value), "of memory but only")
    assert "but only 1.0 GB is available on cpu" in str(
        info.value
    ) and "smaller output size or fewer samples, or pass --force" in str(info.value)
    check_memory(generation_bytes(tiny_model, (40, 40)), "cpu")  # a small request passes


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        (
            lambda m: paint_to_image(m, TEXTURE[:8, :8], 1, quantize_colors=3, fine_tune_iters=50),
            "the paint (8x8 px) is too small for this model from start scale 1: it needs at least",
        ),
        (
            lambda m: harmonize(m, TEXTURE[:8, :8], MASK[:8, :8] + 1, fine_tune_iters=50),
            "the composite (8x8 px) is too small for this model from start scale 1",
        ),
        (
            lambda m: edit(m, TEXTURE[:8, :8], MASK[:8, :8] + 1),
            "the edited image (8x8 px) is too small for this model from start scale 1",
        ),
        (
            lambda m: super_resolve(m, TEXTURE[:4, :4], 1.2),
            "the super-resolution input (4x4 px) is too small for this model: its first step would be 5x5 px",
        ),
    ],
    ids=["paint", "composite", "edit", "super-resolution"],
)
def test_inputs_too_small_for_the_generators_are_refused_before_any_retraining(work, expected, reflect_model):
    with pytest.raises(SinGANError) as info:
        next(work(reflect_model))  # the first step refuses: no retraining event comes before
    assert_one_line(str(info.value), expected)
