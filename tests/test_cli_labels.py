"""The CLI's image + label pairs: train --labels, sample writes label stacks, augment writes datasets."""

import contextlib
import json

import numpy as np
import pytest
import tifffile

from napari_singan.cli import main
from napari_singan.core import load_model

from .conftest import make_texture
from .test_cli import TINY_FLAGS


def test_train_with_labels_sample_pairs_and_augment_a_dataset(tmp_path, capsys):
    image = make_texture(48, 40, dtype=np.uint16)
    labels = (image > np.median(image)).astype(np.uint8) * 5
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    model_path = tmp_path / "m.singan"
    argv = ["train", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"), "-o", str(model_path)]
    assert main([*argv, *TINY_FLAGS]) == 0
    assert load_model(model_path).labels.classes == (0, 5)
    assert main(["info", str(model_path)]) == 0
    assert "labels:    classes [0, 5], uint8, distance encoding" in capsys.readouterr().out
    one_hot = tmp_path / "one-hot.singan"
    fast = ["--label-encoding", "one-hot", "--preset", "fast"]
    flags = [*TINY_FLAGS, *fast, "--label-rec-weight", "3"]  # the last --preset counts
    assert main([*argv[:-1], str(one_hot), *flags, "--iters", "1"]) == 0
    assert load_model(one_hot).config.train.label_encoding == "one-hot"
    assert load_model(one_hot).config.train.rec_weight == 3.0  # with labels, alpha is --label-rec-weight
    assert load_model(one_hot).config.train.coarsest_iters == 0  # and fast's coarsest scales as the others
    assert load_model(one_hot).config.model.critic_norm == "after-first"  # and fast's critics
    lone = ["--rec-weight", "2", "--coarsest-iters", "3", "--critic-norm", "none"]
    assert main([*argv[:-1], str(one_hot), *fast, *lone, *TINY_FLAGS, "--iters", "1"]) == 0
    assert load_model(one_hot).config.train.rec_weight == 2.0  # --rec-weight alone applies with labels too
    assert load_model(one_hot).config.train.coarsest_iters == 3  # and so does --coarsest-iters
    assert load_model(one_hot).config.model.critic_norm == "none"  # and --critic-norm

    assert main(["sample", str(model_path), "-n", "2", "-o", str(tmp_path / "s.tif"), "--quiet"]) == 0
    stack, masks = tifffile.imread(tmp_path / "s.tif"), tifffile.imread(tmp_path / "s_labels.tif")
    assert stack.shape == masks.shape == (2, 32, 27) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 5}

    folder = tmp_path / "dataset"
    argv = [
        "augment",
        str(model_path),
        "-n",
        "3",
        "-o",
        str(folder),
        "--size",
        "20",
        "30",
        "--seed",
        "4",
        "--quiet",
    ]
    assert main(argv) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["labels"] for e in manifest["samples"]] == [f"labels/{i:05d}.tif" for i in range(3)]
    assert tifffile.imread(folder / "images" / "00002.tif").shape == (20, 30)
    assert tifffile.imread(folder / "labels" / "00002.tif").dtype == np.uint8
    assert main([*argv[:3], "5", *argv[4:]]) == 0  # extends the same dataset
    assert len(json.loads((folder / "manifest.json").read_text())["samples"]) == 5


def test_bad_labels_and_foreign_datasets_are_one_line_errors(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "img.tif", make_texture(48, 40))
    tifffile.imwrite(tmp_path / "lab.tif", np.zeros((10, 10), np.uint8))
    model_path = tmp_path / "m.singan"
    argv = ["train", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"), "-o", str(model_path)]
    assert main([*argv, *TINY_FLAGS]) == 2
    err = capsys.readouterr().err.strip()
    assert "annotate the image itself" in err and "\n" not in err and not model_path.exists()
    assert main(["train", str(tmp_path / "img.tif"), "--label-mode", "instances", "-o", str(model_path)]) == 2
    err = capsys.readouterr()
    assert (
        "give the labels too" in err.err and "plan" not in err.out and not model_path.exists()
    )  # was ignored
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "manifest.json").write_text("not json")
    assert main(["train", str(tmp_path / "img.tif"), "-o", str(model_path), *TINY_FLAGS]) == 0
    assert main(["augment", str(model_path), "-n", "1", "-o", str(tmp_path / "ds"), "--quiet"]) == 2
    assert "not a napari-singan dataset manifest" in capsys.readouterr().err


