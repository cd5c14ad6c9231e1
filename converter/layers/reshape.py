"""Layers that only move data between blobs: Concat, Slice, Crop, Tile, Flatten, Reshape and
Split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

from ..errors import CaffeFormatError, ShapeError
from .common import canonical_axis, count
from .fields import write_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class ConcatParam:
    axis: int = 1


@dataclass(frozen=True)
class FlattenParam:
    axis: int = 1
    end_axis: int = -1


@dataclass(frozen=True)
class ReshapeParam:
    """ReshapeParameter: 0 copies a bottom dim, -1 is inferred."""
    shape: Tuple[int, ...] = ()
    axis: int = 0
    num_axes: int = -1


@register("Concat")
class Concat(LayerType):
    params, field = ConcatParam, "concat_param"
    bottoms, tops = (1, None), (1, 1)

    def shape(layer, bottoms):
        axis = canonical_axis(layer.params.axis, len(bottoms[0]), layer)
        for b in bottoms[1:]:
            if len(b) != len(bottoms[0]) or any(
                    x != y for i, (x, y) in enumerate(zip(b, bottoms[0])) if i != axis):
                raise ShapeError(f"bottoms {[list(s) for s in bottoms]} differ off axis {axis}",
                                 layer=layer.name, layer_type=layer.type)
        out = list(bottoms[0])
        out[axis] = sum(b[axis] for b in bottoms)
        return [tuple(out)], []

    def read(lp):
        p = lp.concat_param
        if p.HasField("axis") and p.HasField("concat_dim"):  # ConcatLayer::LayerSetUp
            raise CaffeFormatError("either axis or concat_dim may be given, not both")
        return ConcatParam(axis=p.concat_dim if p.HasField("concat_dim") else p.axis)


@register("Flatten")
class Flatten(LayerType):
    params, field = FlattenParam, "flatten_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        shape = bottoms[0]
        start = canonical_axis(layer.params.axis, len(shape), layer)
        end = canonical_axis(layer.params.end_axis, len(shape), layer)
        merged = (count(shape, start, end + 1),)
        return [tuple(shape[:start]) + merged + tuple(shape[end + 1:])], []


def _reshape_range(layer, ndim: int) -> Tuple[int, int]:
    """[start, end) of the bottom axes a Reshape replaces; reshape_layer.cpp CHECKs that it
    lies inside the bottom's axes (a negative axis counts from the end, -1 after the last)."""
    p = layer.params
    start = p.axis if p.axis >= 0 else ndim + p.axis + 1
    end = ndim if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= ndim or p.num_axes < -1:
        raise ShapeError(f"axis {p.axis} / num_axes {p.num_axes} out of range for a "
                         f"{ndim}-D bottom", layer=layer.name, layer_type=layer.type)
    return start, end


@register("Reshape")
class Reshape(LayerType):
    params, field = ReshapeParam, "reshape_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        p, shape = layer.params, list(bottoms[0])
        start, end = _reshape_range(layer, len(shape))
        if any(d == 0 and start + i >= len(shape) for i, d in enumerate(p.shape)):
            raise ShapeError("a 0 (copy) dimension has no bottom axis to copy",
                             layer=layer.name, layer_type=layer.type)
        new = [shape[start + i] if d == 0 else d for i, d in enumerate(p.shape)]
        out = shape[:start] + new + shape[end:]
        if out.count(-1) > 1:
            raise ShapeError("at most one -1 dimension", layer=layer.name, layer_type=layer.type)
        if -1 in out:
            known = -math.prod(out)
            if known == 0 or count(shape) % known:
                raise ShapeError(f"cannot reshape {shape} to {out}", layer=layer.name,
                                 layer_type=layer.type)
            out[out.index(-1)] = count(shape) // known
        if count(out) != count(shape):
            raise ShapeError(f"cannot reshape {shape} to {out}", layer=layer.name,
                             layer_type=layer.type)
        return [tuple(out)], []

    def read(lp):
        p = lp.reshape_param
        return ReshapeParam(shape=tuple(p.shape.dim), axis=p.axis, num_axes=p.num_axes)

    def write(c, lp):
        p = lp.reshape_param
        p.shape.dim.extend(c.shape)
        write_fields(c, p, skip=("shape",))


@register("Split")
class Split(LayerType):
    """Caffe's InsertSplits layer: its tops share the bottom's data (SplitLayer::Forward)."""
    bottoms, tops = (1, 1), (1, None)

    def shape(layer, bottoms):
        return [bottoms[0]] * len(layer.tops), []


