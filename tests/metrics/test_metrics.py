"""Quality metrics rank good samples above bad ones, and catch copies and border anchoring."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_singan import metrics
from napari_singan.core import ImageInputError

SIZE = 64


def stationary_texture(height: int, width: int, seed: int) -> np.ndarray:
    """Blobs plus fine grain, uint8: every crop has the same patch statistics."""
    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.standard_normal((height, width)), 3) > 0
    grain = ndimage.gaussian_filter(rng.standard_normal((height, width)), 1)
    tex = 0.7 * blobs + 0.3 * grain
    return (255 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.uint8)


@pytest.fixture(scope="module")
def sets():
    """The training image and sample sets of known quality."""
    rng = np.random.default_rng(0)
    big = stationary_texture(320, 320, seed=1)
    image = big[:SIZE, :SIZE]
    corners = rng.integers(SIZE + 8, 320 - SIZE, (8, 2))
    crops = np.stack([big[y : y + SIZE, x : x + SIZE] for y, x in corners])
    blurred = np.stack([ndimage.gaussian_filter(c.astype(float), 1.5).astype(np.uint8) for c in crops])
    noise = rng.normal(image.mean(), image.std(), crops.shape).clip(0, 255).astype(np.uint8)
    return image, crops, blurred, noise


def test_patch_swd_ranks_same_texture_blurred_noise(sets):
    image, crops, blurred, noise = sets
    identical = metrics.patch_swd(image[None], image).mean()
    same = metrics.patch_swd(crops, image).mean()
    blur = metrics.patch_swd(blurred, image).mean()
    far = metrics.patch_swd(noise, image).mean()
    assert identical < 0.02
    assert identical < same < blur < far
    assert far > 2 * same


def test_patch_swd_is_seeded_and_dtype_independent(sets):
    image, crops, _, _ = sets
    a = metrics.patch_swd(crops, image, seed=3)
    np.testing.assert_array_equal(a, metrics.patch_swd(crops, image, seed=3))
    as16 = metrics.patch_swd(crops.astype(np.uint16) * 257, image.astype(np.uint16) * 257, seed=3)
    asfloat = metrics.patch_swd(crops / 255.0 - 0.5, image / 255.0 - 0.5, seed=3)
    np.testing.assert_allclose(as16, a, rtol=1e-9)
    np.testing.assert_allclose(asfloat, a, rtol=1e-9)


def test_patch_swd_accepts_other_sizes_rgb_and_channel_axis(sets):
    image, crops, _, _ = sets
    assert metrics.patch_swd(crops[:, :40, :], image).shape == (8,)
    rgb_image, rgb_crops = np.stack([image] * 3, -1), np.stack([crops] * 3, -1)
    assert metrics.patch_swd(rgb_crops, rgb_image).shape == (8,)
    cyx = np.moveaxis(np.stack([image] * 5, -1), -1, 0)  # (5, H, W)
    ncyx = np.moveaxis(np.stack([crops] * 5, -1), -1, 1)  # (8, 5, H, W)
    assert metrics.patch_swd(ncyx, cyx, channel_axis=0).mean() < 0.5


def test_diversity_ranks_more_diverse_higher(sets):
    image, crops, _, _ = sets
    identical = np.stack([image] * 6)
    near = np.stack([np.clip(image.astype(int) + k, 0, 255).astype(np.uint8) for k in range(6)])
    assert metrics.diversity(identical, image) < 1e-12
    assert 0 < metrics.diversity(near, image) < 0.2 < metrics.diversity(crops, image)


def test_copies_are_caught_even_shifted(sets):
    image, crops, _, _ = sets
    copies = np.stack([image, np.roll(image, (1, -2), (0, 1)), crops[0]])
    dist = metrics.copy_distance(copies, image)
    assert dist[0] == 0.0
    assert dist[1] < metrics.COPY_THRESHOLD  # a 1 x 2 px shift is still a copy
    assert dist[2] > 0.8  # an independent crop of the texture is not
    report = metrics.evaluate(copies, image)
    assert report.copies == 2 and report.copy_distance == 0.0


def collage_of(image: np.ndarray, seed: int) -> np.ndarray:
    """A rearrangement of the image: its four quadrants shuffled, as a patch method pastes pieces."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    quads = [image[:h, :w], image[:h, w:], image[h:, :w], image[h:, w:]]
    order = np.random.default_rng(seed).permutation(4)
    while (order == np.arange(4)).all():  # not the image itself
        order = np.roll(order, 1)
    q = [quads[k] for k in order]
    return np.block([[q[0], q[1]], [q[2], q[3]]])


