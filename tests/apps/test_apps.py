"""Each application on a tiny CPU model: shapes, dtypes, ranges, seeds, behaviour, errors."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_singan.apps import (
    animate,
    edit,
    fine_tune,
    harmonize,
    paint_to_image,
    save_animation,
    super_resolve,
)
from napari_singan.apps.masked import feathered_mask
from napari_singan.apps.paint_to_image import fine_tune_quantized, palette, quantize
from napari_singan.apps.super_resolution import sr_steps
from napari_singan.core import (
    ConfigError,
    ImageInputError,
    MemoryEstimateError,
    SinGANError,
    SinGANNotice,
    denormalize,
    drain,
    load_model,
    memory,
    pyramid,
    sample,
    save_model,
    train,
)
from napari_singan.metrics import border_score

from ..conftest import TINY, make_texture


def training_image(model):
    return denormalize(model.image, model.spec)[0]  # (32, 32) uint8: the model's own resolution


def test_super_resolution_size_steps_and_seed(tiny_model):
    img = training_image(tiny_model)
    for factor in (2.0, 2.5, 4.0):
        out = drain(super_resolve(tiny_model, img, factor, seed=1))
        assert out.shape == (round(factor * 32), round(factor * 32)) and out.dtype == np.uint8
    np.testing.assert_array_equal(
        drain(super_resolve(tiny_model, img, 2.0, seed=1)), drain(super_resolve(tiny_model, img, 2.0, seed=1))
    )
    steps = sr_steps(4.0, 0.75)
    assert len(steps) == 5 and np.isclose(np.prod(steps), 4.0) and all(s <= 1 / 0.75 for s in steps)
    with pytest.raises(SinGANError, match="above 1"):
        drain(super_resolve(tiny_model, img, 0.5))
    small = drain(super_resolve(tiny_model, img[:20, :24], 3.0))
    assert small.shape == (60, 72)


def test_super_resolution_agrees_with_its_input(tiny_model):
    """Back-projection keeps the upscaled image, shrunk as the pyramid shrinks, equal to its input; the
    paper's steps (``back_projection=0``) drift from it."""
    img = training_image(tiny_model)  # std 43 grey levels

    def shrunk_error(passes: int) -> float:
        out = drain(super_resolve(tiny_model, img, 2.0, back_projection=passes, seed=1))
        back = pyramid.resize(torch.from_numpy(out.astype(np.float64))[None, None], (32, 32))[0, 0].numpy()
        return float(np.sqrt(((back - img) ** 2).mean()))

    assert shrunk_error(3) < 2.0 and shrunk_error(3) < 0.1 * shrunk_error(0)  # measured: 1.1 and 24.7
    with pytest.raises(ConfigError, match="back-projection must be a number at least 0"):
        drain(super_resolve(tiny_model, img, 2.0, back_projection=-1))


