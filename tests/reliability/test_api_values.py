"""Values a notebook passes to the Python API: numpy numbers, odd types and paths, damaged files."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from napari_singan.apps import (
    animate,
    edit,
    fine_tune,
    harmonize,
    paint_to_image,
    save_animation,
    super_resolve,
)
from napari_singan.apps.augment import augment, load_pair
from napari_singan.apps.train_many import train_many
from napari_singan.core import (
    ConfigError,
    ImageInputError,
    MemoryEstimateError,
    ModelFileError,
    OutputPathError,
    ScaleStarted,
    SinGANError,
    TrainingError,
    drain,
    generate,
    load_model,
    memory,
    plan,
    pyramid_shapes,
    resume,
    sample,
    save_model,
    train,
)
from napari_singan.metrics import border_score, evaluate, measure_model, training_image

from ..conftest import TINY, make_texture
from .conftest import assert_one_line

NUMPY_META = {"scale": np.array([0.5, 0.25]), "n": np.int64(3), "file": Path("/data/cell.tif"), "t": (1, 2)}


def test_numpy_values_in_seed_config_and_metadata_save_and_load(tmp_path):
    config = TINY.with_overrides(max_size=np.int64(24), rec_weight=np.float32(10), iters_per_scale=4)
    model = drain(train(make_texture(24, 24), config, seed=np.int64(3), metadata=NUMPY_META))
    assert model.seed == 3 and type(model.seed) is int
    assert type(model.config.pyramid.max_size) is int and type(model.config.train.rec_weight) is float
    loaded = load_model(save_model(model, tmp_path / "m.singan"))
    assert loaded.metadata == {"scale": [0.5, 0.25], "n": 3, "file": "/data/cell.tif", "t": [1, 2]}
    assert loaded.config == model.config
    np.testing.assert_array_equal(sample(loaded, 2, seed=1), sample(model, 2, seed=1))


def test_a_model_that_would_not_load_never_replaces_a_file(tiny_model, tmp_path):
    path = save_model(tiny_model, tmp_path / "m.singan")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="cannot hold function values"):
        save_model(replace(tiny_model, metadata={"callback": lambda: None}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.singan"]  # no temporary file left


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data.tif", "has the extension '.tif'; name the output with one of .singan"),
        ("notes", "has no extension"),
        ("a_file/m.singan", "a_file is not a folder"),
    ],
)
def test_save_model_refuses_paths_that_are_not_model_files(tiny_model, tmp_path, name, expected):
    (tmp_path / "data.tif").write_bytes(b"an image")
    (tmp_path / "a_file").write_bytes(b"not a folder")
    with pytest.raises(OutputPathError) as info:
        save_model(tiny_model, tmp_path / name)
    assert_one_line(str(info.value), expected)
    assert (tmp_path / "data.tif").read_bytes() == b"an image"
    assert (tmp_path / "a_file").read_bytes() == b"not a folder"


def test_save_model_expands_home_and_creates_folders(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = save_model(tiny_model, "~/models/new/m.singan")
    assert path == tmp_path / "models" / "new" / "m.singan" and load_model(path).num_trained


def test_a_damaged_archive_is_refused_not_loaded(tiny_model, tmp_path):
    path = save_model(tiny_model, tmp_path / "m.singan")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2  # inside the weights; the archive's structure still reads
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert_one_line(str(info.value), "is damaged")


@pytest.mark.parametrize("device", ["gpu", None, 3])
def test_load_model_names_a_bad_device_not_the_file(tiny_model, tmp_path, device):
    path = save_model(tiny_model, tmp_path / "m.singan")
    with pytest.raises(SinGANError) as info:
        load_model(path, device=device)
    assert not isinstance(info.value, ModelFileError)
    assert_one_line(str(info.value), "unknown device")


CONFIGS = [
    ("half iterations", {"iters_per_scale": 2.5}, "iters per scale must be a whole number, got 2.5"),
    ("text iterations", {"iters_per_scale": "10"}, "iters per scale must be a whole number, got '10'"),
    ("infinite size", {"max_size": float("inf")}, "max size must be a whole number"),
    ("bool width", {"base_width": True}, "base width must be a whole number, got True"),
    ("infinite lr", {"lr_g": float("inf")}, "lr g must be a finite number, got inf"),
    ("NaN slope", {"leaky_slope": float("nan")}, "leaky slope must be a finite number"),
    ("slope 1", {"leaky_slope": 1.0}, "leaky slope must be in [0, 1)"),
    ("text flag", {"fused_adam": "no"}, "fused adam must be True or False, got 'no'"),
]


@pytest.mark.parametrize(("overrides", "expected"), [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_config_values_of_the_wrong_kind_are_refused(overrides, expected):
    with pytest.raises(ConfigError) as info:
        TINY.with_overrides(**overrides)
    assert_one_line(str(info.value), expected)


def test_whole_floats_and_numpy_numbers_are_taken_as_python_values():
    config = TINY.with_overrides(iters_per_scale=40.0, fused_adam=np.bool_(False), lr_d=np.float64(1e-4))
    assert config.train.iters_per_scale == 40 and type(config.train.iters_per_scale) is int
    assert config.train.fused_adam is False and type(config.train.lr_d) is float


def test_numpy_seeds_give_the_samples_of_their_python_values(tiny_model):
    np.testing.assert_array_equal(sample(tiny_model, 2, seed=np.int64(7)), sample(tiny_model, 2, seed=7))
    np.testing.assert_array_equal(sample(tiny_model, seeds=np.arange(3)), sample(tiny_model, seeds=[0, 1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"seed": 1.5}, "the seed must be a whole number, got 1.5"),
        ({"seed": "0"}, "the seed must be a whole number, got '0'"),
        ({"seeds": [2**64]}, "each of the seeds must be below 2**64"),
        ({"seeds": [0.5]}, "each of the seeds must be a whole number"),
    ],
)
def test_bad_seeds_are_refused_in_one_line(tiny_model, kwargs, expected):
    with pytest.raises(ConfigError) as info:
        sample(tiny_model, 1, **kwargs)
    assert_one_line(str(info.value), expected)


def test_a_diverging_training_stops_with_what_to_do():
    config = TINY.with_overrides(max_size=24, iters_per_scale=4, lr_g=1e30, lr_d=1e30)
    with pytest.raises(TrainingError) as info:
        drain(train(make_texture(24, 24), config, device=torch.device("cpu")))
    assert_one_line(str(info.value), "training diverged at scale 0")
    assert "lower the learning rates" in str(info.value)


def test_star_import_gives_the_api():
    code = "from napari_singan import *; print(train.__name__, load_model.__name__, TrainingError.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["train", "load_model", "TrainingError"]


def _api_calls(model, folder):
    """Every Python API call that allocates by its arguments, with arguments that fit a 32 px model."""
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 1
    texture = make_texture(32, 32)
    return {
        "generate": lambda force: generate(model, 3, force=force),
        "super_resolve": lambda force: super_resolve(model, texture, 2.0, force=force),
        "paint_to_image": lambda force: paint_to_image(model, texture, 1, num_samples=2, force=force),
        "harmonize": lambda force: harmonize(model, texture, mask, force=force),
        "edit": lambda force: edit(model, texture, mask, force=force),
        "animate": lambda force: animate(model, 3, force=force),
        "augment": lambda force: augment(model, 2, folder, force=force),
        "measure_model": lambda force: measure_model(model, 2, force=force),
        "train": lambda force: train(texture, TINY.with_overrides(iters_per_scale=2), force=force),
        "resume": lambda force: resume(
            replace(model, generators=nn.ModuleList(model.generators[:1]), noise_amps=model.noise_amps[:1]),
            force=force,
        ),
    }


@pytest.mark.parametrize("call", list(_api_calls(None, None)))
def test_the_api_refuses_work_beyond_the_memory_available_before_any_of_it(
    call, tiny_model, tmp_path, monkeypatch
):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)  # 100 kB
    work = _api_calls(tiny_model, tmp_path / "dataset")[call]
    with pytest.raises(MemoryEstimateError) as info:
        next(work(False))
    assert_one_line(str(info.value), "of memory but only 0.1 MB is available on cpu")
    assert "pass force=True to try anyway" in str(info.value)
    assert not (tmp_path / "dataset").exists()  # augment claimed no folder
    next(work(True))  # force: the work starts


def test_a_huge_feathering_sigma_blurs_as_the_diagonal_does_without_the_memory(tiny_model):
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 1
    texture = make_texture(32, 32)
    diagonal = math.hypot(*tiny_model.trained_shapes[-1])  # sigma is in the model's pixels
    huge = drain(harmonize(tiny_model, texture, mask, sigma=1e9))  # scipy asked 60 GiB for its kernel
    np.testing.assert_array_equal(huge, drain(harmonize(tiny_model, texture, mask, sigma=diagonal)))
    assert not np.array_equal(huge, drain(harmonize(tiny_model, texture, mask, sigma=5.0)))


def test_augment_checks_every_argument_before_it_makes_the_folder(tiny_model, tmp_path):
    for kwargs in ({"seed": -1}, {"size": (32.5, 32)}, {"num_samples": 1.5}):
        with pytest.raises(ConfigError):
            next(augment(tiny_model, **{"num_samples": 2, "folder": tmp_path / "ds", **kwargs}))
        assert not (tmp_path / "ds").exists(), kwargs
    drain(augment(tiny_model, 2, tmp_path / "ds", seed=0))  # the corrected call is not refused
    assert sorted(p.name for p in (tmp_path / "ds" / "images").iterdir()) == ["00000.tif", "00001.tif"]


def test_train_takes_a_preset_name_and_refuses_other_configs():
    texture = make_texture(48, 48)
    assert isinstance(next(train(texture, "fast")), ScaleStarted)
    with pytest.raises(TypeError, match="config must be a SinGANConfig or a preset's name, got dict"):
        next(train(texture, {"max_size": 24}))


def test_metrics_refuse_samples_in_other_units_and_non_finite_values(tiny_model):
    samples, image = sample(tiny_model, 3, seed=0), training_image(tiny_model)
    assert (
        evaluate(samples.astype(np.float32) / 1, image.astype(np.float64)).patch_swd >= 0
    )  # both float: fine
    nan = samples.astype(np.float32)
    nan[0, 3, 3] = np.nan
    for bad, expected in (
        (samples / 255.0, "the samples are float64 but the image is uint8: give both in the same units"),
        (samples.astype(np.uint16) * 257, "the samples are uint16 but the image is uint8"),
        (samples[0], "samples must be a stack (N, H, W[, C]), got one (32, 32) image"),
    ):
        with pytest.raises(ImageInputError) as info:
            evaluate(bad, image)
        assert_one_line(str(info.value), expected)
    with pytest.raises(ImageInputError, match="NaN or infinite"):
        evaluate(nan, image.astype(np.float32))
    with pytest.raises(ConfigError, match="the border band must be a number at least 1, got 0"):
        border_score(samples, band=0)


def test_save_animation_checks_path_and_frames_before_writing(tiny_model, tmp_path):
    frames = drain(animate(tiny_model, 2))
    (tmp_path / "taken.gif").mkdir()
    for path, bad, expected in (
        (tmp_path / "taken.gif", frames, "is a folder"),
        (
            tmp_path / "a.tif",
            frames.astype(np.float64),
            "the image is float64 but the model was trained on uint8",
        ),
        (tmp_path / "b.gif", frames[0], "frames must be a (T, H, W[, C]) stack"),
    ):
        with pytest.raises(SinGANError) as info:
            save_animation(path, bad, 10.0, tiny_model)
        assert_one_line(str(info.value), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.gif"]
    assert save_animation(tmp_path / "new" / "c.gif", frames, 10.0, tiny_model).is_file()


def test_tensors_that_require_grad_train_and_channel_axes_must_be_whole():
    image = torch.tensor(make_texture(40, 40), dtype=torch.float32, requires_grad=True)
    assert isinstance(next(train(image, TINY)), ScaleStarted)
    with pytest.raises(ConfigError, match="the channel axis must be a whole number, got '0'"):
        next(train(np.stack([make_texture(40, 40)] * 2), TINY, channel_axis="0"))


def test_dataset_and_batch_helpers_say_what_is_wrong(tiny_model, tmp_path):
    drain(augment(tiny_model, 2, tmp_path / "ds"))
    with pytest.raises(SinGANError, match="holds no sample 7: its 2 samples are numbered from 0"):
        load_pair(tmp_path / "ds", 7)
    for images, kwargs, expected in (
        ("cell.tif", {}, "images must be a list of image files, got one: cell.tif"),
        ([], {}, "no images given"),
        (["cell.tif"], {"seed": -1}, "the seed must be a number at least 0"),
    ):
        with pytest.raises(SinGANError, match=re.escape(expected)):
            next(train_many(images, tmp_path / "models", **kwargs))
    assert not (tmp_path / "models").exists()  # nor a cluster started


def test_odd_but_plausible_application_inputs(tiny_model):
    texture = make_texture(32, 32)
    plane = drain(super_resolve(tiny_model, texture, 2.0))
    np.testing.assert_array_equal(drain(super_resolve(tiny_model, texture[..., None], 2.0)), plane)
    with pytest.raises(ConfigError, match="the number of scales to fine-tune must be a number at least 1"):
        next(fine_tune(tiny_model, texture, scales=0))
    with pytest.raises(SinGANError, match="give start_scale 1 or more"):
        generate(tiny_model, 1, injected=tiny_model.image).send(None)
    with pytest.raises(SinGANError, match="injected must be a"):
        generate(tiny_model, 1, start_scale=1, injected=texture).send(None)


def test_uint64_class_ids_beyond_int64_come_back():
    image = make_texture(32, 32)
    labels = np.where(image > 128, np.uint64(2**63 + 5), np.uint64(1))
    model = drain(train(image, TINY.with_overrides(iters_per_scale=2), labels=labels, label_mode="classes"))
    _, pairs = sample(model, 1, seed=0, with_labels=True)
    assert pairs.dtype == np.uint64 and set(np.unique(pairs)) <= {1, 2**63 + 5}


def test_a_label_mode_without_labels_is_refused_not_ignored():
    with pytest.raises(ImageInputError, match="the label mode 'instances' applies to a label image"):
        next(train(make_texture(32, 32), TINY, label_mode="instances"))
    with pytest.raises(ImageInputError, match="label mode must be auto, classes or instances, got 'bogus'"):
        next(train(make_texture(32, 32), TINY, label_mode="bogus"))  # not: give the labels too


def test_pyramid_shapes_of_no_pixels_are_refused():
    with pytest.raises(ConfigError, match="the image height must be a number at least 1, got 0"):
        pyramid_shapes(0, 0, TINY.pyramid)


def test_metadata_with_number_keys_saves_and_a_bad_key_is_named(tiny_model, tmp_path):
    meta = {"channels": {0: "DAPI", np.int64(1): "GFP"}, "none": {None: 1}}
    path = save_model(replace(tiny_model, metadata=meta), tmp_path / "m.singan")
    assert load_model(path).metadata == {"channels": {0: "DAPI", 1: "GFP"}, "none": {None: 1}}
    with pytest.raises(ConfigError) as info:
        save_model(replace(tiny_model, metadata={"c": {(0, 1): "pair"}}), tmp_path / "new" / "n.singan")
    assert_one_line(str(info.value), "model metadata cannot hold the dict key (0, 1) (tuple)")
    assert not (tmp_path / "new").exists()  # refused before any folder was made


def test_fine_tuning_estimates_only_the_scales_it_retrains_and_force_reaches_it(tiny_model, monkeypatch):
    texture, mask = make_texture(32, 32), np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 1
    estimated = []  # (first scale, number of scales) of each training estimate
    original = plan.training_bytes

    def spy(*args, **kwargs):
        estimated.append((args[5], len(args[6])))
        return original(*args, **kwargs)

    monkeypatch.setattr(plan, "training_bytes", spy)
    last = tiny_model.num_trained - 1
    drain(fine_tune(tiny_model, texture, scales=1, iters=1))
    drain(paint_to_image(tiny_model, texture, 1, fine_tune_iters=1, quantize_colors=3))
    assert estimated == [(last, last + 1), (1, 2)]  # paint retrains scale 1 alone, not up to the finest
    monkeypatch.undo()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)
    with pytest.raises(
        MemoryEstimateError, match=r"leave out the fine-tuning \(fine_tune_iters=0, --fine-tune 0\)"
    ):
        drain(fine_tune(tiny_model, texture, scales=1, iters=1))  # it said: train at a smaller max_size
    for work in (
        harmonize(tiny_model, texture, mask, fine_tune_iters=1, force=True),
        paint_to_image(tiny_model, texture, 1, fine_tune_iters=1, quantize_colors=3, force=True),
    ):
        drain(work)  # no refusal: force reaches the retraining


def test_zero_dimensional_arrays_are_numbers():
    config = TINY.with_overrides(lr_g=np.array(1e-4), iters_per_scale=torch.tensor(7))
    assert config.train.lr_g == 1e-4 and config.train.iters_per_scale == 7


def test_a_masked_array_with_masked_pixels_is_refused_not_unmasked():
    image = np.ma.masked_array(make_texture(40, 40), mask=np.zeros((40, 40), bool))
    assert isinstance(next(train(image, TINY)), ScaleStarted)  # nothing masked: an image like any
    image.mask[5:9, 5:9] = True
    with pytest.raises(ImageInputError) as info:
        next(train(image, TINY))
    assert_one_line(str(info.value), "the image is a masked array with masked pixels")
