"""Embed, BatchReindex and Parameter in MXNet (Filter is in NOT_CONVERTED: see registry)."""

from __future__ import annotations

import mxnet as mx

from .registry import register


@register("Embed")
def embed(ctx, layer, bottoms):
    """embed_layer.cpp: row int(x) of the (input_dim, num_output) table (+ bias) for each
    bottom element; MXNet's Embedding takes the same table layout."""
    p, name = layer.params, layer.name
    weight = ctx.weight(layer, 0, f"{name}_weight", layer.blob_shapes[0])
    y = mx.sym.Embedding(mx.sym.floor(bottoms[0]), weight=weight, input_dim=p.input_dim,
                         output_dim=p.num_output, name=f"{name}_rows" if p.bias_term else name)
    if p.bias_term:
        bias = ctx.weight(layer, 1, f"{name}_bias", layer.blob_shapes[1])
        y = mx.sym.broadcast_add(y, mx.sym.reshape(bias, shape=(1,) * len(
            ctx.shape(layer.bottoms[0])) + (p.num_output,)), name=name)
    return [y]


@register("BatchReindex")
def batch_reindex(ctx, layer, bottoms):
    """batch_reindex_layer.cpp: top[i] = bottom[0][int(bottom[1][i])]."""
    return [mx.sym.take(bottoms[0], mx.sym.floor(bottoms[1]), axis=0, name=layer.name)]


@register("Parameter")
def parameter(ctx, layer, bottoms):
    """parameter_layer.hpp: the learned blob itself is the top."""
    shape = tuple(layer.params.shape)
    value = ctx.weight(layer, 0, f"{layer.name}_weight", shape)
    return [mx.sym.identity(value, name=layer.name)]
