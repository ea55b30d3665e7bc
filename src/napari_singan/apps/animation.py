"""Animation (paper §4.5): a smooth random walk in noise space around z*.

Per scale at or above ``start_scale``, with unit-variance noise maps z:
    d_t = beta * (z_{t-1} - z_{t-2}) + (1 - beta) * eps_t
    z_t = alpha * z* + (1 - alpha) * (z_{t-1} + d_t)
so each frame differs a little from the last (momentum ``beta``) and the walk
stays near the reconstruction noise z* (pull ``alpha``). Scales below
``start_scale`` use z* itself, so the global layout stays put.

The reference trains its animation models with noise padding (here
``ModelConfig.padding = "noise"``, ``--padding noise``): the noise then reaches
into every generator's frame, and the border keeps moving with the interior.
Other models animate too, with a notice.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch

from ..core.errors import ImageInputError, SinGANError, check_number, check_whole
from ..core.files import ANIMATION_SUFFIXES, TIFF_SUFFIXES, atomic_write, prepare_output
from ..core.images import conform_like, denormalize
from ..core.memory import check_generation
from ..core.sampling import SampleProgress, synthesize
from ..core.singan import SinGANModel
from .shared import notice, require_image_only, seeded_generators

#: Frame rates each video format plays as given: GIF frame times are whole hundredths of a second
#: (at most 655 s) and viewers slow frames shorter than 1/50 s down to 1/10 s; MP4 (H.264) up to 240.
VIDEO_FPS = {".gif": (0.01, 50.0), ".mp4": (0.01, 240.0)}


def _rec_noise(model: SinGANModel, scale: int) -> torch.Tensor:
    """Unit-variance z* of ``scale``: the fixed map at the coarsest scale, zeros above (§2.2)."""
    h, w = model.trained_shapes[scale]
    if scale == 0:
        return model.z_star.clone()  # (1, 1, H0, W0)
    return torch.zeros(1, model.spec.channels, h, w, device=model.device)


@torch.no_grad()
def animate(
    model: SinGANModel,
    frames: int = 50,
    *,
    start_scale: int = 0,
    alpha: float = 0.1,
    beta: float = 0.9,
    seed: int | None = 0,
    force: bool = False,
) -> Generator[SampleProgress, None, np.ndarray]:
    """Render the frames of a smooth random walk in noise space around z* (§4.5).

    Parameters
    ----------
    model
        The model whose reconstruction the walk circles; best trained with
        noise padding (a notice says so otherwise).
    frames
        Number of frames, at least 2.
    start_scale
        Scales below it keep the reconstruction's layout (z*); the walk moves
        the noise at this scale and above.
    alpha
        Pull towards z*, in [0, 1].
    beta
        Momentum of the walk, in [0, 1].
    seed
        Same seed, same animation; ``None`` draws a random seed.
    force
        Skip the memory estimate that refuses, before any work, outputs that
        would not fit in the device's available memory.

    Yields
    ------
    SampleProgress
        After each frame.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W[, C])`` in the model's dtype.
    """
    if check_whole("the number of frames", frames) < 2:
        raise SinGANError(f"an animation needs at least 2 frames, got {frames}")
    require_image_only(model, "animation")
    model.check_start_scale(start_scale)
    check_generation(model, model.trained_shapes[-1], outputs=frames, force=force)
    if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0):
        raise SinGANError(f"alpha and beta must lie in [0, 1], got alpha={alpha}, beta={beta}")
    if model.config.model.padding != "noise":
        notice(
            f"this model was trained with {model.config.model.padding} padding; animations keep moving "
            "at the borders with noise padding (train with --padding noise, as the reference does)"
        )
    (gen,) = seeded_generators(model, seed)
    walking = range(start_scale, model.num_trained)
    centre = {n: _rec_noise(model, n) for n in range(model.num_trained)}

    def eps(n: int) -> torch.Tensor:
        return torch.randn(centre[n].shape, generator=gen, device=model.device)

    # Start just off z* and at rest, as the reference does.
    prev1 = {n: 0.95 * centre[n] + 0.05 * eps(n) for n in walking}
    prev2 = {n: centre[n].clone() for n in walking}
    current = dict(centre)

    def noise(scale: int, shape: tuple[int, int, int, int]) -> torch.Tensor:
        return model.noise_amps[scale] * current[scale].expand(shape)

    out = []
    for t in range(frames):
        for n in walking:
            step = beta * (prev1[n] - prev2[n]) + (1.0 - beta) * eps(n)
            current[n] = alpha * centre[n] + (1.0 - alpha) * (prev1[n] + step)
            prev2[n], prev1[n] = prev1[n], current[n]
        out.append(denormalize(synthesize(model, noise), model.spec)[0])
        yield SampleProgress(t + 1, frames)
    return np.stack(out)


def to_uint8(frames: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map frames to uint8 for video formats.

    Parameters
    ----------
    frames
        Frames of any dtype.
    low, high
        The values mapped to 0 and 255.

    Returns
    -------
    numpy.ndarray
        uint8 frames, clipped.
    """
    scaled = (frames.astype(np.float64) - low) / max(high - low, 1e-12)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def check_animation_output(path: str | os.PathLike, model: SinGANModel, fps: float) -> None:
    """Check, before rendering, that ``path`` can hold ``model``'s animation at ``fps``.

    Parameters
    ----------
    path
        The output file (``.gif``, ``.mp4``, ``.tif``/``.tiff``).
    model
        The model that will render the frames.
    fps
        Frames per second: above 0, and within :data:`VIDEO_FPS` for GIF and MP4.

    Raises
    ------
    SinGANError
        If the suffix is none of those, ``fps`` is out of range, GIF/MP4
        would get multichannel frames, or MP4 has no encoder installed.
    """
    check_number("frames per second", fps, above=True)
    suffix = Path(path).suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return
    if suffix not in VIDEO_FPS:
        raise SinGANError(f"animations are written as .gif, .mp4 or .tif, not {suffix!r}")
    low, high = VIDEO_FPS[suffix]
    if not low <= fps <= high:
        other = "; write an .mp4 for faster frames" if suffix == ".gif" and fps > high else ""
        raise SinGANError(
            f"a {suffix} animation plays {low:g} to {high:g} frames per second, not {fps:g}{other}"
        )
    spec = model.spec
    if spec.channel_axis is not None and spec.channels not in (3, 4) or spec.channel_axis == 0:
        raise SinGANError("GIF/MP4 need grayscale or RGB(A) frames; write a .tif stack for multichannel data")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise SinGANError("MP4 needs an encoder: pip install imageio-ffmpeg (or write a .gif)") from None