def test_collage_catches_pasted_pieces_that_copy_distance_misses(sets):
    image, crops, blurred, noise = sets
    pasted = np.stack([collage_of(image, seed) for seed in range(4)])
    assert (metrics.copy_distance(pasted, image) > metrics.COPY_THRESHOLD).all()  # no whole copy
    fractions = metrics.collage(pasted, image)
    assert (fractions > 0.4).all()  # half the 15 px windows lie inside one pasted 32 px quadrant
    assert metrics.collage(image[None], image)[0] == 1.0
    for fresh in (crops, blurred, noise):  # the same texture elsewhere, blurred, noise: nothing pasted
        assert metrics.collage(fresh, image).max() < 0.05
    report = metrics.evaluate(np.concatenate([pasted, crops[:4]]), image)
    assert 0.15 < report.collage < 0.4 and report.copies == 0
    np.testing.assert_array_equal(fractions, metrics.collage(pasted, image))  # seeded


def test_collage_leaves_out_flat_background(sets):
    image, crops, _, _ = sets
    empty = image.copy()
    empty[:, :24] = 40  # an empty band, as the background of a micrograph
    fresh = crops.copy()
    fresh[:, :, :24] = 40  # other texture beside the same empty band: a fifth of the windows are flat
    assert metrics.collage(fresh, empty).max() < 0.05  # the flat windows match, but are not counted
    assert metrics.collage(np.full_like(fresh, 40), empty).tolist() == [0.0] * len(fresh)
    assert metrics.collage(empty[None], empty)[0] == 1.0


def test_collage_is_dtype_independent_and_takes_tiny_images(sets):
    image, _, _, _ = sets
    pasted = np.stack([collage_of(image, seed) for seed in range(2)])
    a = metrics.collage(pasted, image, seed=1)
    np.testing.assert_array_equal(
        a, metrics.collage(pasted.astype(np.uint16) * 257, image.astype(np.uint16) * 257, seed=1)
    )
    np.testing.assert_array_equal(a, metrics.collage(pasted / 255.0, image / 255.0, seed=1))
    small = image[:10, :12]  # smaller than a 15 px patch: the whole sample is looked up
    assert metrics.collage(np.stack([small, small[::-1]]), small).tolist() == [1.0, 0.0]


def test_border_anchored_set_scores_low(sets):
    image, crops, _, _ = sets
    anchored = crops.copy()
    band = 6
    for c in anchored:  # every sample has the same pixels in a 6 px band
        c[:band], c[-band:], c[:, :band], c[:, -band:] = (
            image[:band],
            image[-band:],
            image[:, :band],
            image[:, -band:],
        )
    free = metrics.border_score(crops, band=band)
    stuck = metrics.border_score(anchored, band=band)
    assert 0.7 < free < 1.4
    assert stuck < 0.05
    assert metrics.evaluate(anchored, image).border_score < 0.6 * metrics.evaluate(crops, image).border_score


def test_bad_inputs_raise_clear_errors(sets):
    image, crops, _, _ = sets
    with pytest.raises(ImageInputError, match="at least 2 samples"):
        metrics.diversity(crops[:1], image)
    with pytest.raises(ImageInputError, match="channel"):
        metrics.patch_swd(np.stack([crops] * 3, -1), image)
    with pytest.raises(ImageInputError, match="at least 7x7"):
        metrics.patch_swd(crops[:, :5, :5], image[:5, :5])
    with pytest.raises(ImageInputError, match="dtype"):
        metrics.patch_swd(crops > 0, image)


def test_as_nhwc_lays_out_planes_rgb_and_channel_axes():
    plane = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert metrics.as_nhwc(plane, stack=False).shape == (1, 3, 4, 1)
    assert metrics.as_nhwc(plane, stack=False).dtype == np.float64
    rgb_stack = np.zeros((2, 3, 4, 3), np.uint8)
    assert metrics.as_nhwc(rgb_stack).shape == (2, 3, 4, 3)
    channels_first = np.stack([plane, plane + 100])  # (C, H, W)
    out = metrics.as_nhwc(channels_first, channel_axis=0, stack=False)
    assert out.shape == (1, 3, 4, 2) and out[0, 1, 2, 1] == plane[1, 2] + 100


def test_evaluate_model_reports_a_trained_model(tiny_model):
    report = metrics.evaluate_model(tiny_model, 6, seed=2)
    assert report == metrics.evaluate_model(tiny_model, 6, seed=2)
    assert report.num_samples == 6
    assert report.patch_swd > 0 and report.diversity > 0
    assert report.copies < 6  # random samples of a trained model are not all copies
    assert report.collage < 0.5  # nor pasted from pieces of the image
    assert metrics.training_image(tiny_model).shape == tiny_model.trained_shapes[-1]


def test_copy_search_of_large_samples_is_bounded():
    import time

    big = stationary_texture(600, 600, seed=2)
    stack = np.stack([big, np.roll(big, 3, axis=1), stationary_texture(600, 600, seed=3)])
    start = time.perf_counter()
    dist = metrics.copy_distance(stack, big)
    assert time.perf_counter() - start < 20  # a 256 px window, 17 x 17 shifts: not 37 x 37 over 600 px
    assert dist[0] == 0.0 and dist[1] < metrics.COPY_THRESHOLD and dist[2] > 0.8
