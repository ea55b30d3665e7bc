"""Regenerate the documentation's pictures by driving real napari (run under xvfb-run).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--iters N] [--scenes ...]

Everything shown is produced by the plugin itself: the cell sample is opened
through the plugin's sample data, trained with the Train widget, and sampled
with the Generate widget. Output: ``docs/images/*.png``. Scenes:

- ``guide``: the user guide's, the README's and the applications' pictures;
- ``augmentation``: the labels tutorial's (docs/augmentation.md): a mask made
  by thresholding, training with it, paired samples and a dataset export
  (``aug_*.png``), e.g. ``--scenes augmentation --iters 55``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import napari
import numpy as np
from qtpy.QtWidgets import QApplication

HERE = Path(__file__).parent / "images"


def wait(widget, timeout: float = 3600) -> None:
    """Process Qt events until the widget's worker has finished."""
    end = time.time() + timeout
    while widget.runner.is_running and time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def settle(viewer) -> None:
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)


def shot(viewer, name: str) -> None:
    settle(viewer)
    iio.imwrite(HERE / name, viewer.screenshot(canvas_only=False, flash=False))
    print("wrote", HERE / name)


def use_fast(train, args: argparse.Namespace) -> None:
    """The Train widget on the ``fast`` preset, with ``--iters`` iterations per scale if given and
    ``--coarsest-iters`` at the coarsest scale."""
    train.preset.value = "fast"
    if args.iters:
        train.iters.value = args.iters
    train.coarsest_iters.value = args.coarsest_iters


