"""Datasets on disk: numbered image/label pairs, manifest, exact regeneration, resuming."""

import json

import numpy as np
import pytest
import torch

from napari_singan.apps.augment import MASK_NET, augment, load_pair, model_fingerprint, read_manifest
from napari_singan.core import SinGANConfig, SinGANError, drain, generate, train
from napari_singan.core.errors import OutputPathError
from napari_singan.core.events import MaskNetProgress, SampleProgress
from napari_singan.core.files import read_image
from napari_singan.core.masknet import fit_mask_net, load_mask_net

from ..conftest import make_texture
from ..core.test_labels import nuclei

PAIRS = SinGANConfig().with_overrides(max_size=32, min_size=14, iters_per_scale=8, preview_every=0)


@pytest.fixture(scope="module")
def label_model():
    image = make_texture(dtype=np.uint16)
    labels = (image > np.median(image)).astype(np.uint8) * 2
    return drain(train(image, PAIRS, labels=labels, device="cpu", seed=0))


def test_dataset_pairs_regenerate_exactly_from_the_manifest(label_model, tmp_path):
    progress = []
    manifest = drain(augment(label_model, 5, tmp_path / "ds", size=(24, 40), seed=3), progress.append)
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total == 5
    meta = read_manifest(tmp_path / "ds")
    assert manifest == tmp_path / "ds" / "manifest.json"
    assert meta["model_sha256"] == model_fingerprint(label_model) and meta["size"] == [24, 40]
    assert meta["masks"] == "redrawn"  # the default for a model trained with labels
    assert [e["index"] for e in meta["samples"]] == list(range(5))
    image, labels = load_pair(tmp_path / "ds", 3)
    assert image.shape == labels.shape == (24, 40)
    assert image.dtype == np.uint16 and labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 2}
    seed3, net = meta["samples"][3]["seed"], load_mask_net(tmp_path / "ds" / MASK_NET)
    again, again_labels = drain(
        generate(label_model, seeds=[seed3], size=(24, 40), with_labels=True, mask_net=net)
    )
    assert np.array_equal(again[0], image) and np.array_equal(again_labels[0], labels)


def test_export_resumes_and_extends_without_rewriting(label_model, tmp_path):
    folder = tmp_path / "ds"
    drain(augment(label_model, 4, folder, seed=1))
    first = {p.name: p.stat().st_mtime_ns for p in (folder / "images").iterdir()}
    (folder / "labels" / "00002.tif").unlink()  # an interrupted export lost one file
    progress = []
    drain(augment(label_model, 6, folder, seed=1), progress.append)
    assert progress[0].done == 3  # three complete pairs were kept
    kept = {name: (folder / "images" / name).stat().st_mtime_ns for name in first}
    assert {n: t for n, t in kept.items() if n != "00002.tif"} == {
        n: t for n, t in first.items() if n != "00002.tif"
    }
    assert len(read_manifest(folder)["samples"]) == 6 and (folder / "labels" / "00002.tif").is_file()
    fresh = tmp_path / "fresh"
    drain(augment(label_model, 6, fresh, seed=1))
    for i in range(6):
        assert all(np.array_equal(a, b) for a, b in zip(load_pair(folder, i), load_pair(fresh, i)))


def test_a_folder_of_another_dataset_is_refused_untouched(label_model, tmp_path):
    drain(augment(label_model, 2, tmp_path, seed=1))
    before = (tmp_path / "manifest.json").read_bytes()
    with pytest.raises(OutputPathError, match="another model or other settings"):
        drain(augment(label_model, 2, tmp_path, seed=2))
    assert (tmp_path / "manifest.json").read_bytes() == before
    with pytest.raises(SinGANError, match="at least 1"):
        drain(augment(label_model, 0, tmp_path / "other"))


