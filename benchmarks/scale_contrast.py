"""Where samples lose the image's contrast: each scale of a model, its samples against the real pyramid.

For every trained scale n, ``--samples`` random samples are generated through
stages 0..n and compared with the training image downsampled to that scale:
the spatial std of the samples (mean over samples) against the image's, the
reconstruction error of the z* path, and the patch-SWD of the samples
(:mod:`napari_singan.metrics`). Channel 0 only.

    python benchmarks/bench_schedule.py texture 1000,400,160,120,120 --max-size 64 --save t.singan
    python benchmarks/scale_contrast.py t.singan
"""

from __future__ import annotations

import argparse

import torch

from napari_singan.core import load_model
from napari_singan.core.sampling import random_noise, reconstruct, synthesize, torch_generators
from napari_singan.metrics import patch_swd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .singan file")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    generators = torch_generators(range(args.seed, args.seed + args.samples), model.device)
    print("| scale | shape | sigma_n | image std | sample std | reconstruction RMSE | patch-SWD |")
    print("|---|---|---|---|---|---|---|")
    for scale in range(model.num_trained):
        samples = synthesize(model, random_noise(model, generators), batch=args.samples, stop=scale + 1)
        real = model.real(scale)
        rmse = float((reconstruct(model, stop=scale + 1) - real).square().mean().sqrt())
        image, stack = real[0, 0].numpy(), samples[:, 0].numpy()
        swd = float(patch_swd(stack, image).mean())
        print(
            f"| {scale} | {image.shape[0]}x{image.shape[1]} | {float(model.noise_amp(scale)):.4f} | "
            f"{image.std():.3f} | {stack.std(axis=(1, 2)).mean():.3f} | {rmse:.3f} | {swd:.3f} |"
        )


if __name__ == "__main__":
    main()
