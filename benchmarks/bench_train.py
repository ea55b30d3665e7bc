"""Time SinGAN training; prints one JSON object.

Examples
--------
CPU smoke run:   python benchmarks/bench_train.py --max-size 64 --iters 50
Paper preset:    python benchmarks/bench_train.py --device cuda   (250 px, 2000 iterations per scale)
Without graphs:  python benchmarks/bench_train.py --device cuda --preset eager=paper,cuda_graphs=False --iters 100
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import torch
from bench_quality import config_of

from napari_singan.core import ScaleFinished, drain, resolve_device, train
from napari_singan.core.files import BUILTIN_IMAGES, builtin_image, read_image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--image", default="cell", help=f"image file or bundled sample ({', '.join(BUILTIN_IMAGES)})"
    )
    parser.add_argument(
        "--preset", default="paper", help="fast, paper, super-resolution or LABEL=PRESET,field=value,..."
    )
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    image = builtin_image(args.image) if args.image in BUILTIN_IMAGES else read_image(args.image)
    label, config = config_of(args.preset, args.max_size, args.iters)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    scales = []

    def on_event(event) -> None:
        if isinstance(event, ScaleFinished):
            h, w = event.model.shapes[event.scale]
            scales.append(
                {
                    "scale": event.scale,
                    "shape": [h, w],
                    "seconds": round(event.seconds, 3),
                    "iters_per_s": round(config.train.iterations(event.scale, (h, w)) / event.seconds, 2),
                    "rec_rmse": round(event.rec_rmse, 5),
                }
            )

    start = time.perf_counter()
    model = drain(train(image, config, device=device, seed=args.seed), on_event)
    total = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else platform.processor() or "cpu",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "image": args.image,
                "preset": label,
                "cuda_graphs": config.train.cuda_graphs,
                "max_size": config.pyramid.max_size,
                "iters_per_scale": config.train.iters_per_scale,
                "num_scales": model.num_scales,
                "total_seconds": round(total, 2),
                "mean_iters_per_s": round(sum(config.train.schedule(model.shapes)) / total, 2),
                "peak_memory_mb": round(peak / 2**20, 1),
                "scales": scales,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
