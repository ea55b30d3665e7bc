"""How much does added pixel noise move the metrics? A check on what patch-SWD rewards.

Draws samples from a saved model, adds Gaussian noise of each given standard
deviation (in units of the training image's intensity range, clipped to that
range) and measures every set as ``evaluate_model`` does. Noise that lowers
patch-SWD while the samples visibly get worse marks how much of a gain in the
metric could be noise rather than structure. Prints one JSON line per level.

    python benchmarks/bench_schedule.py immunohistochemistry 2000,120,120,120 --save ihc.singan \
        --preset "a10=fast,rec_weight=10"
    python benchmarks/bench_metric_noise.py ihc.singan --sigmas 0 0.016 0.031 0.063
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from napari_singan.core import drain, generate, load_model
from napari_singan.metrics import evaluate, training_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .singan file")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[0.0, 0.016, 0.031, 0.063])
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument(
        "--seed", type=int, default=0, help="the model's training seed (samples use 1000 + it)"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    image = training_image(model)
    samples = drain(generate(model, args.samples, seed=1000 + args.seed)).astype(np.float64)
    low, high = float(image.min()), float(image.max())
    rng = np.random.default_rng(args.seed)
    for sigma in args.sigmas:
        noisy = np.clip(samples + rng.normal(0.0, sigma * (high - low), samples.shape), low, high)
        if np.issubdtype(image.dtype, np.integer):
            noisy = np.rint(noisy)
        report = evaluate(
            noisy.astype(image.dtype), image, channel_axis=model.spec.channel_axis, seed=1000 + args.seed
        )
        print(json.dumps({"model": args.model, "noise_sigma": sigma, **report.to_dict()}))


if __name__ == "__main__":
    main()
