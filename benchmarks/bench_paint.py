"""Paint-to-image with and without retraining the paint scale on quantised colours, measured.

For each image and seed a model is trained (``--preset`` at ``--max-size``,
one thread). The paint is clip art of the training image's own layout, as a
user paints it (paper §4.2): its median filter over ``--flat`` of the short
side at the model's resolution, in ``--colors`` flat colours each off by
``--jitter`` of the image's std (picked by eye), given at the source image's
size. At each start scale it is painted (``--num`` outputs) as it is, snapped
to the model's ``--colors`` dominant colours, and snapped with the paint scale
first retrained for each count of ``--fine-tune`` iterations, and every way is
measured against the training image:

- patch-SWD (:func:`napari_singan.metrics.patch_swd`): is the output the image's texture;
- colour distance: per-channel Wasserstein-1 of the pixel values, in units of the image's std;
- layout error: RMSE of output and paint, both Gaussian-blurred (sigma = half the median's
  size), in units of the image's std: does the output keep the paint's layout.

Images are taken channels-last (2-D or H x W x C, as the bundled ones are).
Writes one JSON line per (image, seed, start scale, way) to ``--out`` and prints a
markdown table (mean ± std over seeds) of these files and any ``--include``d ones.

    python benchmarks/bench_paint.py --images immunohistochemistry cell --seeds 0 1 2 --out paint.jsonl
    python benchmarks/bench_paint.py --seeds --include a.jsonl b.jsonl     (tabulate only)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_quality import config_of, jsonl_runs, load, mean_std
from scipy import ndimage
from scipy.cluster.vq import kmeans2
from skimage.transform import resize

from napari_singan.apps import paint_to_image
from napari_singan.core import ScaleFinished, drain, train
from napari_singan.metrics import as_nhwc, patch_swd, training_image


def flat_paint(image: np.ndarray, fraction: float, colors: int, jitter: float, seed: int) -> np.ndarray:
    """Clip art of the image's layout, as a user paints it.

    Its median filter over ``fraction`` of the short side (odd, at least 3 px),
    in ``colors`` flat colours (k-means centres of the filtered pixels), each
    off by ``jitter`` x the image's per-channel std (the colours a user picks
    by eye), in the image's dtype.
    """
    size = max(3, round(fraction * min(image.shape[:2])) | 1)
    smooth = ndimage.median_filter(image, size=(size, size) + (1,) * (image.ndim - 2))
    pixels = smooth.reshape(-1, 1 if image.ndim == 2 else image.shape[-1]).astype(np.float64)
    rng = np.random.default_rng(seed)
    centres, nearest = kmeans2(pixels, colors, seed=rng, minit="++")
    centres = centres + jitter * pixels.std(axis=0) * rng.standard_normal(centres.shape)
    info = np.iinfo(image.dtype) if image.dtype.kind in "ui" else None
    flat = centres[nearest] if info is None else np.clip(np.rint(centres[nearest]), info.min, info.max)
    return flat.reshape(image.shape).astype(image.dtype)


def colour_distance(outputs: np.ndarray, image: np.ndarray) -> float:
    """Per-channel Wasserstein-1 of the pixel values of outputs and image (101 quantiles), in image std."""
    out, ref = as_nhwc(outputs), as_nhwc(image, stack=False)
    q = np.linspace(0, 1, 101)
    std = np.maximum(ref.std(axis=(0, 1, 2)), 1e-12)
    gaps = [
        np.abs(np.quantile(out[..., c], q) - np.quantile(ref[..., c], q)).mean() / std[c]
        for c in range(ref.shape[-1])
    ]
    return float(np.mean(gaps))


def layout_error(outputs: np.ndarray, paint: np.ndarray, image: np.ndarray, sigma: float) -> float:
    """RMSE of the blurred outputs and the blurred paint, in units of the image's per-channel std."""
    out, ref = as_nhwc(outputs), as_nhwc(paint, stack=False)
    std = np.maximum(as_nhwc(image, stack=False).std(axis=(0, 1, 2)), 1e-12)
    blur = (0, sigma, sigma, 0)
    return float(
        np.sqrt(
            (((ndimage.gaussian_filter(out, blur) - ndimage.gaussian_filter(ref, blur)) / std) ** 2).mean()
        )
    )


