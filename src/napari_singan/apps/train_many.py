"""One model per image for many images, on a Dask distributed cluster (local or remote).

Each image is one task: read the image (and its labels), train, write
``<folder>/<image stem>.singan`` atomically. Locally a ``LocalCluster`` runs one
worker per CUDA device (each worker trains on its own GPU) or one worker on the
CPU; with a scheduler address the same tasks go to that cluster. A failed task
is retried once; failures are reported per image and never touch the models
already written. Images whose complete model already exists are kept (a batch run
again after an interruption goes on), unless a batch of other settings trained it:
then the batch is refused before any work, as no model is replaced by one of other
settings.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from ..core.config import SinGANConfig, as_config
from ..core.errors import SinGANError, check_seed
from ..core.events import ImageFinished

#: The model metadata entry holding the fingerprint of the settings of the batch that trained it.
BATCH_KEY = "train_many"


def model_path_for(image: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Where the model of ``image`` is written: ``folder/<stem>.singan``.

    Parameters
    ----------
    image
        The image file.
    folder
        The models' folder.

    Returns
    -------
    pathlib.Path
        The model file.
    """
    return Path(folder) / f"{Path(image).stem}.singan"


def train_one(
    image_path: str,
    model_path: str,
    config: dict[str, Any],
    labels_path: str | None = None,
    device: str = "auto",
    seed: int = 0,
    plane: dict[str, int] | None = None,
    native: bool = False,
    force: bool = False,
    batch: str | None = None,
) -> str:
    """Train on one image file and write its model (the task each worker runs).

    Parameters
    ----------
    image_path
        The image file.
    model_path
        The model file to write.
    config
        :meth:`SinGANConfig.to_dict` of the configuration.
    labels_path
        Optionally, the image's label image file.
    device
        ``"auto"`` picks the worker's own GPU (worker ``k`` of a local cluster
        uses ``cuda:k``), else CUDA, MPS or the CPU.
    seed
        Training seed.
    plane
        The plane of a z/t stack, e.g. ``{"Z": 12}`` (see :func:`napari_singan.core.microscopy.read_microscopy`).
    native
        Train at the image's own pixel size (max size = its long side).
    force
        Train even if the estimated memory exceeds what the worker's device has.
    batch
        The fingerprint of the batch's settings for this image, stored in the
        model's metadata (``train_many``) so that a batch run again knows the model as its own.

    Returns
    -------
    str
        ``model_path``.
    """
    from ..core import drain, save_model, train
    from ..core.files import read_image
    from ..core.microscopy import read_microscopy, training_input

    if device == "auto":
        device = _worker_device()
    given = training_input(
        read_microscopy(image_path, plane),
        SinGANConfig.from_dict(config),
        image_path,
        native=native,
        labels=None if labels_path is None else read_image(labels_path),
    )
    work = train(
        given.image,
        given.config,
        labels=given.labels,
        channel_axis=given.channel_axis,
        device=device,
        seed=seed,
        metadata=given.metadata if batch is None else {**given.metadata, BATCH_KEY: batch},
        force=force,
    )
    save_model(drain(work), model_path)
    return model_path


def _worker_device() -> str:
    """``cuda:k`` for local worker ``k`` when this machine has GPUs, else ``auto``."""
    import torch

    if not torch.cuda.is_available():
        return "auto"
    try:
        from distributed import get_worker

        name = get_worker().name
    except ValueError:  # not inside a worker
        return "auto"
    index = name if isinstance(name, int) else 0
    return f"cuda:{index % torch.cuda.device_count()}"


