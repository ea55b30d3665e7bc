"""The plugin-wide list of trained models (shared by every widget, the reader and the writer).

Models live here independently of layers: deleting the layer a model was
trained on never deletes the model.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from psygnal import Signal

if TYPE_CHECKING:
    from ..core import SinGANModel


class ModelStore:
    """Named models in insertion order; ``changed`` fires on every addition or removal."""

    changed = Signal()

    def __init__(self) -> None:
        self._models: dict[str, SinGANModel] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._models

    def __len__(self) -> int:
        return len(self._models)

    def names(self) -> list[str]:
        """Model names, oldest first."""
        return list(self._models)

    def get(self, name: str) -> SinGANModel:
        """The model called ``name`` (``KeyError`` if there is none)."""
        return self._models[name]

    def add(self, model: SinGANModel, name: str) -> str:
        """Store ``model``; returns the name used (suffixed if ``name`` is taken)."""
        unique, n = name, 2
        while unique in self._models:
            unique, n = f"{name} ({n})", n + 1
        self._models[unique] = model
        self.changed.emit()
        return unique

    def remove(self, name: str) -> None:
        """Forget a model."""
        del self._models[name]
        self.changed.emit()

    def load(self, path: str | os.PathLike, device: str = "auto") -> str:
        """Read a model file into the store; returns its name (the file's stem).

        ``device`` is a name for ``resolve_device`` (``auto``, ``cpu``, ``cuda:N``, ``mps``).
        """
        from ..core import load_model, resolve_device

        model = load_model(path, device=resolve_device(device))
        return self.add(model, Path(path).stem)

    def save(self, name: str, path: str | os.PathLike) -> Path:
        """Write the model ``name`` to ``path`` (atomically)."""
        from ..core import save_model

        return save_model(self.get(name), path)


def file_stem(name: str) -> str:
    """A model's name made usable as a file name everywhere (``cell 14:03:12`` -> ``cell 14-03-12``)."""
    return re.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", name).strip(" .") or "model"


def timestamped(name: str) -> str:
    """``name`` followed by the current time, e.g. ``cell 14:03:12``."""
    return f"{name} {time.strftime('%H:%M:%S')}"


#: The one store every widget of this napari session shares.
MODELS = ModelStore()
