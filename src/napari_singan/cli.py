"""Headless command line: ``napari-singan train | sample | info``.

Every command is a thin front door onto :mod:`napari_singan.core`; the option
defaults are the config dataclasses' (paper) values.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Generator, Sequence
from typing import Any

from .core.config import PRESETS, ModelConfig, PyramidConfig, TrainConfig
from .core.errors import SinGANError

_PAPER_PYR, _PAPER_TRAIN = PyramidConfig(), TrainConfig()

#: CLI flag -> (config field, type, help). Defaults come from the chosen preset.
CONFIG_FLAGS: dict[str, tuple[str, type, str]] = {
    "--max-size": ("max_size", int, f"long side of the finest scale in px (paper: {_PAPER_PYR.max_size})"),
    "--min-size": ("min_size", int, f"short side of the coarsest scale in px (paper: {_PAPER_PYR.min_size})"),
    "--scale-factor": ("scale_factor", float, f"nominal ratio between scales (paper: {_PAPER_PYR.scale_factor})"),
    "--iters": ("iters_per_scale", int, f"iterations per scale (paper: {_PAPER_TRAIN.iters_per_scale})"),
    "--rec-weight": ("rec_weight", float, f"reconstruction weight alpha (paper: {_PAPER_TRAIN.rec_weight})"),
    "--lr": (None, float, f"learning rate of G and D (paper: {_PAPER_TRAIN.lr_g})"),
    "--norm": ("norm", str, f"normalisation layers: instance or none (paper: {ModelConfig().norm})"),
}


def _add_device_seed(parser: argparse.ArgumentParser, seed_help: str) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-singan``."""
    parser = argparse.ArgumentParser(
        prog="napari-singan",
        description="Train SinGAN on one image and generate new images from it (headless).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tr = sub.add_parser("train", help="train a model on one image", description="Train a SinGAN model on one image.")
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument("image", nargs="?", help="PNG, JPEG or TIFF image (8/16-bit, float, 1/3/N channels)")
    src.add_argument("--sample", choices=_builtin_names(), help="use a bundled sample micrograph instead of a file")
    src.add_argument("--resume", metavar="MODEL", help="continue training a stopped model at its next scale")
    tr.add_argument("-o", "--output", required=True, help="model file to write (e.g. cell.singan)")
    tr.add_argument("--preset", choices=list(PRESETS), default="paper", help="starting configuration (default: paper)")
    for flag, (_, kind, text) in CONFIG_FLAGS.items():
        tr.add_argument(flag, type=kind, default=None, help=text)
    tr.add_argument("--channel-axis", type=int, default=None, help="axis holding channels for non-RGB 3-D images")
    _add_device_seed(tr, "random seed (same seed, same model on the same device)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    sa = sub.add_parser(
        "sample", help="generate images from a model", description="Generate random images from a trained model."
    )
    sa.add_argument("model", help="model file")
    sa.add_argument("-n", "--num", type=int, default=8, help="number of samples (default: 8)")
    sa.add_argument("-o", "--output", required=True, help="output .tif stack (or .png: one file per sample)")
    sa.add_argument("--scale-h", type=float, default=1.0, help="output height relative to the training image")
    sa.add_argument("--scale-w", type=float, default=1.0, help="output width relative to the training image")
    sa.add_argument("--height", type=int, default=None, help="exact output height in px (with --width)")
    sa.add_argument("--width", type=int, default=None, help="exact output width in px (with --height)")
    sa.add_argument(
        "--start-scale", type=int, default=0, help="0: from pure noise; n>0: keep the training image's layout above n"
    )
    _add_device_seed(sa, "random seed (same seed, same samples)")
    sa.add_argument("--quiet", action="store_true", help="no progress bar")

    info = sub.add_parser("info", help="describe a model file", description="Print what a model file holds.")
    info.add_argument("model", help="model file")
    return parser


def _builtin_names() -> list[str]:
    from .core.files import BUILTIN_IMAGES

    return list(BUILTIN_IMAGES)


def _config_from_args(args: argparse.Namespace):
    overrides: dict[str, Any] = {}
    for flag, (name, _, _) in CONFIG_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if name is None:
            overrides.update(lr_g=value, lr_d=value)
        else:
            overrides[name] = value
    return PRESETS[args.preset].with_overrides(**overrides)


def _drive(
    work: Generator[Any, None, Any], quiet: bool, on_event: Callable[[Any], tuple[float, float] | None]
) -> Any:
    """Run a long-work generator under a tqdm bar; ``on_event`` maps an event to (done, total)."""
    from tqdm import tqdm

    with tqdm(disable=quiet, unit="it", dynamic_ncols=True) as bar:
        while True:
            try:
                event = next(work)
            except StopIteration as stop:
                return stop.value
            step = on_event(event)
            if step is not None:
                bar.total = step[1]
                bar.update(step[0] - bar.n)
                if hasattr(event, "num_scales"):
                    bar.set_description(f"scale {event.scale + 1}/{event.num_scales}")


def _cmd_train(args: argparse.Namespace) -> int:
    from .core import Progress, ScaleFinished, ScaleStarted, load_model, resume, save_model, train
    from .core.files import builtin_image, read_image

    if args.resume:
        start = load_model(args.resume, device=args.device if args.device != "auto" else "cpu")
        work = resume(start, device=args.device)
        config = start.config
        first_scale = start.num_trained
    else:
        config = _config_from_args(args)
        image = builtin_image(args.sample) if args.sample else read_image(args.image)
        source = f"sample:{args.sample}" if args.sample else str(args.image)
        work = train(image, config, channel_axis=args.channel_axis, device=args.device, seed=args.seed,
                     metadata={"source": source})
        first_scale = 0
    iters = config.train.iters_per_scale

    def on_event(event: Any) -> tuple[float, float] | None:
        if isinstance(event, ScaleFinished):
            save_model(event.model, args.output)  # a crash or Ctrl-C keeps every finished scale
        if isinstance(event, (Progress, ScaleStarted, ScaleFinished)):
            done = getattr(event, "iteration", 0) if not isinstance(event, ScaleFinished) else iters
            total = (event.num_scales - first_scale) * iters
            return (event.scale - first_scale) * iters + done, total
        return None

    model = _drive(work, args.quiet, on_event)
    save_model(model, args.output)
    print(f"trained {model.num_trained} scales {list(model.shapes)}; model written to {args.output}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .core import generate, load_model, resolve_device
    from .core.files import write_stack

    if (args.height is None) != (args.width is None):
        raise SinGANError("give both --height and --width, or neither")
    model = load_model(args.model, device=resolve_device(args.device))
    size = (args.height, args.width) if args.height is not None else None
    work = generate(model, args.num, start_scale=args.start_scale, scale_h=args.scale_h, scale_w=args.scale_w,
                    size=size, seed=args.seed)
    stack = _drive(work, args.quiet, lambda event: (event.done, event.total))
    rgb = model.spec.channel_axis == 2 and model.spec.channels in (3, 4)
    paths = write_stack(args.output, stack, rgb=rgb)
    print(f"wrote {len(stack)} sample(s) of shape {stack.shape[1:]} {stack.dtype} to {', '.join(map(str, paths))}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .core import load_model

    model = load_model(args.model)
    spec = model.spec
    print(f"model:     {args.model}")
    print(f"trained:   {model.num_trained} of {model.num_scales} scales")
    print(f"shapes:    {', '.join(f'{h}x{w}' for h, w in model.shapes)}")
    print(f"image:     {spec.height}x{spec.width}, {spec.channels} channel(s), {spec.dtype}")
    print(f"noise:     {', '.join(f'{a:.4g}' for a in model.noise_amps)}")
    for key, value in (model.metadata or {}).items():
        print(f"{key + ':':<10} {value}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _cmd_train,
    "sample": _cmd_sample,
    "info": _cmd_info,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-singan`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SinGANError as exc:
        print(f"napari-singan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("napari-singan: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            print(
                "napari-singan: error: the device ran out of memory; use a smaller --max-size, "
                "fewer/smaller samples, or --device cpu",
                file=sys.stderr,
            )
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())

