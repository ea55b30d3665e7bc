"""Quality against training time, side by side: presets x images x seeds in one run.

Each (image, preset, seed) trains in its own subprocess (so peak memory is its
own), one after the other, presets interleaved so that machine noise hits them
alike. Every trained model is measured with :mod:`napari_singan.metrics`.
Prints a markdown table (mean ± std over seeds) and writes JSON and a PNG plot.

Examples
--------
python benchmarks/bench_quality.py --presets paper fast --max-size 48 --seeds 0 1
python benchmarks/bench_quality.py --presets fast "fast-zero=fast,padding=zero" --images cell texture
python benchmarks/bench_quality.py --presets fast --with-labels --max-size 64 --images cell --seeds 0 1 2
python benchmarks/bench_quality.py --presets fast --max-size 48 --threads 1 --include paper48.json
python benchmarks/bench_quality.py --seeds --include a.json b.json --baseline quick --out merged
python benchmarks/bench_quality.py --presets fast gpnn "gpnn-c25=gpnn,min_size=25" --max-size 64 --baseline fast

``gpnn`` is the training-free peer (benchmarks/patch_nn.py): nothing trains,
its samples are drawn at the preset's size and measured the same way; the
``s per sample`` column holds what each sample costs (SinGAN: after training).

With ``--with-labels`` every preset also trains with a label image (the image's
Otsu threshold, as the labels tutorial does) as ``PRESET+labels``; the metrics
are taken on the image channels, so the two rows say whether learning labels
costs image quality. Label models train with ``SinGANConfig.for_labels()``:
for ``fast`` that is also alpha = 10 and no longer coarsest scales, so pin
``rec_weight`` and ``coarsest_iters`` to compare the labels alone.

``--include`` tabulates and plots the runs of other JSON files with this run's
(``--rename OLD=NEW`` relabels their presets, ``--only`` keeps some of them):
a slow baseline can train at the same time on the other core, both with
``--threads 1``, so that both see the same machine. With ``--seeds`` and no
seed, nothing trains (--presets, --images and the training options are
ignored): the included runs alone are tabulated (runs made in several
processes, merged).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BUNDLED = ("cell", "immunohistochemistry", "texture")


def texture(size: int = 256, seed: int = 1) -> np.ndarray:
    """A synthetic stationary texture (blobs + grain, uint8): every crop has the same statistics."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6) > 0
    grain = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2)
    tex = 0.7 * blobs + 0.3 * grain
    return (255 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.uint8)


def load(name: str) -> np.ndarray:
    """A bundled micrograph, the synthetic texture, or an image file."""
    from napari_singan.core.files import BUILTIN_IMAGES, builtin_image, read_image

    if name == "texture":
        return texture()
    return builtin_image(name) if name in BUILTIN_IMAGES else read_image(name)


def split_variant(variant: str) -> tuple[str, str, list[tuple[str, str]]]:
    """``NAME`` or ``LABEL=NAME,key=value,...`` -> (label, name, [(key, value), ...])."""
    label, _, spec = variant.partition("=")
    name, *pairs = (spec or label).split(",")
    if not all(pair.count("=") == 1 for pair in pairs):
        raise SystemExit(f"{variant!r}: give LABEL=NAME,key=value,...")
    return label, name, [tuple(pair.split("=")) for pair in pairs]


def config_of(variant: str, max_size: int | None, iters: int | None):
    """``NAME`` (a preset) or ``LABEL=PRESET,field=value,...`` -> (label, config)."""
    from napari_singan.core import preset

    label, name, pairs = split_variant(variant)
    base = preset(name)
    sections = (base.pyramid, base.model, base.train)
    overrides = {}
    for key, value in pairs:
        owner = next((s for s in sections if hasattr(s, key)), None)
        if owner is None:
            raise SystemExit(f"unknown config field {key!r} in {variant!r}")
        current = getattr(owner, key)
        overrides[key] = value == "True" if isinstance(current, bool) else type(current)(value)
    every_scale = {"iters_per_scale": iters, "coarsest_iters": 0} if iters else {}
    return label, base.with_overrides(**overrides).with_overrides(max_size=max_size, **every_scale)


