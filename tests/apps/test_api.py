"""The applications are plain named functions whose numpydoc matches their signatures."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import replace

import numpy as np
import pytest
from torch import nn

import napari_singan.apps as apps
import napari_singan.core as core
from napari_singan.apps import edit, fine_tune, harmonize
from napari_singan.core import drain

from ..conftest import make_texture


def documented_parameters(func) -> list[str] | None:
    """Names in the numpydoc ``Parameters`` section of ``func`` (``None`` without one)."""
    lines = inspect.cleandoc(func.__doc__ or "").splitlines()
    if "Parameters" not in lines:
        return None
    start = lines.index("Parameters") + 2
    names = []
    for i, line in enumerate(lines[start:], start):
        if i + 1 < len(lines) and lines[i + 1] and set(lines[i + 1]) == {"-"}:
            break  # the next section
        if line and not line[0].isspace():
            names += [name.strip().lstrip("*") for name in line.split(" : ")[0].split(",")]  # **kwargs
    return names


def signature_parameters(func) -> list[str]:
    return [name for name in inspect.signature(func).parameters if name != "self"]


def public_functions(package):
    modules = [package] + [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    seen = {}
    for module in modules:
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isfunction(obj)
                and obj.__module__.startswith(package.__name__)
            ):
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return seen


def test_applications_are_named_functions():
    for name in apps.__all__:
        func = getattr(apps, name)
        assert inspect.isfunction(func) and func.__name__ == name
    assert harmonize.__name__ == "harmonize" and edit.__name__ == "edit"


@pytest.mark.parametrize("qualname, func", sorted(public_functions(apps).items()))
def test_every_application_function_documents_exactly_its_parameters(qualname, func):
    assert documented_parameters(func) == signature_parameters(func), qualname


@pytest.mark.parametrize("qualname, func", sorted(public_functions(core).items()))
def test_core_docstrings_name_only_real_parameters(qualname, func):
    documented = documented_parameters(func)
    assert documented is None or set(documented) <= set(signature_parameters(func)), qualname


def test_the_docstring_check_catches_a_wrong_name():
    def application(model, image):
        """Doc.

        Parameters
        ----------
        model
            The model.
        composite : array
            Not a parameter.

        Returns
        -------
        int
        """

    assert documented_parameters(application) == ["model", "composite"] != signature_parameters(application)


def test_harmonize_with_fine_tuning_is_fine_tune_then_harmonize(tiny_model):
    composite = make_texture()
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1
    events = []
    work = harmonize(tiny_model, composite, mask, 2, radius=1, sigma=1, seed=3, fine_tune_iters=2)
    composed = drain(work, events.append)
    assert {type(e).__name__ for e in events} >= {"Progress", "ScaleFinished", "SampleProgress"}
    tuned = drain(fine_tune(tiny_model, composite, scales=1, iters=2))
    by_hand = drain(harmonize(tuned, composite, mask, 2, radius=1, sigma=1, seed=3))
    np.testing.assert_array_equal(composed, by_hand)


def test_harmonize_checks_its_inputs_before_fine_tuning(tiny_model):
    composite = make_texture()
    for mask, start, match in [
        (np.zeros((40, 40)), 1, "mask is empty"),
        (np.ones((40, 40)), 0, "start scale"),
    ]:
        work = harmonize(tiny_model, composite, mask, start, fine_tune_iters=50)
        with pytest.raises(core.SinGANError, match=match):
            next(work)  # the first event would be training


def test_start_scale_is_checked_in_one_place(tiny_model):
    tiny_model.check_start_scale(0)
    top = tiny_model.num_trained - 1
    tiny_model.check_start_scale(top, lowest=1)
    with pytest.raises(core.SinGANError, match=f"between 1 and {top} for this model, got {top + 1}"):
        tiny_model.check_start_scale(top + 1, lowest=1)
    coarsest = replace(tiny_model, generators=nn.ModuleList(tiny_model.generators[:1]))
    with pytest.raises(core.SinGANError, match="1 trained scale"):
        coarsest.check_start_scale(1, lowest=1)
    for work in (
        apps.paint_to_image(tiny_model, make_texture(), start_scale=0),
        apps.animate(tiny_model, 3, start_scale=top + 1),
        core.generate(tiny_model, start_scale=top + 1),
    ):
        with pytest.raises(core.SinGANError, match="start scale must be between"):
            next(work)