@dataclass(frozen=True)
class SliceParam:
    """SliceParameter: cut ``axis`` at ``slice_point`` (or into equal parts, one per top);
    the deprecated ``slice_dim`` is read as the axis."""
    axis: int = 1
    slice_point: Tuple[int, ...] = ()


@dataclass(frozen=True)
class TileParam:
    """TileParameter: ``tiles`` copies of axes [axis, end) one after another (``tiles`` is
    required in caffe.proto, so always written)."""
    axis: int = 1
    tiles: int = 0


@dataclass(frozen=True)
class CropParam:
    """CropParameter: crop axes from ``axis`` on to bottom[1]'s shape, at ``offset`` (none:
    0; one: the same for every axis; else one per cropped axis)."""
    axis: int = 2
    offset: Tuple[int, ...] = ()


def slice_sizes(layer, shape) -> Tuple[int, Tuple[int, ...]]:
    """(axis, the tops' sizes along it) of a Slice layer (slice_layer.cpp's Reshape)."""
    p, n = layer.params, len(layer.tops)
    axis = canonical_axis(p.axis, len(shape), layer)
    dim = shape[axis]
    if p.slice_point:
        points = (0,) + tuple(p.slice_point) + (dim,)
        if len(p.slice_point) != n - 1 or any(b <= a for a, b in zip(points, points[1:])):
            raise ShapeError(f"slice_point {list(p.slice_point)} does not cut axis {axis} "
                             f"({dim}) into {n} non-empty parts",
                             layer=layer.name, layer_type=layer.type)
        return axis, tuple(b - a for a, b in zip(points, points[1:]))
    if dim % n:
        raise ShapeError(f"axis {axis} ({dim}) does not split evenly into {n} tops",
                         layer=layer.name, layer_type=layer.type)
    return axis, (dim // n,) * n


@register("Slice")
class Slice(LayerType):
    params, field = SliceParam, "slice_param"
    bottoms, tops = (1, 1), (1, None)

    def shape(layer, bottoms):
        axis, sizes = slice_sizes(layer, bottoms[0])
        tops = [bottoms[0][:axis] + (n,) + bottoms[0][axis + 1:] for n in sizes]
        return [tuple(t) for t in tops], []

    def read(lp):
        p = lp.slice_param
        if p.HasField("axis") and p.HasField("slice_dim"):  # SliceLayer::LayerSetUp
            raise CaffeFormatError("either axis or slice_dim may be given, not both")
        axis = p.slice_dim if p.HasField("slice_dim") else p.axis
        return SliceParam(axis=axis, slice_point=tuple(p.slice_point))


@register("Tile")
class Tile(LayerType):
    params, field = TileParam, "tile_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        shape = list(bottoms[0])
        axis = canonical_axis(layer.params.axis, len(shape), layer)
        if layer.params.tiles < 1:  # TileLayer::Reshape's CHECK
            raise ShapeError(f"tiles {layer.params.tiles} must be at least 1",
                             layer=layer.name, layer_type=layer.type)
        shape[axis] *= layer.params.tiles
        return [tuple(shape)], []

    def write(c, lp):
        write_fields(c, lp.tile_param)
        lp.tile_param.tiles = c.tiles  # required


def crop_offsets(layer, shape, ref) -> Tuple[int, Tuple[int, ...]]:
    """(axis, one offset per axis from it) of a Crop layer (crop_layer.cpp's Reshape)."""
    p = layer.params
    axis = canonical_axis(p.axis, len(shape), layer)
    n = len(shape) - axis
    if len(p.offset) not in (0, 1, n):
        raise ShapeError(f"{len(p.offset)} offsets for {n} cropped axes",
                         layer=layer.name, layer_type=layer.type)
    offsets = tuple(p.offset) * n if len(p.offset) == 1 else (tuple(p.offset) or (0,) * n)
    if len(ref) != len(shape) or any(
            o + r > d for o, r, d in zip(offsets, ref[axis:], shape[axis:])):
        raise ShapeError(f"cannot crop {list(shape)} to {list(ref)} from axis {axis} at "
                         f"offsets {list(offsets)}", layer=layer.name, layer_type=layer.type)
    return axis, offsets


@register("Crop")
class Crop(LayerType):
    params, field = CropParam, "crop_param"
    bottoms, tops = (2, 2), (1, 1)

    def shape(layer, bottoms):
        shape, ref = bottoms
        axis, _ = crop_offsets(layer, shape, ref)
        return [tuple(shape[:axis]) + tuple(ref[axis:])], []
