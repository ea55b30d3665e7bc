"""napari layers <-> core arrays: the displayed 2-D slice in, layer properties out.

Works on napari layer objects but imports neither napari nor Qt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import OutputPathError
from ..core.files import METRES, PixelSize, same_file
from ..core.memory import check_memory
from ..core.microscopy import unit_name

if TYPE_CHECKING:
    from ..core import SinGANModel


def channel_axis_choices(layer: Any) -> list[tuple[str, int | None]]:
    """Choices for "which axis holds channels" of an image layer.

    RGB(A) layers carry their colour axis themselves; for other layers any
    non-displayed (leading) axis can be declared to hold channels.
    """
    if layer is None or layer.rgb:
        return [("none (RGB or grayscale)", None)]
    shape = _base_data(layer).shape
    leading = [(f"axis {i} ({shape[i]} channels)", i) for i in range(layer.ndim - 2)]
    return [("none (train on the displayed 2-D slice)", None), *leading]


def model_channel_axis(layer: Any, model: SinGANModel) -> int | None:
    """The axis of an image layer that holds a model's channels, for an application's input.

    ``None`` for grayscale, RGB and channels-last models. For a model of
    channels first: the axis it was trained with when the layer has it with
    that many channels, else the one leading axis of that length.

    Raises
    ------
    ValueError
        When no leading axis, or more than one, has the model's number of channels.
    """
    channels = model.spec.channels
    if model.spec.channel_axis != 0 or layer.rgb or layer.ndim < 3:
        return None
    shape = _base_data(layer).shape[: layer.ndim - 2]
    trained = source_layer(model).get("channel_axis")
    if trained is not None and trained < len(shape) and shape[trained] == channels:
        return trained
    fits = [axis for axis, n in enumerate(shape) if n == channels]
    if len(fits) == 1:
        return fits[0]
    which = "no axis" if not fits else f"axes {', '.join(map(str, fits))}"
    raise ValueError(
        f"the layer {layer.name!r} ({'x'.join(map(str, _base_data(layer).shape))}) has {which} of the model's "
        f"{channels} channels before its image axes: give it one axis of {channels} channels"
    )


def _base_data(layer: Any) -> Any:
    return layer.data[0] if layer.multiscale else layer.data


def layer_image(
    layer: Any,
    point: tuple[float, ...] | None = None,
    channel_axis: int | None = None,
    region: tuple[int, int, int, int] | None = None,
):
    """The 2-D image (plus channels) that training sees, read from the layer's data only there.

    Parameters
    ----------
    layer
        A napari Image layer, 2-D or with leading z/t/channel axes; its data may
        be lazy (dask, zarr) and multiscale (the full-resolution level is read).
    point
        The viewer's current world position (``viewer.dims.point``); leading
        axes are indexed at it. ``None`` takes index 0.
    channel_axis
        A leading axis of the layer that holds channels, kept whole.
    region
        ``(y, x, height, width)`` inside :func:`layer_hw`: only these pixels are read.

    Returns
    -------
    array, channel_axis, note
        The array for :func:`napari_singan.core.train`, its channel axis, and a
        sentence saying which slice was taken ("" for a plain 2-D layer).

    Raises
    ------
    MemoryEstimateError
        When the pixels to read would not fit in memory (before reading them).
    """
    data = _base_data(layer)
    rgb = getattr(layer, "rgb", False)  # Labels layers have no colour axis
    leading = layer.ndim - 2
    coords = np.zeros(layer.ndim) if point is None else np.asarray(layer.world_to_data(point))
    index: list[Any] = []
    taken = []
    for axis in range(leading):
        if axis == channel_axis:
            index.append(slice(None))
            continue
        i = int(np.clip(np.round(coords[axis]), 0, data.shape[axis] - 1))
        index.append(i)
        taken.append(f"axis {axis} = {i}")
    if region is not None:
        y, x, h, w = (int(v) for v in region)
        index += [slice(y, y + h), slice(x, x + w)]
    plane = data[tuple(index)]
    if not isinstance(plane, np.ndarray):  # lazy (dask, zarr): nothing of it is in memory yet
        check_memory(
            int(np.prod(plane.shape)) * np.dtype(plane.dtype).itemsize,
            "cpu",
            what=f"reading {layer.name!r}",
            remedy="train on a part of it (region: shapes rectangle or field of view)",
        )
    image = np.asarray(plane)
    axis_out = 0 if channel_axis is not None else (image.ndim - 1 if rgb else None)
    note = f"trained on the displayed 2-D slice ({', '.join(taken)})" if taken else ""
    return image, axis_out, note


def layer_hw(layer: Any) -> tuple[int, int]:
    """Height and width of a layer's full-resolution 2-D image, without reading its data."""
    shape = _base_data(layer).shape
    return tuple(shape[-3:-1]) if getattr(layer, "rgb", False) else tuple(shape[-2:])


