"""The critic step with torch's own convolution double backward against PenaltyConv2d, side by side.

One WGAN-GP critic update (forward on real + fake + interpolate, gradient
penalty, backward, Adam step) on random images, for each width and size;
the two critics share their weights (``TrainConfig.penalty_conv``) and alternate, ``--repeat`` rounds.

    python benchmarks/bench_penalty.py --widths 32 128 --size 64 --device cpu
    python benchmarks/bench_penalty.py --widths 32 64 128 --size 250 --device cuda
"""

from __future__ import annotations

import argparse
import statistics

import torch
from bench_step import seconds
from torch import nn

from napari_singan.core import ModelConfig, TrainConfig, resolve_device
from napari_singan.core.models import Discriminator, PenaltyConv2d
from napari_singan.core.training import discriminator_step


def step_seconds(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, steps: int) -> float:
    gen = torch.Generator(device=real.device).manual_seed(0)
    cfg = TrainConfig()  # gp_every = 1: every step is penalised, whatever its index
    opt = torch.optim.Adam(critic.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    return seconds(lambda: discriminator_step(critic, opt, real, fake, gen, cfg, 0), steps, real.device)[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--size", type=int, default=64, help="square image side in pixels")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed critic steps per round")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    config = ModelConfig()
    print("| width | size | built-in ms/step | PenaltyConv2d ms/step | speed-up |\n|---|---|---|---|---|")
    for width in args.widths:
        torch.manual_seed(0)
        ours = Discriminator(args.channels, width, config, PenaltyConv2d).to(device)
        theirs = Discriminator(args.channels, width, config, nn.Conv2d).to(device)
        theirs.load_state_dict(ours.state_dict())
        real, fake = (torch.randn(1, args.channels, args.size, args.size, device=device) for _ in range(2))
        times: dict[str, list[float]] = {"builtin": [], "ours": []}
        for _ in range(args.repeat):
            times["builtin"].append(step_seconds(theirs, real, fake, args.steps))
            times["ours"].append(step_seconds(ours, real, fake, args.steps))
        b, o = (statistics.median(times[k]) * 1e3 for k in ("builtin", "ours"))
        spread = max(times["builtin"]) / min(times["builtin"])
        print(f"| {width} | {args.size} | {b:.1f} | {o:.1f} | {b / o:.2f}x (built-in spread {spread:.2f}) |")


if __name__ == "__main__":
    main()
