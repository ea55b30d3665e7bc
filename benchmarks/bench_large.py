"""Large outputs: peak memory and time of tiled against whole-image generation, and their quality.

Every measurement runs in its own process, so its peak RSS is its own (training
happens in the parent). Two parts:

``--memory``: a model with the paper's architecture (cell micrograph as uint16,
250 px, 9 scales, up to 128 filters; trained for ``--iters`` iterations per
scale: memory and speed do not depend on how well it is trained) generates
one sample of each ``--sizes`` entry, tiled into a BigTIFF and, for sizes up to
``--whole-up-to``, whole in memory.

``--quality``: a ``fast`` model at 80 px (the README's main job) generates
``--seeds`` samples of ``--quality-size`` px both ways (same seeds, same
noise); the tiled stages larger than the statistics window (1024 x 1024 px)
take their norm statistics from that window. Reports the metrics of both sets
against the training image and the mean pixel difference of tiled against
whole samples beside the difference between two samples.

    python benchmarks/bench_large.py --memory --sizes 2048 8192 --whole-up-to 2048
    python benchmarks/bench_large.py --quality --quality-size 2048 --seeds 4

``--sr``: a ``fast`` model (cell as uint16, 80 px, ``--iters`` iterations per
scale) upscales inputs of each ``--sr-inputs`` side (the cell micrograph tiled)
``--sr-factor`` times, in bounded memory (the finest stage runs tile by tile);
reports the peak beside its estimate and beside the whole-image estimate that
the memory check used before super-resolution was tiled.

    python benchmarks/bench_large.py --sr --sr-inputs 1024 2048 --sr-factor 4

Writes ``benchmarks/results/large.json`` (``--out``) after every job.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _job(args: argparse.Namespace) -> None:
    """One measurement in this process; prints one JSON line."""
    from napari_singan.apps import super_resolve
    from napari_singan.core import drain, generate, load_model
    from napari_singan.core.files import builtin_image
    from napari_singan.core.memory import (
        generation_bytes,
        sampling_bytes,
        super_resolution_bytes,
        tiled_bytes,
    )
    from napari_singan.core.tiled import generate_tiled, open_tiff

    model = load_model(args.model)
    size = (args.size, args.size)
    extra = {}
    if args.job == "sr":
        cell = builtin_image("cell").astype(np.uint16) * 257
        reps = (-(-args.size // cell.shape[0]), -(-args.size // cell.shape[1]))
        low = np.tile(cell, reps)[: args.size, : args.size]
        size = (round(args.sr_factor * args.size),) * 2
        extra = {
            "factor": args.sr_factor,
            "whole_estimate_gb": round(generation_bytes(model, size) / 2**30, 3),
        }
    before = _high_water_gb()
    start = time.perf_counter()
    if args.job == "sr":
        out = drain(super_resolve(model, low, args.sr_factor))
        estimate = super_resolution_bytes(model, size)
    elif args.job == "tiled":
        out = open_tiff(args.target, (len(args.job_seeds), *size), model.spec.dtype)
        drain(generate_tiled(model, out, seeds=args.job_seeds))
        out.flush()
        estimate = tiled_bytes(model, size, outputs=len(args.job_seeds))
    else:
        out = drain(generate(model, len(args.job_seeds), size=size, seeds=args.job_seeds))
        np.save(args.target, out)
        estimate = sampling_bytes(model, len(args.job_seeds), size=size)
    seconds = time.perf_counter() - start
    peak = _high_water_gb()
    print(
        json.dumps(
            {
                "job": args.job,
                "size": args.size,
                "samples": len(args.job_seeds),
                "seconds": round(seconds, 1),
                "peak_rss_gb": round(peak, 3),
                "before_gb": round(before, 3),
                "estimate_gb": round(estimate / 2**30, 3),
                **extra,
            }
        )
    )


def _high_water_gb() -> float:
    """This process's peak resident memory (``VmHWM``; unlike ``ru_maxrss`` not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _run(model: Path, job: str, size: int, seeds: list[int], target: Path, factor: float = 4.0) -> dict:
    command = [sys.executable, __file__, "--job", job, "--model", str(model), "--size", str(size)]
    command += ["--target", str(target), "--job-seeds", *map(str, seeds), "--sr-factor", str(factor)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"job": job, "size": size, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _train(preset_name: str, max_size: int, iters: int, uint16: bool, path: Path) -> float:
    from napari_singan.core import drain, preset, save_model, train
    from napari_singan.core.files import builtin_image

    image = builtin_image("cell")
    if uint16:
        image = image.astype(np.uint16) * 257  # the same picture over the full 16-bit range
    config = preset(preset_name).with_overrides(max_size=max_size, iters_per_scale=iters, coarsest_iters=0)
    start = time.perf_counter()
    save_model(drain(train(image, config, device="cpu", seed=0)), path)
    return time.perf_counter() - start


def _save(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def memory(args: argparse.Namespace, report: dict, folder: Path) -> None:
    model = folder / "paper_uint16.singan"
    _train("paper", 250, args.iters, True, model)
    rows = report.setdefault("memory", [])
    for size in args.sizes:
        jobs = ["tiled"] + (["whole"] if size <= args.whole_up_to else [])
        for job in jobs:
            target = folder / (f"{job}_{size}.tif" if job == "tiled" else f"{job}_{size}.npy")
            row = _run(model, job, size, [0], target)
            rows.append(row)
            print(row, flush=True)
            target.unlink(missing_ok=True)
            _save(report, args.out)


def quality(args: argparse.Namespace, report: dict, folder: Path) -> None:
    from napari_singan.core import load_model
    from napari_singan.metrics import evaluate, training_image

    model_path = folder / "fast80.singan"
    train_seconds = _train("fast", 80, 55, False, model_path)
    image = training_image(load_model(model_path))
    seeds = list(range(args.seeds))
    sets, rows = {}, {}
    for job in ("whole", "tiled"):
        target = folder / (f"{job}.tif" if job == "tiled" else f"{job}.npy")
        rows[job] = _run(model_path, job, args.quality_size, seeds, target)
        import tifffile

        sets[job] = tifffile.imread(target) if job == "tiled" else np.load(target)
        metrics = evaluate(sets[job], image).to_dict()
        rows[job].update({k: metrics[k] for k in ("patch_swd", "diversity", "border_score")})
        print(rows[job], flush=True)
    whole, tiled = sets["whole"].astype(float), sets["tiled"].astype(float)
    report["quality"] = {
        "model": "fast, 80 px, cell",
        "train_seconds": round(train_seconds, 1),
        "size": args.quality_size,
        "seeds": seeds,
        "jobs": rows,
        "mean_abs_diff_tiled_vs_whole": float(np.abs(tiled - whole).mean()),
        "max_abs_diff_tiled_vs_whole": float(np.abs(tiled - whole).max()),
        "mean_abs_diff_between_samples": float(np.abs(whole[1:] - whole[:-1]).mean()),
    }
    print(report["quality"], flush=True)
    _save(report, args.out)


def super_resolution(args: argparse.Namespace, report: dict, folder: Path) -> None:
    model = folder / "fast_uint16.singan"
    _train("fast", 80, args.iters, True, model)
    rows = report.setdefault("super_resolution", [])
    for side in args.sr_inputs:
        row = _run(model, "sr", side, [0], folder / "unused", args.sr_factor)
        rows.append(row)
        print(row, flush=True)
        _save(report, args.out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memory", action="store_true", help="peak RSS and time against output size")
    parser.add_argument("--quality", action="store_true", help="metrics of tiled against whole samples")
    parser.add_argument("--sr", action="store_true", help="peak RSS and time of super-resolution")
    parser.add_argument("--sr-inputs", type=int, nargs="+", default=[1024, 2048], help="square input sides")
    parser.add_argument("--sr-factor", type=float, default=4.0, help="super-resolution factor")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192], help="square output sides")
    parser.add_argument("--whole-up-to", type=int, default=2048, help="also generate whole up to this side")
    parser.add_argument("--iters", type=int, default=1, help="training iterations per scale (--memory)")
    parser.add_argument("--quality-size", type=int, default=2048)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "large.json")
    parser.add_argument("--job", choices=["tiled", "whole", "sr"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--job-seeds", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        _job(args)
        return
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.memory:
            report.pop("memory", None)
            memory(args, report, Path(tmp))
        if args.quality:
            quality(args, report, Path(tmp))
        if args.sr:
            report.pop("super_resolution", None)
            super_resolution(args, report, Path(tmp))


if __name__ == "__main__":
    main()