def spatial_hw(image: np.ndarray, channel_axis: int | None) -> tuple[int, int]:
    """Height and width of an array from :func:`layer_image`."""
    return tuple(image.shape[-2:]) if channel_axis == 0 else tuple(image.shape[:2])


def layer_metadata(layer: Any, channel_axis: int | None = None) -> dict[str, Any]:
    """What a model remembers of its source layer (stored in the model file), with the layer axis that
    held its channels (``channel_axis``; left out when ``None``)."""
    meta: dict[str, Any] = {
        "source": layer.name,
        "scale": [float(v) for v in layer.scale[-2:]],
        "translate": [float(v) for v in layer.translate[-2:]],
        "rgb": bool(layer.rgb),
        "contrast_limits": [float(v) for v in layer.contrast_limits],
        "colormap": layer.colormap.name,
    }
    units = getattr(layer, "units", None)
    if units is not None:
        meta["units"] = [str(u) for u in units[-2:]]
    if channel_axis is not None:
        meta["channel_axis"] = channel_axis
    turn = layer_turn(layer)
    if turn is not None:
        meta["affine"] = turn.tolist()
    return meta


def layer_pixel_size(meta: dict[str, Any]) -> PixelSize | None:
    """The physical pixel size of a layer from its :func:`layer_metadata`: its scale in its length units
    (y given in x's unit); None for pixel units or units that are not lengths."""
    units = [unit_name(u) for u in meta.get("units", ())]
    if len(units) != 2 or not all(u in METRES for u in units):
        return None
    y, x = meta["scale"]
    y_in_x = y * METRES[units[0]] / METRES[units[1]]
    return PixelSize(y_in_x, x, units[1]) if y_in_x > 0 and x > 0 else None


def layer_turn(layer: Any) -> np.ndarray | None:
    """What a layer's rotate, shear and affine do to its last two axes, as one 3 x 3 napari ``affine``.

    napari maps data ``d`` to world ``W d + w`` (``W`` = affine x rotate x
    shear x scale ``S``, 2 x 2 here). Written as ``M (T + S d)`` around the
    layer's translate ``T``, ``M`` = ``[[W S^-1, w - W S^-1 T]]``: so an output
    given a scale and translate in the layer's physical frame, and this
    affine, lands where the layer's pixels do. ``None`` when ``M`` is the
    identity (only scale and translate). Leading axes are read at 0.
    """
    origin = np.zeros(layer.ndim)
    unit = np.eye(layer.ndim)[-2:]
    w = np.asarray(layer.data_to_world(origin), dtype=float)[-2:]
    big_w = np.stack([np.asarray(layer.data_to_world(e), dtype=float)[-2:] - w for e in unit], axis=1)
    linear = big_w / np.asarray(layer.scale[-2:], dtype=float)  # W S^-1: (2, 2), columns y, x
    turn = np.eye(3)
    turn[:2, :2] = linear
    turn[:2, 2] = w - linear @ np.asarray(layer.translate[-2:], dtype=float)
    return None if np.allclose(turn, np.eye(3), rtol=0.0, atol=1e-12) else turn