def montage(images: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized 2-D (or RGB) images with a 4 px white gap."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    gap = 4
    shape = (rows * (h + gap) - gap, columns * (w + gap) - gap, *images[0].shape[2:])
    canvas = np.full(shape, 255, images[0].dtype)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return canvas


SCENES = ("guide", "augmentation", "large")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iters", type=int, default=None, help="iterations per scale (default: the preset's)"
    )
    parser.add_argument(
        "--coarsest-iters",
        type=int,
        default=0,
        help="coarsest-scale iterations (default 0, as the README's main job; the preset's: 1000)",
    )
    parser.add_argument("--max-size", type=int, default=80, help="finest long side (default 80)")
    parser.add_argument(
        "--scenes", nargs="+", choices=SCENES, default=list(SCENES), help="pictures to render (default: all)"
    )
    args = parser.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    if "guide" in args.scenes:
        guide(args)
    if "augmentation" in args.scenes:
        augmentation(args)
    if "large" in args.scenes:
        large(args)


def guide(args: argparse.Namespace) -> None:
    """The user guide's, the README's and the applications' pictures."""
    viewer = napari.Viewer(title="napari-singan")
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-singan", "cell")
    train_dock, train = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    use_fast(train, args)
    train.max_size.value = args.max_size
    train.runner.run_button.clicked.emit()
    while train.partial is None or train.partial.num_trained < 3:  # mid-training view
        QApplication.processEvents()
        time.sleep(0.02)
    shot(viewer, "train_widget.png")
    wait(train)
    shot(viewer, "train_done.png")

    gen_dock, gen = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    gen.num.value = 8
    gen.scale_w.value = 1.5
    gen.seed.value = 1
    gen.runner.run_button.clicked.emit()
    wait(gen)
    viewer.layers["cell"].visible = False
    train.preview_layer.visible = False
    grid(viewer).enabled = False
    viewer.reset_view()
    shot(viewer, "generate_widget.png")

    # The README picture: the training image (as the model sees it) beside samples of the same size.
    from napari_singan._napari.models import MODELS
    from napari_singan.core import denormalize, sample

    model = MODELS.get(train.last_model_name)
    real = denormalize(model.image, model.spec)[0]
    fakes = list(sample(model, 7, seed=3))
    tiles = montage([real, *fakes], columns=4)
    iio.imwrite(HERE / "cell_samples.png", np.kron(tiles, np.ones((3, 3), tiles.dtype)))  # 3x, nearest
    print("wrote", HERE / "cell_samples.png")
    for dock in (train_dock, gen_dock):
        viewer.window.remove_dock_widget(dock)
    applications(viewer, viewer.layers["cell"].data)
    viewer.close()


def augmentation(args: argparse.Namespace) -> None:
    """The labels tutorial's pictures: a thresholded mask, training with it, paired samples, a dataset."""
    from skimage.filters import threshold_otsu
    from skimage.segmentation import mark_boundaries

    from napari_singan._napari.models import MODELS
    from napari_singan.apps.augment import load_pair
    from napari_singan.core import denormalize
    from napari_singan.core.labels import decode_labels

    viewer = napari.Viewer(title="napari-singan")
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-singan", "cell")
    cell = viewer.layers["cell"]
    mask = viewer.add_labels((cell.data > threshold_otsu(cell.data)).astype(np.uint8), name="cell mask")
    train_dock, train = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    train.layer.value, train.label_layer.value = cell, mask
    use_fast(train, args)
    train.max_size.value = args.max_size
    shot(viewer, "aug_mask.png")
    train.runner.run_button.clicked.emit()
    while train.partial is None or train.partial.num_trained < 3:  # mid-training view
        QApplication.processEvents()
        time.sleep(0.02)
    shot(viewer, "aug_train.png")
    wait(train)
    viewer.window.remove_dock_widget(train_dock)
    model = MODELS.get(train.last_model_name)
    trained = (denormalize(model.image, model.spec)[0], decode_labels(model.image, model.labels)[0])

    gen_dock, gen = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    gen.num.value = 8
    gen.seed.value = 1
    gen.runner.run_button.clicked.emit()
    wait(gen)
    for layer in (cell, mask, train.preview_layer, train.preview_labels_layer):
        layer.visible = False
    settle(viewer)  # the docks' new layout first, so that the view fits the canvas
    viewer.reset_view()
    shot(viewer, "aug_generate.png")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cell_dataset"
        gen.export_folder.value = folder
        gen.export_num.value = 20
        gen.export_button.clicked.emit()
        wait(gen)
        settle(viewer)
        viewer.reset_view()
        shot(viewer, "aug_export.png")
        pairs = [trained, *(load_pair(folder, k) for k in range(7))]
    viewer.close()
    # The training image and mask at the model's size, then the dataset's first pairs; label edges yellow.
    tiles = [(mark_boundaries(img, lab, color=(1, 1, 0)) * 255).astype(np.uint8) for img, lab in pairs]
    picture = montage(tiles, columns=4)
    iio.imwrite(HERE / "aug_pairs.png", np.kron(picture, np.ones((3, 3, 1), picture.dtype)))  # 3x, nearest
    print("wrote", HERE / "aug_pairs.png")


def large(args: argparse.Namespace) -> None:
    """The large-micrographs page: native training on a rectangle, a 4096 px sample opened lazily."""
    viewer = napari.Viewer(title="napari-singan")
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-singan", "immunohistochemistry")
    ihc = viewer.layers["immunohistochemistry"]
    ihc.scale = (0.5, 0.5)  # a physical pixel size, as a calibrated file would bring
    viewer.add_shapes(
        [[[100, 150], [100, 246], [196, 246], [196, 150]]],
        shape_type="rectangle",
        name="region",
        edge_color="yellow",
        face_color="transparent",
        edge_width=2,
    )
    train_dock, train = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    train.layer.value = ihc
    use_fast(train, args)
    train.native_size.value = True
    train.region.value = "shapes rectangle"
    train.runner.run_button.clicked.emit()
    wait(train)
    viewer.reset_view()
    shot(viewer, "large_train.png")
    viewer.window.remove_dock_widget(train_dock)
    gen_dock, gen = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    gen.num.value = 1
    gen.exact.value = True
    gen.out_height.value = gen.out_width.value = 4096
    with tempfile.TemporaryDirectory() as tmp:
        gen.output_file.value = Path(tmp) / "ihc_4096.tif"
        gen.runner.run_button.clicked.emit()
        wait(gen)
        ihc.visible = train.preview_layer.visible = False
        settle(viewer)
        viewer.reset_view()
        shot(viewer, "large_generate.png")
        viewer.camera.zoom *= 8  # the full resolution, read from the file on demand
        shot(viewer, "large_zoom.png")
        viewer.close()


def grid(viewer):
    """The grid settings (``viewer.canvas.grid`` from napari 0.9, ``viewer.grid`` before)."""
    return viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid


def show_only(viewer, names: list[str]) -> None:
    """Show just these layers, side by side."""
    for layer in viewer.layers:
        layer.visible = layer.name in names
    grid(viewer).enabled = len(names) > 1
    grid(viewer).shape = (1, len(names))
    viewer.reset_view()


def run_app(viewer, name: str, setup) -> object:
    """Open an application widget, set it up, run it, and return the widget."""
    dock, widget = viewer.window.add_plugin_dock_widget("napari-singan", name)
    setup(widget)
    widget.runner.run_button.clicked.emit()
    wait(widget)
    return dock, widget


def applications(viewer, cell: np.ndarray) -> None:
    """One screenshot per application (docs/applications.md)."""
    from skimage.draw import disk

    def shoot(name: str, setup, layers: list[str], picture: str) -> object:
        dock, widget = run_app(viewer, name, setup)
        show_only(viewer, [*layers, widget.output_layer.name])
        shot(viewer, picture)
        viewer.window.remove_dock_widget(dock)
        return widget

    def sr(w):
        w.factor.value = 3.0

    shoot("Super-resolution", sr, [], "app_super_resolution.png")

    paint = np.full(cell.shape, int(np.median(cell)), cell.dtype)
    for (r, c), radius, value in [((200, 180), 70, cell.max()), ((450, 380), 50, cell.min())]:
        paint[disk((r, c), radius, shape=paint.shape)] = value
    viewer.add_image(paint, name="paint")

    def paint_setup(w):
        w.paint.value = viewer.layers["paint"]
        w.start_scale.slider.value = 1

    shoot("Paint to image", paint_setup, ["paint"], "app_paint.png")

    def masked(name: str, image: np.ndarray, region: tuple[slice, slice], start: int, picture: str) -> None:
        mask = np.zeros(cell.shape, np.uint8)
        mask[region] = 1
        viewer.add_image(image, name=f"{name} input")
        viewer.add_labels(mask, name=f"{name} mask")

        def setup(w):
            w.image.value = viewer.layers[f"{name} input"]
            w.mask.value = viewer.layers[f"{name} mask"]
            w.start_scale.slider.value = start

        shoot(name, setup, [f"{name} input"], picture)

    composite = cell.copy()
    patch = cell[300:400, 330:430]  # the bright cell, pasted elsewhere with the wrong contrast
    composite[80:180, 80:180] = np.clip(patch.astype(int) * 0.6 + 60, 0, 255).astype(cell.dtype)
    masked("Harmonization", composite, np.s_[80:180, 80:180], 2, "app_harmonization.png")
    edited = cell.copy()
    edited[150:260, 250:360] = cell[150:260, 40:150]  # a copy-pasted block of background
    masked("Editing", edited, np.s_[150:260, 250:360], 3, "app_editing.png")

    def animate_setup(w):
        w.frames.value = 24
        w.start_scale.slider.value = 1

    widget = shoot("Animation", animate_setup, [], "app_animation.png")
    widget.export(str(HERE / "animation.gif"))


if __name__ == "__main__":
    main()
