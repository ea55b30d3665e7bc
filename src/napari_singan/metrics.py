"""How good are a model's samples? Weight-free quality metrics (no downloads, numpy only).

Every metric compares a stack of samples ``(N, H, W[, C])`` with the training
image ``(H0, W0[, C])``. Both are first normalised with the training image's
per-channel mean and standard deviation, so uint8, uint16 and float versions of
the same data score alike.

- :func:`patch_swd`: multi-scale patch sliced-Wasserstein distance, how far the
  distribution of small patches in each sample is from the training image's
  (0 = same patch statistics; lower is better). Our weight-free stand-in for
  the paper's SIFID (§3.1), which needs Inception weights.
- :func:`diversity`: the paper's diversity (§3.1): per-pixel standard deviation
  across samples, averaged over pixels, over the training image's standard
  deviation (0 = every sample identical).
- :func:`copy_distance`: per-sample distance to the training image at the best
  small shift (0 = a copy: the model memorised instead of generating).
- :func:`border_score`: diversity in a band along the border over diversity in
  the interior (1 = borders vary as much as the rest; near 0 = border anchoring,
  objects stuck at the same border position in every sample).
- :func:`collage`: fraction of each sample's textured 15 px windows found verbatim
  in the training image (0 = generated; high for samples rearranged from copied
  pieces, as patch nearest-neighbour methods make them, which :func:`copy_distance`
  misses).

:func:`evaluate` computes all five; :func:`measure_model` (a long-work generator) and
:func:`evaluate_model` draw the samples from a model first. :func:`as_nhwc` gives
the ``(N, H, W, C)`` float64 layout they all compare, for measures of one's own.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from .core.errors import ImageInputError, check_whole

if TYPE_CHECKING:
    from .core import SampleProgress, SinGANModel

#: Patch side of the sliced-Wasserstein distance (a bit smaller than the 11 px receptive field).
PATCH = 7
#: Pyramid levels of the patch distance: full resolution, 1/2, 1/4.
LEVELS = 3
#: Random unit directions the patches are projected on, per level.
PROJECTIONS = 128
#: At most this many patches per image and level enter the distance.
MAX_PATCHES = 4096
#: The copy search looks at most at this central window (px) and shifts of up to COPY_REACH px.
COPY_SIZE = 256
COPY_REACH = 8
#: A sample closer than this to the training image (in its standard deviations) counts as a copy.
COPY_THRESHOLD = 0.1
#: Side of the patches the collage measure looks up in the training image: larger than the networks'
#: 11 px receptive field, so a match is copied structure, not a shared texture element.
COLLAGE_PATCH = 15
#: Random patch positions per sample that the collage measure looks up.
COLLAGE_QUERIES = 256
#: Windows flatter than this (the root mean square of their channels' std, in the image's std) are not
#: looked up: every flat window of the image is about that close to them, so a match says nothing.
COLLAGE_MIN_STD = 2 * COPY_THRESHOLD


@dataclass(frozen=True)
class QualityReport:
    """Quality of a set of samples against the training image (see the module docstring)."""

    num_samples: int  # samples measured
    patch_swd: float  # mean over samples of the multi-scale patch SWD (lower is better)
    patch_swd_std: float  # its standard deviation across samples
    diversity: float  # per-pixel std across samples / std of the image (0 = no diversity)
    copy_distance: float  # smallest distance of any sample to the training image (0 = a copy)
    copies: int  # samples closer than COPY_THRESHOLD to the training image
    border_score: float  # border-band diversity / interior diversity (1 = no border anchoring)
    collage: float  # mean share of a sample's textured 15 px windows found verbatim in the image

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (for JSON)."""
        return asdict(self)


