"""pyproject.toml declares every distribution that the package imports."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "napari_singan"


def imported_top_level_modules() -> set[str]:
    names = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"napari_singan"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [req for reqs in project["optional-dependencies"].values() for req in reqs]
    return {Requirement(req).name.lower().replace("_", "-") for req in [*project["dependencies"], *extras]}


@pytest.mark.parametrize("module", sorted(imported_top_level_modules()))
def test_every_import_is_declared(module):
    dists = packages_distributions().get(module) or [module]  # an optional one may be missing here
    assert {d.lower().replace("_", "-") for d in dists} & declared(), f"{module} ({dists}) is not declared"
