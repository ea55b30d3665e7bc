import numpy as np
import pytest
import torch

from napari_singan.core import (
    SampleProgress,
    SinGANError,
    denormalize,
    drain,
    generate,
    normalize_like,
    sample,
)
from napari_singan.core.sampling import reconstruct, smallest_output, smallest_stage_side


def test_samples_have_training_dtype_range_and_shape(tiny_model):
    out = sample(tiny_model, 5, seed=1)
    assert out.shape == (5, 32, 32) and out.dtype == np.uint8
    assert out.min() >= 0 and out.max() <= 255
    assert not np.array_equal(out[0], out[1])  # samples differ


def test_seed_reproduces_and_is_batch_independent(tiny_model):
    a = sample(tiny_model, 4, seed=7)
    np.testing.assert_array_equal(a, sample(tiny_model, 4, seed=7))
    small_batches = sample(tiny_model, 4, seed=7, max_batch_pixels=32 * 32)  # one per batch
    np.testing.assert_allclose(a.astype(int), small_batches.astype(int), atol=1)
    assert not np.array_equal(a, sample(tiny_model, 4, seed=8))


def test_arbitrary_sizes(tiny_model):
    assert sample(tiny_model, 2, scale_h=1.0, scale_w=2.5, seed=0).shape == (2, 32, 80)
    assert sample(tiny_model, 1, size=(45, 19), seed=0).shape == (1, 45, 19)
    assert sample(tiny_model, 1, scale_h=0.5, scale_w=0.5, seed=0).shape == (1, 16, 16)


def test_reflect_padded_models_refuse_outputs_too_small_to_pad_and_name_the_smallest(reflect_model):
    need = smallest_stage_side(reflect_model)
    stage = reflect_model.generators[0]
    for side, runs in ((need - 1, False), (need, True)):  # what torch's reflect padding takes
        maps = torch.zeros(1, reflect_model.channels, side, 2 * need)
        if runs:
            assert stage(maps, maps).shape == maps.shape
        else:
            with pytest.raises(RuntimeError):
                stage(maps, maps)
    least = smallest_output(reflect_model)
    out = sample(reflect_model, 2, size=least, seed=0)  # the smallest output it names runs ...
    assert out.shape == (2, *least) and out.std() > 0
    for smaller in ((least[0] - 1, least[1]), (least[0], least[1] - 1)):  # ... and is the smallest
        with pytest.raises(SinGANError, match="too small"):
            sample(reflect_model, 1, size=smaller)
    for kwargs in ({"size": (least[0] // 2, least[1])}, {"scale_w": 0.2}):
        with pytest.raises(
            SinGANError, match=rf"at least {least[0]}x{least[1]} px \(scale factors of at least"
        ):
            sample(reflect_model, 1, **kwargs)
    finer = smallest_output(reflect_model, 1)  # from start scale 1 the coarsest stage does not run
    assert finer[0] < least[0] and finer[1] < least[1]
    assert sample(reflect_model, 1, size=finer, start_scale=1, seed=0).shape == (1, *finer)


def test_zero_padded_models_run_at_any_size(tiny_model):
    assert smallest_stage_side(tiny_model) == 1 and smallest_output(tiny_model) == (1, 1)
    assert sample(tiny_model, 1, size=(1, 1), seed=0).shape == (1, 1, 1)
    assert sample(tiny_model, 1, size=(2, 7), seed=0).shape == (1, 2, 7)


def test_start_scale_keeps_layout(tiny_model):
    train_img = denormalize(tiny_model.image, tiny_model.spec)[0].astype(float)  # at 32x32
    free = sample(tiny_model, 6, seed=2).astype(float)
    kept = sample(tiny_model, 6, seed=2, start_scale=3).astype(float)
    err = lambda s: np.mean((s - train_img) ** 2)  # noqa: E731
    assert err(kept) < err(free)
    inverted = normalize_like(255 - train_img.astype(np.uint8), tiny_model.spec)
    injected = sample(tiny_model, 1, seed=2, start_scale=2, injected=inverted).astype(float)
    assert np.mean((injected[0] - (255 - train_img)) ** 2) < np.mean((injected[0] - train_img) ** 2)


def test_variation_moves_samples_from_the_training_layout_to_new_ones(tiny_model):
    from napari_singan.metrics import diversity

    train_img = denormalize(tiny_model.image, tiny_model.spec)[0]
    runs = {v: sample(tiny_model, 8, seed=5, variation=v) for v in (0.0, 0.5, 1.0)}
    assert np.array_equal(runs[1.0], sample(tiny_model, 8, seed=5))  # 1: the samples as they always were
    assert np.array_equal(runs[0.5], sample(tiny_model, 8, seed=5, variation=0.5))  # seeded
    spread = [diversity(runs[v], train_img) for v in (0.0, 0.5, 1.0)]
    assert spread[0] < spread[1] < spread[2]
    err = [np.mean((runs[v].astype(float) - train_img) ** 2) for v in (0.0, 0.5, 1.0)]
    assert err[0] < err[1] < err[2]  # nearer the training image, the smaller the variation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"variation": 1.5}, "the variation must be a number at least 0 and at most 1, got 1.5"),
        ({"variation": 0.5, "start_scale": 1}, "give start scale 0 or variation 1"),
        ({"variation": 0.5, "scale_w": 2.0}, r"needs the model's own size, \d+x\d+ px"),
        (
            {"variation": 0.5, "size": (32, 33)},
            "needs the model's own size, 32x32 px",
        ),  # coarsest: 14x14 still
    ],
)
def test_variations_that_cannot_apply_are_refused(tiny_model, kwargs, match):
    with pytest.raises(SinGANError, match=match):
        sample(tiny_model, 1, **kwargs)
    assert sample(tiny_model, 1, variation=0.5, scale_w=1.0).shape[1:3] == tiny_model.trained_shapes[-1]


def test_progress_events_and_bounded_batches(tiny_model):
    work = generate(tiny_model, 5, seed=0, max_batch_pixels=2 * 32 * 32)
    events = []
    stack = drain(work, events.append)
    assert [e.fraction for e in events] == [0.4, 0.8, 1.0]
    assert events == [SampleProgress(2, 5), SampleProgress(4, 5), SampleProgress(5, 5)]
    assert stack.shape == (5, 32, 32)


def test_partial_model_samples_at_its_finest_trained_scale(tiny_model):
    from dataclasses import replace

    from torch import nn

    partial = replace(
        tiny_model, generators=nn.ModuleList(tiny_model.generators[:2]), noise_amps=tiny_model.noise_amps[:2]
    )
    assert sample(partial, 1, seed=0).shape == (1, *tiny_model.shapes[1])


def test_reconstruction_is_close_to_training_image(tiny_model):
    rec = reconstruct(tiny_model)
    assert rec.shape == tiny_model.image.shape
    rec_err = torch.mean((rec - tiny_model.image) ** 2).item()
    noise_err = torch.mean((torch.zeros_like(rec) - tiny_model.image) ** 2).item()
    assert rec_err < noise_err


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start_scale": 9}, "start scale"),
        ({"size": (0, 5)}, "at least 1x1"),
        ({"scale_w": -1.0}, "above 0"),
        ({"scale_h": float("nan")}, "above 0"),
    ],
)
def test_bad_requests(tiny_model, kwargs, match):
    with pytest.raises(SinGANError, match=match):
        sample(tiny_model, 1, **kwargs)
    with pytest.raises(SinGANError, match="at least 1"):
        sample(tiny_model, 0)
