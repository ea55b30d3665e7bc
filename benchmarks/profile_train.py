"""Where does training time go? torch.profiler over some scales of a preset; prints the top ops.

Examples
--------
python benchmarks/profile_train.py --preset fast --max-size 80 --scales 0 1 --iters 40
python benchmarks/profile_train.py --preset eager=paper,cuda_graphs=False --max-size 250 --scales 8 --iters 10 --device cuda
"""

from __future__ import annotations

import argparse

from bench_quality import config_of
from torch.profiler import ProfilerActivity, profile

from napari_singan.core import ScaleFinished, ScaleStarted, resolve_device, train
from napari_singan.core.files import builtin_image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="fast", help="a preset or LABEL=PRESET,field=value,...")
    parser.add_argument("--image", default="cell")
    parser.add_argument("--max-size", type=int, default=80)
    parser.add_argument("--iters", type=int, default=40, help="iterations per scale")
    parser.add_argument("--scales", type=int, nargs="+", default=[0, 1], help="the scales to profile")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()

    _, config = config_of(args.preset, args.max_size, args.iters)
    device = resolve_device(args.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    prof = profile(activities=activities)
    for event in train(builtin_image(args.image), config, device=device, seed=0):
        if isinstance(event, ScaleStarted) and event.scale == min(args.scales):
            prof.start()
        if isinstance(event, ScaleFinished) and event.scale == max(args.scales):
            prof.stop()
            break
    sorts = (
        ["self_cuda_time_total", "self_cpu_time_total"] if device.type == "cuda" else ["self_cpu_time_total"]
    )
    for sort in sorts:
        print(prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=48))


if __name__ == "__main__":
    main()