def as_nhwc(images: np.ndarray, channel_axis: int | None = None, stack: bool = True) -> np.ndarray:
    """A sample stack or one image as the ``(N, H, W, C)`` float64 array the metrics compare.

    Parameters
    ----------
    images
        ``(N, H, W[, C])`` samples with ``stack``, else one ``(H, W[, C])`` image
        (N = 1); integer or float.
    channel_axis
        Axis of the channels in one image, or ``None``: 2-D planes or RGB(A).
    stack
        Whether ``images`` is a stack.

    Returns
    -------
    numpy.ndarray
        ``(N, H, W, C)`` float64.

    Raises
    ------
    ImageInputError
        Another dtype, NaN or infinite values, or a shape that is not one of those.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "uif":
        raise ImageInputError(f"metrics need integer or float images, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageInputError("the images to measure contain NaN or infinite values; measure finite images")
    if stack and array.ndim == 2:
        raise ImageInputError(
            f"samples must be a stack (N, H, W[, C]), got one {array.shape} image; for one sample pass sample[None]"
        )
    lead = 1 if stack else 0
    spatial = array.ndim - lead
    if channel_axis is None:
        if spatial == 2:
            array = array[..., None]
        elif not (spatial == 3 and array.shape[-1] in (3, 4)):
            raise ImageInputError(
                f"images of shape {array.shape} need a channel axis (2-D planes, RGB(A) or channel_axis=)"
            )
    else:
        array = np.moveaxis(array, channel_axis + lead, -1)
    if not stack:
        array = array[None]
    if array.ndim != 4:
        raise ImageInputError(
            f"expected {'a stack of ' if stack else ''}2-D images, got shape {np.shape(images)}"
        )
    return array.astype(np.float64)


def _standardize(
    samples: np.ndarray, image: np.ndarray, channel_axis: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Both as ``(N, H, W, C)``, scaled by the training image's per-channel mean and std.

    Samples and image must be in the same units: the same integer dtype, or
    both float (as :func:`napari_singan.core.generate` returns samples).
    """
    kinds = np.asarray(samples).dtype, np.asarray(image).dtype
    if kinds[0] != kinds[1] and not all(kind.kind == "f" for kind in kinds):
        raise ImageInputError(
            f"the samples are {kinds[0]} but the image is {kinds[1]}: give both in the same units "
            "(samples as the model generates them, in the image's dtype and range)"
        )
    x = as_nhwc(samples, channel_axis, stack=True)
    ref = as_nhwc(image, channel_axis, stack=False)
    if x.shape[-1] != ref.shape[-1]:
        raise ImageInputError(f"samples have {x.shape[-1]} channel(s), the image {ref.shape[-1]}")
    mean = ref.mean(axis=(0, 1, 2))
    std = ref.std(axis=(0, 1, 2))
    std[std == 0] = 1.0
    return (x - mean) / std, (ref - mean) / std


