"""Check core.plan's estimates of training memory and time against measured runs; prints JSON lines.

Each case trains ONE scale of S x S px at W filters (min size = max size = S) in a child process and
measures the peak RSS growth (``resource.getrusage``) and the seconds per iteration; the estimate is
``core.plan.step_bytes`` and ``core.plan.iteration_seconds`` in that child (its probes, its threads);
``conv_s`` and ``map_s`` are the probes' seconds of one conv forward pass and one norm + activation pass at
that scale, from which ``core.plan``'s constants are fitted (seconds = overhead + a conv_s + b map_s).

Examples
--------
CPU, one thread:   OMP_NUM_THREADS=1 python benchmarks/bench_plan.py --cpu-time
A few cases:       python benchmarks/bench_plan.py --cases 64x32 256x128 --iters 2
A whole run:       OMP_NUM_THREADS=1 python benchmarks/bench_plan.py --cpu-time --whole paper 64 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

#: Child: train one scale, print measured and estimated bytes and seconds per iteration.
CHILD = """
import json, resource, sys, time
import numpy as np, torch
from napari_singan.core import Progress, ScaleStarted, SinGANConfig, drain, train
from napari_singan.core.plan import (
    conv_seconds_per_flop, forward_flops, iteration_seconds, map_seconds_per_value, step_bytes)

size, width, iters, cpu_time = map(int, sys.argv[1:5])
if cpu_time:  # every clock (the probes' too) counts this process's CPU seconds
    time.perf_counter = time.process_time
rng = np.random.default_rng(0)
cfg = SinGANConfig().with_overrides(min_size=size, max_size=size, iters_per_scale=iters, base_width=width,
                                    max_width=width, preview_every=0)
warm = cfg.with_overrides(min_size=24, max_size=24, iters_per_scale=1)
drain(train(rng.random((24, 24)).astype(np.float32), warm, device="cpu"))  # thread pools, kernels
stamps = {}

def on_event(event):
    if isinstance(event, ScaleStarted) or (isinstance(event, Progress) and event.iteration == iters):
        stamps[type(event).__name__] = time.perf_counter()

image = rng.random((size, size)).astype(np.float32)
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
drain(train(image, cfg, device="cpu"), on_event)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
per_iter = (stamps["Progress"] - stamps["ScaleStarted"]) / iters
cpu = torch.device("cpu")
flops = forward_flops((size, size), width, 1, cfg.model.num_blocks)
maps = width * (size + 2 * cfg.model.num_blocks) ** 2
print(json.dumps({
    "size": size, "width": width, "threads": torch.get_num_threads(), "iters": iters,
    "measured_mb": round(peak / 1e6, 1),
    "estimated_mb": round(step_bytes((size, size), width, 1, cfg.model.num_blocks) / 1e6, 1),
    "measured_s_per_iter": round(per_iter, 4),
    "estimated_s_per_iter": round(iteration_seconds([(size, size)], [width], 1, cfg.model.num_blocks, cpu), 4),
    # one forward pass of the convs and one norm + activation pass over a padded width map, at the probes' speed
    "conv_s": flops * conv_seconds_per_flop(cpu, width, min(size, 64)),
    "map_s": maps * map_seconds_per_value(cpu, width, min(size + 2 * cfg.model.num_blocks, 128)),
}))
"""

#: Child: a whole training run on the bundled cell image against its plan (total seconds, peak RSS growth).
WHOLE = """
import json, resource, sys, time
from napari_singan.core import PRESETS, drain, train
from napari_singan.core.files import builtin_image
from napari_singan.core.plan import training_plan

preset, max_size, iters, cpu_time = sys.argv[1], *map(int, sys.argv[2:5])
if cpu_time:
    time.perf_counter = time.process_time
image = builtin_image("cell")
config = PRESETS[preset].with_overrides(max_size=max_size, iters_per_scale=iters, coarsest_iters=0)
plan = training_plan(*image.shape, config, "cpu")
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
start = time.perf_counter()
drain(train(image, config, device="cpu"))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({
    "whole": plan.summary(), "measured_s": round(seconds, 1), "estimated_s": round(plan.seconds, 1),
    "time_ratio": round(seconds / plan.seconds, 2), "measured_mb": round(peak / 1e6, 1),
    "estimated_mb": round(plan.peak_bytes / 1e6, 1), "memory_ratio": round(peak / plan.peak_bytes, 2),
}))
"""

CASES = ["24x32", "40x32", "64x32", "128x32", "256x32", "128x64", "256x64", "64x128", "128x128", "256x128"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=CASES, metavar="SxW", help="image side x filters")
    parser.add_argument("--iters", type=int, default=3, help="iterations per case")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time in CPU seconds of the child (steady on a shared machine; use with OMP_NUM_THREADS=1)",
    )
    parser.add_argument(
        "--whole",
        nargs=3,
        metavar=("PRESET", "MAX_SIZE", "ITERS"),
        help="instead: train the bundled cell image and compare with training_plan()",
    )
    args = parser.parse_args()
    if args.whole:
        run = subprocess.run(
            [sys.executable, "-c", WHOLE, *args.whole, str(int(args.cpu_time))],
            capture_output=True,
            text=True,
            check=True,
        )
        print(run.stdout.strip())
        return
    for case in args.cases:
        size, width = case.split("x")
        run = subprocess.run(
            [sys.executable, "-c", CHILD, size, width, str(args.iters), str(int(args.cpu_time))],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(run.stdout)
        row["memory_ratio"] = round(row["measured_mb"] / row["estimated_mb"], 2)
        row["time_ratio"] = round(row["measured_s_per_iter"] / row["estimated_s_per_iter"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