def placement(
    layer: dict[str, Any],
    source_hw: tuple[int, int],
    native_hw: tuple[int, int],
    channel_axis: int | None,
    rgb: bool,
    leading: int = 1,
) -> dict[str, Any]:
    """``scale``, ``translate`` and ``units`` (and a rotated, sheared or affine source's ``affine``)
    that overlay an output on its source layer.

    Parameters
    ----------
    layer
        :func:`layer_metadata` of the source layer.
    source_hw
        Size of the source image in its own pixels.
    native_hw
        Size the source's field of view has in output pixels (the model's
        finest trained scale for samples; ``s`` times that for super-resolution).
    channel_axis
        Channel axis of one output image (without leading axes); ignored for RGB.
    rgb
        Whether the output is RGB(A) (colour axis last, not a layer dimension).
    leading
        Number of leading axes (1 for a stack of samples or frames).
    """
    (sy, sx), (ty, tx) = layer.get("scale", (1.0, 1.0)), layer.get("translate", (0.0, 0.0))
    py = sy * source_hw[0] / native_hw[0]
    px = sx * source_hw[1] / native_hw[1]
    uy, ux = layer.get("units", ("pixel", "pixel"))
    # Output pixel 0 covers source pixels 0 .. py/sy, so its centre sits (py - sy) / 2 further in.
    per_axis = {
        "y": (py, ty + (py - sy) / 2, uy),
        "x": (px, tx + (px - sx) / 2, ux),
        "c": (1.0, 0.0, "pixel"),
    }
    axes = ["y", "x"]
    if channel_axis is not None and not rgb:
        axes.insert(channel_axis, "c")
    columns = zip(*[(1.0, 0.0, "pixel")] * leading, *[per_axis[a] for a in axes], strict=True)
    kwargs = dict(zip(("scale", "translate", "units"), map(list, columns), strict=True))
    if "affine" in layer:  # the source's rotate, shear and affine (layer_turn), on the output's y and x axes
        ndim = leading + len(axes)
        at = [leading + axes.index("y"), leading + axes.index("x"), ndim]
        kwargs["affine"] = np.eye(ndim + 1)
        kwargs["affine"][np.ix_(at, at)] = layer["affine"]
    return kwargs


Region = tuple[int, int, int, int]  # (y, x, height, width) in pixels of an image


def cropped_layer(layer: dict[str, Any], crop: Any = None) -> dict[str, Any]:
    """A source layer's :func:`layer_metadata` moved onto a ``(y, x, h, w)`` crop of its image.

    The region's top left pixel sits at the layer's translate plus its offset
    times the layer's scale; without a crop the layer is returned as it is.
    """
    if crop is None:
        return layer
    (sy, sx), (ty, tx) = layer.get("scale", (1.0, 1.0)), layer.get("translate", (0.0, 0.0))
    y, x = (float(v) for v in crop[:2])
    return {**layer, "translate": [ty + y * sy, tx + x * sx]}


def box_region(low: Any, high: Any, hw: tuple[int, int]) -> Region | None:
    """The pixels of an ``hw`` image from the one under ``low`` up to, not including, the one under
    ``high`` (data coordinates).

    napari centres pixel ``i`` on data coordinate ``i``, so it spans ``i - 0.5``
    to ``i + 0.5``: a box drawn along pixel edges gets exactly the pixels inside.
    A side within 5e-7 px of an edge counts as on it (the rounding of a box
    drawn in one transformed layer and read in another). The box is clipped to
    the image. None when no pixel is inside.
    """
    start = [int(np.clip(np.floor(np.round(v, 6) + 0.5), 0, n)) for v, n in zip(low, hw, strict=True)]
    stop = [int(np.clip(np.floor(np.round(v, 6) + 0.5), 0, n)) for v, n in zip(high, hw, strict=True)]
    if stop[0] <= start[0] or stop[1] <= start[1]:
        return None
    return start[0], start[1], stop[0] - start[0], stop[1] - start[1]


