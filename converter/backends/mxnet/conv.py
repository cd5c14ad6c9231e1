"""Convolution, Deconvolution and Im2col in MXNet."""

from __future__ import annotations

import mxnet as mx

from ...layers.conv import Im2col
from .registry import register


@register("Convolution")
def convolution(ctx, layer, bottoms):
    """Caffe conv: floor output size, zero padding, grouped and dilated -- as MXNet's."""
    p = layer.params
    args = {"weight": ctx.weight(layer, 0, f"{layer.name}_weight", layer.blob_shapes[0])}
    if p.bias_term:
        args["bias"] = ctx.weight(layer, 1, f"{layer.name}_bias", layer.blob_shapes[1])
    return [mx.sym.Convolution(bottoms[0], kernel=p.kernel, stride=p.stride, pad=p.pad,
                               dilate=p.dilation, num_filter=p.num_output, num_group=p.group,
                               no_bias=not p.bias_term, name=layer.name, **args)]


@register("Deconvolution")
def deconvolution(ctx, layer, bottoms):
    """Caffe deconv (deconv_layer.cpp): the transposed convolution, weight (C_in,
    num_output / group, kh, kw) and output stride * (in - 1) + extent - 2 * pad, as MXNet's
    Deconvolution computes it with no adj/target_shape."""
    p = layer.params
    args = {"weight": ctx.weight(layer, 0, f"{layer.name}_weight", layer.blob_shapes[0])}
    if p.bias_term:
        args["bias"] = ctx.weight(layer, 1, f"{layer.name}_bias", layer.blob_shapes[1])
    return [mx.sym.Deconvolution(bottoms[0], kernel=p.kernel, stride=p.stride, pad=p.pad,
                                 dilate=p.dilation, num_filter=p.num_output,
                                 num_group=p.group, no_bias=not p.bias_term, name=layer.name,
                                 **args)]


@register("Im2col")
def im2col(ctx, layer, bottoms):
    """im2col_layer.cpp: the (c, kh, kw)-ordered columns of a convolution window, as
    MXNet's im2col gives them, viewed as (N, C * kh * kw, out_h, out_w)."""
    p = layer.params
    top = Im2col.shape(layer, [ctx.shape(layer.bottoms[0])])[0][0]
    cols = mx.sym.im2col(bottoms[0], kernel=p.kernel, stride=p.stride, dilate=p.dilation,
                         pad=p.pad)
    return [mx.sym.reshape(cols, shape=(0, top[1]) + tuple(top[2:]), name=layer.name)]
