"""npe2 reader and writer for ``.singan`` model files.

Opening a model (drag-and-drop or File ▸ Open) adds it to the plugin's model
list and shows the image it was trained on. Saving an image layer that came
from a model (a preview, samples, or that training image) as ``.singan``
writes that model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models import MODELS

SUFFIX = ".singan"


def get_reader(path: str | list[str]):
    """Return :func:`read_models` for ``.singan`` paths, else ``None``."""
    paths = [path] if isinstance(path, str) else path
    if not paths or not all(str(p).endswith(SUFFIX) for p in paths):
        return None
    return read_models


def read_models(path: str | list[str]) -> list[tuple]:
    """Load model files into the model list; return their training images as layers.

    A file that is not a model (or is damaged) is said in its own notification, which napari's
    "the reader gave an error" would hide; with no model read, napari adds nothing (``[(None,)]``).
    """
    from napari.utils.notifications import show_error

    from ..core import SinGANError, denormalize
    from .layers import output_layer_kwargs

    paths = [path] if isinstance(path, str) else path
    layers = []
    for p in paths:
        try:
            name = MODELS.load(p)
        except SinGANError as exc:
            show_error(str(exc))
            continue
        model = MODELS.get(name)
        image = denormalize(model.image, model.spec)[0]
        kwargs = output_layer_kwargs(model, leading=0, native=model.shapes[-1])
        layers.append(
            (
                image,
                {**kwargs, "name": f"{name} (training image)", "metadata": {"singan_model": name}},
                "image",
            )
        )
    return layers or [(None,)]


def write_model(path: str, data: Any, meta: dict) -> list[str]:
    """Write the model behind an image layer to ``path`` (``.singan``)."""
    from ..core import SinGANError

    name = (meta.get("metadata") or {}).get("singan_model")
    if name is None or name not in MODELS:
        # Not a ValueError: napari reads that as "no writer" and says nothing to the user.
        raise SinGANError(
            f"layer {meta.get('name')!r} does not come from a SinGAN model; save a preview, samples or "
            "training-image layer of napari-singan, or use 'Save…' in the Generate widget"
        )
    target = Path(path)
    if target.suffix != SUFFIX:
        target = target.with_suffix(SUFFIX)
    return [str(MODELS.save(name, target))]