def run(args: argparse.Namespace, image_name: str, seed: int) -> list[dict]:
    """Train one model, paint every way at every start scale, measure."""
    label, config = config_of(args.preset, args.max_size, None)
    start = time.perf_counter()
    model = drain(train(load(image_name), config, device="cpu", seed=seed))
    train_seconds = time.perf_counter() - start
    image = training_image(model)  # at the model's resolution, where the outputs are
    paint = flat_paint(image, args.flat, args.colors, args.jitter, seed)
    source_shape = (model.spec.height, model.spec.width) + image.shape[2:]
    painted = resize(
        paint, source_shape, order=0, preserve_range=True, anti_aliasing=False
    )  # flat stays flat
    sigma = max(1.0, args.flat * min(image.shape[:2]) / 2)
    ways = [("as painted", 0, 0), (f"{args.colors} colours", args.colors, 0)]
    ways += [(f"{args.colors} colours, retrained {n}", args.colors, n) for n in args.fine_tune]
    records = []
    for start_scale in args.start_scales:
        for way, colors, iters in ways:
            retrain_seconds = []

            def on_event(event, times=retrain_seconds) -> None:
                if isinstance(event, ScaleFinished):
                    times.append(event.seconds)

            work = paint_to_image(
                model,
                painted.astype(paint.dtype),
                start_scale,
                num_samples=args.num,
                quantize_colors=colors,
                fine_tune_iters=iters,
                seed=seed,
            )
            outputs = drain(work, on_event)
            records.append(
                {
                    "image": image_name,
                    "preset": label,
                    "seed": seed,
                    "scales": model.num_scales,
                    "start_scale": start_scale,
                    "way": way,
                    "jitter": args.jitter,
                    "train_seconds": round(train_seconds, 1),
                    "retrain_seconds": round(sum(retrain_seconds), 2),
                    "patch_swd": float(patch_swd(outputs, image, seed=seed).mean()),
                    "colour_distance": colour_distance(outputs, image),
                    "layout_error": layout_error(outputs, paint, image, sigma),
                    "paint_patch_swd": float(patch_swd(paint[None], image, seed=seed).mean()),
                }
            )
            print(
                f"{image_name} seed {seed} scale {start_scale} {way}: swd {records[-1]['patch_swd']:.3f} "
                f"colour {records[-1]['colour_distance']:.3f} layout {records[-1]['layout_error']:.3f}",
                flush=True,
            )
    return records


def table(records: list[dict]) -> str:
    """Markdown: mean ± std over seeds per (image, start scale, way)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["image"], r["jitter"], r["scales"], r["start_scale"], r["way"]), []).append(r)

    def stat(runs: list[dict], key: str) -> str:
        return mean_std([r[key] for r in runs])

    lines = [
        "| image | paint colours off by (std) | start scale (of N) | way | seeds | patch-SWD ↓ | colour distance ↓ "
        "| layout error ↓ | retraining s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (image, jitter, scales, start_scale, way), runs in groups.items():
        lines.append(
            f"| {image} | {jitter} | {start_scale} ({scales}) | {way} | {len(runs)} | {stat(runs, 'patch_swd')} | "
            f"{stat(runs, 'colour_distance')} | {stat(runs, 'layout_error')} | "
            f"{statistics.mean(r['retrain_seconds'] for r in runs):.1f} |"
        )
    paint = {(r["image"], r["jitter"], r["seed"]): r["paint_patch_swd"] for r in records}
    for image, jitter in dict.fromkeys((r["image"], r["jitter"]) for r in records):
        values = [v for (name, off, _), v in paint.items() if (name, off) == (image, jitter)]
        lines.append(
            f"\n{image}, colours off by {jitter}: the paint itself has patch-SWD {statistics.mean(values):.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", nargs="+", default=["immunohistochemistry", "cell"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="none: only tabulate --include")
    parser.add_argument("--preset", default="fast", help="NAME or LABEL=PRESET,field=value,...")
    parser.add_argument("--max-size", type=int, default=80)
    parser.add_argument("--start-scales", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--colors", type=int, default=5, help="dominant colours (the reference uses 5)")
    parser.add_argument("--fine-tune", nargs="+", type=int, default=[300], help="retraining iterations")
    parser.add_argument("--flat", type=float, default=0.1, help="median filter size / short side")
    parser.add_argument("--jitter", type=float, default=0.2, help="paint colours' error / the image's std")
    parser.add_argument("--num", type=int, default=8, help="outputs per way")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="paint.jsonl")
    parser.add_argument("--include", nargs="*", default=[], help="JSON-lines files of earlier runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = jsonl_runs(args, run)
    print(table(records))


if __name__ == "__main__":
    main()
