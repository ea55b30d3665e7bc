"""Super-resolution (paper §4.1) against bicubic upsampling, measured on images with a known answer.

For each image the ground truth is the image at ``--size`` px (long side); the
low-resolution input is the ground truth downsampled ``--factor`` times (with
anti-aliasing, as a coarser camera sees it). Each preset trains on the
low-resolution image at its own size (one thread), upscales it ``--factor``
times with ``--outputs`` noise seeds and each count of ``--back-projection``
passes (0: the paper's steps), and every output is compared with the ground
truth, as are upsamplings of the same input by a cubic spline (skimage) and by
the package's own antialiased bicubic followed by the same back-projection
(what the model adds beyond it), and the truth itself (the metrics' floor):

- PSNR (dB, over the dtype's range, as for 8-bit photographs; a float image's own range): fidelity,
  high is good (it flatters a 16-bit image that fills little of its range);
- patch-SWD to the ground truth (:func:`napari_singan.metrics.patch_swd`): does the output have
  the real image's texture at its full resolution (bicubic is smooth), low is good;
- spread: per-pixel std across the outputs over the ground truth's std (what the noise invents,
  which differs from output to output; an interpolation's is 0).

Images are taken channels-last (2-D or H x W x C, as the bundled ones are).
Writes one JSON line per (image, method, seed) to ``--out``, a method being a
baseline or a preset with a count of passes, and
prints a markdown table (mean ± std over seeds) of these and any ``--include``d runs.

    python benchmarks/bench_sr.py --presets fast --seeds 0 1 2 --out fast.jsonl
    python benchmarks/bench_sr.py --presets super-resolution "sr-fast=fast,rec_weight=100,min_size=18"
    python benchmarks/bench_sr.py --seeds --include a.jsonl b.jsonl     (tabulate only)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_quality import BUNDLED, config_of, jsonl_runs, load, mean_std
from skimage.transform import resize

from napari_singan.apps import super_resolve
from napari_singan.apps.super_resolution import BACK_PROJECTION, back_project
from napari_singan.core import denormalize, drain, train
from napari_singan.core.images import prepare_image
from napari_singan.core.pyramid import resize as resize_tensor
from napari_singan.metrics import as_nhwc, patch_swd


def rescale(image: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    """``image`` at ``shape`` (H, W), spline ``order``, anti-aliased when shrinking, in its own dtype."""
    out = resize(image.astype(np.float64), shape + image.shape[2:], order=order, anti_aliasing=None)
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype)


def truth_and_input(name: str, size: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """The ground truth (long side ``size``, both sides multiples of ``factor``) and its downsampling."""
    image = load(name)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    shape = (round(h * scale) // factor * factor, round(w * scale) // factor * factor)
    truth = rescale(image, shape, order=1)
    return truth, rescale(truth, (shape[0] // factor, shape[1] // factor), order=1)


def psnr(outputs: np.ndarray, truth: np.ndarray) -> float:
    """Mean over outputs of the PSNR (dB) to the truth, over the dtype's range (a float image's own)."""
    out, ref = as_nhwc(outputs), as_nhwc(truth, stack=False)
    span = np.iinfo(truth.dtype).max - np.iinfo(truth.dtype).min if truth.dtype.kind in "ui" else np.ptp(ref)
    mse = ((out - ref) ** 2).mean(axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(span**2 / np.maximum(mse, 1e-12))))


def measure(outputs: np.ndarray, truth: np.ndarray, seed: int) -> dict:
    """The three numbers of ``(N, H, W[, C])`` outputs against the ground truth."""
    std = np.maximum(as_nhwc(truth, stack=False).std(axis=(0, 1, 2)), 1e-12)
    return {
        "psnr": psnr(outputs, truth),
        "patch_swd": float(patch_swd(outputs, truth, seed=seed).mean()),
        "spread": float((as_nhwc(outputs).std(axis=0) / std).mean()) if len(outputs) > 1 else 0.0,
    }


def run(args: argparse.Namespace, name: str, seed: int) -> list[dict]:
    """The baselines and every preset's model, trained on the low-resolution image, measured."""
    truth, low = truth_and_input(name, args.size, args.factor)
    common = {"image": name, "seed": seed, "size": list(truth.shape[:2]), "factor": args.factor}
    cubic = rescale(low, truth.shape[:2], order=3)[None]
    normalized, spec = prepare_image(low)  # (1, C, h, w) in [-1, 1], as a model sees it
    projected = back_project(resize_tensor(normalized, truth.shape[:2]), normalized, BACK_PROJECTION)
    records = [
        {**common, "preset": "truth itself (the metrics' floor)", **measure(truth[None], truth, seed)},
        {**common, "preset": "cubic spline", **measure(cubic, truth, seed)},
        {
            **common,
            "preset": f"bicubic, back-projection {BACK_PROJECTION}",
            **measure(denormalize(projected, spec), truth, seed),
        },
    ]
    for r in records:
        r["train_seconds"] = 0.0
    for variant in args.presets:
        label, config = config_of(variant, max(low.shape[:2]), None)
        start = time.perf_counter()
        model = drain(train(low, config, device="cpu", seed=seed))
        seconds = time.perf_counter() - start
        for passes in args.back_projection:
            outputs = np.stack(
                [
                    drain(
                        super_resolve(model, factor=args.factor, back_projection=passes, seed=1000 * seed + k)
                    )
                    for k in range(args.outputs)
                ]
            )
            if outputs.shape[1:3] != truth.shape[:2]:
                raise SystemExit(
                    f"{label} upscaled to {outputs.shape[1:3]}, not the truth's {truth.shape[:2]}"
                )
            records.append(
                {**common, "preset": f"{label}, back-projection {passes}", "scales": model.num_scales}
                | {"train_seconds": round(seconds, 1)}
                | measure(outputs, truth, seed)
            )
    for r in records:
        print(
            f"{name} seed {seed} {r['preset']}: {r['train_seconds']:.0f} s, PSNR {r['psnr']:.2f} dB, "
            f"swd {r['patch_swd']:.3f}, spread {r['spread']:.3f}",
            flush=True,
        )
    return records


