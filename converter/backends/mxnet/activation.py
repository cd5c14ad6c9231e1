"""Element-wise activations in MXNet: ReLU, Sigmoid, TanH, Dropout, Power, Softmax."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from .registry import canonical_axis, register


@register("ReLU")
def relu(ctx, layer, bottoms):
    """Caffe: max(x, 0) + negative_slope * min(x, 0), i.e. a leaky ReLU when the slope != 0."""
    slope = layer.params.negative_slope
    if slope == 0:
        return [mx.sym.Activation(bottoms[0], act_type="relu", name=layer.name)]
    return [mx.sym.LeakyReLU(bottoms[0], act_type="leaky", slope=slope, name=layer.name)]


@register("Sigmoid")
def sigmoid(ctx, layer, bottoms):
    """Logistic function."""
    return [mx.sym.Activation(bottoms[0], act_type="sigmoid", name=layer.name)]


@register("TanH")
def tanh(ctx, layer, bottoms):
    """Hyperbolic tangent."""
    return [mx.sym.Activation(bottoms[0], act_type="tanh", name=layer.name)]


@register("Dropout")
def dropout(ctx, layer, bottoms):
    """Caffe's Dropout scales at TRAIN time (inverted dropout), so at TEST it is a plain copy."""
    return [bottoms[0]]


@register("Power")
def power(ctx, layer, bottoms):
    """PowerLayer::Forward_cpu: if power*scale == 0 the output is the constant
    (power == 0 ? 1 : shift^power); otherwise scale, then shift, then pow -- in that order."""
    p, x, name = layer.params, bottoms[0], layer.name
    if p.power * p.scale == 0:
        value = 1.0 if p.power == 0 else float(np.float32(p.shift) ** np.float32(p.power))
        return [mx.sym.zeros_like(x, name=f"{name}_zeros") + value]
    if p.scale != 1:
        x = x * p.scale
    if p.shift != 0:
        x = x + p.shift
    if p.power != 1:
        x = x ** p.power
    return [mx.sym.identity(x, name=name)]


@register("Softmax")
def softmax(ctx, layer, bottoms):
    """Softmax over ``axis`` (Caffe subtracts the max first, as MXNet does)."""
    axis = canonical_axis(layer.params.axis, len(ctx.shape(layer.bottoms[0])))
    return [mx.sym.softmax(bottoms[0], axis=axis, name=layer.name)]
