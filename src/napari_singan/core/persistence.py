"""One file per model: config, state_dicts and tensors only, written atomically.

The file is a ``torch.save`` archive of plain containers, tensors and numbers,
so it loads with ``torch.load(weights_only=True)``: nothing is unpickled that
could run code.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import SinGANConfig
from .device import resolve_device
from .errors import ConfigError, ModelFileError
from .files import atomic_write, prepare_output
from .images import ImageSpec
from .labels import LabelSpec
from .models import GeneratorStage, scale_width
from .singan import SinGANModel

FORMAT = "napari-singan-model"
VERSION = 2  # 2 added label channels; files of models without labels are still written as 1
#: Suggested file extension.
SUFFIX = ".singan"


def model_to_dict(model: SinGANModel) -> dict[str, Any]:
    """Everything in ``model`` as plain containers and CPU tensors."""
    state = model.discriminator_state
    return {
        "format": FORMAT,
        "version": VERSION if model.labels else 1,  # readers of format 1 can read them
        "config": model.config.to_dict(),
        "spec": model.spec.to_dict(),
        "shapes": [list(s) for s in model.shapes],
        "image": model.image.cpu(),
        "z_star": model.z_star.cpu(),
        "seed": int(model.seed),
        "noise_amps": list(model.noise_amps),
        "label_noise_amps": list(model.label_noise_amps),
        "generators": [{k: v.cpu() for k, v in g.state_dict().items()} for g in model.generators],
        "discriminator": None if state is None else {k: v.cpu() for k, v in state.items()},
        "metadata": plain(model.metadata or {}),
        "labels": None if model.labels is None else model.labels.to_dict(),
    }


def plain(value: Any) -> Any:
    """``value`` (a model's metadata) as the plain containers a ``weights_only`` load reads back.

    numpy numbers and arrays become Python numbers and lists, tuples lists and
    paths strings; dict keys may be strings, numbers, booleans or ``None``.

    Raises
    ------
    ConfigError
        For anything else (a function, an object), naming it.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        keys = [k.item() if isinstance(k, np.generic) else k for k in value]
        bad = next((k for k in keys if not (k is None or isinstance(k, bool | int | float | str))), None)
        if bad is not None:
            raise ConfigError(
                f"model metadata cannot hold the dict key {bad!r} ({type(bad).__name__}); "
                "use strings or numbers as keys"
            )
        return {k: plain(v) for k, v in zip(keys, value.values(), strict=True)}
    raise ConfigError(
        f"model metadata cannot hold {type(value).__name__} values ({value!r:.60}); "
        "keep it to numbers, strings, lists and dicts"
    )


def model_from_dict(data: dict[str, Any], device: torch.device | str = "cpu") -> SinGANModel:
    """Inverse of :func:`model_to_dict`."""
    config = SinGANConfig.from_dict(data["config"])
    spec = ImageSpec.from_dict(data["spec"])
    labels = LabelSpec.from_dict(data["labels"]) if data.get("labels") else None
    channels = spec.channels + (labels.channels if labels else 0)
    generators = nn.ModuleList()
    for scale, state in enumerate(data["generators"]):
        stage = GeneratorStage(channels, scale_width(scale, config.model), config.model)
        stage.load_state_dict(state)
        generators.append(stage.requires_grad_(False))
    disc = data["discriminator"]
    model = SinGANModel(
        config=config,
        spec=spec,
        shapes=tuple(tuple(s) for s in data["shapes"]),
        image=data["image"],
        z_star=data["z_star"],
        seed=data["seed"],
        generators=generators,
        noise_amps=tuple(data["noise_amps"]),
        label_noise_amps=tuple(data.get("label_noise_amps", ())),
        discriminator_state=disc,
        metadata=data["metadata"] or None,
        labels=labels,
    )
    _check_consistent(model)
    return model.to(device)


def _check_consistent(model: SinGANModel) -> None:
    """Raise ``ValueError`` where the parts of a model read from a file do not fit together."""
    trained, shapes = model.num_trained, model.shapes
    problems = [
        (len(shapes) < max(trained, 1), f"{len(shapes)} scale shapes for {trained} generators"),
        (len(model.noise_amps) != trained, f"{len(model.noise_amps)} noise amplitudes for {trained} scales"),
        (
            model.labels is not None and len(model.label_noise_amps) != trained,
            f"{len(model.label_noise_amps)} label noise amplitudes for {trained} scales",
        ),
        (tuple(model.z_star.shape[-2:]) != tuple(shapes[0]), "z* does not fit the coarsest scale"),
    ]
    for bad, what in problems:
        if bad:
            raise ValueError(what)


def save_model(model: SinGANModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place).

    The file's contents are read back with ``weights_only=True`` before it
    replaces anything, so an existing file at ``path`` is only ever replaced
    by a model that loads.

    Parameters
    ----------
    model
        The model; its metadata may hold numbers, strings, lists, dicts and
        numpy values (stored as Python numbers and lists).
    path
        A ``.singan`` file (``~`` is expanded); missing folders are created.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ConfigError
        If the metadata holds values a model file cannot (see :func:`plain`).
    OutputPathError
        If ``path`` lacks the ``.singan`` extension, is a folder, or cannot be
        written.

    Both are raised before anything is written or any folder made.
    """
    data = io.BytesIO()
    torch.save(model_to_dict(model), data)
    try:
        torch.load(io.BytesIO(data.getvalue()), map_location="cpu", weights_only=True)
    except Exception as exc:  # a value plain() let through that torch will not read back
        raise ConfigError(f"the model cannot be saved as a safe model file ({_first_line(exc)})") from None
    path = prepare_output(path, (SUFFIX,))
    return atomic_write(path, lambda fh: fh.write(data.getbuffer()))


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> SinGANModel:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path
        The model file.
    device
        Where the model's tensors and weights are put.

    Returns
    -------
    SinGANModel
        The (possibly partly) trained model.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, damaged (a checksum of the archive
        does not match), of another program or of a newer format version; the
        message is one line and never suggests loading the file in an unsafe way.
    SinGANError
        If ``device`` is not one of this machine's devices.
    """
    device = resolve_device(device)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()  # the first member whose CRC does not match, if any
        if damaged is not None:
            raise ModelFileError(_not_a_model(path, f"its part {damaged} is damaged"))
        data = torch.load(path, map_location="cpu", weights_only=True)
    except ModelFileError:
        raise
    except PermissionError:
        raise ModelFileError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except (
        Exception
    ):  # damaged archives raise many types; torch's advice in them (weights_only=False) is unsafe
        raise ModelFileError(_not_a_model(path, "it cannot be read as one")) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(_not_a_model(path, "it holds other data"))
    version = data.get("version", 0)
    if not isinstance(version, int):
        raise ModelFileError(_not_a_model(path, f"its format version {version!r} is not a number"))
    if version > VERSION:
        raise ModelFileError(
            f"{path} was written by a newer napari-singan (format {version}); upgrade to read it"
        )
    try:
        return model_from_dict(data, device)
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(
            f"{path} is an incomplete or inconsistent model file ({_first_line(exc)}); "
            "save the model again or train it again"
        ) from None


def _not_a_model(path: Path, reason: str) -> str:
    """The one-line message for a file that is not (or no longer) a napari-singan model."""
    return (
        f"{path} is not a napari-singan model file (or is damaged): {reason}; "
        "choose a .singan file saved by napari-singan, or train the model again"
    )


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(exc).__name__
