"""The CLI uses the core's shared pieces: model metadata and out-of-memory handling."""

import tifffile

from napari_singan.cli import main
from napari_singan.core import OUT_OF_MEMORY_HINT, load_model, source_metadata

from .conftest import make_texture
from .test_cli import TINY_FLAGS


def test_training_metadata_and_host_out_of_memory(tmp_path, capsys, monkeypatch):
    tifffile.imwrite(tmp_path / "in.tif", make_texture(40, 40))
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), *TINY_FLAGS, "--iters", "1"]) == 0
    assert load_model(model_path).metadata == source_metadata(str(tmp_path / "in.tif"))

    import napari_singan.core as core

    def exhausted(*args, **kwargs):
        raise RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried to allocate")
        yield

    monkeypatch.setattr(core, "generate", exhausted)
    capsys.readouterr()
    assert main(["sample", str(model_path), "-o", str(tmp_path / "s.tif"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == f"napari-singan: error: {OUT_OF_MEMORY_HINT}"
