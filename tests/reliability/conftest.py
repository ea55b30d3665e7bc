"""A workspace of good and bad input files, and checks that a refusal is one line that changes nothing."""

from __future__ import annotations

import io
import pathlib
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_singan.core.persistence import FORMAT, VERSION, model_to_dict

from ..conftest import make_texture

#: Bytes every output file that already exists holds; a refused command must leave them.
EXISTING = b"an output written earlier"


def _tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns about zero-size arrays
        tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def _png(array: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", array, extension=".png")


def _torch(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _model_bytes(model) -> bytes:
    return _torch(model_to_dict(model))  # what save_model writes


@pytest.fixture(scope="session")
def workspace_files(tiny_model, reflect_model) -> dict[str, bytes]:
    """Name -> content of every file of a workspace (good inputs, bad inputs, existing outputs)."""
    texture = make_texture()  # the 40x40 uint8 training image of tiny_model
    good_model = _model_bytes(tiny_model)
    as_float = replace(tiny_model, spec=replace(tiny_model.spec, dtype="float32"))
    inconsistent = model_to_dict(tiny_model)
    inconsistent["generators"][0].pop(next(iter(inconsistent["generators"][0])))
    short_amps = {**model_to_dict(tiny_model), "noise_amps": list(tiny_model.noise_amps[:-1])}
    short_shapes = {**model_to_dict(tiny_model), "shapes": [list(s) for s in tiny_model.shapes[:-1]]}
    nan = texture.astype(np.float32)
    nan[3, 4] = np.nan
    inf = texture.astype(np.float32)
    inf[5, 6] = np.inf
    mask = np.zeros(texture.shape, np.uint8)
    mask[15:25, 12:22] = 1
    png = _png(texture)
    return {
        "m.singan": good_model,
        "reflect.singan": _model_bytes(reflect_model),
        "small.tif": _tiff(texture[:8, :8]),
        "float.singan": _model_bytes(as_float),
        "in.tif": _tiff(texture),
        "big.tif": _tiff(np.tile(texture, (25, 25))),  # 1000x1000: regenerating it needs ~0.25 GB
        "mask.tif": _tiff(mask),
        "mask_zero.tif": _tiff(np.zeros_like(mask)),
        "mask_3d.tif": _tiff(np.stack([mask] * 5)),
        "empty.tif": _tiff(np.zeros((0, 0), np.uint8)),
        "pixel.tif": _tiff(np.full((1, 1), 7, np.uint8)),
        "nan.tif": _tiff(nan),
        "inf.tif": _tiff(inf),
        "constant.tif": _tiff(np.full((40, 40), 9, np.uint16)),
        "bool.png": _png(texture > 128),
        "labels.tif": _tiff(np.where(texture > 128, 5, 0).astype(np.uint8)),
        "stack4d.tif": _tiff(np.stack([np.stack([texture] * 2)] * 2)),
        "junk.png": np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes(),
        "text.tif": b"this is a text file, renamed\n",
        "trunc.png": png[: len(png) // 2],
        "junk.singan": b"not a model at all",
        "trunc.singan": good_model[: len(good_model) // 2],
        "empty.singan": b"",
        "foreign.singan": _torch({"weights": torch.zeros(3)}),
        "pickled.singan": _torch({"path": pathlib.PurePosixPath("x")}),  # needs weights_only=False
        "future.singan": _torch({"format": FORMAT, "version": VERSION + 1}),
        "badversion.singan": _torch({"format": FORMAT, "version": "2"}),
        "inconsistent.singan": _torch(inconsistent),
        "short_amps.singan": _torch(short_amps),
        "short_shapes.singan": _torch(short_shapes),
        "out.tif": EXISTING,
        "out.png": EXISTING,
        "out.gif": EXISTING,
        "out": EXISTING,
        "out.xyz": EXISTING,
        "existing.singan": EXISTING,
    }


@pytest.fixture
def workspace(tmp_path, workspace_files) -> Path:
    """A folder holding :func:`workspace_files`, a sub-folder named like an image, and nothing else."""
    for name, content in workspace_files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "folder.tif").mkdir()
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))
    }


def assert_one_line(message: str, expected: str) -> None:
    """A user message: one line, no traceback, no unsafe advice, containing ``expected``."""
    text = message.rstrip("\n")
    assert text and "\n" not in text, message
    assert "Traceback" not in text and "weights_only" not in text, message
    assert expected in text, message
