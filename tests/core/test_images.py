import numpy as np
import pytest
import torch

from napari_singan.core import ImageInputError, denormalize, normalize_like, prepare_image

from ..conftest import make_texture


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_round_trip_keeps_dtype_and_values(dtype, channels):
    img = make_texture(20, 24, channels, dtype)
    tensor, spec = prepare_image(img)
    assert tensor.shape == (1, channels or 1, 20, 24) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    back = denormalize(tensor, spec)[0]
    assert back.dtype == img.dtype and back.shape == img.shape
    if np.dtype(dtype).kind in "ui":
        np.testing.assert_array_equal(back, img)  # integers come back exactly
    else:
        np.testing.assert_allclose(back, img, rtol=0, atol=1e-6 * 6)


def test_uint16_keeps_full_precision():
    img = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 13 + 1000).astype(np.uint16)
    tensor, spec = prepare_image(img)
    back = denormalize(tensor, spec)[0]
    assert np.unique(back).size > 256  # not quantised to 8 bit
    np.testing.assert_array_equal(back, img)
    assert spec.low == (1000.0,) and spec.high == (float(img.max()),)


def test_explicit_channel_axis_and_n_channels():
    img = np.moveaxis(make_texture(16, 18, 5, np.uint16), -1, 0)  # (C, H, W)
    tensor, spec = prepare_image(img, channel_axis=0)
    assert tensor.shape == (1, 5, 16, 18) and spec.channel_axis == 0
    back = denormalize(torch.cat([tensor, tensor]), spec)
    assert back.shape == (2, 5, 16, 18)
    np.testing.assert_array_equal(back[1], img)


def test_outputs_are_clamped_to_the_training_range():
    img = make_texture(dtype=np.uint16)
    _, spec = prepare_image(img)
    out = denormalize(torch.full((1, 1, 4, 4), 3.0), spec)
    assert out.max() == img.max()


def test_normalize_like_checks_channels():
    _, spec = prepare_image(make_texture(channels=3))
    assert normalize_like(make_texture(), spec).shape == (1, 3, 40, 40)  # gray paint broadcast to RGB
    _, gray = prepare_image(make_texture())
    with pytest.raises(ImageInputError, match="channel"):
        normalize_like(make_texture(channels=3), gray)


@pytest.mark.parametrize(
    "img, match",
    [
        (np.zeros((0, 10), np.uint8), "too small"),
        (np.ones((1, 1), np.float32), "too small"),
        (np.array([[np.nan, 1.0], [2.0, 3.0]]), "NaN"),
        (np.array([[np.inf, 1.0], [2.0, 3.0]]), "NaN or infinite"),
        (np.full((30, 30), 7, np.uint16), "constant"),
        (np.random.default_rng(0).random((30, 30)) > 0.5, "boolean"),
        ((np.random.default_rng(0).random((30, 30)) > 0.5).astype(np.uint8) * 3, "label"),
        (np.zeros((5, 30, 30), np.float32), "channel axis"),
        (np.zeros((2, 5, 30, 30), np.float32), "2-D image"),
        (np.zeros((30, 30), np.complex64), "dtype complex64"),
    ],
)
def test_bad_images_get_clear_errors(img, match):
    with pytest.raises(ImageInputError, match=match):
        prepare_image(img)


def test_bad_channel_axis():
    with pytest.raises(ImageInputError, match="does not exist"):
        prepare_image(np.zeros((4, 30, 30)), channel_axis=5)
    with pytest.raises(ImageInputError, match="must be 3-D"):
        prepare_image(np.zeros((2, 4, 30, 30)), channel_axis=0)
