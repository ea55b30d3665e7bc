"""How a generated sample's instance channels become objects: its masks, decoded several ways.

A SinGAN model trained on instance labels generates, with each image, a background, a foreground and a
boundary channel (``napari_singan.core.labels``); a mask net fit to the model's training pair draws a
background, a foreground and a depth channel from each image (``napari_singan.core.masknet``). This
benchmark decodes the same generated samples in several ways and scores each by object F1
(``object_f1``: objects matched at IoU > 0.5) against the objects the benchmark's annotator finds in the
samples' images (``bench_segmentation.py --task single-nuclei``: nuclei split by their shape). Each
decoding of the model's channels is also applied to the clean channels of those annotations
(``encode_labels``), which it should give back as they are (``clean F1``).

Decodings:

- ``cut``: the foreground cut along the boundary channel, the cores numbered and grown back over it
  (``decode_labels(..., exact=True)``; how earlier versions decoded generated samples);
- ``depth s/h``: a watershed from the peaks of ``sample_depth`` (the distance inside the foreground minus
  the boundary, capped at 6 px, smoothed by a Gaussian of ``s`` px) that rise ``h`` px above their pass
  (``split_objects``); ``tops``: seeded at ``skimage.morphology.h_maxima``'s tops, each peak of a height
  its own, instead of at the h-maxima transform's plateaus;
- ``shape s/h``: the same from the foreground's own distance to the background, the boundary channel
  ignored (the annotator's own rule: it would merge objects that touch without a neck);
- ``net s/h``: the same from the depth the mask net draws (``net 0.0/1.0 tops``: how the nets of the
  2026-12-07 version decode).

The product's decodings (``decode_labels`` and ``redraw_labels``) are checked to match their rows.
The models are those of ``bench_segmentation.py`` (``--models``: read where an earlier run left them,
else trained, ~7 minutes a seed on 2 cores)::

    OMP_NUM_THREADS=1 python benchmarks/bench_instance_decoding.py --seeds 0 1 2 3 --pairs 25 \
        --models /tmp/segmodels --out benchmarks/results/instance_decoding
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
import torch
from bench_segmentation import (
    add_crop_arguments,
    annotated_micrograph,
    singan_model,
    singan_variant,
    write_results,
)
from scipy.ndimage import gaussian_filter

from napari_singan.core import drain
from napari_singan.core.images import denormalize
from napari_singan.core.labels import (
    SAMPLE_PEAK_HEIGHT,
    SAMPLE_SMOOTHING,
    LabelSpec,
    decode_labels,
    encode_labels,
    object_f1,
    sample_depth,
    split_objects,
)
from napari_singan.core.masknet import fit_mask_net, foreground_and_depth, redraw_labels
from napari_singan.core.sampling import (
    random_noise,
    runnable_shapes,
    sample_seeds,
    synthesize,
    torch_generators,
)

#: Smoothing widths (px) and peak heights (px) of the ``depth`` decodings tried.
SMOOTHING = (0.0, 0.7, 1.0, 1.5, 2.0)
HEIGHTS = (0.5, 1.0, 1.5)
#: Those of the ``net`` decodings tried (the mask net's own depth).
NET_SPLITS = ((0.0, 0.5), (0.0, 1.0), (1.0, 0.5), (1.0, 1.0))
#: The product's decodings: of the model's channels (decode_labels) and of a mask net's (redraw_labels).
PRODUCT = (f"depth {SAMPLE_SMOOTHING}/{SAMPLE_PEAK_HEIGHT}", f"net {SAMPLE_SMOOTHING}/{SAMPLE_PEAK_HEIGHT}")


def splits(spec: LabelSpec) -> dict:
    """Each decoding of the model's channels by name: a function of a ``(N, C + 3, H, W)`` batch ->
    ``(N, H, W)`` objects."""

    def split(smoothing: float, height: float, boundary: bool = True, tops: bool = False):
        def decode(batch: torch.Tensor) -> np.ndarray:
            planes = batch[:, spec.first_channel : spec.first_channel + 3]
            foreground = (planes[:, :2].argmax(dim=1) == 1).numpy()  # (N, H, W)
            edges = (planes[:, 2] > 0).numpy() if boundary else np.zeros_like(foreground)
            return np.stack(
                [
                    split_objects(f, sample_depth(f, e, smoothing), height, tops=tops)
                    for f, e in zip(foreground, edges)
                ]
            )

        return decode

    found = {"cut": lambda batch: decode_labels(batch, spec, exact=True)}
    found |= {f"depth {s}/{h}": split(s, h) for s in SMOOTHING for h in HEIGHTS}
    found[f"depth {SAMPLE_SMOOTHING}/{SAMPLE_PEAK_HEIGHT} tops"] = split(
        SAMPLE_SMOOTHING, SAMPLE_PEAK_HEIGHT, tops=True
    )
    found |= {
        f"shape {SAMPLE_SMOOTHING}/{h}": split(SAMPLE_SMOOTHING, h, boundary=False) for h in HEIGHTS[:2]
    }
    return found


def net_splits(net: torch.nn.Module, spec: LabelSpec) -> dict:
    """Each decoding of the depth the mask net ``net`` draws from a batch's images, by name."""

    def split(smoothing: float, height: float, tops: bool = False):
        def decode(batch: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                logits = net(batch[:, : spec.first_channel])  # (N, 3, H, W)
            foreground, depth = foreground_and_depth(logits)
            return np.stack(
                [
                    split_objects(f, gaussian_filter(d, smoothing), height, tops=tops)
                    for f, d in zip(foreground, depth)
                ]
            )

        return decode

    found = {"net 0.0/1.0 tops": split(0.0, 1.0, tops=True)}  # the nets of the 2026-12-07 version
    return found | {f"net {s}/{h}": split(s, h) for s, h in NET_SPLITS}


def run(seed: int, args: argparse.Namespace) -> list[dict]:
    """The pairs of one seed's model, decoded every way; one row per decoding."""
    rgb, truth, window, annotate = annotated_micrograph(args)
    _, config, *_ = singan_variant("fast", args.crop)
    model, _ = singan_model(config, rgb[window], truth[window], seed, args)
    spec, train = model.labels, model.config.train
    net = drain(fit_mask_net(model, seed=seed))  # as augment(..., masks="redrawn") fits it
    # (N, C + 3, H, W) the model's samples as generate() makes them, before their labels are decoded
    generators = torch_generators(sample_seeds(seed, args.pairs), model.device)
    with torch.no_grad():
        batch = synthesize(
            model,
            random_noise(model, generators, 1.0),
            batch=args.pairs,
            start=0,
            shapes=runnable_shapes(model, 0),
        ).cpu()
    annotated = [annotate(image) for image in denormalize(batch, model.spec)]
    # (N, C + 3, H, W) the samples' images with their annotations' own channels
    coded = [encode_labels(a, spec, train.label_amplitude, encoding=train.label_encoding) for a in annotated]
    clean = torch.cat([batch[:, : spec.first_channel], torch.cat(coded)], dim=1)
    products = dict(zip(PRODUCT, (decode_labels(batch, spec), redraw_labels(net, batch, spec))))
    rows = []
    for name, decode in (splits(spec) | net_splits(net, spec)).items():
        objects = decode(batch)
        if name in products and not np.array_equal(objects, products[name]):
            raise SystemExit(f"{name} is meant to be the product's decoding, and differs from it")
        rows.append(
            {
                "seed": seed,
                "decoding": name,
                "product": name in products,
                "object_f1": statistics.fmean(map(object_f1, objects, annotated)),
                "objects": statistics.fmean(int(o.max()) for o in objects),
                "annotated_objects": statistics.fmean(int(a.max()) for a in annotated),
                # (a net's decodings: of the depth it draws, so nothing of the annotations' channels)
                "clean_f1": None
                if name.startswith("net")
                else statistics.fmean(map(object_f1, decode(clean), annotated)),
                "pairs": args.pairs,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> list[str]:
    """Markdown: one line per decoding, mean ± spread over seeds (and each seed's F1)."""
    seeds = sorted({r["seed"] for r in rows})

    def cell(of: list[dict], key: str) -> str:
        values = [r[key] for r in of if r[key] is not None]
        return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}" if values else ""

    lines = [
        f"| decoding | object F1 of the pairs (seeds {' / '.join(map(str, seeds))}) | objects a pair "
        "(annotator's) | F1 on the clean annotations |",
        "| --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(r["decoding"] for r in rows):
        of = [r for r in rows if r["decoding"] == name]
        label = f"**{name}** (the product)" if of[0]["product"] else name
        per_seed = " / ".join(f"{r['object_f1']:.3f}" for r in sorted(of, key=lambda r: r["seed"]))
        lines.append(
            f"| {label} | {cell(of, 'object_f1')} ({per_seed}) | "
            f"{statistics.fmean(r['objects'] for r in of):.1f} "
            f"({statistics.fmean(r['annotated_objects'] for r in of):.1f}) | {cell(of, 'clean_f1')} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_crop_arguments(parser, (224, 32))
    parser.add_argument("--pairs", type=int, default=25, help="samples generated per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="", help="bench_segmentation.py's folder of trained models")
    parser.add_argument("--out", default="benchmarks/results/instance_decoding")
    args = parser.parse_args()
    args.task = "single-nuclei"  # (the models and annotator of bench_segmentation.py's instance task)
    rows = [row for seed in args.seeds for row in run(seed, args)]
    write_results(rows, table(rows), args)


if __name__ == "__main__":
    main()
