"""Element-wise activations in MXNet: ReLU, PReLU, ELU, Sigmoid, TanH, Swish, AbsVal, BNLL, Clip,
Threshold, Exp, Log, Dropout, Power, Softmax."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ...errors import UnsupportedLayerError
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
    shape = ctx.shape(layer.bottoms[0])
    axis = canonical_axis(layer.params.axis, len(shape))
    if ctx.train and layer.tops[0] in ctx.loss_tops:
        return [softmax_loss(layer, bottoms[0], shape, axis)]
    return [mx.sym.softmax(bottoms[0], axis=axis, name=layer.name)]


#: The label variable of a trainable symbol's loss: the name ``mx.mod.Module`` expects.
LABEL = "softmax_label"


def softmax_loss(layer, x, shape, axis):
    """A net's output Softmax in a trainable symbol: ``SoftmaxOutput`` (forward: the same
    probabilities; backward: the gradient of the cross-entropy with the labels
    :data:`LABEL`, i.e. Caffe's SoftmaxWithLoss of the train_val net), over the class axis 1
    of (N, K) scores."""
    if len(shape) != 2 or axis != 1:
        raise UnsupportedLayerError(f"a trainable symbol needs the output Softmax over "
                                    f"axis 1 of (N, K) scores, got axis {axis} of {shape}",
                                    layer=layer.name, layer_type=layer.type)
    return mx.sym.SoftmaxOutput(x, label=mx.sym.var(LABEL), name=layer.name)


@register("AbsVal")
def absval(ctx, layer, bottoms):
    """absval_layer.cpp: |x|."""
    return [mx.sym.abs(bottoms[0], name=layer.name)]


@register("BNLL")
def bnll(ctx, layer, bottoms):
    """bnll_layer.cpp: x > 0 ? x + log(1 + exp(-x)) : log(1 + exp(x)), i.e.
    max(x, 0) + log(1 + exp(-|x|)), which overflows for no x."""
    x = bottoms[0]
    return [mx.sym.elemwise_add(mx.sym.relu(x), mx.sym.log1p(mx.sym.exp(-mx.sym.abs(x))),
                                name=layer.name)]


@register("ELU")
def elu(ctx, layer, bottoms):
    """elu_layer.cpp: max(x, 0) + alpha * (exp(min(x, 0)) - 1)."""
    return [mx.sym.LeakyReLU(bottoms[0], act_type="elu", slope=float(layer.params.alpha),
                             name=layer.name)]


@register("Clip")
def clip(ctx, layer, bottoms):
    """clip_layer.cpp: max(min, min(x, max))."""
    p = layer.params
    return [mx.sym.clip(bottoms[0], a_min=float(p.min), a_max=float(p.max), name=layer.name)]


@register("Swish")
def swish(ctx, layer, bottoms):
    """swish_layer.cpp: x * sigmoid(beta * x)."""
    x, beta = bottoms[0], float(layer.params.beta)
    gate = mx.sym.sigmoid(x * beta if beta != 1.0 else x)
    return [mx.sym.elemwise_mul(x, gate, name=layer.name)]


@register("Threshold")
def threshold(ctx, layer, bottoms):
    """threshold_layer.cpp: x > threshold ? 1 : 0."""
    return [mx.sym.identity(bottoms[0] > float(layer.params.threshold), name=layer.name)]


@register("Exp")
def exp(ctx, layer, bottoms):
    """exp_layer.cpp: outer * exp(inner * x), inner = log(base) * scale (log(base) = 1 for
    base -1) and outer = base ^ shift, both computed in float as Caffe does."""
    p, x, f32 = layer.params, bottoms[0], np.float32
    log_base = f32(1) if p.base == -1 else np.log(f32(p.base))
    inner = float(f32(log_base * f32(p.scale)))
    outer = 1.0 if p.shift == 0 else float(
        np.exp(f32(p.shift)) if p.base == -1 else np.power(f32(p.base), f32(p.shift)))
    y = mx.sym.exp(x * inner if inner != 1.0 else x)
    return [mx.sym.identity(y * outer if outer != 1.0 else y, name=layer.name)]


@register("Log")
def log(ctx, layer, bottoms):
    """log_layer.cpp: log(shift + scale * x) * base_scale, base_scale = 1 / log(base) (1 for
    base -1); identity steps are skipped, as in Caffe."""
    p, x, f32 = layer.params, bottoms[0], np.float32
    if p.scale != 1:
        x = x * float(p.scale)
    if p.shift != 0:
        x = x + float(p.shift)
    y = mx.sym.log(x)
    if p.base != -1:
        y = y * float(f32(1) / np.log(f32(p.base)))
    return [mx.sym.identity(y, name=layer.name)]


@register("PReLU")
def prelu(ctx, layer, bottoms):
    """prelu_layer.cpp: max(x, 0) + a * min(x, 0), a per channel (axis 1) or shared (one
    0-axis blob)."""
    x, name = bottoms[0], layer.name
    ndim = len(ctx.shape(layer.bottoms[0]))
    ashape = tuple(layer.blob_shapes[0])
    a = ctx.weight(layer, 0, f"{name}_alpha", ashape)
    view = (1,) * ndim if not ashape else (1, ashape[0]) + (1,) * (ndim - 2)
    a = mx.sym.reshape(a, shape=view, name=f"{name}_alpha_bcast")
    negative = mx.sym.broadcast_mul(mx.sym.minimum(x, 0.0), a)
    return [mx.sym.elemwise_add(mx.sym.relu(x), negative, name=name)]
