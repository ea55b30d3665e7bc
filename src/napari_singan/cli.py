"""Headless command line: ``napari-singan train | train-many | sample | augment | evaluate | info | sr | paint | harmonize | edit | animate``.

Every command is a thin front door onto :mod:`napari_singan.core`; the training
commands' option defaults are those of the preset chosen (``fast`` unless ``--preset``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, get_args

from .core.config import (
    DEFAULT_PRESET,
    PRESETS,
    CriticNorm,
    LabelEncoding,
    LabelMode,
    MaskSource,
    Norm,
    Padding,
    Precision,
)
from .core.errors import (
    OUT_OF_MEMORY_HINT,
    MemoryEstimateError,
    OutputPathError,
    SinGANError,
    SinGANNotice,
    is_out_of_memory,
)


def _defaults(name: str) -> str:
    """The value of config field ``name`` in the CLI's default preset and the paper's, for a flag's help."""
    first, paper = (
        next(getattr(part, name) for part in (c.pyramid, c.model, c.train) if hasattr(part, name))
        for c in (PRESETS[DEFAULT_PRESET], PRESETS["paper"])
    )
    first, paper = (value if value != "" else "unset" for value in (first, paper))
    return (
        f"{DEFAULT_PRESET} and paper: {paper}"
        if first == paper
        else f"{DEFAULT_PRESET}: {first}; paper: {paper}"
    )


#: The --max-size value that trains at the image's own pixel size.
NATIVE = "native"


def _max_size(text: str) -> int | str:
    """A --max-size value: a whole number of pixels, or ``native``."""
    if text.strip().lower() == NATIVE:
        return NATIVE
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a whole number of pixels or {NATIVE}, not {text!r}") from None


