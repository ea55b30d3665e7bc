import math

import pytest
import torch

from napari_singan.core import ConfigError, ImageInputError, PyramidConfig, pyramid_shapes
from napari_singan.core.pyramid import build_pyramid, resize, scaled_shapes


def test_square_paper_pyramid():
    shapes = pyramid_shapes(500, 500, PyramidConfig())
    assert shapes[-1] == (250, 250)
    assert shapes[0] == (25, 25)
    assert len(shapes) == 10  # ceil(log(25/250) / log(0.75)) = 9 steps of r = 0.1 ** (1 / 9) = 0.774
    ratios = [shapes[k][0] / shapes[k + 1][0] for k in range(len(shapes) - 1)]
    assert all(0.72 < r < 0.8 for r in ratios)


@pytest.mark.parametrize("hw", [(660, 550), (100, 400), (300, 60)])
def test_non_square_pyramid_keeps_aspect(hw):
    cfg = PyramidConfig()
    shapes = pyramid_shapes(*hw, cfg)
    assert max(shapes[-1]) <= cfg.max_size
    assert min(shapes[0]) == cfg.min_size
    aspect = hw[0] / hw[1]
    for h, w in shapes:
        assert math.isclose(h / w, aspect, rel_tol=0.1)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shapes, shapes[1:]))


def test_small_image_is_not_upscaled_and_single_scale_allowed():
    assert pyramid_shapes(30, 40, PyramidConfig(max_size=250))[-1] == (30, 40)
    assert pyramid_shapes(25, 40, PyramidConfig()) == [(25, 40)]


def test_image_smaller_than_coarsest_scale():
    with pytest.raises(ImageInputError, match="coarsest scale"):
        pyramid_shapes(20, 300, PyramidConfig())


def test_scaled_shapes_and_resize_on_device():
    shapes = [(10, 12), (20, 24)]
    assert scaled_shapes(shapes, 1.0, 2.0) == [(10, 24), (20, 48)]
    assert scaled_shapes(shapes, 1.0, 2.0, final=(21, 50))[-1] == (21, 50)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="height scale must be a number above 0"):
            scaled_shapes(shapes, bad, 1.0)
    img = torch.rand(1, 3, 40, 30)
    levels = build_pyramid(img, [(10, 8), (40, 30)])
    assert levels[0].shape == (1, 3, 10, 8) and levels[1] is img
    assert resize(img, (80, 60)).shape == (1, 3, 80, 60)