def table(records: list[dict]) -> str:
    """Markdown: mean ± std over seeds per (image, method), the methods of an image together."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["image"], tuple(r["size"]), r["factor"], r["preset"]), []).append(r)

    def stat(runs: list[dict], key: str, fmt: str) -> str:
        return mean_std([r[key] for r in runs], fmt)

    lines = [
        "| image | truth px | × | method | scales | seeds | train s | PSNR dB ↑ | patch-SWD to truth ↓ | spread |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (image, size, factor, label), runs in sorted(groups.items(), key=lambda group: group[0][0]):
        lines.append(
            f"| {image} | {size[0]}×{size[1]} | {factor} | {label} | {runs[0].get('scales', '')} | {len(runs)} "
            f"| {stat(runs, 'train_seconds', '.0f')} | {stat(runs, 'psnr', '.2f')} "
            f"| {stat(runs, 'patch_swd', '.3f')} | {stat(runs, 'spread', '.3f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", nargs="+", default=list(BUNDLED), help=f"{', '.join(BUNDLED)} or paths")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="none: only tabulate --include")
    parser.add_argument(
        "--presets", nargs="+", default=["super-resolution"], help="NAME or LABEL=PRESET,field=value,..."
    )
    parser.add_argument("--size", type=int, default=192, help="the ground truth's long side, px")
    parser.add_argument("--factor", type=int, default=4, help="upscaling factor (an integer)")
    parser.add_argument("--outputs", type=int, default=4, help="noise seeds upscaled per model")
    parser.add_argument(
        "--back-projection",
        nargs="+",
        type=int,
        default=[0, BACK_PROJECTION],
        help="passes per step, each measured",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="sr.jsonl")
    parser.add_argument("--include", nargs="*", default=[], help="JSON-lines files of earlier runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = jsonl_runs(args, run)
    print(table(records))


if __name__ == "__main__":
    main()
