"""Layers that only move data between blobs: Concat, Flatten, Reshape and Split."""

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
