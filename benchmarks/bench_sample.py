"""Time and peak memory of generating large outputs; prints one JSON object.

The model has the paper's architecture (250 px, 10 scales, up to 128 filters) but
is trained for only ``--iters`` iterations per scale: speed and memory do not
depend on how well it is trained.

    python benchmarks/bench_sample.py --size 2000 2000 --device cpu
    python benchmarks/bench_sample.py --num 50 --device cuda      (50 samples at the training size)

The generation is timed twice: the first call includes one-off costs (CUDA
kernels loading, cuDNN choosing algorithms), the repeat is what a user waits
for every further click.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from napari_singan.core import drain, generate, preset, resolve_device, train
from napari_singan.core.files import builtin_image


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="default: the training size"
    )
    parser.add_argument("--num", type=int, default=1, help="number of samples")
    parser.add_argument("--iters", type=int, default=1, help="training iterations per scale")
    parser.add_argument(
        "--max-size", type=int, default=None, help="training size (default: the paper's 250 px)"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    config = preset("paper").with_overrides(iters_per_scale=args.iters, max_size=args.max_size)
    model = drain(train(builtin_image("cell"), config, device=device, seed=0))
    after_training = peak_mb(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    size = None if args.size is None else tuple(args.size)
    seconds = []
    for seed in (0, 1):
        start = time.perf_counter()
        out = drain(generate(model, args.num, size=size, seed=seed))  # ends on the host: synchronised
        seconds.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "device": str(device),
                "output": list(out.shape),
                "dtype": str(out.dtype),
                "num_scales": model.num_scales,
                "finest_width": model.generators[-1].tail[0].in_channels,
                "seconds_first": round(seconds[0], 3),
                "seconds_repeat": round(seconds[1], 3),
                "peak_memory_mb_before_sampling": round(after_training, 1),
                "peak_memory_mb": round(peak_mb(device), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