def test_label_images_that_the_format_cannot_hold_are_refused_before_sampling(tmp_path, capsys):
    image = make_texture(48, 40)  # uint8: a PNG holds the samples, but not napari's int32 labels
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", (image > np.median(image)).astype(np.int32) * 7)
    model_path = tmp_path / "m.singan"
    argv = ["train", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"), "-o", str(model_path)]
    assert main([*argv, *TINY_FLAGS, "--iters", "1"]) == 0
    capsys.readouterr()
    assert main(["sample", str(model_path), "-n", "2", "-o", str(tmp_path / "s.png"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-singan: error: the model's label images: ") and ".tif" in err, err
    assert "\n" not in err and not list(tmp_path.glob("s*"))


def test_the_training_plan_counts_the_label_channels(tmp_path, monkeypatch):
    from napari_singan.core import plan

    image = make_texture(48, 40)
    classes = (image // 64).astype(np.uint8)  # four classes: four label channels
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", classes)
    planned = []

    def stop(height, width, config, device, channels, *rest):
        planned.append(channels)
        raise KeyboardInterrupt  # enough: nothing trains

    monkeypatch.setattr(plan, "training_plan", stop)
    argv = ["train", str(tmp_path / "img.tif"), "-o", str(tmp_path / "m.singan"), *TINY_FLAGS]
    for extra in ([], ["--labels", str(tmp_path / "lab.tif"), "--label-mode", "classes"]):
        with contextlib.suppress(KeyboardInterrupt):
            main([*argv, *extra])
    assert planned == [1, 1 + 4]


def test_augment_redraws_masks_with_a_progress_bar_of_its_own(tmp_path, capsys):
    image = make_texture(32, 32, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", (image > np.median(image)).astype(np.uint8) * 5)
    model_path = tmp_path / "m.singan"
    argv = ["train", str(tmp_path / "img.tif"), "--labels", str(tmp_path / "lab.tif"), "-o", str(model_path)]
    assert main([*argv, *TINY_FLAGS]) == 0
    folder = tmp_path / "dataset"
    capsys.readouterr()
    assert main(["augment", str(model_path), "-n", "3", "-o", str(folder)]) == 0
    out = capsys.readouterr()
    assert "fitting the mask net" in out.err and out.err.index("0/60") < out.err.rindex("0/3")  # fit, then 0
    assert "3 image/label pairs (masks redrawn)" in out.out  # the default for a model with labels
    assert json.loads((folder / "manifest.json").read_text())["masks"] == "redrawn"
    masks = tifffile.imread(folder / "labels" / "00002.tif")
    assert masks.shape == (32, 32) and set(np.unique(masks)) <= {0, 5}
    for how in ("model", "redrawn"):  # sample: the same images, their masks drawn as asked
        assert (
            main(["sample", str(model_path), "-n", "2", "-o", str(tmp_path / f"{how}.tif"), "--masks", how])
            == 0
        )
    assert "fitting the mask net" in capsys.readouterr().err
    read = {
        how: [tifffile.imread(tmp_path / f"{how}{end}.tif") for end in ("", "_labels")]
        for how in ("model", "redrawn")
    }
    assert np.array_equal(read["model"][0], read["redrawn"][0])
    assert not np.array_equal(read["model"][1], read["redrawn"][1])
    assert set(np.unique(read["redrawn"][1])) <= {0, 5}

    assert main(["sample", str(model_path), "-n", "0", "-o", str(tmp_path / "none.tif")]) == 2
    err = capsys.readouterr().err
    assert "at least 1, got 0" in err and "fitting" not in err  # refused before the fit

    alone = tmp_path / "alone.singan"
    assert main(["train", str(tmp_path / "img.tif"), "-o", str(alone), *TINY_FLAGS]) == 0
    capsys.readouterr()
    for command, output in (("augment", "x"), ("sample", "x.tif")):
        assert main([command, str(alone), "-o", str(tmp_path / output), "--masks", "redrawn", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "no masks to redraw" in err and "\n" not in err and not (tmp_path / output).exists()
    with pytest.raises(SystemExit) as stop:
        main(["augment", str(model_path), "-o", str(tmp_path / "x"), "--masks", "annotator"])
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
