"""Synthetic training data on disk: numbered image (+ label) TIFF pairs and a manifest.

The manifest records what regenerates every sample exactly: the model's
fingerprint, the output size, the start scale, the variation, where the masks
come from and each sample's own seed; redrawn masks come from the net kept
beside it (``mask_net.pt``).
Writing is resumable: samples whose files and manifest entries exist are
skipped, so an interrupted export continues where it stopped, and a larger
``num_samples`` extends a dataset with the same first samples. The manifest is
written before the first sample, so a folder with image files but no manifest
is not a dataset, and is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.config import MaskSource
from ..core.errors import OutputPathError, SinGANError, check_seed, check_whole
from ..core.events import MaskNetProgress, SampleProgress, drain
from ..core.files import atomic_write, write_image
from ..core.masknet import check_mask_net, check_mask_source, fit_mask_net, load_mask_net, save_mask_net
from ..core.memory import check_generation
from ..core.microscopy import output_pixel_size
from ..core.pyramid import Shape
from ..core.sampling import check_variation, generate, runnable_shapes, sample_seeds
from ..core.singan import SinGANModel

MANIFEST = "manifest.json"
#: The net that redraws a dataset's masks (masks="redrawn"), kept so that the dataset resumes and
#: regenerates with that very net (:func:`napari_singan.core.masknet.load_mask_net`).
MASK_NET = "mask_net.pt"
FORMAT = "napari-singan-dataset"
VERSION = 1
#: Settings added to the manifest since version 1, with the value an older manifest meant.
ADDED_SETTINGS = {"variation": 1.0, "masks": "model", "objects": "cut"}
#: Samples written between manifest updates (an interrupted export loses at most these).
MANIFEST_EVERY = 16


def model_fingerprint(model: SinGANModel) -> str:
    """SHA-256 of everything that determines a model's samples (weights, noise, geometry, config).

    Parameters
    ----------
    model
        The model.

    Returns
    -------
    str
        The hex digest, as written in a dataset's manifest.
    """
    digest = hashlib.sha256()
    facts = {
        "config": model.config.to_dict(),
        "shapes": model.shapes,
        "amps": model.noise_amps,
        "spec": model.spec.to_dict(),
    }
    facts["labels"] = model.labels.to_dict() if model.labels else None
    digest.update(json.dumps(facts, sort_keys=True).encode())
    for tensor in (model.image, model.z_star):
        digest.update(tensor.detach().cpu().numpy().tobytes())
    for stage in model.generators:
        for name, value in stage.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def augment(
    model: SinGANModel,
    num_samples: int,
    folder: str | os.PathLike,
    *,
    size: Shape | None = None,
    start_scale: int = 0,
    variation: float = 1.0,
    seed: int = 0,
    masks: MaskSource | None = None,
    mask_net: torch.nn.Module | None = None,
    force: bool = False,
) -> Generator[SampleProgress | MaskNetProgress, None, Path]:
    """Write ``num_samples`` generated images (and label images) to ``folder``.

    Parameters
    ----------
    model
        Trained model; with labels (see :mod:`napari_singan.core.labels`) every
        image gets its label image.
    num_samples
        Size of the dataset.
    folder
        Output folder: ``images/00000.tif``, ``labels/00000.tif`` (label
        models), ``manifest.json``, ``mask_net.pt`` (redrawn masks). Created if missing; a folder holding a
        dataset of another model or other settings, or files in ``images/`` or
        ``labels/`` without a manifest, is refused.
    size
        Output ``(H, W)`` in pixels (default: the model's training size).
    start_scale
        Generation starts at this scale (0: most diverse; higher keeps the
        training image's layout).
    variation
        From 1 (every sample a new layout) to 0 (the training image's layout),
        see :func:`~napari_singan.core.sampling.check_variation`; below 1 the
        labels follow the images more closely (measured in docs/augmentation.md).
    seed
        Sample ``i`` is the ``i``-th of :func:`~napari_singan.core.sampling.sample_seeds`.
    masks
        ``"redrawn"``: a small net, fit first (about 25 s on a CPU, seeded by ``seed``) to the model's
        training image and labels and kept as ``mask_net.pt``, draws each label image from its image
        (:mod:`napari_singan.core.masknet`); segmenters trained on such pairs scored nearly as well as on
        the annotated crop, 0.03 Dice above ``"model"``, the label images the model draws with each image
        (docs/augmentation.md#redrawn-masks). ``None``: the masks of the dataset already in ``folder``,
        else ``"redrawn"`` for a model trained with labels.
    mask_net
        With redrawn masks, a net already fit to this model (:func:`~napari_singan.core.masknet.fit_mask_net`)
        to keep and use instead of fitting one; a dataset that keeps its own goes on with that one.
    force
        Skip the memory estimate that refuses, before any work, samples that
        would not fit in the device's available memory.

    Yields
    ------
    SampleProgress or MaskNetProgress
        Samples present so far (written now or before) out of ``num_samples``; with ``masks="redrawn"``
        first the fit of the net, when there are samples to write.

    Returns
    -------
    pathlib.Path
        The manifest.
    """
    # Every argument is checked before the folder is made or claimed.
    num_samples = check_whole("the number of samples", num_samples, 1)
    seed = check_seed(seed)
    seeds = sample_seeds(seed, num_samples)
    shapes = runnable_shapes(model, start_scale, size=size)
    variation = check_variation(model, variation, start_scale, shapes)  # a float the manifest can hold
    height, width = shapes[-1]
    check_generation(model, (height, width), force=force)  # one sample at a time
    folder = Path(folder)
    old = _old_manifest(folder)  # None: no dataset there yet
    if masks is None and old is not None and model.labels is not None and old.get("labels"):
        masks = old.get("masks", ADDED_SETTINGS["masks"])  # unset: the dataset continues as it was written
    masks = check_mask_source(model, masks)
    if mask_net is not None:
        if masks != "redrawn":
            raise SinGANError("a mask net redraws masks: leave it out, or give masks 'redrawn'")
        check_mask_net(mask_net, model)
    settings = {
        "format": FORMAT,
        "version": VERSION,
        "model_sha256": model_fingerprint(model),
        "size": [height, width],
        "start_scale": start_scale,
        "variation": variation,
        "seed": seed,
        "labels": model.labels is not None,
        "masks": masks,
        "dtype": model.spec.dtype,
        "device": model.device.type,  # the same seed gives other numbers on another kind of device
    }
    if model.labels is not None and model.labels.instances and masks == "model":
        # the model's own objects grow from their depth; earlier versions cut them along the boundary
        # channel ("cut"), so such a dataset cannot go on with the same masks
        settings["objects"] = "split"
    entries = _existing_entries(folder, old, settings)
    for sub in ("images", "labels") if model.labels else ("images",):
        _make_folder(folder / sub)
    _write_manifest(folder, settings, entries)  # marks the folder as this dataset's before any sample
    pixel_size = output_pixel_size(model)  # the model's resolution, whatever the output size
    todo = [i for i in range(num_samples) if i not in entries]
    yield SampleProgress(num_samples - len(todo), num_samples)
    net = (
        (yield from _mask_net(model, folder, seed, old is not None, mask_net))
        if todo and masks == "redrawn"
        else None
    )
    for count, index in enumerate(todo, start=1):
        # One sample per call: conv arithmetic depends on the batch size, and alone a sample
        # regenerates bit-exactly from its seed (generate(model, seeds=[seed], ...)).
        out = drain(
            generate(
                model,
                seeds=[seeds[index]],
                size=(height, width),
                start_scale=start_scale,
                variation=variation,
                with_labels=model.labels is not None,
                mask_net=net,
                force=True,  # checked above
            )
        )
        image, labels = (out[0][0], out[1][0]) if model.labels else (out[0], None)
        entry = {"index": index, "seed": seeds[index], "image": f"images/{index:05d}.tif"}
        write_image(folder / entry["image"], image, model.spec.is_rgb, pixel_size, model.spec.channel_axis)
        if labels is not None:
            entry["labels"] = f"labels/{index:05d}.tif"
            write_image(folder / entry["labels"], labels, pixel_size=pixel_size)
        entries[index] = entry
        if count % MANIFEST_EVERY == 0:
            _write_manifest(folder, settings, entries)
        yield SampleProgress(num_samples - len(todo) + count, num_samples)
    return _write_manifest(folder, settings, entries)


def _mask_net(
    model: SinGANModel, folder: Path, seed: int, resuming: bool, given: torch.nn.Module | None
) -> Generator[MaskNetProgress, None, torch.nn.Module]:
    """The dataset's mask net: the one kept in ``folder`` when an export of the same settings resumes (its
    manifest matched), else ``given`` or one fit now, and kept."""
    path = folder / MASK_NET
    if resuming and path.is_file():
        return load_mask_net(path, model.device)
    net = given if given is not None else (yield from fit_mask_net(model, seed=seed))
    save_mask_net(net, path)
    return net


def _old_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of the dataset already in ``folder`` (``None``: none there yet); a folder with files in
    ``images/`` or ``labels/`` but no manifest, or a manifest that is not a dataset's, is refused."""
    path = folder / MANIFEST
    if not path.is_file():
        taken = [
            sub for sub in ("images", "labels") if (folder / sub).is_dir() and any((folder / sub).iterdir())
        ]
        if taken:
            raise OutputPathError(
                f"{folder / taken[0]} holds files that are not a napari-singan dataset: "
                "choose an empty or new folder"
            )
        return None
    try:
        old = json.loads(path.read_text())
    except ValueError:
        old = None
    if not isinstance(old, dict) or not isinstance(old.get("samples"), list):
        raise OutputPathError(f"{path} is not a napari-singan dataset manifest: choose another folder")
    return old


def _existing_entries(
    folder: Path, old: dict[str, Any] | None, settings: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """Entries of the earlier export ``old`` (its manifest) with the same settings whose files still exist;
    an export of other settings is refused."""
    if old is None:
        return {}
    held = {key: old.get(key, ADDED_SETTINGS.get(key)) for key in settings}
    changed = [key for key, value in settings.items() if held[key] != value]
    if "objects" in changed and held["masks"] == "model":
        raise OutputPathError(
            f"{folder} holds instance masks that an earlier version of napari-singan cut along the "
            "model's boundary channel, and new samples would not match them: choose an empty folder"
        )
    differ = [  # (other masks: their objects differ too, said once)
        "another model" if key == "model_sha256" else f"{key} {held[key]!r}, not {settings[key]!r}"
        for key in changed
        if key != "objects"
    ]
    if differ:
        raise OutputPathError(
            f"{folder} holds a dataset of another model or other settings ({'; '.join(differ)}): "
            "choose an empty folder, or continue it with its own settings"
        )
    files = ("image", "labels") if settings["labels"] else ("image",)
    return {e["index"]: e for e in old["samples"] if all((folder / e.get(f, "")).is_file() for f in files)}


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the folder {path}: {exc.strerror}") from None


def _write_manifest(folder: Path, settings: dict[str, Any], entries: dict[int, dict[str, Any]]) -> Path:
    """Write the manifest atomically (a crash leaves the old one or the new one)."""
    path = folder / MANIFEST
    text = json.dumps({**settings, "samples": [entries[i] for i in sorted(entries)]}, indent=1)
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a dataset written by :func:`augment`.

    Parameters
    ----------
    folder
        The dataset's folder.

    Returns
    -------
    dict
        Settings and one entry per sample (index, seed, file names).
    """
    return json.loads((Path(folder) / MANIFEST).read_text())


def load_pair(folder: str | os.PathLike, index: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Image and label image of one sample of a dataset written by :func:`augment`.

    Parameters
    ----------
    folder
        The dataset's folder.
    index
        The sample's number.

    Returns
    -------
    image, labels
        As written; ``labels`` is ``None`` for datasets of image-only models.
    """
    from ..core.files import read_image

    samples = read_manifest(folder)["samples"]
    entry = next((e for e in samples if e["index"] == index), None)
    if entry is None:
        raise SinGANError(
            f"{folder} holds no sample {index!r}: its {len(samples)} samples are numbered from 0"
        )
    labels = entry.get("labels")
    return read_image(Path(folder) / entry["image"]), None if labels is None else read_image(
        Path(folder) / labels
    )
