"""Convolution, Deconvolution and Im2col in MXNet."""

from __future__ import annotations

import mxnet as mx

from ...errors import UnsupportedLayerError
from ...layers.conv import Convolution, Deconvolution, Im2col, geometry
from .registry import register


def _convolve(ctx, layer, bottoms, op, shape_rule):
    """``op`` (mx.sym.Convolution or Deconvolution) over 1, 2 or 3 spatial axes, with the
    layer's per-axis geometry. Channels at an axis ``a`` other than 1: Caffe treats the axes
    before it as independent inputs (base_conv_layer.cpp's num_), so the input is viewed as
    (prod(shape[:a]), C, spatial...) and the output viewed back."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    g = geometry(layer, shape)
    if not 1 <= len(g.kernel) <= 3:
        raise UnsupportedLayerError(
            f"{len(g.kernel)} spatial axes (a {len(shape)}-D bottom, axis {g.axis}): MXNet "
            "convolves over 1, 2 or 3 spatial axes only", layer=layer.name,
            layer_type=layer.type)
    args = {"weight": ctx.weight(layer, 0, f"{layer.name}_weight", layer.blob_shapes[0])}
    if p.bias_term:
        args["bias"] = ctx.weight(layer, 1, f"{layer.name}_bias", layer.blob_shapes[1])
    x = bottoms[0]
    if g.axis != 1:
        x = mx.sym.reshape(x, shape=(-1,) + tuple(shape[g.axis:]))
    y = op(x, kernel=g.kernel, stride=g.stride, pad=g.pad, dilate=g.dilation,
           num_filter=p.num_output, num_group=p.group, no_bias=not p.bias_term,
           name=layer.name if g.axis == 1 else f"{layer.name}_flat", **args)
    if g.axis != 1:
        top = shape_rule(layer, [shape])[0][0]  # the batch axis, if any, stays free
        y = mx.sym.reshape(y, shape=top if g.axis == 0 else (-1,) + top[1:], name=layer.name)
    return [y]


@register("Convolution")
def convolution(ctx, layer, bottoms):
    """Caffe conv: floor output size, zero padding, grouped and dilated, over 1-3 spatial
    axes -- as MXNet's."""
    return _convolve(ctx, layer, bottoms, mx.sym.Convolution, Convolution.shape)


@register("Deconvolution")
def deconvolution(ctx, layer, bottoms):
    """Caffe deconv (deconv_layer.cpp): the transposed convolution, weight (C_in,
    num_output / group) + kernel and output stride * (in - 1) + extent - 2 * pad per axis,
    as MXNet's Deconvolution computes it with no adj/target_shape."""
    return _convolve(ctx, layer, bottoms, mx.sym.Deconvolution, Deconvolution.shape)


@register("Im2col")
def im2col(ctx, layer, bottoms):
    """im2col_layer.cpp: the (c, kh, kw)-ordered columns of a convolution window, as
    MXNet's im2col gives them, viewed as (N, C * kh * kw, out_h, out_w)."""
    p = layer.params
    top = Im2col.shape(layer, [ctx.shape(layer.bottoms[0])])[0][0]
    cols = mx.sym.im2col(bottoms[0], kernel=p.kernel, stride=p.stride, dilate=p.dilation,
                         pad=p.pad)
    return [mx.sym.reshape(cols, shape=(0, top[1]) + tuple(top[2:]), name=layer.name)]
