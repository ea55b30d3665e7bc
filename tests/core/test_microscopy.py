"""Microscopy files: TIFF axis metadata, planes, pixel sizes written and read back, crops."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile

from napari_singan.core import SinGANConfig
from napari_singan.core.errors import ImageInputError
from napari_singan.core.files import PixelSize, read_image, write_image, write_stack
from napari_singan.core.microscopy import (
    MicroscopyImage,
    crop_region,
    native_max_size,
    output_pixel_size,
    parse_plane,
    read_microscopy,
    training_input,
    unit_name,
)

from ..conftest import make_texture


def _stack(*leading: int, dtype=np.uint16) -> np.ndarray:
    """Distinct textures for every leading index: (*leading, 20, 30)."""
    count = int(np.prod(leading))
    planes = [make_texture(20, 30, dtype=dtype, seed=k) for k in range(count)]
    return np.stack(planes).reshape(*leading, 20, 30)


def test_imagej_channels_and_pixel_size_are_read(tmp_path):
    data = _stack(2)
    path = tmp_path / "cyx.tif"
    tifffile.imwrite(
        path, data, imagej=True, metadata={"axes": "CYX", "unit": "um"}, resolution=(1 / 0.5, 1 / 0.25)
    )
    image = read_microscopy(path)
    assert image.channel_axis == 0 and image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size == PixelSize(0.25, 0.5, "µm")
    assert image.plane == {} and image.note == ""


def test_a_stack_asks_for_a_plane_and_gives_it(tmp_path):
    data = _stack(4, 2)
    path = tmp_path / "zcyx.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX", "unit": "micron"}, resolution=(2, 2))
    with pytest.raises(ImageInputError) as info:
        read_microscopy(path)
    assert str(info.value) == "the image is a ZCYX stack (Z=4, C=2); pick one plane with --plane Z=<0..3>"
    image = read_microscopy(path, {"z": 2})
    np.testing.assert_array_equal(image.data, data[2])
    assert image.channel_axis == 0 and image.plane == {"Z": 2}
    assert image.note == "plane Z=2 of a ZCYX stack (Z=4, C=2)"
    assert image.pixel_size == PixelSize(0.5, 0.5, "µm")


def test_ome_time_series_with_physical_sizes(tmp_path):
    data = _stack(3, 2)
    path = tmp_path / "t.ome.tif"
    meta = {"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 250.0, "PhysicalSizeYUnit": "nm"}
    tifffile.imwrite(path, data, ome=True, metadata=meta)
    with pytest.raises(
        ImageInputError, match=r"TCYX stack \(T=3, C=2\); pick one plane with --plane T=<0..2>"
    ):
        read_microscopy(path)
    image = read_microscopy(path, {"T": 1})
    np.testing.assert_array_equal(image.data, data[1])
    assert image.channel_axis == 0
    assert image.pixel_size == PixelSize(pytest.approx(0.25), 0.5, "µm")


def test_two_stack_axes_both_need_an_index(tmp_path):
    path = tmp_path / "tzcyx.tif"
    tifffile.imwrite(path, _stack(2, 3, 2), imagej=True, metadata={"axes": "TZCYX"})
    with pytest.raises(ImageInputError, match=r"--plane T=<0..1>,Z=<0..2>$"):
        read_microscopy(path)
    with pytest.raises(ImageInputError, match=r"pick one plane with --plane Z=<0..2>$"):
        read_microscopy(path, {"T": 1})
    image = read_microscopy(path, parse_plane("T=1,Z=2"))
    assert image.data.shape == (2, 20, 30) and image.pixel_size is None  # no unit: uncalibrated


def test_rgb_samples_are_colour(tmp_path):
    data = make_texture(20, 30, 3)
    tifffile.imwrite(tmp_path / "rgb.tif", data, imagej=True, photometric="rgb")
    image = read_microscopy(tmp_path / "rgb.tif")
    assert image.channel_axis == 2 and image.data.shape == (20, 30, 3)
    stack = np.stack([make_texture(20, 30, 3, seed=k) for k in range(3)])
    tifffile.imwrite(tmp_path / "zrgb.tif", stack, imagej=True, photometric="rgb", metadata={"axes": "ZYXS"})
    image = read_microscopy(tmp_path / "zrgb.tif", {"Z": 1})
    assert image.channel_axis == 2
    np.testing.assert_array_equal(image.data, stack[1])


@pytest.mark.parametrize(
    "plane, message",
    [
        ({"Z": 4}, "--plane Z=4: the Z axis has 4 planes, numbered 0..3"),
        ({"Z": -1}, "--plane Z=-1: the Z axis has 4 planes, numbered 0..3"),
        ({"Q": 0}, "--plane Q=0: the image has no Q axis (it is ZCYX: Z=4, C=2)"),
        ({"C": 0}, "--plane C=0: C is the channel axis; planes are picked along stack axes"),
        ({"Y": 0}, "--plane Y=0: Y is a spatial axis; planes are picked along stack axes"),
    ],
)
def test_bad_planes_are_one_line(tmp_path, plane, message):
    path = tmp_path / "zcyx.tif"
    tifffile.imwrite(path, _stack(4, 2), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(ImageInputError) as info:
        read_microscopy(path, plane)
    assert str(info.value) == message


@pytest.mark.parametrize("text", ["Z12", "Z=a", "ZZ=1", "=3", "Z=1,"])
def test_plane_syntax(text):
    with pytest.raises(ImageInputError, match="give AXIS=INDEX pairs"):
        parse_plane(text)
    with pytest.raises(ImageInputError, match="gives the Z axis twice"):
        parse_plane("Z=1,z=2")
    assert parse_plane(" t=3, Z=0 ") == {"T": 3, "Z": 0}


def test_imagej_metadata_that_does_not_match_the_data(tmp_path, capsys):
    path = tmp_path / "zcyx.tif"
    tifffile.imwrite(path, _stack(4, 2), imagej=True, metadata={"axes": "ZCYX"})
    tifffile.tiffcomment(path, b"ImageJ=1.11a\nimages=8\nchannels=3\nslices=4\nhyperstack=true\n")
    with pytest.raises(ImageInputError) as info:
        read_microscopy(path, {"Z": 0})
    assert "ImageJ metadata declares Z=4, C=3 but the file holds IYX 8x20x30" in str(info.value)
    assert "\n" not in str(info.value)
    assert capsys.readouterr().err == ""  # tifffile's own complaint is not printed


def test_ome_metadata_with_missing_planes(tmp_path):
    path = tmp_path / "t.ome.tif"
    tifffile.imwrite(path, _stack(3, 2), ome=True, metadata={"axes": "TCYX"})
    with tifffile.TiffFile(path) as tif:
        description = tif.pages.first.description
    tifffile.tiffcomment(path, description.replace('SizeT="3"', 'SizeT="5"').encode())
    with pytest.raises(
        ImageInputError, match="OME metadata describes TCYX 5x2x20x30 but the file lacks some"
    ):
        read_microscopy(path, {"T": 0})


def test_files_without_axis_metadata_read_as_before(tmp_path):
    import imageio.v3 as iio

    stack = _stack(4)
    tifffile.imwrite(tmp_path / "plain.tif", stack, photometric="minisblack")
    iio.imwrite(tmp_path / "in.png", make_texture(20, 30, 3))
    for name in ("plain.tif", "in.png"):
        image = read_microscopy(tmp_path / name)
        np.testing.assert_array_equal(image.data, read_image(tmp_path / name))
        assert image == MicroscopyImage(image.data)
    with pytest.raises(ImageInputError, match="has no axis metadata .* so --plane does not apply"):
        read_microscopy(tmp_path / "plain.tif", {"Z": 1})
    with pytest.raises(ImageInputError, match="no image file"):
        read_microscopy(tmp_path / "missing.tif")


def test_channels_stored_plane_by_plane_in_a_plain_tiff_are_channels(tmp_path):
    """Planar configuration "separate": tifffile reads (C, H, W), which was refused as a stack."""
    rgb = make_texture(20, 30, 3)
    tifffile.imwrite(
        tmp_path / "rgb.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate"
    )
    image = read_microscopy(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(image.data, np.moveaxis(rgb, -1, 0))  # (3, H, W), as from an OME-TIFF
    assert image.channel_axis == 0
    assert training_input(image, SinGANConfig(), "rgb.tif", channel_axis=0).channel_axis == 0
    with pytest.raises(ImageInputError, match="stores the channels of its .* on axis 0, not 2"):
        training_input(image, SinGANConfig(), "rgb.tif", channel_axis=2)
    bands = np.random.default_rng(0).random((4, 20, 30), dtype=np.float32)
    tifffile.imwrite(tmp_path / "bands.tif", bands, photometric="minisblack", planarconfig="separate")
    image = read_microscopy(tmp_path / "bands.tif")
    np.testing.assert_array_equal(image.data, bands)
    assert image.channel_axis == 0


@pytest.mark.parametrize("keep", [8, 200])
def test_a_damaged_plain_tiff_is_one_line(tmp_path, keep):
    """A TIFF cut after its header ended in an IndexError once a TIFF was read in one open."""
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, make_texture(40, 48))
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ImageInputError, match="damaged") as info:
        read_microscopy(path)
    assert "\n" not in str(info.value)


def test_unit_names():
    assert [unit_name(u) for u in ("micron", "um", "μm", "\\u00B5m", "nm", "pixel", "", None)] == [
        "µm",
        "µm",
        "µm",
        "µm",
        "nm",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_calibrated_stacks_are_imagej_and_read_back(tmp_path, dtype):
    stack = _stack(3, dtype=dtype)
    write_stack(tmp_path / "s.tif", stack, pixel_size=PixelSize(0.25, 0.5, "µm"))
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TYX"
        assert tif.imagej_metadata["unit"] == "micron"
        assert tif.pages.first.resolution == pytest.approx((2.0, 4.0))
        np.testing.assert_array_equal(tif.asarray(), stack)
    assert read_microscopy(tmp_path / "s.tif", {"T": 0}).pixel_size == PixelSize(0.25, 0.5, "µm")


def test_calibrated_channels_first_and_rgb(tmp_path):
    size = PixelSize(2.0, 2.0, "nm")
    write_stack(tmp_path / "c.tif", _stack(3, 2), pixel_size=size, channel_axis=0)
    image = read_microscopy(tmp_path / "c.tif", {"T": 2})
    assert image.channel_axis == 0 and image.pixel_size == size
    write_image(tmp_path / "rgb.tif", make_texture(20, 30, 3), rgb=True, pixel_size=size)
    image = read_microscopy(tmp_path / "rgb.tif")
    assert image.channel_axis == 2 and image.pixel_size == size


@pytest.mark.parametrize(
    "image, channel_axis",
    [
        (make_texture(20, 30, dtype=np.float64), None),
        (make_texture(20, 30, 2), 2),
        (make_texture(20, 30, 4), None),
    ],
)
def test_what_imagej_cannot_hold_gets_resolution_in_cm(tmp_path, image, channel_axis):
    rgb = image.ndim == 3 and channel_axis is None
    write_image(tmp_path / "f.tif", image, rgb, PixelSize(0.25, 0.5, "µm"), channel_axis)
    with tifffile.TiffFile(tmp_path / "f.tif") as tif:
        page = tif.pages.first
        assert not tif.is_imagej and page.resolutionunit == tifffile.RESUNIT.CENTIMETER
        assert page.resolution == pytest.approx((2e4, 4e4))  # pixels per cm
        np.testing.assert_array_equal(tif.asarray(), image)


def test_uncalibrated_writes_are_unchanged(tmp_path):
    write_stack(tmp_path / "s.tif", _stack(1))
    assert tifffile.imread(tmp_path / "s.tif").shape == (1, 20, 30)
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert not tif.is_imagej


def test_crop_region_keeps_the_channels():
    gray = make_texture(20, 30)
    np.testing.assert_array_equal(crop_region(gray, (2, 3, 10, 12)), gray[2:12, 3:15])
    first = _stack(2)
    np.testing.assert_array_equal(crop_region(first, (2, 3, 10, 12), 0), first[:, 2:12, 3:15])
    rgb = make_texture(20, 30, 3)
    np.testing.assert_array_equal(crop_region(rgb, (0, 0, 20, 30)), rgb)
    assert crop_region(rgb, (0, 0, 20, 30)) is not rgb  # a copy: the source can be freed


@pytest.mark.parametrize(
    "region, message",
    [
        ((15, 0, 10, 10), r"the crop 10x10 at y=15, x=0 is not inside the 20x30 image"),
        ((-1, 0, 10, 10), r"not inside the 20x30 image"),
        ((0, 25, 10, 10), r"x \+ width <= 30"),
        ((0, 0, 5, 20), r"the crop is 5x20 px, smaller than the coarsest scale \(8 px\)"),
    ],
)
def test_crop_outside_or_too_small(region, message):
    with pytest.raises(ImageInputError, match=message):
        crop_region(make_texture(20, 30), region, min_size=8)


def test_native_max_size_is_the_long_side():
    assert native_max_size(make_texture(20, 30)) == 30
    assert native_max_size(_stack(2)[:, :, :12], 0) == 20


def test_a_channel_axis_against_the_files_metadata_is_refused():
    """It used to be taken: (3, 40, 50) with channels said to be on axis 2 trained as a 3 x 40 image."""
    image = MicroscopyImage(_stack(3), 0)
    with pytest.raises(ImageInputError, match="stores the channels of its .* on axis 0, not 2: leave out"):
        training_input(image, SinGANConfig(), "in.tif", channel_axis=2)
    for axis in (None, 0, -3):
        assert training_input(image, SinGANConfig(), "in.tif", channel_axis=axis).channel_axis in (0, -3)


def test_training_input_crops_goes_native_and_records_it():
    image = MicroscopyImage(_stack(2), 0, PixelSize(0.5, 0.5, "µm"), {"Z": 3}, "plane Z=3 of a ZCYX stack")
    labels = np.arange(600).reshape(20, 30) % 3
    config = SinGANConfig().with_overrides(min_size=8)
    given = training_input(image, config, "in.tif", crop=(1, 2, 16, 18), native=True, labels=labels)
    assert given.image.shape == (2, 16, 18) and given.channel_axis == 0
    np.testing.assert_array_equal(given.labels, labels[1:17, 2:20])
    assert given.config.pyramid.max_size == 18
    assert given.metadata == {
        "source": "in.tif",
        "note": "plane Z=3 of a ZCYX stack",
        "pixel_size": [0.5, 0.5],
        "unit": "µm",
        "plane": {"Z": 3},
        "crop": [1, 2, 16, 18],
        "native": True,
    }
    plain = training_input(MicroscopyImage(make_texture()), config, "sample:cell")
    assert plain.metadata == {"source": "sample:cell"} and plain.config == config


def test_output_pixel_size_follows_the_model_resolution(tiny_model):
    assert output_pixel_size(tiny_model) is None
    model = replace(tiny_model, metadata={"source": "x.tif", "pixel_size": [0.5, 0.25], "unit": "µm"})
    fh, fw = model.trained_shapes[-1]
    expected = PixelSize(0.5 * 40 / fh, 0.25 * 40 / fw, "µm")
    assert output_pixel_size(model) == expected
    assert output_pixel_size(model, native=(80, 80), source_hw=(20, 20)) == PixelSize(0.125, 0.0625, "µm")


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            {"PhysicalSizeX": 100, "PhysicalSizeXUnit": "nm"},
            PixelSize(100.0, 100.0, "nm"),
        ),  # Y as X, unit too
        ({"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25}, PixelSize(0.25, 0.5, "µm")),  # OME's default unit
        (
            {
                "PhysicalSizeX": 1,
                "PhysicalSizeXUnit": "pixel",
                "PhysicalSizeY": 1,
                "PhysicalSizeYUnit": "pixel",
            },
            None,
        ),
    ],
)
def test_ome_pixel_sizes_are_read_as_the_file_states_them(tmp_path, metadata, expected):
    path = tmp_path / "x.ome.tif"
    tifffile.imwrite(path, make_texture(40, 50), ome=True, metadata={"axes": "YX", **metadata})
    assert read_microscopy(path).pixel_size == expected


def test_a_malformed_ome_size_is_one_line(tmp_path):
    path = tmp_path / "x.ome.tif"
    tifffile.imwrite(path, make_texture(40, 50), ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.5})
    data = path.read_bytes().replace(b'PhysicalSizeX="0.5"', b'PhysicalSizeX="abc"')
    path.write_bytes(data)
    with pytest.raises(ImageInputError, match="OME metadata gives PhysicalSizeX='abc', not a number"):
        read_microscopy(path)


@pytest.mark.parametrize("ome", [True, False])
def test_one_plane_of_a_stack_reads_only_its_pages(tmp_path, ome, monkeypatch):
    stack = _stack(6, 2)  # Z C Y X
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, stack, ome=ome, imagej=not ome, metadata={"axes": "ZCYX"})
    whole = []
    real = tifffile.TiffPageSeries.asarray
    monkeypatch.setattr(
        tifffile.TiffPageSeries,
        "asarray",
        lambda self, *a, **k: whole.append(k.get("key")) or real(self, *a, **k),
    )
    image = read_microscopy(path, {"Z": 4})
    np.testing.assert_array_equal(np.moveaxis(image.data, image.channel_axis, 0), stack[4])
    assert whole == [[8, 9]]  # Z=4's two channel pages, not the series


@pytest.mark.parametrize(("given", "unit", "per_cm"), [("in", "inch", 1 / 5.08), ("picometre", "pm", 5e9)])
def test_more_length_units_are_known_and_written_as_lengths(given, unit, per_cm):
    assert unit_name(given) == unit
    tags = PixelSize(2.0, 2.0, unit).tiff_options(imagej=False)  # 2 units a pixel
    assert tags["resolutionunit"] == "CENTIMETER" and tags["resolution"] == pytest.approx((per_cm, per_cm))


def test_a_plain_tiff_written_here_reads_back_with_its_pixel_size(tmp_path):
    image = make_texture(40, 50)
    tifffile.imwrite(
        tmp_path / "one.tif", image[None], **PixelSize(0.5, 0.25, "µm").tiff_options(imagej=False)
    )
    read = read_microscopy(tmp_path / "one.tif")  # a one-sample stack, as a tiled sample is written
    assert read.data.shape == (40, 50) and read.pixel_size == PixelSize(0.5, 0.25, "µm")
    tifffile.imwrite(tmp_path / "dpi.tif", image, resolution=(72, 72), resolutionunit="INCH")
    assert read_microscopy(tmp_path / "dpi.tif").pixel_size is None  # an image program's 72 dpi


@pytest.mark.parametrize("plane", [None, {"Z": 1}])
def test_a_truncated_stack_is_named_damaged_not_read_as_its_first_plane(tmp_path, plane, capsys):
    path = tmp_path / "z.ome.tif"
    tifffile.imwrite(path, _stack(4, 2), ome=True, metadata={"axes": "ZCYX"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    with pytest.raises(ImageInputError) as info:
        read_microscopy(path, plane)
    assert "is damaged or truncated" in str(info.value) and "\n" not in str(info.value)
    assert capsys.readouterr().err == ""  # tifffile's complaints are not printed besides


def test_the_first_of_several_ome_images_is_read_and_said(tmp_path):
    path = tmp_path / "two.ome.tif"
    first, second = make_texture(40, 50), make_texture(30, 30)
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(first, metadata={"axes": "YX"})
        tif.write(second, metadata={"axes": "YX"})
    read = read_microscopy(path)
    np.testing.assert_array_equal(read.data, first)
    assert "the first of the file's 2 OME images" in read.note
