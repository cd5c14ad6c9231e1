"""Concat, Flatten, Reshape and Split in MXNet."""

from __future__ import annotations

import mxnet as mx

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
