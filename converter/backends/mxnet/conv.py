"""Convolution in MXNet."""

from __future__ import annotations

import mxnet as mx

from .registry import register


@register("Convolution")
def convolution(ctx, layer, bottoms):
    """Caffe conv: floor output size, zero padding, grouped and dilated -- as MXNet's."""
    p = layer.params
    args = {"weight": ctx.param(f"{layer.name}_weight", layer.blob_shapes[0], ctx.blob(layer, 0))}
    if p.bias_term:
        args["bias"] = ctx.param(f"{layer.name}_bias", layer.blob_shapes[1], ctx.blob(layer, 1))
    return [mx.sym.Convolution(bottoms[0], kernel=p.kernel, stride=p.stride, pad=p.pad,
                               dilate=p.dilation, num_filter=p.num_output, num_group=p.group,
                               no_bias=not p.bias_term, name=layer.name, **args)]
