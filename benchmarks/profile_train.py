"""Where does training time go? torch.profiler over the first scales of a preset; prints the top ops.

Example
-------
python benchmarks/profile_train.py --preset fast --max-size 80 --scales 2 --iters 40
"""

from __future__ import annotations

import argparse

from torch.profiler import ProfilerActivity, profile

from napari_singan.core import ScaleFinished, preset, resolve_device, train
from napari_singan.core.files import builtin_image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--image", default="cell")
    parser.add_argument("--max-size", type=int, default=80)
    parser.add_argument("--iters", type=int, default=40, help="iterations per scale while profiling")
    parser.add_argument("--scales", type=int, default=2, help="profile this many scales, coarsest first")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()

    config = preset(args.preset).with_overrides(max_size=args.max_size, iters_per_scale=args.iters)
    device = resolve_device(args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    work = train(builtin_image(args.image), config, device=device, seed=0)
    with profile(activities=activities) as prof:
        for event in work:
            if isinstance(event, ScaleFinished) and event.scale + 1 >= args.scales:
                break
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))


if __name__ == "__main__":
    main()
