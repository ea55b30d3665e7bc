"""Which scales are worth their iterations: train with its own iteration count per scale, then measure.

Each scale is trained with the given count (the preset's settings otherwise) by
stopping after it and resuming with the next count; seeds reproduce an
uninterrupted run's per-scale randomness (``core.training``). Prints one JSON
line: train seconds, seconds per scale, the noise amplitudes sigma_n and the :mod:`napari_singan.metrics`
report of 25 samples, as ``bench_quality.py`` measures its models.

    python benchmarks/bench_schedule.py immunohistochemistry 2000,120,120,120 --preset fast --max-size 48

``--strip PNG`` also writes the training image and the first samples side by side (4x, nearest):
the picture behind the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import imageio.v3 as iio
import numpy as np
import torch
from bench_quality import config_of, load

from napari_singan.core import ScaleFinished, SinGANModel, drain, generate, resume, save_model, train
from napari_singan.core.pyramid import pyramid_shapes
from napari_singan.metrics import evaluate_model, training_image


def write_strip(model: SinGANModel, path: str, count: int, seed: int, zoom: int = 4) -> None:
    """The training image and ``count`` samples side by side, as 8-bit PNG (2-D or RGB images)."""
    image = training_image(model).astype(np.float64)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise SystemExit(f"--strip draws 2-D or RGB images, not shape {image.shape}")
    tiles = [image, *drain(generate(model, count, seed=seed)).astype(np.float64)]
    low, high = image.min(), image.max()
    strip = np.concatenate([np.clip((t - low) / max(high - low, 1e-12), 0, 1) for t in tiles], axis=1)
    strip = strip.repeat(zoom, axis=0).repeat(zoom, axis=1)
    iio.imwrite(path, (255 * strip).round().astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="cell, immunohistochemistry, texture or a path")
    parser.add_argument("iters", help="iterations of each scale, coarsest first, e.g. 2000,120,120,120")
    parser.add_argument("--preset", default="fast", help="NAME or LABEL=PRESET,field=value,...")
    parser.add_argument("--max-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strip", help="PNG of the training image and 7 samples side by side")
    parser.add_argument(
        "--save",
        help="also save the trained model here (.singan; its config is the preset's, not the counts)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    label, config = config_of(args.preset, args.max_size, None)
    counts = [int(n) for n in args.iters.split(",")]
    image = load(args.image)
    scales = len(pyramid_shapes(*image.shape[:2], config.pyramid))
    if len(counts) != scales:
        raise SystemExit(
            f"give {scales} counts: the pyramid of {args.image} at {args.max_size} px has {scales} scales"
        )
    model, per_scale = None, []
    start = time.perf_counter()
    for count in counts:
        cfg = config.with_overrides(iters_per_scale=count, coarsest_iters=0)
        if model is None:
            work = train(image, cfg, device=args.device, seed=args.seed)
        else:
            work = resume(dataclasses.replace(model, config=cfg))
        finished = next(e for e in work if isinstance(e, ScaleFinished))
        work.close()
        model = finished.model
        per_scale.append(round(finished.seconds, 2))
    seconds = time.perf_counter() - start
    model = dataclasses.replace(model, config=config)
    report = evaluate_model(model, 25, seed=1000 + args.seed)
    if args.strip:
        write_strip(model, args.strip, 7, seed=1000 + args.seed)
    if args.save:
        save_model(model, args.save)
    print(
        json.dumps(
            {
                "image": args.image,
                "preset": label,
                "iters": counts,
                "seed": args.seed,
                "train_seconds": round(seconds, 1),
                "seconds_per_scale": per_scale,
                "noise_amps": [round(float(amp), 4) for amp in model.noise_amps],
                **report.to_dict(),
            }
        )
    )


if __name__ == "__main__":
    main()
