"""Regenerate the documentation's pictures by driving real napari (run under xvfb-run).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--iters N]

Everything shown is produced by the plugin itself: the cell sample is opened
through the plugin's sample data, trained with the Train widget, and sampled
with the Generate widget. Output: ``docs/images/*.png``.
"""

from __future__ import annotations

import argparse
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


def montage(images: list[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized 2-D images with a 4 px white gap."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    gap = 4
    canvas = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), 255, images[0].dtype)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=300, help="iterations per scale (default 300)")
    parser.add_argument("--max-size", type=int, default=96, help="finest long side (default 96)")
    args = parser.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)

    viewer = napari.Viewer(title="napari-singan")
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-singan", "cell")
    _, train = viewer.window.add_plugin_dock_widget("napari-singan", "Train")
    train.preset.value = "quick"
    train.max_size.value = args.max_size
    train.iters.value = args.iters
    train.runner.run_button.clicked.emit()
    while train.partial is None or train.partial.num_trained < 3:  # mid-training view
        QApplication.processEvents()
        time.sleep(0.02)
    shot(viewer, "train_widget.png")
    wait(train)
    shot(viewer, "train_done.png")

    _, gen = viewer.window.add_plugin_dock_widget("napari-singan", "Generate")
    gen.num.value = 8
    gen.scale_w.value = 1.5
    gen.seed.value = 1
    gen.runner.run_button.clicked.emit()
    wait(gen)
    viewer.layers["cell"].visible = False
    train.preview_layer.visible = False
    viewer.grid.enabled = False
    viewer.reset_view()
    shot(viewer, "generate_widget.png")

    # The README picture: the training image (as the model sees it) beside samples of the same size.
    from napari_singan._models import MODELS
    from napari_singan.core import denormalize, sample

    model = MODELS.get(train.last_model_name)
    real = denormalize(model.image, model.spec)[0]
    fakes = list(sample(model, 7, seed=3))
    iio.imwrite(HERE / "cell_samples.png", montage([real, *fakes], columns=4))
    wide = sample(model, 1, scale_h=1.0, scale_w=3.0, seed=4)[0]
    iio.imwrite(HERE / "cell_wide.png", wide)
    print("wrote", HERE / "cell_samples.png", HERE / "cell_wide.png")
    viewer.close()


if __name__ == "__main__":
    main()
