"""The training step's pieces under the speed levers of issue 8, side by side with the step as it is.

Times the critic step and the generator step of :mod:`napari_singan.core.training`
(eager, NCHW tensors, Adam's default implementation) at one scale's size and
width against: the channels_last memory format, fused Adam, torch.compile of
both networks and bfloat16 autocast (``TrainConfig.precision``). Variants
alternate with the baseline for ``--repeat`` rounds; a variant torch cannot run
(the gradient penalty differentiates the critic twice) is reported with its
error instead of a time.

    python benchmarks/bench_step.py --size 64 --width 32 --threads 2
    python benchmarks/bench_step.py --size 250 --width 128 --device cuda
    python benchmarks/bench_step.py --size 128 --width 32 --threads 1 --variants "bf16 autocast"
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from napari_singan.core import ModelConfig, TrainConfig, resolve_device
from napari_singan.core.models import Discriminator, GeneratorStage
from napari_singan.core.training import StageChain, discriminator_step, generator_step, training_autocast

VARIANTS = ("eager", "channels_last", "fused Adam", "torch.compile", "bf16 autocast")
PARTS = ("critic", "generator")


def build(variant: str, channels: int, width: int, size: int, device: torch.device) -> dict:
    """Networks, optimisers and (1, C, size, size) inputs for one variant, the same weights for all."""
    torch.manual_seed(0)
    config = ModelConfig()
    netg = GeneratorStage(channels, width, config).to(device)
    netd = Discriminator(channels, width, config).to(device)
    real, fake, z, prev = (torch.randn(1, channels, size, size, device=device) for _ in range(4))
    tensors = [real, fake, z, prev]
    if variant == "channels_last":
        netg, netd = (m.to(memory_format=torch.channels_last) for m in (netg, netd))
        tensors = [t.contiguous(memory_format=torch.channels_last) for t in tensors]
    cfg = TrainConfig(precision="bfloat16" if variant == "bf16 autocast" else "float32")
    precision = training_autocast(cfg, device)
    adam = {"betas": (cfg.beta1, cfg.beta2), **({"fused": True} if variant == "fused Adam" else {})}
    opt_g = torch.optim.Adam(netg.parameters(), lr=cfg.lr_g, **adam)
    opt_d = torch.optim.Adam(netd.parameters(), lr=cfg.lr_d, **adam)
    if variant == "torch.compile":
        netg, netd = torch.compile(netg), torch.compile(netd)
    real, fake, z, prev = tensors
    chain = StageChain([netg], [(size, size)])
    gen = torch.Generator(device=device).manual_seed(0)

    def critic() -> None:
        netd.requires_grad_(True)
        with precision:
            discriminator_step(netd, opt_d, real, fake, gen, cfg, 0)

    def generator() -> None:
        netd.requires_grad_(False)
        with precision:
            generator_step(chain, netd, opt_g, ([z], prev), ([torch.zeros_like(z)], prev), real, cfg)

    return {"critic": critic, "generator": generator}


def seconds(step: Callable[[], None], steps: int, device: torch.device) -> tuple[float, float]:
    """Seconds of the first call (warm-up, compilation) and per step after it."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return first, (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=64, help="square image side in pixels")
    parser.add_argument("--width", type=int, default=32, help="filters per conv block")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS[1:], default=VARIANTS[1:], help="besides eager"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants = ("eager", *args.variants)
    runs = {v: build(v, args.channels, args.width, args.size, device) for v in variants}
    times: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str], float] = {}
    for _ in range(args.repeat):
        for part in PARTS:
            for variant in variants:
                if (variant, part) in errors:
                    continue
                try:
                    warm, per_step = seconds(runs[variant][part], args.steps, device)
                    first.setdefault((variant, part), warm)  # the first round's: compilation included
                    times.setdefault((variant, part), []).append(per_step)
                except Exception as err:  # reported in the table, not hidden
                    errors[(variant, part)] = f"{type(err).__name__}: {str(err).splitlines()[0][:90]}"
    print(
        f"{args.size} px, {args.width} filters, {torch.get_num_threads()} threads, {device}, median of {args.repeat}"
    )
    print(
        "| variant | critic ms/step (min–max) | speed-up | generator ms/step (min–max) | speed-up "
        "| first calls s |\n|---|---|---|---|---|---|"
    )
    if any(("eager", p) in errors for p in PARTS):
        raise SystemExit(f"the eager step itself failed: {errors}")
    base = {p: statistics.median(times[("eager", p)]) for p in PARTS}
    for variant in variants:
        cells = []
        for part in PARTS:
            if (variant, part) in errors:
                cells += [errors[(variant, part)], ""]
            else:
                t = times[(variant, part)]
                med = statistics.median(t)
                cells += [
                    f"{med * 1e3:.1f} ({min(t) * 1e3:.1f}–{max(t) * 1e3:.1f})",
                    f"{base[part] / med:.2f}",
                ]
        warm = sum(first.get((variant, p), 0.0) for p in PARTS)
        print(f"| {variant} | " + " | ".join(cells) + f" | {warm:.1f} |")


if __name__ == "__main__":
    main()