def save_animation(path: str | os.PathLike, frames: np.ndarray, fps: float, model: SinGANModel) -> Path:
    """Write frames as GIF or MP4 (8-bit, looping) or as a TIFF stack in the model's dtype.

    GIF and MP4 are encoded in memory first and then written atomically, so a
    failure keeps an existing file whole. MP4 frames of an odd height or width
    get their last row or column repeated once (H.264 needs even sizes).

    Parameters
    ----------
    path
        Output file; its suffix (``.gif``, ``.mp4``, ``.tif``/``.tiff``) picks the format.
    frames
        ``(T, H, W[, C])`` frames from :func:`animate`.
    fps
        Frames per second of GIF and MP4 (their ranges: :data:`VIDEO_FPS`).
    model
        The model that rendered the frames (its intensity range and channel layout).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SinGANError
        Before anything is written: a path that cannot be written (see
        :func:`~napari_singan.core.files.prepare_output`), what
        :func:`check_animation_output` refuses, or frames that are not the
        model's (another dtype or channels, NaN).
    """
    path = prepare_output(path, ANIMATION_SUFFIXES)
    check_animation_output(path, model, fps)
    spec = model.spec
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or len(frames) < 1:
        raise SinGANError(f"frames must be a (T, H, W[, C]) stack from animate(), got shape {frames.shape}")
    conform_like(frames[0], spec)  # the model's dtype and channels
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():
        raise ImageInputError("the frames contain NaN or infinite values")
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        from ..core.files import write_stack
        from ..core.microscopy import output_pixel_size

        return write_stack(path, frames, spec.is_rgb, output_pixel_size(model), spec.channel_axis)[0]
    video = to_uint8(frames, min(spec.low), max(spec.high))
    import imageio.v3 as iio

    if suffix == ".gif":
        encoded = iio.imwrite("<bytes>", video, extension=".gif", duration=1000.0 / fps, loop=0)
    else:  # H.264 in 4:2:0 needs even sizes; the encoder would otherwise stretch frames to multiples of 16
        encoded = iio.imwrite("<bytes>", _even_frames(video), extension=".mp4", fps=fps, macro_block_size=1)
    return atomic_write(path, lambda fh: fh.write(encoded))  # encoded first: a failure keeps an existing file


def _even_frames(video: np.ndarray) -> np.ndarray:
    """``(T, H, W[, C])`` frames with an odd height or width made even by repeating the last row or column."""
    pad = [(0, 0), (0, video.shape[1] % 2), (0, video.shape[2] % 2)] + [(0, 0)] * (video.ndim - 3)
    return np.pad(video, pad, mode="edge")