def _halve(x: np.ndarray) -> np.ndarray:
    """2x2 box downsampling of ``(N, H, W, C)`` (odd edges dropped)."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :h, :w]
    return 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2])


def _patches(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to MAX_PATCHES random ``PATCH x PATCH`` patches of ``(H, W, C)``, flattened: (P, PATCH*PATCH*C)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (PATCH, PATCH), axis=(0, 1))
    flat = windows.reshape(-1, image.shape[-1] * PATCH * PATCH)
    if len(flat) > MAX_PATCHES:
        flat = flat[rng.choice(len(flat), MAX_PATCHES, replace=False)]
    return flat


def _sliced_w1(a: np.ndarray, b: np.ndarray, directions: np.ndarray, rng: np.random.Generator) -> float:
    """Sliced Wasserstein-1 distance between two patch sets (P, D) along ``directions`` (D, K)."""
    count = min(len(a), len(b))
    a = a[rng.choice(len(a), count, replace=False)] if len(a) > count else a
    b = b[rng.choice(len(b), count, replace=False)] if len(b) > count else b
    pa = np.sort(a @ directions, axis=0)  # (count, K) sorted projections = quantiles
    pb = np.sort(b @ directions, axis=0)
    return float(np.abs(pa - pb).mean())


def patch_swd(
    samples: np.ndarray, image: np.ndarray, *, channel_axis: int | None = None, seed: int = 0
) -> np.ndarray:
    """Multi-scale patch sliced-Wasserstein distance of each sample to the training image.

    At each of :data:`LEVELS` pyramid levels (2x box downsampling), random
    ``7x7`` patches of the sample and of the image are projected on
    :data:`PROJECTIONS` random unit directions and the 1-D Wasserstein-1
    distances of the projections are averaged; the levels are averaged too.

    Parameters
    ----------
    samples
        ``(N, H, W[, C])`` stack; any size, not necessarily the image's.
    image
        ``(H0, W0[, C])`` training image.
    channel_axis
        Channel axis of ``image`` (of each sample) when it is neither 2-D nor RGB(A).
    seed
        Seeds the projections and patch choice: same seed, same numbers.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` distances in units of the image's standard deviation; 0 is best.
    """
    x, ref = _standardize(samples, image, channel_axis)
    rng = np.random.default_rng(seed)
    dim = PATCH * PATCH * x.shape[-1]
    scores = np.zeros(len(x))
    levels = 0
    for _ in range(LEVELS):
        if min(ref.shape[1:3] + x.shape[1:3]) < PATCH:
            break
        directions = rng.standard_normal((dim, PROJECTIONS))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        ref_patches = _patches(ref[0], rng)
        scores += [_sliced_w1(_patches(s, rng), ref_patches, directions, rng) for s in x]
        levels += 1
        x, ref = _halve(x), _halve(ref)
    if levels == 0:
        raise ImageInputError(f"images must be at least {PATCH}x{PATCH} pixels for the patch distance")
    return scores / levels


def _pixel_std(x: np.ndarray) -> np.ndarray:
    """Per-pixel standard deviation across the samples of ``(N, H, W, C)``, averaged over channels: (H, W)."""
    if len(x) < 2:
        raise ImageInputError("diversity needs at least 2 samples")
    return x.std(axis=0).mean(axis=-1)


def diversity(samples: np.ndarray, image: np.ndarray, *, channel_axis: int | None = None) -> float:
    """SinGAN's diversity (§3.1): mean per-pixel std across samples over the image's std.

    Parameters
    ----------
    samples
        ``(N, H, W[, C])`` stack of equally sized samples, ``N >= 2``.
    image
        ``(H0, W0[, C])`` training image (sets the units).
    channel_axis
        As in :func:`patch_swd`.

    Returns
    -------
    float
        0 when every sample is the same; about 1.4 for independent images with
        the training image's statistics.
    """
    x, _ = _standardize(samples, image, channel_axis)
    return float(_pixel_std(x).mean())


def border_score(samples: np.ndarray, *, band: int | None = None, channel_axis: int | None = None) -> float:
    """Diversity in a band along the border over diversity in the interior.

    Parameters
    ----------
    samples
        ``(N, H, W[, C])`` stack of equally sized samples, ``N >= 2``.
    band
        Width of the border band in px (default: 10% of the short side, at least 2).
    channel_axis
        As in :func:`patch_swd`.

    Returns
    -------
    float
        About 1 when the border varies from sample to sample as much as the
        interior; near 0 when the border is the same in every sample.
    """
    x = as_nhwc(samples, channel_axis, stack=True)
    std = _pixel_std(x)
    h, w = std.shape
    band = max(2, round(0.1 * min(h, w))) if band is None else check_whole("the border band", band, 1)
    if 2 * band >= min(h, w):
        raise ImageInputError(f"samples of {h}x{w} px are too small for a {band} px border band")
    interior = std[band:-band, band:-band]
    border_sum = std.sum() - interior.sum()
    border_mean = border_sum / (std.size - interior.size)
    inner = interior.mean()
    return float(border_mean / inner) if inner > 0 else math.nan


def _central(h: int, w: int) -> tuple[slice, slice]:
    """Rows and columns of the central ``COPY_SIZE x COPY_SIZE`` window of an ``(h, w)`` region
    (all of a smaller side)."""
    top, left = max(0, (h - COPY_SIZE) // 2), max(0, (w - COPY_SIZE) // 2)
    return slice(top, top + min(h, COPY_SIZE)), slice(left, left + min(w, COPY_SIZE))


def copy_distance(samples: np.ndarray, image: np.ndarray, *, channel_axis: int | None = None) -> np.ndarray:
    """Distance of each sample to the training image at the best small shift.

    Each sample is compared with the image on their common top-left region
    (its central :data:`COPY_SIZE` px window for large images, so the cost is
    bounded), at every shift of up to 3% of the image size (at least 2, at
    most :data:`COPY_REACH` px), and the smallest root-mean-square difference
    is kept, in units of the image's std.

    Parameters
    ----------
    samples
        ``(N, H, W[, C])`` stack.
    image
        ``(H0, W0[, C])`` training image.
    channel_axis
        As in :func:`patch_swd`.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` distances; 0 means the sample is a (shifted) copy of the image,
        about 1.4 means it is as far as an independent image.
    """
    x, ref = _standardize(samples, image, channel_axis)
    h, w = min(x.shape[1], ref.shape[1]), min(x.shape[2], ref.shape[2])
    reach = min(COPY_REACH, max(2, round(0.03 * max(h, w))))
    window = _central(h, w)  # bounded cost, at full resolution
    x, ref = x[:, window[0], window[1]], ref[:, window[0], window[1]]
    h, w = ref.shape[1:3]
    best = np.full(len(x), np.inf)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            a = x[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
            b = ref[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
            best = np.minimum(best, np.sqrt(((a - b) ** 2).mean(axis=(1, 2, 3))))
    return best


def _nearest_patch(queries: np.ndarray, ref: np.ndarray, side: int) -> np.ndarray:
    """Root-mean-square difference of each flattened query patch ``(Q, D)`` to its nearest
    ``side x side`` patch of ``ref`` ``(H, W, C)`` (every position), in float32: ``(Q,)``."""
    windows = np.lib.stride_tricks.sliding_window_view(ref, (side, side), axis=(0, 1))  # (h, w, C, s, s)
    q = queries.astype(np.float32)
    q_sq = (q * q).sum(axis=1)
    best = np.full(len(q), np.inf, dtype=np.float32)
    rows = max(1, 8192 // windows.shape[1])  # about 8192 reference patches per block
    for top in range(0, windows.shape[0], rows):
        keys = windows[top : top + rows].reshape(-1, queries.shape[1]).astype(np.float32)
        k_sq = (keys * keys).sum(axis=1)
        for first in range(0, len(q), 2048):  # (2048, 8192) float32 blocks: 64 MiB each
            block = slice(first, first + 2048)
            sq = q[block] @ keys.T
            sq *= -2
            sq += k_sq  # |q|^2 + |k|^2 - 2 q.k, the squared distances but for |q|^2
            np.minimum(best[block], sq.min(axis=1) + q_sq[block], out=best[block])
    return np.sqrt(np.maximum(best, 0) / queries.shape[1])


def collage(
    samples: np.ndarray, image: np.ndarray, *, channel_axis: int | None = None, seed: int = 0
) -> np.ndarray:
    """Fraction of each sample made of verbatim pieces of the training image.

    At :data:`COLLAGE_QUERIES` random positions of each sample, the
    :data:`COLLAGE_PATCH` px window (smaller only if an image side is) is looked
    up among every window of the training image (of its central
    :data:`COPY_SIZE` px for larger images, so the cost is bounded); one closer
    than :data:`COPY_THRESHOLD` (root mean square, in the image's std) counts as
    pasted. Windows flatter than :data:`COLLAGE_MIN_STD` (empty background) are
    left out, since any flat window would match them. This catches what
    :func:`copy_distance` cannot: samples rearranged from large copied pieces,
    as patch nearest-neighbour methods make them, rather than generated.

    Parameters
    ----------
    samples
        ``(N, H, W[, C])`` stack.
    image
        ``(H0, W0[, C])`` training image.
    channel_axis
        As in :func:`patch_swd`.
    seed
        Seeds the positions looked up.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` fractions of the sample's textured windows found in the image:
        0 when none is, 1 for a copy of the image (of its central window, for
        larger images); 0 for a sample without a textured window.
    """
    x, ref = _standardize(samples, image, channel_axis)
    side = min(COLLAGE_PATCH, *x.shape[1:3], *ref.shape[1:3])
    ref = ref[0][_central(*ref.shape[1:3])]
    rng = np.random.default_rng(seed)
    queries = []  # (N * COLLAGE_QUERIES, C * side * side): every sample's, so the image is scanned once
    for sample in x:
        windows = np.lib.stride_tricks.sliding_window_view(sample, (side, side), axis=(0, 1))
        ys = rng.integers(0, windows.shape[0], COLLAGE_QUERIES)
        xs = rng.integers(0, windows.shape[1], COLLAGE_QUERIES)
        queries.append(windows[ys, xs].reshape(COLLAGE_QUERIES, -1))
    q = np.concatenate(queries)
    spread = np.sqrt(q.reshape(len(q), x.shape[-1], -1).var(axis=2).mean(axis=1))  # (N * Q,)
    textured = spread >= COLLAGE_MIN_STD
    pasted = np.zeros(len(q), dtype=bool)
    if textured.any():
        pasted[textured] = _nearest_patch(q[textured], ref, side) < COPY_THRESHOLD
    looked_up = textured.reshape(len(x), COLLAGE_QUERIES).sum(axis=1)
    return pasted.reshape(len(x), COLLAGE_QUERIES).sum(axis=1) / np.maximum(looked_up, 1)


def evaluate(
    samples: np.ndarray, image: np.ndarray, *, channel_axis: int | None = None, seed: int = 0
) -> QualityReport:
    """All metrics of ``samples`` (``(N, H, W[, C])``, ``N >= 2``) against the training image.

    Parameters
    ----------
    samples
        Equally sized samples.
    image
        The training image, ideally at the model's finest scale.
    channel_axis
        Channel axis of ``image`` when it is neither 2-D nor RGB(A).
    seed
        Seeds the patch distance's random projections.
    """
    swd = patch_swd(samples, image, channel_axis=channel_axis, seed=seed)
    dist = copy_distance(samples, image, channel_axis=channel_axis)
    return QualityReport(
        num_samples=len(swd),
        patch_swd=float(swd.mean()),
        patch_swd_std=float(swd.std()),
        diversity=diversity(samples, image, channel_axis=channel_axis),
        copy_distance=float(dist.min()),
        copies=int((dist < COPY_THRESHOLD).sum()),
        border_score=border_score(samples, channel_axis=channel_axis),
        collage=float(collage(samples, image, channel_axis=channel_axis, seed=seed).mean()),
    )


def training_image(model: SinGANModel) -> np.ndarray:
    """The training image at the model's finest trained scale, in its own dtype and layout."""
    from .core import denormalize

    return denormalize(model.real(model.num_trained - 1), model.spec)[0]


def measure_model(
    model: SinGANModel, num_samples: int = 25, *, seed: int = 0, force: bool = False
) -> Generator[SampleProgress, None, QualityReport]:
    """Draw ``num_samples`` random samples at the training size and :func:`evaluate` them.

    A long-work generator: yields the sampling's progress, returns the report.

    Parameters
    ----------
    model
        A trained (or partly trained) model; the finest trained scale is measured.
    num_samples
        Samples drawn, at least 2 (the paper's diversity uses 50).
    seed
        Seeds the samples and the projections: same seed, same report.
    force
        Skip the memory estimate of the samples (see :func:`napari_singan.core.generate`).
    """
    from .core import generate

    if num_samples < 2:
        raise ImageInputError(f"quality needs at least 2 samples, got {num_samples}")
    samples = yield from generate(model, num_samples, seed=seed, force=force)
    return evaluate(samples, training_image(model), channel_axis=model.spec.channel_axis, seed=seed)


def evaluate_model(
    model: SinGANModel, num_samples: int = 25, *, seed: int = 0, force: bool = False
) -> QualityReport:
    """:func:`measure_model` without progress events; same arguments."""
    from .core import drain

    return drain(measure_model(model, num_samples, seed=seed, force=force))


def summary(report: QualityReport) -> str:
    """One line a person can read: the four numbers and which way is good."""
    border = "n/a" if math.isnan(report.border_score) else f"{report.border_score:.2f}"
    return (
        f"patch-SWD {report.patch_swd:.3f} ± {report.patch_swd_std:.3f} (lower is better) · "
        f"diversity {report.diversity:.2f} · border {border} (1 = no anchoring) · "
        f"copies {report.copies}/{report.num_samples} · collage {report.collage:.0%} (0% = nothing pasted)"
    )