def _checked(kind: Callable[[str], Any], ok: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` where ``ok`` holds it, else the error "give ``wanted``"."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"give {wanted}, not {text!r}")
        return value

    return parse


_seed = _checked(int, lambda value: value >= 0, "a whole number of at least 0")
_count = _checked(int, lambda value: value >= 1, "a whole number of at least 1")
_finite = _checked(float, math.isfinite, "a finite number")
_unit = _checked(float, lambda value: 0 <= value <= 1, "a number from 0 to 1")
_positive = _checked(float, lambda value: math.isfinite(value) and value > 0, "a finite number above 0")
_passes = _checked(int, lambda value: 0 <= value <= 100, "a whole number from 0 to 100")


#: CLI flag -> (config field, type, help). Defaults come from the chosen preset.
CONFIG_FLAGS: dict[str, tuple[str | None, Callable[[str], Any], str]] = {
    "--max-size": (
        "max_size",
        _max_size,
        f"long side of the finest scale in px ({_defaults('max_size')}), or {NATIVE}: the (cropped) "
        "image's own size, so the model works at the file's pixel size",
    ),
    "--min-size": ("min_size", int, f"short side of the coarsest scale in px ({_defaults('min_size')})"),
    "--scale-factor": (
        "scale_factor",
        _finite,
        f"nominal ratio between scales ({_defaults('scale_factor')})",
    ),
    "--iters": ("iters_per_scale", int, f"iterations per scale ({_defaults('iters_per_scale')})"),
    "--coarsest-iters": (
        "coarsest_iters",
        int,
        f"iterations at the coarsest scale, where samples get their layout ({_defaults('coarsest_iters')}; "
        "0 trains as many as --iters, as fast does with --labels unless this flag is given)",
    ),
    "--coarse-taper": (
        "coarse_taper",
        _finite,
        "with --coarsest-iters, scale n trains that many x taper^n, at least --iters "
        f"({_defaults('coarse_taper')})",
    ),
    "--coarse-batch": (
        "coarse_batch",
        int,
        "random samples per step at the scales --coarsest-iters lengthens beyond --iters "
        f"({_defaults('coarse_batch')}); each step takes about (1 + n) / 2 x the time on a CPU",
    ),
    "--fine-area": (
        "fine_area",
        int,
        "scales of more pixels than this train --iters x this / their pixels iterations, at least "
        f"--fine-min-iters ({_defaults('fine_area')}, off)",
    ),
    "--fine-min-iters": (
        "fine_min_iters",
        int,
        f"with --fine-area, the fewest iterations of a scale ({_defaults('fine_min_iters')})",
    ),
    "--rec-weight": (
        "rec_weight",
        _finite,
        f"reconstruction weight alpha ({_defaults('rec_weight')}), with labels too "
        "unless --label-rec-weight is given",
    ),
    "--label-rec-weight": (
        "label_rec_weight",
        _finite,
        "alpha instead when training with --labels (0: --rec-weight)",
    ),
    "--lr": (None, _positive, f"learning rate of G and D ({_defaults('lr_g')})"),
    "--norm": ("norm", str, f"normalisation layers of the generators ({_defaults('norm')})"),
    "--critic-norm": (
        "critic_norm",
        str,
        f"normalisation layers of the discriminators ({_defaults('critic_norm')}; instance makes them "
        "blind to each sample's contrast, after-first leaves their first block without), with "
        "labels too unless --label-critic-norm is given",
    ),
    "--label-critic-norm": (
        "label_critic_norm",
        str,
        f"the discriminators' normalisation instead when training with --labels ({_defaults('label_critic_norm')}"
        "; unset: --critic-norm)",
    ),
    "--padding": ("padding", str, f"how each generator pads its input ({_defaults('padding')})"),
    "--label-encoding": (
        "label_encoding",
        str,
        f"values of class label channels, with --labels ({_defaults('label_encoding')}; "
        "see docs/augmentation.md)",
    ),
    "--precision": (
        "precision",
        str,
        f"arithmetic of the networks while training ({_defaults('precision')}); bfloat16 pays on "
        "processors with bfloat16 instructions, see docs/performance.md",
    ),
}
#: Flags whose values are a fixed set, taken from the config's types.
CONFIG_CHOICES: dict[str, tuple[str, ...]] = {
    "--norm": get_args(Norm),
    "--critic-norm": get_args(CriticNorm),
    "--label-critic-norm": get_args(CriticNorm),
    "--padding": get_args(Padding),
    "--label-encoding": get_args(LabelEncoding),
    "--precision": get_args(Precision),
}


def _add_force(parser: argparse.ArgumentParser, what: str = "generate") -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"{what} even if the estimated memory exceeds what is available",
    )


def _add_variation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variation",
        type=_unit,
        default=1.0,
        help="1: every sample a new layout; towards 0: nearer the training image's layout, and a model's "
        "labels follow its images more closely (with --start-scale 0, at the model's own size)",
    )


def _add_masks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--masks",
        choices=get_args(MaskSource),
        default=None,
        help="label images of a model trained with labels: 'redrawn' (the default: a small net, fit first to "
        "the model's training image and labels, about 25 s on a CPU, draws each from its image; the better "
        "masks where measured, see docs/augmentation.md#redrawn-masks) or 'model' (drawn with each image; "
        "keeps labels that only the surrounding tissue decides, which redrawn masks lose)",
    )


def _add_plane(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plane",
        metavar="AXIS=INDEX[,...]",
        help="the 2-D plane of a z/t stack (ImageJ hyperstack or OME-TIFF, axes TZCYXS), e.g. --plane Z=12 "
        "or --plane T=3,Z=0 (from 0); channels (C, or RGB samples S) are found from the file's metadata",
    )


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """--preset and the config flags of the commands that train (defaults: the chosen preset's)."""
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help=f"starting configuration (default: {DEFAULT_PRESET}, a short schedule measured to reach the paper's "
        "quality, see docs/performance.md; paper: the published settings, best on a GPU)",
    )
    for flag, (_, kind, text) in CONFIG_FLAGS.items():
        parser.add_argument(flag, type=kind, default=None, choices=CONFIG_CHOICES.get(flag), help=text)


def _add_device_seed(parser: argparse.ArgumentParser, seed_help: str) -> None:
    parser.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument("--seed", type=_seed, default=0, help=seed_help)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-singan``."""
    parser = argparse.ArgumentParser(
        prog="napari-singan",
        description="Train SinGAN on one image and generate new images from it (headless).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tr = sub.add_parser(
        "train",
        help="train a model on one image",
        description="Train a SinGAN model on one image. Before training it prints one line with the scales, "
        "their shapes and widths and the estimated time and peak memory on the device, and refuses (unless "
        "--force) when that memory is more than the device has available.",
    )
    src = tr.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "image",
        nargs="?",
        help="PNG, JPEG or TIFF image (8/16-bit, float, 1/3/N channels); an ImageJ or OME-TIFF's axes and "
        "pixel size are read from its metadata (the pixel size is stored in the model and its outputs)",
    )
    src.add_argument(
        "--sample", choices=_builtin_names(), help="use a bundled sample micrograph instead of a file"
    )
    src.add_argument("--resume", metavar="MODEL", help="continue training a stopped model at its next scale")
    tr.add_argument(
        "-o", "--output", help="model file to write (e.g. cell.singan; with --resume: the resumed file)"
    )
    _add_config_flags(tr)
    tr.add_argument(
        "--channel-axis",
        type=int,
        default=None,
        help="axis holding channels for non-RGB 3-D images without axis metadata (a file that says where its "
        "channels are gives its own)",
    )
    _add_plane(tr)
    tr.add_argument(
        "--crop",
        type=int,
        nargs=4,
        metavar=("Y", "X", "H", "W"),
        help="train on the H x W region whose top left pixel is (Y, X) (of the plane, in pixels; at least "
        "the min size; also applied to --labels); with --max-size native, at the file's own pixel size",
    )
    tr.add_argument(
        "--labels",
        metavar="LABELS",
        help="integer label image of the same height and width (e.g. a napari Labels layer saved as TIFF): "
        "learned with the image, so that samples come with labels",
    )
    tr.add_argument(
        "--label-mode",
        choices=get_args(LabelMode),
        help="classes (one channel per value), instances (objects renumbered in samples) or auto (default)",
    )
    _add_device_seed(tr, "random seed (default 0; same seed, same model on the same device)")
    tr.set_defaults(seed=None)  # None: not given, which --resume checks
    _add_force(tr, "train")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    tm = sub.add_parser(
        "train-many",
        help="train one model per image on a Dask cluster",
        description="Train one model per image (DIR/<image name>.singan each): locally one worker per GPU "
        "(or one on the CPU), or on the Dask distributed cluster at --scheduler. Failed images are "
        "retried once and reported; images whose complete model exists are kept, unless a batch of other "
        "settings trained it (then nothing starts). Needs "
        "pip install 'napari-singan[cluster]'.",
    )
    tm.add_argument("images", nargs="+", help="image files")
    tm.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the model files")
    tm.add_argument(
        "--labels", nargs="+", metavar="LABELS", help="label image files, one per image, in order"
    )
    tm.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://host:8786")
    _add_config_flags(tm)
    _add_plane(tm)
    _add_device_seed(tm, "random seed of every image")
    _add_force(tm, "train")

    sa = sub.add_parser(
        "sample",
        help="generate images from a model",
        description="Generate random images from a trained model.",
    )
    sa.add_argument("model", help="model file")
    sa.add_argument("-n", "--num", type=int, default=8, help="number of samples (default: 8)")
    sa.add_argument(
        "-o",
        "--output",
        required=True,
        help="output .tif stack (or .png: one file per sample); a model with labels also writes its label "
        "images beside them (NAME_labels.tif, or NAME_labels_000.png, ...)",
    )
    sa.add_argument(
        "--scale-h",
        type=_finite,
        default=1.0,
        help="output height relative to the model's working size (its finest scale; see info)",
    )
    sa.add_argument(
        "--scale-w",
        type=_finite,
        default=1.0,
        help="output width relative to the model's working size (its finest scale; see info)",
    )
    sa.add_argument("--height", type=int, default=None, help="exact output height in px (with --width)")
    sa.add_argument("--width", type=int, default=None, help="exact output width in px (with --height)")
    sa.add_argument(
        "--start-scale",
        type=int,
        default=0,
        help="0: from pure noise; n>0: keep the training image's layout above n",
    )
    _add_variation(sa)
    _add_masks(sa)
    _add_device_seed(sa, "random seed (same seed, same samples)")
    sa.add_argument(
        "--tiled",
        action="store_true",
        help="generate tile by tile straight into the .tif (any size in bounded memory; chosen by itself "
        "when a .tif output would not fit in memory)",
    )
    _add_force(sa)
    sa.add_argument("--quiet", action="store_true", help="no progress bar")

    au = sub.add_parser(
        "augment",
        help="write a dataset of generated images (and label images) to a folder",
        description="Write numbered image (and, for a model trained with --labels, label) TIFFs in the "
        "model's dtype plus manifest.json (model hash, size, start scale, per-sample seeds). Resumable: "
        "samples already written with a matching manifest are skipped.",
    )
    au.add_argument("model", help="model file")
    au.add_argument("-n", "--num", type=_count, default=100, help="number of samples (default: 100)")
    au.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    au.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="output size in px (default: the model's working size, its finest scale; see info)",
    )
    au.add_argument(
        "--start-scale", type=int, default=0, help="0: from pure noise; n>0: keep the layout above n"
    )
    _add_variation(au)
    _add_masks(au)
    _add_device_seed(au, "dataset seed (sample i is always the same)")
    _add_force(au)
    au.add_argument("--quiet", action="store_true", help="no progress bar")

    ev = sub.add_parser(
        "evaluate",
        help="measure the quality of a model's samples",
        description="Draw samples at the model's working size and measure them against the training image: "
        "patch-SWD (lower is better), diversity, copy distance (0 = a copy), border score "
        "(1 = no border anchoring) and collage (0 = no verbatim pieces of the image). See napari_singan.metrics.",
    )
    ev.add_argument("model", help="model file")
    ev.add_argument(
        "-n", "--num", type=_count, default=25, help="samples to measure, at least 2 (default: 25)"
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _add_device_seed(ev, "random seed (same seed, same numbers)")
    _add_force(ev, "measure")

    info = sub.add_parser("info", help="describe a model file", description="Print what a model file holds.")
    info.add_argument("model", help="model file")
    _add_app_parsers(sub)
    return parser


def _app_parser(
    sub,
    name: str,
    help_text: str,
    inputs: Sequence[tuple[str, str]],
    output_help: str = "output image (.tif keeps the dtype; .png for 8/16-bit)",
) -> argparse.ArgumentParser:
    """A subcommand taking MODEL, its input files, -o, --seed, --device and --quiet."""
    p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
    p.add_argument("model", help="model file")
    for arg, text in inputs:
        p.add_argument(arg, help=text)
    p.add_argument("-o", "--output", required=True, help=output_help)
    _add_device_seed(p, "random seed (same seed, same output)")
    _add_force(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _add_masked_options(p: argparse.ArgumentParser, radius: float, sigma: float) -> None:
    p.add_argument("--mask", required=True, help="mask image: non-zero pixels mark the region to regenerate")
    p.add_argument("--start-scale", type=int, default=1, help="scale at which the image is injected (1..N-1)")
    p.add_argument(
        "--radius",
        type=_finite,
        default=radius,
        help=f"mask dilation radius in px of the model's working size, scaled to the image (default {radius})",
    )
    p.add_argument(
        "--sigma",
        type=_finite,
        default=sigma,
        help=f"mask feathering sigma in px of the model's working size, scaled to the image (default {sigma})",
    )


def _add_app_parsers(sub) -> None:
    from .apps import editing, harmonization, super_resolution

    sr = _app_parser(
        sub,
        "sr",
        "upscale an image with a model trained on it (any preset; see docs/applications.md)",
        [("image", "image to upscale")],
    )
    sr.add_argument(
        "--factor", type=_positive, default=4.0, help="upscaling factor, any value above 1 (default 4)"
    )
    sr.add_argument(
        "--back-projection",
        type=_passes,
        default=super_resolution.BACK_PROJECTION,
        metavar="PASSES",
        help="after each upscaling step, correct the output PASSES times towards agreeing, shrunk, with the "
        f"input (0: the paper's steps, which drift from it; default {super_resolution.BACK_PROJECTION})",
    )
    paint = _app_parser(
        sub,
        "paint",
        "turn a rough painting into a realistic image",
        [("paint", "paint / clip-art image with the training image's channels")],
    )
    paint.add_argument(
        "--start-scale", type=int, default=1, help="scale at which the paint is injected (1..N-1)"
    )
    paint.add_argument("-n", "--num", type=_count, default=1, help="number of outputs (default 1)")
    paint.add_argument(
        "--quantize",
        type=int,
        default=0,
        metavar="K",
        help="snap the paint to K dominant colours of the training image first (the reference uses 5)",
    )
    paint.add_argument(
        "--fine-tune",
        type=int,
        default=0,
        metavar="ITERS",
        help="first retrain the paint scale on inputs snapped to the --quantize colours for ITERS iterations "
        "(closer colours; needs --quantize)",
    )
    harm = _app_parser(
        sub, "harmonize", "harmonize an object pasted into an image", [("image", "naive composite")]
    )
    _add_masked_options(harm, harmonization.RADIUS, harmonization.SIGMA)
    harm.add_argument(
        "--fine-tune",
        type=int,
        default=0,
        metavar="ITERS",
        help="first fine-tune the finest scale on the composite for ITERS iterations",
    )
    ed = _app_parser(sub, "edit", "blend an edited region into the image", [("image", "edited image")])
    _add_masked_options(ed, editing.RADIUS, editing.SIGMA)
    anim = _app_parser(
        sub,
        "animate",
        "render a smooth animation (.gif, .mp4 or .tif)",
        [],
        "output animation: .gif or .mp4 (8-bit video), or .tif (the frames as a stack in the model's dtype)",
    )
    anim.add_argument("--frames", type=_count, default=50, help="number of frames (default 50)")
    anim.add_argument(
        "--fps",
        type=_positive,
        default=10.0,
        help="frames per second (default 10; GIF 0.01-50, MP4 0.01-240)",
    )
    anim.add_argument(
        "--start-scale", type=int, default=0, help="scales below keep the reconstruction's layout"
    )
    anim.add_argument("--alpha", type=_finite, default=0.1, help="pull towards z* (default 0.1)")
    anim.add_argument("--beta", type=_finite, default=0.9, help="momentum of the walk (default 0.9)")


def _builtin_names() -> list[str]:
    from .core.files import BUILTIN_IMAGES

    return list(BUILTIN_IMAGES)


def _flag_value(args: argparse.Namespace, flag: str) -> Any:
    """The parsed value of ``--some-flag`` (argparse's attribute ``some_flag``)."""
    return getattr(args, flag[2:].replace("-", "_"))


def _config_from_args(args: argparse.Namespace):
    """The preset with the config flags applied; ``--max-size native`` keeps the preset's max size
    (it is resolved per image by :func:`napari_singan.core.microscopy.training_input`)."""
    overrides: dict[str, Any] = {}
    for flag, (name, _, _) in CONFIG_FLAGS.items():
        value = _flag_value(args, flag)
        if value == NATIVE:
            continue
        if name is None:
            overrides.update(lr_g=value, lr_d=value)
        else:
            overrides[name] = value
    return PRESETS[args.preset or DEFAULT_PRESET].with_overrides(**overrides)


def _drive(
    work: Generator[Any, None, Any], quiet: bool, on_event: Callable[[Any], tuple[float, float] | None]
) -> Any:
    """Run a long-work generator under a tqdm bar; ``on_event`` maps an event to (done, total).

    The bar is drawn at the first step, so input the work refuses at once gives one error line and no bar.
    The fit of a mask net (:class:`~napari_singan.core.events.MaskNetProgress`) counts on a bar of its own,
    from 0 again, and so does the work after it.
    """
    from tqdm import tqdm

    from .core import drain
    from .core.events import MaskNetProgress

    bar = None
    fitting = False

    def show(event: Any) -> None:
        nonlocal bar, fitting
        step = on_event(event)
        if step is None:
            return
        if bar is None:
            bar = tqdm(disable=quiet, unit="it", dynamic_ncols=True)
        if isinstance(event, MaskNetProgress) != fitting:  # into or out of the fit: count afresh
            fitting = not fitting
            bar.reset(total=step[1])
            bar.set_description("fitting the mask net" if fitting else None)
        bar.total = step[1]
        bar.update(step[0] - bar.n)
        if hasattr(event, "num_scales"):
            bar.set_description(f"scale {event.scale + 1}/{event.num_scales}")

    try:
        return drain(work, show)
    finally:
        if bar is not None:
            bar.close()


def _fit_or_sample_progress(event: Any) -> tuple[float, float]:
    """(done, total) of a mask net's fit (steps) or of samples."""
    from .core.events import MaskNetProgress

    return (event.step, event.steps) if isinstance(event, MaskNetProgress) else (event.done, event.total)


def _training_progress(
    first_scale: int, iters: Callable[[int], int], on_scale: Callable[[Any], None] | None = None
) -> Callable[[Any], tuple[float, float] | None]:
    """Map training events to (iterations done, total) from ``first_scale`` on.

    ``iters(scale)`` gives a scale's iterations; ``on_scale`` gets each finished model.
    """
    from .core import ScaleFinished
    from .core.events import training_steps

    def on_event(event: Any) -> tuple[float, float] | None:
        if isinstance(event, ScaleFinished) and on_scale is not None:
            on_scale(event.model)
        return training_steps(event, iters, first_scale)

    return on_event


def _cmd_train(args: argparse.Namespace) -> int:
    from .core import resolve_device, resume, save_model, train
    from .core.files import builtin_image, check_output_path, read_image
    from .core.microscopy import MicroscopyImage, parse_plane, read_microscopy, training_input
    from .core.persistence import SUFFIX
    from .core.plan import training_plan
    from .core.training import training_layout

    output = args.output or args.resume
    if output is None:
        raise SinGANError("give the model file to write with -o (e.g. -o cell.singan)")
    check_output_path(output, (SUFFIX,))
    if args.resume:
        _check_resume_flags(args)
        start = _load(args, args.resume)
        config = start.config
        first_scale = start.num_trained
        plan = training_plan(
            start.spec.height, start.spec.width, config, start.device, start.channels, first_scale
        )
        _say_plan(args, plan)
        work = resume(start, force=True)  # the plan checked it, or --force
    else:
        if args.sample and args.plane:
            raise SinGANError("--plane picks a plane of an image file; the bundled samples are single planes")
        plane = parse_plane(args.plane) if args.plane else None
        image = (
            MicroscopyImage(builtin_image(args.sample)) if args.sample else read_microscopy(args.image, plane)
        )
        given = training_input(
            image,
            _config_from_args(args),
            f"sample:{args.sample}" if args.sample else str(args.image),
            channel_axis=args.channel_axis,
            crop=args.crop,
            native=args.max_size == NATIVE,
            labels=None if args.labels is None else read_image(args.labels),
        )
        config = given.config
        device = resolve_device(args.device)
        label_mode = args.label_mode or "auto"
        height, width, channels = training_layout(  # what cannot be trained is refused before the plan
            given.image, given.channel_axis, given.labels, label_mode
        )
        plan = training_plan(height, width, config, device, channels)
        _say_plan(args, plan)
        work = train(
            given.image,
            config,
            labels=given.labels,
            label_mode=label_mode,
            channel_axis=given.channel_axis,
            device=device,
            seed=args.seed or 0,
            metadata=given.metadata,
            force=True,  # the plan checked it, or --force
        )
        first_scale = 0
    on_event = _training_progress(
        first_scale, lambda n: plan.iterations[n - first_scale], lambda model: save_model(model, output)
    )  # Ctrl-C, running out of memory or any failure keeps the finished scales
    model = _drive(work, args.quiet, on_event)
    save_model(model, output)
    print(f"trained {model.num_trained} scales {list(model.shapes)}; model written to {output}")
    return 0


_NEW_MODEL_FLAGS = ("--preset", "--seed", "--labels", "--label-mode", "--crop", "--channel-axis", "--plane")


def _check_resume_flags(args: argparse.Namespace) -> None:
    """Refuse options of a new model given with --resume, which continues with the model's own."""
    given = [flag for flag in (*_NEW_MODEL_FLAGS, *CONFIG_FLAGS) if _flag_value(args, flag) is not None]
    if given:
        raise SinGANError(
            f"--resume continues the model with its own image, settings and seed; drop {', '.join(given)} "
            "(or train a new model from the image without --resume)"
        )


def _say_plan(args: argparse.Namespace, plan) -> None:
    """Print the training plan; refuse one estimated to need more memory than the device has, unless --force."""
    from .core.plan import check_training_memory

    print(f"plan: {plan.summary()}", flush=True)
    if not args.force:
        check_training_memory(
            plan,
            "train on a region (--crop Y X H W) or at a smaller --max-size, or pass --force to try anyway",
        )


def _cmd_sample(args: argparse.Namespace) -> int:
    from .core import generate
    from .core.errors import check_whole
    from .core.files import TIFF_SUFFIXES, write_stack
    from .core.masknet import check_mask_source, fit_mask_net
    from .core.memory import available_bytes, check_generation, sampling_bytes
    from .core.microscopy import output_pixel_size
    from .core.sampling import check_variation, runnable_shapes, samples_per_batch

    if (args.height is None) != (args.width is None):
        raise SinGANError("give both --height and --width, or neither")
    check_whole("the number of samples", args.num, 1)  # before a mask net's fit
    model = _load_for_output(args, with_labels=True)
    size = (args.height, args.width) if args.height is not None else None
    shapes = runnable_shapes(model, args.start_scale, args.scale_h, args.scale_w, size)  # before the estimate
    check_variation(model, args.variation, args.start_scale, shapes)
    whole = sampling_bytes(model, args.num, args.scale_h, args.scale_w, size)
    room = available_bytes(model.device)
    too_large = room is not None and whole > room
    tiff = Path(args.output).suffix.lower() in TIFF_SUFFIXES
    masks = check_mask_source(model, args.masks)
    if args.tiled or (too_large and tiff and not model.labels and args.variation == 1):
        return _sample_tiled(args, model, shapes[-1])
    if not args.force:
        check_generation(model, shapes[-1], samples_per_batch(args.num, shapes[-1]), args.num)
    # --masks redrawn: the net is fit under a bar of its own, then the samples are drawn under theirs
    net = (
        _drive(fit_mask_net(model, seed=args.seed), args.quiet, _fit_or_sample_progress)
        if masks == "redrawn"
        else None
    )
    work = generate(
        model,
        args.num,
        start_scale=args.start_scale,
        scale_h=args.scale_h,
        scale_w=args.scale_w,
        size=size,
        seed=args.seed,
        with_labels=model.labels is not None,
        mask_net=net,
        variation=args.variation,
        force=True,  # checked above
    )
    out = _drive(work, args.quiet, _fit_or_sample_progress)
    stack, labels = out if model.labels else (out, None)
    pixel_size = output_pixel_size(model)
    paths = write_stack(
        args.output, stack, model.spec.is_rgb, pixel_size=pixel_size, channel_axis=model.spec.channel_axis
    )
    print(
        f"wrote {len(stack)} sample(s) of shape {stack.shape[1:]} {stack.dtype} to {', '.join(map(str, paths))}"
    )
    if labels is not None:
        output = Path(args.output)
        label_paths = write_stack(
            output.with_name(f"{output.stem}_labels{output.suffix}"), labels, pixel_size=pixel_size
        )
        print(f"wrote their label images ({labels.dtype}) to {', '.join(map(str, label_paths))}")
    return 0


def _sample_tiled(args: argparse.Namespace, model, size: tuple[int, int]) -> int:
    """``sample`` tile by tile into a BigTIFF (core.tiled), for outputs of any size."""
    from .core.files import TIFF_SUFFIXES
    from .core.memory import check_memory, tiled_bytes
    from .core.microscopy import output_pixel_size
    from .core.tiled import write_tiff

    if Path(args.output).suffix.lower() not in TIFF_SUFFIXES:
        raise SinGANError(f"tiled samples are written to a BigTIFF: name the output .tif, not {args.output}")
    if model.labels is not None:
        raise SinGANError("samples with labels are generated in memory only: leave out --tiled")
    if args.variation != 1:
        raise SinGANError("tiled samples draw every layout afresh: leave out --variation or --tiled")
    if not args.force:  # the maps stay on the host
        check_memory(tiled_bytes(model, size, args.num), "cpu", force_flag="--force")
    pixel_size = output_pixel_size(model)
    work = write_tiff(
        model,
        args.output,
        size,
        args.num,
        tiff=None if pixel_size is None else pixel_size.tiff_options(imagej=False),
        start_scale=args.start_scale,
        seed=args.seed,
    )
    path = _drive(work, args.quiet, lambda event: (event.done, event.total))
    print(f"wrote {args.num} sample(s) of {size[0]}x{size[1]} px tile by tile to {path}")
    return 0


def _cmd_train_many(args: argparse.Namespace) -> int:
    from .apps.train_many import train_many
    from .core import drain
    from .core.memory import FORCE_ARGUMENT
    from .core.microscopy import parse_plane

    def report(event) -> None:
        status = f"model {event.model_path}" if event.error is None else f"FAILED: {event.error}"
        if event.kept:
            status = f"kept model {event.model_path} (trained before, not trained again)"
        elif event.error is not None:  # a worker's memory refusal names the Python API's option
            status = status.replace(FORCE_ARGUMENT, "--force")
        print(f"[{event.done}/{event.total}] {event.source}: {status}", flush=True)

    work = train_many(
        args.images,
        args.output,
        _config_from_args(args),
        labels=args.labels,
        scheduler=args.scheduler,
        device=args.device,
        seed=args.seed,
        plane=parse_plane(args.plane) if args.plane else None,
        native=args.max_size == NATIVE,
        force=args.force,
    )
    results = drain(work, report)
    failed = sum(value.startswith("failed: ") for value in results.values())
    print(f"{len(results) - failed} of {len(results)} models in {args.output}")
    return 2 if failed else 0


def _cmd_augment(args: argparse.Namespace) -> int:
    from .apps.augment import augment, read_manifest

    model = _load(args)
    size = None if args.size is None else tuple(args.size)
    work = augment(
        model,
        args.num,
        args.output,
        size=size,
        start_scale=args.start_scale,
        variation=args.variation,
        seed=args.seed,
        masks=args.masks,
        force=args.force,
    )
    manifest = _drive(work, args.quiet, _fit_or_sample_progress)
    pairs = (
        f"image/label pairs (masks {read_manifest(manifest.parent)['masks']})" if model.labels else "images"
    )
    print(f"{args.num} {pairs} in {args.output} (manifest: {manifest})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .metrics import evaluate_model

    if args.num < 2:
        raise SinGANError(f"quality needs at least 2 samples, got -n {args.num}")
    report = evaluate_model(_load(args), args.num, seed=args.seed, force=args.force)
    values = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in report.to_dict().items()}
    if args.json:
        print(json.dumps({"model": str(args.model), "seed": args.seed, **values}))
        return 0
    for key, value in values.items():
        shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key.replace('_', ' ') + ':':<16} {shown}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .core import load_model

    model = load_model(args.model)
    spec = model.spec
    print(f"model:     {args.model}")
    print(f"trained:   {model.num_trained} of {model.num_scales} scales")
    print(f"shapes:    {', '.join(f'{h}x{w}' for h, w in model.shapes)}")
    print(f"image:     {spec.height}x{spec.width}, {spec.channels} channel(s), {spec.dtype}")
    if model.num_trained:
        height, width = model.trained_shapes[-1]
        print(f"working:   {height}x{width} px (the finest trained scale: samples' default size)")
    if model.labels:
        kind = (
            "instances (objects renumbered)"
            if model.labels.instances
            else f"classes {list(model.labels.classes)}"
        )
        print(f"labels:    {kind}, {model.labels.dtype}, {model.config.train.label_encoding} encoding")
    print(f"noise:     {', '.join(f'{a:.4g}' for a in model.noise_amps)}")
    for key, value in (model.metadata or {}).items():
        print(f"{key + ':':<10} {value}")
    return 0


def _run_app(args: argparse.Namespace, work: Generator[Any, None, Any]) -> Any:
    return _drive(work, args.quiet, lambda event: (event.done, event.total))


def _write_single(args: argparse.Namespace, model, source, image, pixel) -> int:
    """Write an application's output ``image`` made from the input image ``source`` of pixel size ``pixel``."""
    from .core.files import write_image

    pixel_size = _app_pixel_size(model, source, image, pixel)
    write_image(args.output, image, model.spec.is_rgb, pixel_size, model.spec.channel_axis)
    print(f"wrote {image.shape} {image.dtype} to {args.output}")
    return 0


def _read_app_input(path):
    """An application's input image and its file's physical pixel size (None: not calibrated)."""
    from .core.microscopy import read_microscopy

    found = read_microscopy(path)
    return found.data, found.pixel_size


def _app_pixel_size(model, source, output, pixel):
    """Physical pixel size of an application's output from the input ``source``: scaled from the input
    file's own ``pixel`` size, else from the model's source image (inputs are in its pixels); None: unknown."""
    from .apps.shared import spatial_shape
    from .core.microscopy import output_pixel_size

    if pixel is not None:
        return pixel.scaled(spatial_shape(model, source), spatial_shape(model, output))
    return output_pixel_size(model, spatial_shape(model, output), spatial_shape(model, source))


def _cmd_sr(args: argparse.Namespace) -> int:
    from .apps import super_resolve

    model = _load_for_output(args)
    image, pixel = _read_app_input(args.image)
    work = super_resolve(
        model, image, args.factor, back_projection=args.back_projection, seed=args.seed, force=args.force
    )
    out = _run_app(args, work)
    return _write_single(args, model, image, out, pixel)


def _cmd_paint(args: argparse.Namespace) -> int:
    from .apps import paint_to_image
    from .core import SampleProgress
    from .core.files import write_stack

    model = _load_for_output(args)
    paint, pixel = _read_app_input(args.paint)
    tuning = _training_progress(args.start_scale, lambda _scale: args.fine_tune)
    work = paint_to_image(
        model,
        paint,
        args.start_scale,
        num_samples=args.num,
        quantize_colors=args.quantize,
        fine_tune_iters=args.fine_tune,
        seed=args.seed,
        force=args.force,
    )
    out = _drive(
        work,
        args.quiet,
        lambda event: (event.done, event.total) if isinstance(event, SampleProgress) else tuning(event),
    )
    pixel_size = _app_pixel_size(model, paint, out[0], pixel)
    paths = write_stack(args.output, out, model.spec.is_rgb, pixel_size, model.spec.channel_axis)
    print(f"wrote {len(out)} image(s) of {out.shape[1:]} {out.dtype} to {', '.join(map(str, paths))}")
    return 0


def _cmd_masked(args: argparse.Namespace) -> int:
    from .apps import edit, harmonize
    from .core import SampleProgress
    from .core.files import read_image

    model = _load_for_output(args)
    (image, pixel), mask = _read_app_input(args.image), read_image(args.mask)
    blend = dict(radius=args.radius, sigma=args.sigma, seed=args.seed, force=args.force)
    if args.command == "edit":
        out = _run_app(args, edit(model, image, mask, args.start_scale, **blend))
        return _write_single(args, model, image, out, pixel)
    tuning = _training_progress(model.num_trained - 1, lambda _scale: args.fine_tune)
    out = _drive(
        harmonize(model, image, mask, args.start_scale, fine_tune_iters=args.fine_tune, **blend),
        args.quiet,
        lambda event: (event.done, event.total) if isinstance(event, SampleProgress) else tuning(event),
    )
    return _write_single(args, model, image, out, pixel)


def _cmd_animate(args: argparse.Namespace) -> int:
    from .apps import animate, save_animation
    from .apps.animation import check_animation_output
    from .core.files import ANIMATION_SUFFIXES

    model = _load_for_output(args, ANIMATION_SUFFIXES)
    check_animation_output(args.output, model, args.fps)  # e.g. no MP4 encoder: say so before rendering
    frames = _run_app(
        args,
        animate(
            model,
            args.frames,
            start_scale=args.start_scale,
            alpha=args.alpha,
            beta=args.beta,
            seed=args.seed,
            force=args.force,
        ),
    )
    path = save_animation(args.output, frames, args.fps, model)
    print(f"wrote {len(frames)} frames of {frames.shape[1:]} to {path}")
    return 0


def _load(args: argparse.Namespace, path: str | None = None):
    """The model file ``path`` (default: the MODEL argument) on the requested device."""
    from .core import load_model, resolve_device

    return load_model(path or args.model, device=resolve_device(args.device))


def _load_for_output(
    args: argparse.Namespace, suffixes: Sequence[str] | None = None, with_labels: bool = False
):
    """Check the -o path (before any work), load the MODEL, and check that the output format holds its
    images (``with_labels``: and the label images written beside them in that format)."""
    from .core.files import IMAGE_SUFFIXES, check_output_format, check_output_path

    check_output_path(args.output, suffixes or IMAGE_SUFFIXES)
    model = _load(args)
    check_output_format(args.output, model.spec, model.labels.dtype if with_labels and model.labels else None)
    return model


#: Arguments naming a command's input files (train's --resume is written back on purpose).
_INPUT_ARGS = ("model", "image", "images", "paint", "mask", "labels")


def _check_output_not_input(args: argparse.Namespace) -> None:
    """Refuse an -o path that is one of the command's input files, before any work."""
    from .core.files import same_file

    output = getattr(args, "output", None)
    if output is None:
        return
    for name in _INPUT_ARGS:
        given = getattr(args, name, None)
        for source in given if isinstance(given, list) else [given]:
            if source is not None and same_file(output, source):
                raise OutputPathError(
                    f"the output {output} is the input {source}: choose another output path"
                )


def _one_line_notices(show: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints SinGANNotices as one ``note:`` line and passes others to ``show``."""

    def showwarning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, SinGANNotice):
            print(f"napari-singan: note: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _cmd_train,
    "sample": _cmd_sample,
    "augment": _cmd_augment,
    "train-many": _cmd_train_many,
    "evaluate": _cmd_evaluate,
    "info": _cmd_info,
    "sr": _cmd_sr,
    "paint": _cmd_paint,
    "harmonize": _cmd_masked,
    "edit": _cmd_masked,
    "animate": _cmd_animate,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-singan`` console script."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # restores showwarning for those who import the package
        warnings.showwarning = _one_line_notices(warnings.showwarning)
        try:
            _check_output_not_input(args)
            code = COMMANDS[args.command](args)
            sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
            return code
        except SinGANError as exc:
            if isinstance(exc, MemoryEstimateError):  # the core's checks name its force=True
                exc = exc.naming("--force")
            print(f"napari-singan: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("napari-singan: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            if not _reader_left():
                raise
            return 141  # as a pipe's writer that the reader left (e.g. `| head`)
        except (MemoryError, RuntimeError) as exc:  # torch's OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(exc):
                raise
            print(f"napari-singan: error: {OUT_OF_MEMORY_HINT}", file=sys.stderr)
            return 3


def _reader_left() -> bool:
    """Whether standard output is a pipe whose reader has gone (not another broken pipe); if so, what is
    left of the output goes nowhere, so that Python's flush at exit reports nothing either."""
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()  # where a pipe's reader has gone, its writer's end polls as an error
        poller.register(fd, select.POLLOUT)
        gone = any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (captured)
        return False
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return gone


if __name__ == "__main__":
    sys.exit(main())
