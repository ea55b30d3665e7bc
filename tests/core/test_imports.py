import subprocess
import sys

GUI = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_core_never_imports_gui_toolkits():
    loaded = _modules_after(
        "import napari_singan.core, napari_singan.apps, napari_singan.cli, "
        "napari_singan._napari.layers, napari_singan._napari.models, napari_singan._napari.io, "
        "napari_singan._napari.sample_data"
    )
    assert "torch" in loaded
    assert not loaded & set(GUI)


def test_package_import_is_lazy_about_torch():
    loaded = _modules_after("import napari_singan")
    assert "torch" not in loaded
    loaded = _modules_after("import napari_singan; napari_singan.SinGANConfig")
    assert "torch" in loaded