def test_super_resolution_runs_tile_by_tile_in_bounded_memory(tiny_model, monkeypatch):
    img = training_image(tiny_model)  # 32x32 -> 128x128
    whole = drain(super_resolve(tiny_model, img, 4.0, seed=1)).astype(np.float64)  # one tile per step
    progress = []
    tiled = drain(super_resolve(tiny_model, img, 4.0, seed=1, tile_bytes=2**20), progress.append)
    assert tiled.shape == whole.shape and progress[-1].done == progress[-1].total > 5 + 9  # 42 px tiles
    # The tiles' instance norms share the central tile's statistics: no seams, close to the whole image.
    assert np.sqrt(((tiled - whole) ** 2).mean()) < 0.1 * img.std()  # measured: 0.07
    needed = memory.super_resolution_bytes(tiny_model, (128, 128), 2**20)
    whole_image = memory.generation_bytes(tiny_model, (128, 128))
    assert needed < whole_image
    monkeypatch.setattr(memory, "available_bytes", lambda device: (needed + whole_image) // 2)
    drain(super_resolve(tiny_model, img, 4.0, tile_bytes=2**20))  # whole-image generation would not fit
    monkeypatch.setattr(memory, "available_bytes", lambda device: needed // 2)
    with pytest.raises(MemoryEstimateError, match="force=True"):
        drain(super_resolve(tiny_model, img, 4.0, tile_bytes=2**20))


def test_paint_to_image_follows_the_paint(tiny_model):
    img = training_image(tiny_model).astype(float)
    # Inputs are in the source image's pixels (40x40 here); outputs at the model's resolution (32x32).
    paint = np.where(np.arange(40)[None, :] < 20, img.min(), img.max()).repeat(40, 0).astype(np.uint8)
    out = drain(paint_to_image(tiny_model, paint, start_scale=2, num_samples=3, seed=0))
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    free = sample(tiny_model, 3, seed=0)

    from skimage.transform import resize

    def coarse_err(x):
        return np.mean(
            [(resize(s.astype(float), (8, 8)) - resize(paint.astype(float), (8, 8))) ** 2 for s in x]
        )

    assert coarse_err(out) < coarse_err(free)
    quantized = drain(paint_to_image(tiny_model, paint, start_scale=2, quantize_colors=3, seed=0))
    assert quantized.shape == (1, 32, 32)
    np.testing.assert_array_equal(
        out, drain(paint_to_image(tiny_model, paint, start_scale=2, num_samples=3, seed=0))
    )
    with pytest.raises(SinGANError, match="start scale"):
        drain(paint_to_image(tiny_model, paint, start_scale=0))
    with pytest.raises(ImageInputError, match="channel"):
        drain(paint_to_image(tiny_model, np.zeros((40, 40, 3), np.uint8)))
    with pytest.warns(SinGANNotice, match="differs in size from the training image"):
        assert drain(paint_to_image(tiny_model, paint[:20, :20])).shape == (1, 16, 16)


@pytest.mark.parametrize("app, radius", [(harmonize, 7), (edit, 20)])
def test_masked_apps_keep_everything_outside_the_feathered_mask(tiny_model, app, radius):
    composite = training_image(tiny_model).copy()
    composite[12:20, 12:20] = 255  # a pasted bright square
    mask = np.zeros((32, 32), np.uint8)
    mask[12:20, 12:20] = 1
    out = drain(app(tiny_model, composite, mask, start_scale=2, radius=2, sigma=1, seed=0))
    assert out.shape == composite.shape and out.dtype == composite.dtype
    weight = feathered_mask(mask, 2, 1)
    assert (weight == 0).any()
    np.testing.assert_array_equal(out[weight == 0], composite[weight == 0])
    assert not np.array_equal(out[mask == 1], composite[mask == 1])
    np.testing.assert_array_equal(
        out, drain(app(tiny_model, composite, mask, start_scale=2, radius=2, sigma=1, seed=0))
    )


def test_feathered_mask_defaults_and_errors():
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    weight = feathered_mask(mask, 7, 5)
    assert weight.max() == 1.0 and weight.min() == 0.0
    assert weight[0, 0] == 0.0 and weight[32, 32] > 0.9
    with pytest.raises(ImageInputError, match="empty"):
        feathered_mask(np.zeros((8, 8)), 7, 5)


def test_masked_inputs_of_other_sizes_are_resized_with_a_notice(tiny_model):
    big = np.kron(training_image(tiny_model), np.ones((2, 2), np.uint8))  # 64x64
    mask = np.zeros((16, 16), np.uint8)
    mask[6:10, 6:10] = 3  # a labels layer: any non-zero label counts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = drain(harmonize(tiny_model, big, mask, start_scale=1))
    assert out.shape == (64, 64)
    assert any(issubclass(w.category, SinGANNotice) for w in caught)
    with pytest.raises(ImageInputError, match="2-D"):
        drain(harmonize(tiny_model, big, np.zeros((2, 64, 64)), start_scale=1))


def test_fine_tune_retrains_only_the_finest_scales(tiny_model):
    composite = training_image(tiny_model).copy()
    composite[5:15, 5:15] = 0
    tuned = drain(fine_tune(tiny_model, composite, scales=1, iters=3))
    assert tuned.num_trained == tiny_model.num_trained
    assert tuned.generators[0] is tiny_model.generators[0]
    a, b = tuned.generators[-1].state_dict(), tiny_model.generators[-1].state_dict()
    assert any(not np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert drain(harmonize(tuned, composite, composite == 0, start_scale=2)).shape == (32, 32)


def test_fine_tuning_a_concurrently_trained_model_trains_only_the_retrained_stages(tiny_model):
    """With concurrent_stages > 1 in a model's config, retraining still trains the retrained stages
    alone, against the kept stages below them: the result is that of the same model without it."""
    concurrent = replace(tiny_model, config=tiny_model.config.with_overrides(concurrent_stages=3))
    tuned = drain(fine_tune(concurrent, training_image(tiny_model), scales=2, iters=3))
    plain = drain(fine_tune(tiny_model, training_image(tiny_model), scales=2, iters=3))
    for a, b in zip(tuned.generators, plain.generators, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_fine_tuning_a_model_with_coarsest_scale_iterations_trains_iters_per_scale(tiny_model):
    """The taper of a model's coarsest-scale iterations does not reach the retrained scales."""
    from napari_singan.core import Progress

    tapered = replace(tiny_model, config=tiny_model.config.with_overrides(coarsest_iters=1000))
    assert tapered.config.train.iterations(1, tiny_model.shapes[1]) == 400  # what training it would have got
    events = []
    drain(fine_tune(tapered, training_image(tiny_model), scales=2, iters=3), events.append)
    assert {e.iters for e in events if isinstance(e, Progress)} == {3}


def test_animation_moves_gradually(tiny_model, tmp_path):
    frames = drain(animate(tiny_model, 12, start_scale=0, alpha=0.1, beta=0.9, seed=0))
    assert frames.shape == (12, 32, 32) and frames.dtype == np.uint8
    f = frames.astype(float)
    step = np.mean(np.abs(np.diff(f, axis=0)))
    independent = sample(tiny_model, 12, seed=5).astype(float)
    between = np.mean(np.abs(independent[1:] - independent[:-1]))
    assert 0 < step < 0.5 * between
    np.testing.assert_array_equal(frames, drain(animate(tiny_model, 12, seed=0)))
    gif = save_animation(tmp_path / "a.gif", frames, fps=10, model=tiny_model)
    import imageio.v3 as iio

    assert iio.imread(gif).shape[0] == 12
    assert save_animation(tmp_path / "a.tif", frames, fps=10, model=tiny_model).exists()
    with pytest.raises(SinGANError, match="at least 2"):
        drain(animate(tiny_model, 1))
    with pytest.raises(SinGANError, match=".gif"):
        save_animation(tmp_path / "a.avi", frames, 10, tiny_model)


def test_mp4_keeps_the_frames_size_and_content(tiny_model, tmp_path, capfd):
    import imageio.v3 as iio

    frames = drain(animate(tiny_model, 6, seed=0))[:, :31, :29]  # (6, 31, 29): odd sizes
    path = save_animation(tmp_path / "a.mp4", frames, fps=10, model=tiny_model)
    video = iio.imread(path, extension=".mp4")  # (T, H, W, 3): H.264 needs even sizes
    assert video.shape == (6, 32, 30, 3)
    np.testing.assert_array_equal(video[:, :31, :29, 0] == video[:, :31, :29, 1], True)  # still gray
    error = np.abs(video[:, :31, :29, 0].astype(float) - frames)
    assert error.mean() < 8, "lossy, but not stretched or shifted"
    assert "WARNING" not in capfd.readouterr().err  # imageio's notice that it resized the frames


def test_paint_fine_tuning_teaches_the_paint_scale_to_render_quantized_colours(tiny_model):
    import torch.nn.functional as F

    from napari_singan.apps.shared import retrain
    from napari_singan.core.sampling import reconstruct, reconstruction_noise, synthesize

    centres = palette(tiny_model, 5)
    tuned = drain(fine_tune_quantized(tiny_model, 2, centres, iters=50))
    kept = [a is b for a, b in zip(tuned.generators, tiny_model.generators, strict=True)]
    assert kept == [True, True, False, True] and len(tuned.noise_amps) == tiny_model.num_trained
    more_training = drain(retrain(tiny_model, tiny_model.image, 2, stop=3, iters=50))  # the same, unquantised

    def rmse_from_quantized_input(model):
        """The paint scale's output for the palette-quantised coarser reconstruction, against x_2."""
        coarse = quantize(reconstruct(model, stop=2), centres)
        out = synthesize(model, reconstruction_noise(model), start=2, prev=coarse, stop=3)
        return F.mse_loss(out, model.real(2)).sqrt().item()

    # Measured on tiny models of seeds 0-2 (1 and 2 threads): 0.106-0.118 before, 0.078-0.087 after,
    # 0.095-0.107 after the same retraining without quantisation.
    after = rmse_from_quantized_input(tuned)
    assert after < 0.9 * rmse_from_quantized_input(tiny_model)
    assert after < 0.95 * rmse_from_quantized_input(more_training)


def test_paint_to_image_with_fine_tuning(tiny_model):
    img = training_image(tiny_model)
    paint = np.where(np.arange(40)[None, :] < 20, img.min(), img.max()).repeat(40, 0).astype(np.uint8)
    events = []
    tuned = drain(
        paint_to_image(tiny_model, paint, 1, quantize_colors=5, fine_tune_iters=3, seed=0), events.append
    )
    assert {type(e).__name__ for e in events} >= {"Progress", "ScaleFinished", "SampleProgress"}
    plain = drain(paint_to_image(tiny_model, paint, 1, quantize_colors=5, seed=0))
    assert tuned.shape == plain.shape == (1, 32, 32) and not np.array_equal(tuned, plain)
    again = drain(paint_to_image(tiny_model, paint, 1, quantize_colors=5, fine_tune_iters=3, seed=0))
    np.testing.assert_array_equal(tuned, again)  # seeded retraining: same output
    np.testing.assert_array_equal(
        plain, drain(paint_to_image(tiny_model, paint, 1, quantize_colors=5, seed=0))
    )
    for kwargs, match in [
        ({"fine_tune_iters": 3}, "number of colours"),
        ({"quantize_colors": 5, "fine_tune_iters": 3, "start_scale": 0}, "start scale"),
    ]:
        with pytest.raises(SinGANError, match=match):
            next(paint_to_image(tiny_model, paint, **kwargs))  # before any training
    with pytest.raises(ImageInputError, match="channel"):
        next(
            paint_to_image(tiny_model, np.zeros((40, 40, 3), np.uint8), quantize_colors=5, fine_tune_iters=3)
        )


@pytest.fixture(scope="module")
def noise_model():
    """The tiny model trained the same way, with noise padding (the reference's animation models)."""
    return drain(train(make_texture(), TINY.with_overrides(padding="noise"), device="cpu", seed=0))


def test_noise_padded_animations_keep_moving_at_the_border(tiny_model, noise_model):
    with pytest.warns(SinGANNotice, match="noise padding"):
        zero = drain(animate(tiny_model, 100, start_scale=1, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinGANNotice)
        noisy = drain(animate(noise_model, 100, start_scale=1, seed=0))
    # Temporal std per pixel in a 3 px border band over the interior's: measured 0.94 (zero) and 1.13 (noise).
    assert border_score(noisy) > 1.1 * border_score(zero)


def test_noise_padded_model_samples_identically_after_save_and_load(noise_model, tmp_path):
    save_model(noise_model, tmp_path / "noise.singan")
    loaded = load_model(tmp_path / "noise.singan")
    assert loaded.config.model.padding == "noise"
    np.testing.assert_array_equal(sample(noise_model, 3, seed=1), sample(loaded, 3, seed=1))
    np.testing.assert_array_equal(drain(animate(noise_model, 4, seed=2)), drain(animate(loaded, 4, seed=2)))
