"""Many images, one model each, on a Dask distributed cluster (a LocalCluster here)."""

from dataclasses import replace

import numpy as np
import pytest
import tifffile
from distributed import LocalCluster

from napari_singan.apps.train_many import model_path_for, train_many
from napari_singan.core import ImageFinished, SinGANError, drain, load_model, save_model

from ..conftest import TINY, make_texture


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        yield local


def test_one_model_per_image_and_a_bad_image_fails_alone(cluster, tmp_path):
    paths = []
    for name, image in (
        ("a", make_texture(seed=1)),
        ("flat", np.full((40, 40), 7, np.uint8)),
        ("b", make_texture(seed=2)),
    ):
        paths.append(tmp_path / f"{name}.tif")
        tifffile.imwrite(paths[-1], image)
    labels = tmp_path / "a_labels.tif"
    tifffile.imwrite(labels, (make_texture(seed=1) > 128).astype(np.uint8))
    out = tmp_path / "models"
    events = []
    results = drain(
        train_many(
            [paths[0]],
            tmp_path / "pairs",
            TINY,
            labels=[labels],
            scheduler=cluster.scheduler_address,
            device="cpu",
        )
    )
    assert load_model(results[str(paths[0])]).labels is not None
    drain(train_many([paths[0]], out, TINY, scheduler=cluster.scheduler_address, device="cpu"))
    results = drain(
        train_many(paths, out, TINY, scheduler=cluster.scheduler_address, device="cpu"), events.append
    )
    assert all(isinstance(e, ImageFinished) for e in events) and events[-1].fraction == 1.0
    assert events[0].source == str(paths[0]) and events[0].model_path and events[0].kept  # reported first
    assert not any(e.kept for e in events[1:])
    failed = [e for e in events if e.error]
    assert [e.source for e in failed] == [str(paths[1])] and "constant" in failed[0].error
    assert "\n" not in failed[0].error and results[str(paths[1])].startswith("failed: ")
    assert load_model(model_path_for(paths[2], out)).is_complete
    assert not model_path_for(paths[1], out).exists()


def test_a_batch_run_again_keeps_its_models_and_refuses_other_settings_before_any_work(
    cluster, tmp_path, monkeypatch
):
    """A complete model was kept whatever the settings, and reported as if trained (docs sweep)."""
    monkeypatch.chdir(tmp_path)
    image, labels = tmp_path / "a.tif", tmp_path / "a_labels.tif"
    tifffile.imwrite(image, make_texture(seed=1))
    tifffile.imwrite(labels, (make_texture(seed=1) > 128).astype(np.uint8))
    drain(train_many([image], "models", TINY, labels=["a_labels.tif"], scheduler=cluster.scheduler_address))
    model_path = model_path_for(image, "models")
    written = model_path.stat().st_mtime_ns

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr("distributed.LocalCluster", no_cluster)
    events = list(train_many([image], "models", TINY, labels=[labels]))  # the same label file, named in full
    assert [e.kept for e in events] == [True] and model_path.stat().st_mtime_ns == written
    for other in ({"seed": 1}, {"config": TINY.with_overrides(iters_per_scale=13)}, {"plane": {"Z": 0}}):
        arguments = {"config": TINY, "labels": [labels], **other}
        with pytest.raises(
            SinGANError, match=r"1 model\(s\) in models were trained by train-many with other"
        ):
            drain(train_many([image], "models", arguments.pop("config"), **arguments))
    with pytest.raises(SinGANError, match=r"\(a.singan\); choose another output folder, or move them"):
        drain(train_many([image], "models", TINY))  # without the labels
    assert model_path.stat().st_mtime_ns == written
    unrecorded = load_model(model_path)  # e.g. trained by `napari-singan train`: kept as before
    save_model(replace(unrecorded, metadata={}), model_path)
    assert [e.kept for e in train_many([image], "models", TINY, seed=5)] == [True]


def test_bad_batches_are_refused_before_any_work(tmp_path):
    with pytest.raises(SinGANError, match="no file at"):
        drain(train_many([tmp_path / "missing.tif"], tmp_path, TINY))
    tifffile.imwrite(tmp_path / "x.tif", make_texture())
    with pytest.raises(SinGANError, match="one per image"):
        drain(train_many([tmp_path / "x.tif"], tmp_path, TINY, labels=[]))
    (tmp_path / "sub").mkdir()
    tifffile.imwrite(tmp_path / "sub" / "x.tif", make_texture())
    with pytest.raises(SinGANError, match="share a file name"):
        drain(train_many([tmp_path / "x.tif", tmp_path / "sub" / "x.tif"], tmp_path, TINY))


def test_cli_train_many_reports_each_image_and_exits_2_on_a_failure(cluster, tmp_path, capsys, monkeypatch):
    from napari_singan.cli import main

    tifffile.imwrite(tmp_path / "good.tif", make_texture())
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((40, 40), np.uint8))
    flags = ["--preset", "paper", "--max-size", "32", "--min-size", "14", "--iters", "4", "--device", "cpu"]
    argv = ["train-many", str(tmp_path / "good.tif"), str(tmp_path / "flat.tif"), "-o", str(tmp_path / "m")]
    assert main([*argv, "--scheduler", cluster.scheduler_address, *flags]) == 2
    out = capsys.readouterr().out
    assert "good.tif: model" in out and "flat.tif: FAILED: the image is constant" in out
    assert "1 of 2 models in" in out and load_model(tmp_path / "m" / "good.singan").is_complete
    assert main([*argv[:2], *argv[3:], "--scheduler", cluster.scheduler_address, *flags]) == 0
    assert "good.tif: kept model" in capsys.readouterr().out

    from napari_singan.core import memory  # the workers are threads of this process here

    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)
    argv = ["train-many", str(tmp_path / "good.tif"), "-o", str(tmp_path / "starved")]
    assert main([*argv, "--scheduler", cluster.scheduler_address, *flags]) == 2
    out = capsys.readouterr().out
    assert "good.tif: FAILED: training needs an estimated" in out
    assert "or pass --force to try anyway" in out and "force=True" not in out  # it said force=True


def test_a_task_estimated_beyond_memory_fails_unless_forced(tmp_path, monkeypatch):
    from napari_singan.apps.train_many import train_one
    from napari_singan.core import MemoryEstimateError, memory

    path = tmp_path / "tex.tif"
    tifffile.imwrite(path, make_texture(32, 32))
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**5)
    config = TINY.with_overrides(iters_per_scale=2).to_dict()
    with pytest.raises(MemoryEstimateError, match="pass force=True"):
        train_one(str(path), str(tmp_path / "tex.singan"), config, device="cpu")
    assert train_one(str(path), str(tmp_path / "tex.singan"), config, device="cpu", force=True)
    assert load_model(tmp_path / "tex.singan").num_trained