def test_image_only_models_write_images_only(tiny_model, tmp_path):
    drain(augment(tiny_model, 3, tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "manifest.json"]
    assert read_image(tmp_path / "images" / "00001.tif").dtype == np.uint8
    assert "labels" not in read_manifest(tmp_path)["samples"][0]


def test_variation_is_recorded_regenerates_and_older_manifests_continue(label_model, tmp_path):
    folder = tmp_path / "ds"
    drain(augment(label_model, 2, folder, seed=1, variation=np.float32(0.3), masks="model"))  # numpy too
    meta = read_manifest(folder)
    assert meta["variation"] == float(np.float32(0.3))
    image, labels = load_pair(folder, 1)
    seed = meta["samples"][1]["seed"]
    again = drain(generate(label_model, seeds=[seed], variation=meta["variation"], with_labels=True))
    assert np.array_equal(again[0][0], image) and np.array_equal(again[1][0], labels)
    assert not np.array_equal(drain(generate(label_model, seeds=[seed]))[0], image)
    with pytest.raises(OutputPathError, match="variation 0.30000001192092896, not 1.0"):
        drain(augment(label_model, 3, folder, seed=1, masks="model"))  # another variation: another dataset
    with pytest.raises(SinGANError, match="model's own size"):  # refused before the folder is made
        drain(augment(label_model, 2, tmp_path / "other", size=(24, 40), variation=0.5))
    assert not (tmp_path / "other").exists()

    older = tmp_path / "older"  # written before manifests recorded the variation, which was 1 then
    drain(augment(label_model, 2, older, seed=1))
    manifest = read_manifest(older)
    del manifest["variation"]
    (older / "manifest.json").write_text(json.dumps(manifest))
    progress = []
    drain(augment(label_model, 3, older, seed=1), progress.append)
    assert progress[0].done == 2 and read_manifest(older)["variation"] == 1.0


def test_redrawn_masks_are_kept_regenerate_and_resume_exactly(label_model, tiny_model, tmp_path):
    folder = tmp_path / "ds"
    events = []
    drain(augment(label_model, 3, folder, seed=1), events.append)  # redrawn: the default with labels
    fit = [e for e in events if isinstance(e, MaskNetProgress)]
    assert isinstance(events[0], SampleProgress) and fit[-1].step == 60  # the fit, before the first sample
    assert events.index(fit[-1]) < events.index(next(e for e in events[1:] if isinstance(e, SampleProgress)))
    meta = read_manifest(folder)
    assert meta["masks"] == "redrawn" and (folder / MASK_NET).is_file()
    own = tmp_path / "own"
    drain(augment(label_model, 3, own, seed=1, masks="model"))
    assert read_manifest(own)["masks"] == "model" and not (own / MASK_NET).exists()
    pairs, own_pairs = [load_pair(folder, i) for i in range(3)], [load_pair(own, i) for i in range(3)]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(pairs, own_pairs))  # the same images
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, own_pairs))  # other masks
    assert all(a[1].dtype == np.uint8 and set(np.unique(a[1])) <= {0, 2} for a in pairs)
    net = load_mask_net(folder / MASK_NET)  # the kept net and the manifest regenerate a pair
    again = drain(generate(label_model, seeds=[meta["samples"][2]["seed"]], with_labels=True, mask_net=net))
    assert np.array_equal(again[0][0], pairs[2][0]) and np.array_equal(again[1][0], pairs[2][1])
    refit = drain(fit_mask_net(label_model, seed=meta["seed"]))  # and so, on this device, does a new fit
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), refit.state_dict().values()))

    (folder / "labels" / "00001.tif").unlink()  # an interrupted export lost one file
    events = []
    drain(augment(label_model, 4, folder, seed=1), events.append)
    assert not any(isinstance(e, MaskNetProgress) for e in events)  # the kept net, not fit again
    assert np.array_equal(load_pair(folder, 1)[1], pairs[1][1])
    (folder / MASK_NET).unlink()
    drain(augment(label_model, 5, folder, seed=1), events.append)  # without it, fit again and kept
    assert any(isinstance(e, MaskNetProgress) for e in events) and (folder / MASK_NET).is_file()
    with pytest.raises(OutputPathError, match="masks 'redrawn', not 'model'"):
        drain(augment(label_model, 5, folder, seed=1, masks="model"))  # the model's masks: another dataset
    (folder / MASK_NET).write_bytes(b"damaged")
    (folder / "labels" / "00004.tif").unlink()
    with pytest.raises(SinGANError, match="delete it to fit a new one"):
        drain(augment(label_model, 5, folder, seed=1))

    given = drain(fit_mask_net(label_model, seed=7))  # a net fit before, e.g. for samples in napari
    events = []
    drain(augment(label_model, 2, tmp_path / "given", seed=1, mask_net=given), events.append)
    assert not any(isinstance(e, MaskNetProgress) for e in events)  # kept and used, not fit again
    kept = load_mask_net(tmp_path / "given" / MASK_NET).state_dict()
    assert all(torch.equal(kept[k], v) for k, v in given.state_dict().items())
    with pytest.raises(SinGANError, match="leave it out, or give masks 'redrawn'"):
        drain(augment(label_model, 2, tmp_path / "no", masks="model", mask_net=given))
    image, labels = nuclei()
    other = drain(train(image, PAIRS.with_overrides(iters_per_scale=1), labels=labels, device="cpu"))
    with pytest.raises(SinGANError, match="not fit to this model"):
        drain(augment(other, 2, tmp_path / "no", mask_net=given))
    assert not (tmp_path / "no").exists()

    manifest = read_manifest(own)
    del manifest["masks"]  # written before datasets could have redrawn masks: the model's
    (own / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OutputPathError, match="masks 'model', not 'redrawn'"):
        drain(augment(label_model, 4, own, seed=1, masks="redrawn"))
    drain(augment(label_model, 4, own, seed=1))  # masks left unset: the dataset continues as it was
    assert len(read_manifest(own)["samples"]) == 4 and read_manifest(own)["masks"] == "model"
    with pytest.raises(SinGANError, match="no masks to redraw"):
        drain(augment(tiny_model, 2, tmp_path / "images", masks="redrawn"))
    with pytest.raises(SinGANError, match="model or redrawn"):
        drain(augment(label_model, 2, tmp_path / "bad", masks="annotator"))
    assert not (tmp_path / "images").exists() and not (tmp_path / "bad").exists()


