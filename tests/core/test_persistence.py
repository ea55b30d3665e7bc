import os

import numpy as np
import pytest
import torch

from napari_singan.core import ModelFileError, load_model, sample, save_model
from napari_singan.core.persistence import FORMAT, VERSION


def test_round_trip_is_bit_exact(tiny_model, tmp_path):
    path = save_model(tiny_model, tmp_path / "m.singan")
    loaded = load_model(path)
    assert loaded.shapes == tiny_model.shapes and loaded.noise_amps == tiny_model.noise_amps
    assert loaded.spec == tiny_model.spec and loaded.config == tiny_model.config
    assert torch.equal(loaded.z_star, tiny_model.z_star) and torch.equal(loaded.image, tiny_model.image)
    for kw in ({"seed": 4}, {"seed": 4, "start_scale": 2, "scale_w": 1.5}):
        np.testing.assert_array_equal(sample(loaded, 3, **kw), sample(tiny_model, 3, **kw))
    assert [p.name for p in tmp_path.iterdir()] == ["m.singan"]  # no temporary files left


def test_file_is_plain_weights_only(tiny_model, tmp_path):
    path = save_model(tiny_model, tmp_path / "m.singan")
    data = torch.load(path, weights_only=True)
    assert data["format"] == FORMAT and data["version"] == 1  # no labels: readable by format-1 readers
    assert len(data["generators"]) == tiny_model.num_trained
    assert all(isinstance(v, torch.Tensor) for v in data["generators"][0].values())


def test_failed_save_keeps_the_old_file(tiny_model, tmp_path, monkeypatch):
    path = save_model(tiny_model, tmp_path / "m.singan")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(tiny_model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.singan"]


def test_damaged_and_foreign_files(tiny_model, tmp_path):
    good = save_model(tiny_model, tmp_path / "m.singan").read_bytes()
    (tmp_path / "trunc.singan").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.singan").write_bytes(b"not a model at all")
    torch.save({"hello": torch.zeros(2)}, tmp_path / "foreign.pt")
    torch.save({"format": FORMAT, "version": VERSION + 1}, tmp_path / "future.singan")
    torch.save({"format": FORMAT, "version": VERSION, "config": {}}, tmp_path / "partial.singan")
    for name, match in [
        ("trunc.singan", "damaged"),
        ("junk.singan", "damaged"),
        ("foreign.pt", "not a napari-singan model"),
        ("future.singan", "newer"),
        ("partial.singan", "incomplete"),
        ("missing.singan", "no model file"),
    ]:
        with pytest.raises(ModelFileError, match=match):
            load_model(tmp_path / name)