def train_many(
    images: Sequence[str | os.PathLike],
    folder: str | os.PathLike,
    config: SinGANConfig | str | None = None,
    *,
    labels: Sequence[str | os.PathLike] | None = None,
    scheduler: str | None = None,
    device: str = "auto",
    seed: int = 0,
    plane: dict[str, int] | None = None,
    native: bool = False,
    force: bool = False,
) -> Generator[ImageFinished, None, dict[str, str]]:
    """Train one model per image file, in parallel on a Dask cluster.

    Parameters
    ----------
    images
        Image files.
    folder
        Where the models go (``<stem>.singan`` each); created if missing.
    config
        Training configuration for every image, or a preset's name (default: the paper's).
    labels
        Optional label image files, one per image, in the same order.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``); ``None``
        starts a local cluster with one worker per GPU (one on the CPU).
    device
        Passed to every task (see :func:`train_one`).
    seed
        Training seed of every image.
    plane
        The plane of every image that is a z/t stack, e.g. ``{"Z": 12}``.
    native
        Train every image at its own pixel size (max size = its long side).
    force
        Train an image even if its estimated memory exceeds what its worker's
        device has (otherwise that image fails with the estimate).

    Yields
    ------
    ImageFinished
        One per image, as they finish (kept models first).

    Returns
    -------
    dict
        Image file -> model file, or -> ``"failed: <reason>"``.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SinGANError(
            "training many images needs Dask distributed: pip install 'napari-singan[cluster]'"
        ) from None
    if isinstance(images, str | os.PathLike):
        raise SinGANError(f"images must be a list of image files, got one: {images}; pass [{str(images)!r}]")
    images = [str(p) for p in images]
    if not images:
        raise SinGANError("no images given: pass a list of image files")
    check_seed(seed)  # before any cluster starts
    config = as_config(config)
    if labels is not None and len(labels) != len(images):
        raise SinGANError(f"{len(labels)} label files for {len(images)} images: give one per image, in order")
    stems = [Path(p).stem for p in images]
    if len(set(stems)) != len(stems):
        raise SinGANError("two images share a file name; their models would overwrite each other")
    missing = [p for p in [*images, *(labels or [])] if not Path(p).is_file()]
    if missing:
        raise SinGANError(
            f"no file at {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    label_paths = [None] * len(images) if labels is None else [str(p) for p in labels]
    batches = [_fingerprint(config, lab, seed, plane, native) for lab in label_paths]
    targets = [model_path_for(image, folder) for image in images]
    found = [_found(target, batch) for target, batch in zip(targets, batches)]
    other = [target.name for target, kind in zip(targets, found) if kind == "other"]
    if other:
        raise SinGANError(
            f"{len(other)} model(s) in {folder} were trained by train-many with other settings than this "
            f"batch's ({', '.join(other)}); choose another output folder, or move them out of it first"
        )
    Path(folder).mkdir(parents=True, exist_ok=True)
    results: dict[str, str] = {}
    todo = []
    for image, target, lab, batch, kind in zip(images, targets, label_paths, batches, found, strict=True):
        if kind == "kept":
            results[image] = str(target)
            yield ImageFinished(image, len(results), len(images), str(target), None, kept=True)
        else:
            todo.append((image, lab, str(target), batch))
    if not todo:
        return results
    cluster = None if scheduler else LocalCluster(n_workers=_local_workers(), threads_per_worker=1)
    try:
        with Client(scheduler or cluster) as client:
            futures = {
                client.submit(
                    train_one,
                    image,
                    target,
                    config.to_dict(),
                    lab,
                    device,
                    seed,
                    plane,
                    native,
                    force,
                    batch,
                    retries=1,
                    pure=False,
                ): image
                for image, lab, target, batch in todo
            }
            for future in as_completed(futures):
                image = futures[future]
                try:
                    path, error = future.result(), None
                except Exception as exc:  # a task's failure is reported for its image; the others go on
                    path, error = None, _one_line(exc)
                results[image] = path or f"failed: {error}"
                yield ImageFinished(image, len(results), len(images), path, error)
    finally:  # also when the consumer stops early
        if cluster is not None:
            cluster.close()
    return results


def _fingerprint(
    config: SinGANConfig, labels: str | None, seed: int, plane: dict[str, int] | None, native: bool
) -> str:
    """A short hash of the settings one image of a batch trains with (its label file by its full path)."""
    import hashlib
    import json

    labels = None if labels is None else str(Path(labels).resolve())
    settings = {"config": config.to_dict(), "labels": labels, "seed": seed, "plane": plane, "native": native}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _found(path: Path, batch: str) -> str:
    """What the batch of fingerprint ``batch`` finds at its model ``path``.

    ``"kept"``: a complete model of this batch's settings, or of settings not recorded (trained before
    models recorded them, or by ``train``), which is not trained again; ``"other"``: a model that a batch
    of other settings trained, which must not be replaced; ``"train"``: nothing usable there (no file, an
    unreadable or unfinished one of no other batch's), so the image is trained.
    """
    from ..core.persistence import load_model

    if not path.is_file():
        return "train"
    try:
        model = load_model(path, device="cpu")
    except SinGANError:
        return "train"
    recorded = (model.metadata or {}).get(BATCH_KEY)
    if recorded not in (None, batch):
        return "other"
    return "kept" if model.is_complete else "train"


def _local_workers() -> int:
    import torch

    return max(1, torch.cuda.device_count())


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return first if isinstance(exc, SinGANError) else f"{type(exc).__name__}: {first}"
