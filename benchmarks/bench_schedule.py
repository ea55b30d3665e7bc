"""Which scales are worth their iterations: train with its own iteration count per scale, then measure.

Each scale is trained with the given count (the preset's settings otherwise) by
stopping after it and resuming with the next count; seeds reproduce an
uninterrupted run's per-scale randomness (``core.training``). Prints one JSON
line: train seconds, seconds per scale, the noise amplitudes sigma_n and the :mod:`napari_singan.metrics`
report of 25 samples, as ``bench_quality.py`` measures its models.

    python benchmarks/bench_schedule.py immunohistochemistry 2000,120,120,120 --preset fast --max-size 48
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
from bench_quality import config_of, load

from napari_singan.core import ScaleFinished, resume, train
from napari_singan.core.pyramid import pyramid_shapes
from napari_singan.metrics import evaluate_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="cell, immunohistochemistry, texture or a path")
    parser.add_argument("iters", help="iterations of each scale, coarsest first, e.g. 2000,120,120,120")
    parser.add_argument("--preset", default="fast", help="NAME or LABEL=PRESET,field=value,...")
    parser.add_argument("--max-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
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
    report = evaluate_model(dataclasses.replace(model, config=config), 25, seed=1000 + args.seed)
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
