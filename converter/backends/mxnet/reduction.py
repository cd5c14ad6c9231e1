"""ArgMax and Reduction in MXNet."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ...layers.reduction import ArgMax, argmax_axis
from .registry import canonical_axis, register


def _caffe_topk(x, k, axis, ndim):
    """(values, indices) of the k largest along ``axis`` in Caffe's order: among equal values
    the larger index first (argmax_layer.cpp sorts (value, index) pairs with std::greater).
    MXNet's sorts do not keep that order for ties, so the k entries are selected one at a
    time: the maximum, the largest index holding it, then that entry masked out."""
    pos = mx.sym.reshape(mx.sym.contrib.arange_like(x, axis=axis),
                         shape=(1,) * axis + (-1,) + (1,) * (ndim - axis - 1))
    values, index, masked = [], [], x
    for _ in range(k):
        top = mx.sym.max(masked, axis=axis, keepdims=True)
        hit = mx.sym.broadcast_equal(masked, top)
        at = mx.sym.max(mx.sym.broadcast_mul(hit, pos + 1), axis=axis, keepdims=True) - 1
        values.append(top)
        index.append(at)
        chosen = mx.sym.broadcast_equal(pos, at)
        masked = mx.sym.where(mx.sym.broadcast_like(chosen, masked),
                              mx.sym.zeros_like(masked) - np.inf, masked)
    return mx.sym.concat(*values, dim=axis), mx.sym.concat(*index, dim=axis)


@register("ArgMax")
def argmax(ctx, layer, bottoms):
    """argmax_layer.cpp: the top_k largest along ``axis`` (values with out_max_val, else
    indices as floats); without an axis, over each sample's flattened values, with the
    values after the indices when out_max_val."""
    p, x, name = layer.params, bottoms[0], layer.name
    shape = ctx.shape(layer.bottoms[0])
    axis = argmax_axis(layer, shape)
    if axis is not None:
        values, index = _caffe_topk(x, p.top_k, axis, len(shape))
        return [mx.sym.identity(values if p.out_max_val else index, name=name)]
    flat = mx.sym.reshape(x, shape=(0, -1))
    values, index = _caffe_topk(flat, p.top_k, 1, 2)
    parts = [mx.sym.expand_dims(index, axis=1)]
    if p.out_max_val:
        parts.append(mx.sym.expand_dims(values, axis=1))
    y = mx.sym.concat(*parts, dim=1) if len(parts) > 1 else parts[0]
    tail = ArgMax.shape(layer, [shape])[0][0][1:]
    return [mx.sym.reshape(y, shape=(0,) + tuple(tail), name=name)]


@register("Reduction")
def reduction(ctx, layer, bottoms):
    """reduction_layer.cpp: coeff * SUM / ASUM / SUMSQ / MEAN of axes [axis, end)."""
    p, x = layer.params, bottoms[0]
    ndim = len(ctx.shape(layer.bottoms[0]))
    axis = canonical_axis(p.axis, ndim)
    if p.operation == "ASUM":
        x = mx.sym.abs(x)
    elif p.operation == "SUMSQ":
        x = mx.sym.square(x)
    dims = tuple(range(axis, ndim))
    y = mx.sym.mean(x, axis=dims) if p.operation == "MEAN" else mx.sym.sum(x, axis=dims)
    return [mx.sym.identity(y * float(p.coeff) if p.coeff != 1 else y, name=layer.name)]
