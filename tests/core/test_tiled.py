"""Tiled generation: same pixels as whole-image generation, bounded tiles, progressive file output."""

import numpy as np
import pytest
import tifffile
import torch

from napari_singan.core import SinGANError, drain, generate, train
from napari_singan.core.events import TileProgress
from napari_singan.core.memory import tile_side
from napari_singan.core.models import GeneratorStage
from napari_singan.core.tiled import generate_tiled, open_tiff, tiles, write_tiff
from tests.conftest import TINY, make_texture

SMALL_TILES = 2**18  # 16 px tiles at 32 filters: many tiles even on tiny outputs


@pytest.fixture(scope="module")
def models():
    """Tiny models of three layouts and paddings: (name -> model)."""
    gray = make_texture(36, 40)
    rgb = make_texture(36, 40, channels=3)
    first = np.moveaxis(make_texture(36, 40, channels=2, dtype=np.uint16), -1, 0)  # (C, H, W)
    return {
        "gray zero": drain(train(gray, TINY, seed=0)),
        "rgb reflect": drain(train(rgb, TINY.with_overrides(padding="reflect"), seed=0)),
        "uint16 channels-first noise": drain(
            train(first, TINY.with_overrides(padding="noise"), channel_axis=0, seed=0)
        ),
    }


@pytest.mark.parametrize("name", ["gray zero", "rgb reflect", "uint16 channels-first noise"])
@pytest.mark.parametrize("start_scale", [0, 1])
def test_tiled_equals_whole_image_generation(models, name, start_scale):
    model = models[name]
    whole = drain(generate(model, 2, size=(70, 53), seed=5, start_scale=start_scale))
    out = np.zeros_like(whole)
    work = generate_tiled(
        model, out, seed=5, start_scale=start_scale, tile_bytes=SMALL_TILES, stats_pixels=70 * 53
    )  # statistics over the whole stage: exactly whole-image generation
    drain(work)
    assert np.abs(out.astype(np.int64) - whole).max() <= 1  # float rounding before the integer cast


@pytest.mark.parametrize(
    ("tile_bytes", "side"),
    [(SMALL_TILES, 16), (50 * 50 * 4 * 3 * 32, 40)],  # statistics window in 16 px tiles; in one 40 px tile
)
def test_statistics_from_a_window_join_tiles_without_seams(models, tile_bytes, side):
    model = models["gray zero"]
    assert tile_side(32, model.config.model.num_blocks, tile_bytes) == side
    whole, other = drain(generate(model, 2, size=(96, 96), seed=1)).astype(float)
    out = np.zeros((1, 96, 96), np.uint8)
    drain(generate_tiled(model, out, seed=1, tile_bytes=tile_bytes, stats_pixels=40 * 40))
    tiled = out[0].astype(float)
    # same noise, statistics from a central window: the same sample, far closer than another sample
    # (0.18-0.28 of the distance to it over three training seeds at one and two threads)
    assert np.abs(tiled - whole).mean() < 0.4 * np.abs(other - whole).mean()
    # no seams: the step across a tile boundary is like any other step
    steps = np.abs(np.diff(tiled, axis=1))
    at_seams = steps[:, side - 1 :: side].mean()
    assert at_seams < 1.5 * steps.mean()


@pytest.mark.parametrize(
    "windows",
    [
        [(slice(0, 17), slice(0, 9)), (slice(0, 17), slice(9, 22)), (slice(17, 30), slice(0, 22))],
        [(slice(0, 30), slice(0, 22))],  # one window: gathered in one pass
    ],
)
def test_fixed_statistics_over_windows_equal_instance_statistics(windows):
    torch.manual_seed(0)
    stage = GeneratorStage(2, 8, TINY.model).eval()
    noise, prev = torch.randn(1, 2, 30, 22), torch.randn(1, 2, 30, 22)
    padded = stage.pad_input(noise, prev)
    expected = stage(noise, prev)
    pad = stage.pad

    stage.fix_statistics(
        (
            padded[:, :, rows.start : rows.stop + 2 * pad, cols.start : cols.stop + 2 * pad],
            (rows.start == 0, rows.stop == 30, cols.start == 0, cols.stop == 22),
        )
        for rows, cols in windows
    )
    with torch.no_grad():
        for rows, cols in windows:
            window = padded[:, :, rows.start : rows.stop + 2 * pad, cols.start : cols.stop + 2 * pad]
            got = prev[:, :, rows, cols] + stage.residual(window)
            torch.testing.assert_close(got, expected[:, :, rows, cols], atol=1e-5, rtol=1e-5)