def jsonl_runs(args: argparse.Namespace, run) -> list[dict]:
    """The runs of ``args.include`` (JSON-lines files), then ``run(args, image, seed)``'s for each of
    ``args.images`` and ``args.seeds``, each appended to the JSON-lines file ``args.out`` as it ends."""
    records = [json.loads(line) for path in args.include for line in Path(path).read_text().splitlines()]
    for image in args.images if args.seeds else []:
        for seed in args.seeds:
            new = run(args, image, seed)
            with open(args.out, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in new)
            records += new
    return records


def mean_std(values: list[float], fmt: str = ".3f") -> str:
    """``mean ± sample std`` of the values (± 0 for one value), each formatted with ``fmt``."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{fmt}} ± {spread:{fmt}}"


def threshold_labels(image: np.ndarray) -> np.ndarray:
    """Two-class labels of an image: 1 above its Otsu threshold (of the channel mean for colour)."""
    from skimage.filters import threshold_otsu

    gray = image.mean(axis=-1) if image.ndim == 3 else image
    return (gray > threshold_otsu(gray)).astype(np.uint8)


def gpnn_of(variant: str) -> tuple[str, dict] | None:
    """``gpnn`` or ``LABEL=gpnn,option=value,...`` (options of :func:`patch_nn.gpnn_samples`:
    min_size, iters, alpha, noise) -> (label, options); None for a SinGAN preset."""
    label, name, pairs = split_variant(variant)
    if name != "gpnn":
        return None
    types = {"min_size": int, "iters": int, "alpha": float, "noise": float}
    unknown = [key for key, _ in pairs if key not in types]
    if unknown:
        raise SystemExit(f"unknown GPNN option {unknown[0]!r} in {variant!r}; one of {', '.join(types)}")
    return label, {key: types[key](value) for key, value in pairs}


def run_job(job: dict) -> dict:
    """Train one model and draw its samples, or draw GPNN's (nothing trains), and measure them
    (runs inside the subprocess)."""
    import torch

    from napari_singan.core import ScaleFinished, drain, generate, train
    from napari_singan.metrics import evaluate, training_image

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    image, seed, count = load(job["image"]), 1000 + job["seed"], job["samples"]
    per_scale: list[float] = []
    gpnn = gpnn_of(job["variant"])
    if gpnn:  # the training-free peer
        from patch_nn import gpnn_samples

        label, options = gpnn
        train_seconds, start = 0.0, time.perf_counter()
        samples, _, real, shapes = gpnn_samples(
            image, count, max_size=job["max_size"] or 250, seed=seed, **options
        )
        channel_axis = None  # the samples are laid out as the image
    else:
        label, config = config_of(job["variant"], job["max_size"], job["iters"])

        def on_event(event) -> None:
            if isinstance(event, ScaleFinished):
                per_scale.append(round(event.seconds, 2))

        start = time.perf_counter()
        labels = threshold_labels(image) if job["labels"] else None
        model = drain(train(image, config, labels=labels, device=job["device"], seed=job["seed"]), on_event)
        train_seconds, start = time.perf_counter() - start, time.perf_counter()
        samples = drain(generate(model, count, seed=seed))
        real, shapes, channel_axis = training_image(model), model.shapes, model.spec.channel_axis
        label += "+labels" if job["labels"] else ""
    sample_seconds = (time.perf_counter() - start) / count
    return {
        "image": job["image"],
        "preset": label,
        "seed": job["seed"],
        "shapes": [list(shape) for shape in shapes],
        "train_seconds": round(train_seconds, 2),
        "sample_seconds": round(sample_seconds, 4),
        "seconds_per_scale": per_scale,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": torch.get_num_threads(),
        # what metrics.evaluate_model measures, with the sampling time taken apart
        **evaluate(samples, real, channel_axis=channel_axis, seed=seed).to_dict(),
    }


def summarize(records: list[dict], baseline: str) -> list[dict]:
    """Mean and std over seeds per (image, preset), with the time ratio to ``baseline``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["image"], r["preset"]), []).append(r)
    rows = []
    for (image, label), runs in groups.items():
        row = {"image": image, "preset": label, "seeds": len(runs), "scales": len(runs[0]["shapes"])}
        for key in (
            "train_seconds",
            "patch_swd",
            "diversity",
            "border_score",
            "copy_distance",
            "collage",
            "sample_seconds",
            "peak_rss_mb",
        ):
            values = [r[key] for r in runs if key in r]  # runs older than a measure lack it
            if not values or any(map(math.isnan, values)):  # or it is undefined (identical samples' border)
                row[key] = row[key + "_std"] = math.nan
                continue
            row[key] = statistics.fmean(values)
            row[key + "_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        base = groups.get((image, baseline))
        if base:
            row["time_vs_" + baseline] = row["train_seconds"] / statistics.fmean(
                r["train_seconds"] for r in base
            )
        rows.append(row)
    return rows


def markdown(rows: list[dict], baseline: str) -> str:
    """The summary as a markdown table."""
    head = (
        f"| image | preset | scales | train s | × {baseline} time | patch-SWD ↓ | diversity | border score (1 = none) "
        "| copy distance | collage (0 = none pasted) | s per sample | peak RSS MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )

    def pm(row: dict, key: str, fmt: str) -> str:
        if math.isnan(row[key]):
            return ""
        return f"{row[key]:{fmt}} ± {row[key + '_std']:{fmt}}"

    lines = [head]
    for r in rows:
        ratio = r.get("time_vs_" + baseline)
        lines.append(
            f"| {r['image']} | {r['preset']} | {r['scales']} | {pm(r, 'train_seconds', '.0f')} "
            f"| {'' if ratio is None else f'{ratio:.2f}'} | {pm(r, 'patch_swd', '.3f')} | {pm(r, 'diversity', '.3f')} "
            f"| {pm(r, 'border_score', '.2f')} | {pm(r, 'copy_distance', '.2f')} | {pm(r, 'collage', '.2f')} "
            f"| {pm(r, 'sample_seconds', '.3f')} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Patch-SWD against training seconds, one panel per image, one marker per preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    images = list(dict.fromkeys(r["image"] for r in rows))
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), 3.6), squeeze=False)
    handles = {}  # preset -> its marker, for one legend of the presets of every panel
    for ax, image in zip(axes[0], images):
        for k, label in enumerate(presets):
            for r in rows:
                if r["image"] == image and r["preset"] == label:
                    handles[label] = ax.errorbar(
                        r["train_seconds"],
                        r["patch_swd"],
                        xerr=r["train_seconds_std"],
                        yerr=r["patch_swd_std"],
                        fmt="os^vDP"[k % 6],
                        color=f"C{k}",
                        label=label,
                        capsize=3,
                    )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a narrow log range overlap
        ax.set_title(image)
        ax.set_xlabel("training seconds (log)")
        ax.set_ylabel("patch-SWD (lower is better)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(list(handles.values()), list(handles), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)  # one figure per save, and a run saves after every job


def save(records: list[dict], args: argparse.Namespace) -> None:
    """Write the runs so far and their summary as JSON, a markdown table and the plot."""
    rows = summarize(records, args.baseline)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Tabulating only: the runs' own settings are in each run (preset label, shapes, threads), not in args.
    setup = vars(args) if args.seeds else {"tabulated": [Path(f).name for f in args.include]}
    out.with_suffix(".json").write_text(
        json.dumps({"args": setup, "runs": records, "summary": rows}, indent=1)
    )
    out.with_suffix(".md").write_text(markdown(rows, args.baseline) + "\n")
    plot(rows, out.with_suffix(".png"))


def add_relabel_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--rename OLD=NEW ...`` and ``--only PRESET ...`` options of a benchmark that tabulates
    ``--include`` files (see :func:`included_runs`)."""
    parser.add_argument(
        "--rename",
        nargs="+",
        default=[],
        metavar="OLD=NEW",
        help="relabel the included runs of preset OLD as NEW (e.g. runs of a preset that has changed since)",
    )
    parser.add_argument(
        "--only", nargs="+", help="keep only the included runs of these presets (after --rename)"
    )


def included_runs(paths: list[str], renames: list[str], only: list[str] | None = None) -> list[dict]:
    """The runs of the JSON files at ``paths``, their presets relabelled by ``renames`` (OLD=NEW) and,
    with ``only``, only those of these presets (after relabelling)."""
    pairs = dict(pair.split("=", 1) for pair in renames if "=" in pair)
    if len(pairs) < len(renames):
        raise SystemExit("--rename takes OLD=NEW pairs")
    runs = [
        {**r, "preset": pairs.get(r["preset"], r["preset"])}
        for path in paths
        for r in json.loads(Path(path).read_text())["runs"]
    ]
    return [r for r in runs if only is None or r["preset"] in only]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--presets", nargs="+", default=["paper", "fast"], help="presets or LABEL=PRESET,field=value"
    )
    parser.add_argument("--images", nargs="+", default=list(BUNDLED), help=f"{', '.join(BUNDLED)} or paths")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1], help="none: only tabulate --include")
    parser.add_argument("--max-size", type=int, default=None, help="same finest size for every preset")
    parser.add_argument(
        "--iters", type=int, default=None, help="iterations of every scale, coarsest too (smoke runs)"
    )
    parser.add_argument("--samples", type=int, default=25, help="samples measured per model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--baseline", default="paper", help="preset the time ratio refers to")
    parser.add_argument("--out", default="benchmarks/results/quality", help="path stem for .json and .png")
    parser.add_argument("--with-labels", action="store_true", help="also train every preset with labels")
    parser.add_argument(
        "--include",
        nargs="+",
        default=[],
        help="JSON of other runs (e.g. a slow baseline run at the same time on another core) to tabulate with this one",
    )
    add_relabel_arguments(parser)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(run_job(json.loads(args.job))))
        return

    records = included_runs(args.include, args.rename, args.only)
    keys = [(r["image"], r["preset"], r["seed"]) for r in records]
    if len(set(keys)) < len(keys):
        raise SystemExit("the --include files repeat an (image, preset, seed) run; relabel one of them")
    # --with-labels trains each SinGAN preset a second time with labels; GPNN takes none
    variants = [
        (variant, labels)
        for variant in args.presets
        for labels in ((False, True) if args.with_labels and not gpnn_of(variant) else (False,))
    ]
    for seed in args.seeds:
        for image in args.images:
            for variant, labels in variants:
                job = {
                    "labels": labels,
                    "image": image,
                    "variant": variant,
                    "seed": seed,
                    "max_size": args.max_size,
                    "iters": args.iters,
                    "samples": args.samples,
                    "device": args.device,
                    "threads": args.threads,
                }
                done = subprocess.run(
                    [sys.executable, __file__, "--job", json.dumps(job)], capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SystemExit(f"{image} / {variant} / seed {seed} failed:\n{done.stderr[-3000:]}")
                record = json.loads(done.stdout.strip().splitlines()[-1])
                records.append(record)
                print(
                    f"{image:>22} {record['preset']:>14} seed {seed}: {record['train_seconds']:7.1f} s  "
                    f"swd {record['patch_swd']:.3f}  div {record['diversity']:.3f}  "
                    f"border {record['border_score']:.2f}",
                    flush=True,
                )
                save(records, args)  # after every job: a run cut short keeps what it measured
    if not records:
        raise SystemExit("nothing to tabulate: give --seeds, or --include with runs")
    if not args.seeds:  # a training run saved after its every job
        save(records, args)
    print(markdown(summarize(records, args.baseline), args.baseline))
    stem = Path(args.out)
    print(f"wrote {stem.with_suffix('.json')}, {stem.with_suffix('.md')} and {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()