def test_an_instance_dataset_of_an_earlier_versions_cut_objects_is_not_continued(label_model, tmp_path):
    image, labels = nuclei()
    model = drain(train(image, PAIRS, labels=labels, device="cpu", seed=0))
    folder = tmp_path / "ds"
    drain(augment(model, 2, folder, seed=1, masks="model"))
    assert read_manifest(folder)["objects"] == "split"  # grown from their depth (decode_labels)
    drain(augment(model, 3, folder, seed=1))  # this version's dataset continues
    assert len(read_manifest(folder)["samples"]) == 3
    manifest = read_manifest(folder)
    del manifest["objects"]  # written when the model's objects were cut along its boundary channel
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    for other in ({}, {"seed": 2}):  # with other settings too: it cannot be continued in any way
        with pytest.raises(
            OutputPathError, match="earlier version of napari-singan cut along .* empty folder$"
        ):
            drain(augment(model, 4, folder, **{"seed": 1, **other}))
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # left as it was
    drain(augment(model, 2, tmp_path / "redrawn", seed=1))  # redrawn: the kept net decodes them
    with pytest.raises(OutputPathError, match=r"\(masks 'redrawn', not 'model'\): choose"):  # masks only
        drain(augment(model, 2, tmp_path / "redrawn", seed=1, masks="model"))
    drain(augment(label_model, 2, tmp_path / "classes", seed=1, masks="model"))
    assert all("objects" not in read_manifest(tmp_path / f) for f in ("redrawn", "classes"))
