"""ArgMax and Reduction in MXNet."""

from __future__ import annotations

import mxnet as mx

from ...layers.reduction import ArgMax, argmax_axis
from .registry import canonical_axis, register


@register("ArgMax")
def argmax(ctx, layer, bottoms):
    """argmax_layer.cpp: the top_k largest along ``axis`` (values with out_max_val, else
    indices as floats); without an axis, over each sample's flattened values, with the
    values after the indices when out_max_val."""
    p, x, name = layer.params, bottoms[0], layer.name
    shape = ctx.shape(layer.bottoms[0])
    axis = argmax_axis(layer, shape)
    if axis is not None:
        kind = "value" if p.out_max_val else "indices"
        return [mx.sym.topk(x, axis=axis, k=p.top_k, ret_typ=kind, name=name)]
    flat = mx.sym.reshape(x, shape=(0, -1))
    index = mx.sym.topk(flat, axis=1, k=p.top_k, ret_typ="indices")
    parts = [mx.sym.expand_dims(index, axis=1)]
    if p.out_max_val:
        parts.append(mx.sym.expand_dims(mx.sym.topk(flat, axis=1, k=p.top_k, ret_typ="value"),
                                        axis=1))
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