def _data_box(layer: Any, world_points: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box, in ``layer``'s last two data axes, of points given in world coordinates."""
    data = np.array([np.asarray(layer.world_to_data(p), dtype=float)[-2:] for p in world_points])
    return data.min(axis=0), data.max(axis=0)


def shapes_region(shapes: Any, layer: Any, hw: tuple[int, int]) -> Region | None:
    """The region of ``layer``'s ``hw`` image under the first rectangle of a Shapes layer.

    The rectangle's corners go from the Shapes layer's data to world to the
    image layer's data coordinates (a rotated one by its bounding box); the
    region is clipped to the image. None without a rectangle or when it misses the image.
    """
    for kind, vertices in zip(shapes.shape_type, shapes.data, strict=True):
        if kind == "rectangle":
            world = [np.asarray(shapes.data_to_world(v), dtype=float) for v in np.asarray(vertices)]
            return box_region(*_data_box(layer, world), hw)
    return None


def mask_on(mask: Any, layer: Any, hw: tuple[int, int], point: Any) -> np.ndarray:
    """A Labels or Shapes layer as a 2-D mask on the pixel grid of an image layer, through world coordinates.

    Parameters
    ----------
    mask
        A napari Labels layer (its displayed slice; non-zero marks the region) or Shapes layer.
    layer
        The image layer whose ``hw`` grid the mask is wanted on.
    hw
        The image's height and width.
    point
        The viewer's current world position (``viewer.dims.point``).

    Returns
    -------
    numpy.ndarray
        ``hw`` boolean mask: each image pixel takes the mask at its centre's world position
        (nearest mask pixel; none outside the mask layer), whatever each layer's scale,
        translate, rotation or affine.
    """
    from napari.layers import Shapes

    if isinstance(mask, Shapes):
        image_yx = [
            np.array([np.asarray(layer.world_to_data(mask.data_to_world(v)), float)[-2:] for v in vertices])
            for vertices in mask.data
        ]
        return Shapes(image_yx, shape_type=list(mask.shape_type)).to_labels(labels_shape=hw) > 0
    full = np.asarray(point, dtype=float)
    here = np.asarray(layer.world_to_data(full), dtype=float)  # the viewer's position in the image's data

    def image_to_world(yx: Any) -> np.ndarray:  # the viewer's position with the image's (y, x) put in
        data = here.copy()
        data[-2:] = yx
        world = full.copy()
        world[-layer.ndim :] = layer.data_to_world(data)
        return world

    values = layer_image(mask, point)[0]  # (h, w) in the mask's own pixels
    origin, down, right = (
        np.asarray(mask.world_to_data(image_to_world(yx)), dtype=float)[-2:]
        for yx in ((0, 0), (1, 0), (0, 1))
    )
    if values.shape == tuple(hw) and np.allclose(
        [origin, down - origin, right - origin], [[0, 0], [1, 0], [0, 1]]
    ):
        return values != 0  # the same grid
    ys, xs = np.arange(hw[0])[:, None], np.arange(hw[1])[None, :]
    rows = np.floor(origin[0] + ys * (down - origin)[0] + xs * (right - origin)[0] + 0.5).astype(np.int64)
    cols = np.floor(origin[1] + ys * (down - origin)[1] + xs * (right - origin)[1] + 0.5).astype(np.int64)
    inside = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
    out = np.zeros(hw, bool)
    out[inside] = values[rows[inside], cols[inside]] != 0
    return out


def view_region(
    center: Any, zoom: float, canvas_hw: tuple[float, float], point: Any, layer: Any, hw: tuple[int, int]
) -> Region | None:
    """The region of ``layer``'s ``hw`` image visible in a 2-D canvas.

    Parameters
    ----------
    center, zoom
        The camera's centre (world coordinates; its last two are the displayed
        axes) and zoom (canvas pixels per world unit).
    canvas_hw
        The canvas size in screen pixels (height, width).
    point
        The viewer's current world position (``viewer.dims.point``), for the
        axes not displayed; the displayed axes are taken as the last two.
    layer, hw
        The image layer and the size of its 2-D image.
    """
    half = np.asarray(canvas_hw, dtype=float) / float(zoom) / 2
    middle = np.asarray(center, dtype=float)[-2:]
    world = []
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        position = np.array(point, dtype=float)
        position[-2:] = middle + half * (dy, dx)
        world.append(position)
    return box_region(*_data_box(layer, world), hw)


def source_layer(model: SinGANModel) -> dict[str, Any]:
    """What outputs are placed by: the source layer's :func:`layer_metadata`, or a file's calibration.

    A model trained from a layer keeps that layer's scale, translate, units and
    look (translate moved onto the region it was trained on, when cropped). For a model trained from a file, its physical pixel size (scale and
    units) and the offset of its crop (translate) stand in, so that outputs
    have the file's physical size and overlay it when it is opened at that scale.
    """
    meta = model.metadata or {}
    if "layer" in meta:
        return cropped_layer(meta["layer"], meta.get("crop"))
    pixel = PixelSize.from_metadata(meta)
    sy, sx = (pixel.y, pixel.x) if pixel is not None else (1.0, 1.0)
    y, x = meta.get("crop", (0, 0))[:2]
    layer: dict[str, Any] = {"scale": [sy, sx], "translate": [y * sy, x * sx]}
    if pixel is not None and pixel.unit in METRES:  # units napari knows
        layer["units"] = [pixel.unit, pixel.unit]
    return layer


def output_layer_kwargs(model: SinGANModel, leading: int = 1, native: tuple[int, int] | None = None) -> dict:
    """``viewer.add_image`` keyword arguments for a model's output.

    The output has the source layer's (or file's, see :func:`source_layer`)
    pixel size times the downsampling from the source image to ``native``
    (default: the model's finest trained scale), so it overlays the source in
    world coordinates; colormap and contrast limits are the source's.
    """
    spec = model.spec
    layer = source_layer(model)
    rgb = layer.get("rgb", spec.is_rgb)
    native = native or model.trained_shapes[-1]
    kwargs = placement(layer, (spec.height, spec.width), native, spec.channel_axis, rgb, leading)
    return {**kwargs, **look(layer, rgb)}


def labels_layer_kwargs(model: SinGANModel, leading: int = 1, native: tuple[int, int] | None = None) -> dict:
    """``viewer.add_labels`` keyword arguments for the label images paired with a model's output.

    The same pixel size and position as :func:`output_layer_kwargs` gives the
    image output, without a channel axis, so each label image overlays its image.
    """
    spec = model.spec
    layer = source_layer(model)
    native = native or model.trained_shapes[-1]
    return placement(layer, (spec.height, spec.width), native, None, False, leading)


def look(layer: dict[str, Any], rgb: bool) -> dict[str, Any]:
    """Display settings of a source layer (:func:`layer_metadata`) for an output layer."""
    if rgb:
        return {"rgb": True}
    settings: dict[str, Any] = {"colormap": layer.get("colormap", "gray")}
    limits = layer.get("contrast_limits")
    if limits is not None and limits[1] > limits[0]:
        settings["contrast_limits"] = limits
    return settings


#: Layer metadata key of the file a layer reads lazily (samples written tile by tile).
FILE_KEY = "singan_file"


def check_not_shown(viewer: Any, path: str | os.PathLike) -> None:
    """Refuse an output file that a layer of ``viewer`` was opened from or reads lazily.

    Raises
    ------
    OutputPathError
        Naming the layer, before anything is written.
    """
    for layer in viewer.layers:
        for shown in (layer.source.path, layer.metadata.get(FILE_KEY)):
            if shown and same_file(path, shown):
                raise OutputPathError(
                    f"{path} is the file of the layer {layer.name!r}: choose another output path"
                )
