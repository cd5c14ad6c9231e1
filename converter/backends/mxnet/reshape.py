"""Concat, Slice, Crop, Tile, Flatten, Reshape and Split in MXNet."""

from __future__ import annotations

import mxnet as mx

from ...layers.reshape import crop_offsets, slice_sizes
from .registry import canonical_axis, register


@register("Concat")
def concat(ctx, layer, bottoms):
    """Concatenation along ``axis``."""
    axis = canonical_axis(layer.params.axis, len(ctx.shape(layer.bottoms[0])))
    return [mx.sym.concat(*bottoms, dim=axis, name=layer.name)]


@register("Flatten")
def flatten(ctx, layer, bottoms):
    """Merge axes [axis, end_axis] into one; axes before it are copied (0 keeps the batch
    dynamic), axes after it are static."""
    shape = ctx.shape(layer.bottoms[0])
    start = canonical_axis(layer.params.axis, len(shape))
    end = canonical_axis(layer.params.end_axis, len(shape))
    spec = (0,) * start + (-1,) + tuple(shape[end + 1:])
    return [mx.sym.reshape(bottoms[0], shape=spec, name=layer.name)]


@register("Reshape")
def reshape(ctx, layer, bottoms):
    """Caffe Reshape over axes [axis, axis+num_axes): 0 copies the bottom dim at the same
    position and -1 is inferred -- the same meaning MXNet's codes have while every entry
    consumes one input axis. Axes before ``axis`` are copied with 0 (batch stays dynamic);
    axes after the range use their static sizes."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    spec = [0] * start + list(p.shape) + list(shape[end:])
    if end == 0 and spec and -1 not in p.shape:
        # The batch axis moved behind new leading axes: let MXNet infer it so it stays dynamic.
        spec[len(p.shape)] = -1
    return [mx.sym.reshape(bottoms[0], shape=tuple(spec), name=layer.name)]


@register("Split")
def split(ctx, layer, bottoms):
    """Caffe's Split shares the bottom's data among its tops."""
    return [bottoms[0]] * len(layer.tops)


@register("Slice")
def slice_(ctx, layer, bottoms):
    """Consecutive pieces along ``axis``, one per top (slice_layer.cpp)."""
    axis, sizes = slice_sizes(layer, ctx.shape(layer.bottoms[0]))
    tops, start = [], 0
    for top, size in zip(layer.tops, sizes):
        tops.append(mx.sym.slice_axis(bottoms[0], axis=axis, begin=start, end=start + size,
                                      name=f"{layer.name}_{top}"))
        start += size
    return tops


@register("Tile")
def tile(ctx, layer, bottoms):
    """``tiles`` copies of the block of axes [axis, end) along ``axis`` (tile_layer.cpp)."""
    ndim = len(ctx.shape(layer.bottoms[0]))
    axis = canonical_axis(layer.params.axis, ndim)
    reps = tuple(layer.params.tiles if i == axis else 1 for i in range(ndim))
    return [mx.sym.tile(bottoms[0], reps=reps, name=layer.name)]


@register("Crop")
def crop(ctx, layer, bottoms):
    """bottom[0] cut to bottom[1]'s shape from ``axis`` on, at the offsets (crop_layer.cpp);
    bottom[1] only gives the shape."""
    shape, ref = ctx.shape(layer.bottoms[0]), ctx.shape(layer.bottoms[1])
    axis, offsets = crop_offsets(layer, shape, ref)
    x = bottoms[0]
    for i, (o, n) in enumerate(zip(offsets, ref[axis:])):
        if (o, n) != (0, shape[axis + i]):
            x = mx.sym.slice_axis(x, axis=axis + i, begin=o, end=o + n)
    return [mx.sym.identity(x, name=layer.name)]