def test_progress_counts_every_tile_of_every_stage(models):
    model = models["gray zero"]
    out = np.zeros((2, 50, 40), np.uint8)
    events = []
    drain(generate_tiled(model, out, seed=0, tile_bytes=SMALL_TILES), events.append)
    side = tile_side(32, model.config.model.num_blocks, SMALL_TILES)
    assert side == 16
    from napari_singan.core.sampling import output_shapes

    per_sample = sum(len(list(tiles(shape, side))) for shape in output_shapes(model, size=(50, 40)))
    assert all(isinstance(e, TileProgress) for e in events)
    assert [e.done for e in events] == list(range(1, 2 * per_sample + 1))
    assert events[-1].fraction == 1.0 and {e.sample for e in events} == {0, 1}
    assert out[1].std() > 0  # both samples written


def test_bigtiff_written_progressively_reads_back(models, tmp_path):
    model = models["rgb reflect"]
    path = tmp_path / "big.tif"
    out = open_tiff(path, (2, 64, 48, 3), "uint8", rgb=True)
    drain(generate_tiled(model, out, seed=3, tile_bytes=SMALL_TILES, stats_pixels=64 * 48))
    out.flush()
    expected = drain(generate(model, 2, size=(64, 48), seed=3))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
        back = tif.asarray()
    assert back.shape == (2, 64, 48, 3) and back.dtype == np.uint8
    assert np.abs(back.astype(int) - expected).max() <= 1


def test_bad_outputs_and_label_models_are_refused(models):
    model = models["gray zero"]
    with pytest.raises(SinGANError, match="uint16 but the model's images are uint8"):
        drain(generate_tiled(model, np.zeros((1, 20, 20), np.uint16)))
    with pytest.raises(SinGANError, match="axes"):
        drain(generate_tiled(model, np.zeros((1, 20, 20, 3), np.uint8)))
    with pytest.raises(SinGANError, match="channels"):
        drain(generate_tiled(models["rgb reflect"], np.zeros((1, 20, 20, 4), np.uint8)))
    labels = (make_texture(36, 40) > 128).astype(np.uint8)
    with_labels = drain(train(make_texture(36, 40), TINY.with_overrides(iters_per_scale=2), labels=labels))
    with pytest.raises(SinGANError, match="images only"):
        drain(generate_tiled(with_labels, np.zeros((1, 20, 20), np.uint8)))


def test_write_tiff_is_atomic(models, tmp_path):
    model = models["gray zero"]
    path = tmp_path / "samples.tif"
    assert drain(write_tiff(model, path, (40, 30), 2, seed=1, tile_bytes=SMALL_TILES)) == path
    first = tifffile.imread(path)
    assert first.shape == (2, 40, 30) and first.dtype == np.uint8
    assert [p.name for p in tmp_path.iterdir()] == ["samples.tif"]
    work = write_tiff(model, path, (60, 60), 1, seed=2, tile_bytes=SMALL_TILES)
    next(work)
    work.close()  # stopped (the widget's Stop, Ctrl-C): the old file stays, no partial file is left
    np.testing.assert_array_equal(tifffile.imread(path), first)
    assert [p.name for p in tmp_path.iterdir()] == ["samples.tif"]


def test_write_tiff_checks_disk_space_first(models, tmp_path):
    from napari_singan.core.errors import OutputPathError

    with pytest.raises(OutputPathError, match="GB free"):
        drain(write_tiff(models["gray zero"], tmp_path / "huge.tif", (10**6, 10**6)))
    assert list(tmp_path.iterdir()) == []


def test_outputs_too_small_for_reflect_padding_are_refused_before_a_file_is_made(models, tmp_path):
    model = models["rgb reflect"]
    with pytest.raises(SinGANError, match="the output is too small for this model"):
        drain(generate_tiled(model, np.zeros((1, 4, 40, 3), np.uint8)))
    path = tmp_path / "small.tif"
    with pytest.raises(SinGANError, match="the output is too small for this model"):
        drain(write_tiff(model, path, (4, 40), 1))
    assert list(tmp_path.iterdir()) == []


def test_write_tiff_checks_its_path_and_count_before_any_work(models, tmp_path):
    from napari_singan.core.errors import ConfigError, OutputPathError

    model = models["gray zero"]
    (tmp_path / "folder.tif").mkdir()
    for path, expected in (
        (tmp_path / "folder.tif", "is a folder"),
        (tmp_path / "x.png", "extension '.png'"),
    ):
        with pytest.raises(OutputPathError, match=expected):
            next(write_tiff(model, path, (40, 30)))
    with pytest.raises(ConfigError, match="the number of samples must be a number at least 1, got 0"):
        next(write_tiff(model, tmp_path / "none.tif", (40, 30), 0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.tif"]
    assert drain(write_tiff(model, tmp_path / "new" / "s.tif", (40, 30))).is_file()  # folders made


def test_a_killed_tiled_writers_temporary_is_removed_by_the_next_write(models, tmp_path):
    dead = tmp_path / ".s.tif.999999999.abc.tmp"  # no such process
    dead.write_bytes(b"half a BigTIFF")
    drain(write_tiff(models["gray zero"], tmp_path / "s.tif", (40, 30)))
    assert [p.name for p in tmp_path.iterdir()] == ["s.tif"]
