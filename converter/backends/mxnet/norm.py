"""BatchNorm, Scale (Caffe splits ResNet's batch norm into these two layers), Bias, LRN and MVN
in MXNet."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ...layers import ParamSpec
from .pool import pool2d
from .registry import canonical_axis, register

#: cuDNN's batch norm refuses (or silently raises) eps below this; see ``batch_norm``.
CUDNN_BN_MIN_EPSILON = 1e-5
#: Neither learned nor decayed: the beta of a trainable symbol's BatchNorm (Caffe's has none).
FROZEN = ParamSpec(lr_mult=0.0, decay_mult=0.0)


def _bn_check(layer):
    if layer.params.use_global_stats is False:
        return ("BatchNorm with use_global_stats: false (Caffe would normalise with the "
                "statistics of each test batch; set it to true or remove it)")
    return None


def caffe_bn_stats(mean, var, factor):
    """Caffe's TEST-time statistics: mean/f and var/f with f = blobs[2][0], and a factor of
    0 giving scale 0 (batch_norm_layer.cpp). Computed in float32 as Caffe does:
    ``scale = 1 / f`` first, then ``caffe_cpu_scale``."""
    f = np.float32(np.asarray(factor, dtype=np.float32).reshape(-1)[0])
    scale = np.float32(0) if f == 0 else np.float32(1) / f
    return (mean.astype(np.float32) * scale).astype(np.float32), \
        (var.astype(np.float32) * scale).astype(np.float32)


@register("BatchNorm", check=_bn_check)
def batch_norm(ctx, layer, bottoms):
    """y = (x - mean/f) / sqrt(var/f + eps) over axis 1, eps from the file.

    MXNet's BatchNorm with use_global_stats=True, fix_gamma=False and gamma=1, beta=0 is this
    formula; the Caffe statistics (already divided by f) are its aux params
    ``<layer>_moving_mean``/``_moving_var``. cuDNN's batch norm would clamp eps below 1e-5, so
    such layers are marked cudnn_off to keep Caffe's eps on a GPU too. In a trainable symbol
    (``ctx.train``) it normalises with batch statistics instead (:func:`_bn_train_mode`).
    """
    name, c = layer.name, ctx.shape(layer.bottoms[0])[1]
    mean = var = None
    if ctx.blobs is not None:
        b = ctx.blobs[name]
        mean, var = caffe_bn_stats(*(np.asarray(v) for v in b[:3]))
    affine = ctx.affine.get(name)
    if affine is None:
        gamma = ctx.param(f"{name}_gamma", (c,), np.ones(c, np.float32), spec=FROZEN)
        beta = ctx.param(f"{name}_beta", (c,), np.zeros(c, np.float32), spec=FROZEN)
    else:
        gamma, beta = _affine_params(ctx, affine, c)
    moving_mean = ctx.param(f"{name}_moving_mean", (c,), mean, aux=True)
    moving_var = ctx.param(f"{name}_moving_var", (c,), var, aux=True)
    eps = float(layer.params.eps)
    extra = {"cudnn_off": True} if eps < CUDNN_BN_MIN_EPSILON else {}
    if ctx.train:
        extra.update(_bn_train_mode(layer, affine is None))
    else:
        extra.update(fix_gamma=False, use_global_stats=True)
    return [mx.sym.BatchNorm(bottoms[0], gamma=gamma, beta=beta, moving_mean=moving_mean,
                             moving_var=moving_var, eps=eps, axis=1, name=name, **extra)]


def _bn_train_mode(layer, alone: bool) -> dict:
    """BatchNorm options of a trainable symbol: Caffe's TRAIN phase (batch_norm_layer.cpp,
    ``use_global_stats`` false): normalise with each batch's statistics and keep moving
    averages, MXNet's ``momentum`` being Caffe's ``moving_average_fraction`` (the weight of
    the old average). Caffe's BatchNorm has no affine part: one ``alone`` (no Scale after
    it) has gamma fixed at 1 and beta at 0 (both :data:`FROZEN`); otherwise its Scale's
    gamma and beta are MXNet's (:func:`affine_scales`)."""
    return {"fix_gamma": alone, "use_global_stats": False,
            "momentum": float(layer.params.moving_average_fraction)}


def _affine_params(ctx, scale, c: int):
    """The gamma and beta variables of ``scale`` (a BatchNorm's affine part), with its
    learning-rate facts; a Scale without bias gets a frozen zero beta."""
    gamma = ctx.weight(scale, 0, f"{scale.name}_gamma", (c,))
    if scale.params.bias_term:
        return gamma, ctx.weight(scale, 1, f"{scale.name}_beta", (c,))
    return gamma, ctx.param(f"{scale.name}_beta", (c,), np.zeros(c, np.float32), spec=FROZEN)


def affine_scales(layers) -> dict:
    """BatchNorm name -> the Scale that is its affine part, for trainable symbols: a
    one-bottom per-channel Scale (axis 1, num_axes 1) that is the only reader of the
    BatchNorm's top, Caffe's BN + Scale pair. MXNet's BatchNorm then carries the Scale's
    gamma and beta, one op as MXNet nets have it: a separate broadcast multiply-add trains
    several times slower on the CPU (its gradient is a broadcast reduction)."""
    readers: dict = {}
    for layer in layers:
        for bottom in layer.bottoms:
            readers.setdefault(bottom, []).append(layer)
    pairs = {}
    for layer in layers:
        after = readers.get(layer.tops[0], []) if layer.type == "BatchNorm" else []
        if len(after) == 1 and after[0].type == "Scale" and len(after[0].bottoms) == 1 \
                and after[0].params.axis == 1 and after[0].params.num_axes == 1:
            pairs[layer.name] = after[0]
    return pairs


def _broadcastable(sym, axis, ndim, sshape, name, static):
    """Reshape a scale/bias of shape ``sshape`` (laid over axes [axis, axis+len)) so it
    broadcasts against an ``ndim``-D bottom. Static parameters are reshaped; a second bottom
    (whose leading axes may be the dynamic batch) gets expand_dims instead."""
    trail = ndim - axis - len(sshape)
    if static:
        return mx.sym.reshape(sym, shape=(1,) * axis + tuple(sshape) + (1,) * trail,
                              name=f"{name}_bcast")
    for _ in range(axis):
        sym = mx.sym.expand_dims(sym, axis=0)
    for _ in range(trail):
        sym = mx.sym.expand_dims(sym, axis=-1)
    return sym


@register("Scale")
def scale(ctx, layer, bottoms):
    """ScaleLayer: y = x * s (+ b), s laid over axes [axis, axis + s.ndim) of x.

    One bottom: s is blob 0 (shape x.shape[axis:axis+num_axes]), bias blob 1. Two bottoms:
    s is bottom[1] and the bias (if any) is blob 0; a 0-d bottom[1] scales everything
    (Caffe then uses axis 0).
    """
    p, name = layer.params, layer.name
    if name in ctx.fused:
        return [bottoms[0]]  # a trainable symbol's BatchNorm applied it (affine_scales)
    xshape = ctx.shape(layer.bottoms[0])
    ndim = len(xshape)
    if len(bottoms) == 2:
        sshape = ctx.shape(layer.bottoms[1])
        axis = canonical_axis(p.axis, ndim) if sshape else 0
        s = _broadcastable(bottoms[1], axis, ndim, sshape, f"{name}_scale", static=False)
        bias_index = 0
    else:
        sshape = tuple(layer.blob_shapes[0])
        axis = canonical_axis(p.axis, ndim) if p.num_axes != 0 else 0
        gamma = ctx.weight(layer, 0, f"{name}_gamma", sshape)
        s = _broadcastable(gamma, axis, ndim, sshape, f"{name}_gamma", static=True)
        bias_index = 1
    y = mx.sym.broadcast_mul(bottoms[0], s, name=f"{name}_mul" if p.bias_term else name)
    if p.bias_term:
        beta = ctx.weight(layer, bias_index, f"{name}_beta", sshape)
        b = _broadcastable(beta, axis, ndim, sshape, f"{name}_beta", static=True)
        y = mx.sym.broadcast_add(y, b, name=name)
    return [y]


@register("Bias")
def bias(ctx, layer, bottoms):
    """BiasLayer: y = x + b, b laid over axes [axis, axis + b.ndim) of x: blob 0, or bottom[1]
    in the two-bottom form (a 0-d bottom[1] adds to everything, at axis 0)."""
    p, name = layer.params, layer.name
    ndim = len(ctx.shape(layer.bottoms[0]))
    if len(bottoms) == 2:
        bshape = ctx.shape(layer.bottoms[1])
        axis = canonical_axis(p.axis, ndim) if bshape else 0
        b = _broadcastable(bottoms[1], axis, ndim, bshape, f"{name}_bias", static=False)
    else:
        bshape = tuple(layer.blob_shapes[0])
        axis = canonical_axis(p.axis, ndim) if p.num_axes != 0 else 0
        beta = ctx.weight(layer, 0, f"{name}_beta", bshape)
        b = _broadcastable(beta, axis, ndim, bshape, f"{name}_beta", static=True)
    return [mx.sym.broadcast_add(bottoms[0], b, name=name)]


def _lrn_check(layer):
    p = layer.params
    if p.norm_region not in ("ACROSS_CHANNELS", "WITHIN_CHANNEL"):
        return f"LRN norm_region {p.norm_region}"
    if p.local_size % 2 == 0:
        return "LRN with an even local_size (Caffe itself only supports odd sizes)"
    return None


@register("LRN", check=_lrn_check)
def lrn(ctx, layer, bottoms):
    """Caffe LRN, built from primitive ops so it does not depend on which LRN kernel
    (native, oneDNN, cuDNN) MXNet picks.

    ACROSS_CHANNELS: y = x * (k + alpha/size * sum_{|c'-c| <= (size-1)/2} x_c'^2)^-beta with
    zero padding over channels. WITHIN_CHANNEL (Caffe builds it from layers): square, AVE
    pooling size x size with stride 1 and pad (size-1)/2 (Caffe's divisor, padding counted),
    then Power(scale=alpha, shift=1, power=-beta) -- ``k`` is not used -- times x.
    """
    p, x, name = layer.params, bottoms[0], layer.name
    n, c, h, w = ctx.shape(layer.bottoms[0])
    half = (p.local_size - 1) // 2
    sq = mx.sym.square(x, name=f"{name}_sq")
    if p.norm_region == "WITHIN_CHANNEL":
        avg = pool2d(sq, f"{name}_avg", "AVE", (p.local_size,) * 2, (1, 1), (half, half), (h, w))
        scale = avg * p.alpha + 1.0
    else:
        # Channels become a spatial axis: (N, 1, C, H*W), summed by a (size x 1) window.
        col = mx.sym.reshape(sq, shape=(0, 1, c, -1), name=f"{name}_col")
        col = mx.sym.pad(col, mode="constant", constant_value=0.0, name=f"{name}_pad",
                         pad_width=(0, 0, 0, 0, half, half, 0, 0))
        total = mx.sym.Pooling(col, kernel=(p.local_size, 1), stride=(1, 1), pool_type="sum",
                               pooling_convention="valid", name=f"{name}_sum")
        total = mx.sym.reshape(total, shape=(0, c, h, w), name=f"{name}_sum4d")
        scale = total * (p.alpha / p.local_size) + p.k
    return [mx.sym.broadcast_mul(x, scale ** (-p.beta), name=name)]


@register("MVN")
def mvn(ctx, layer, bottoms):
    """mvn_layer.cpp: x - mean, then / (sqrt(mean((x - mean)^2)) + eps) when
    normalize_variance, over each (n, c) plane or each sample (across_channels)."""
    p, x = layer.params, bottoms[0]
    ndim = len(ctx.shape(layer.bottoms[0]))
    dims = tuple(range(1 if p.across_channels else 2, ndim))
    y = mx.sym.broadcast_sub(x, mx.sym.mean(x, axis=dims, keepdims=True))
    if p.normalize_variance:
        std = mx.sym.sqrt(mx.sym.mean(mx.sym.square(y), axis=dims, keepdims=True))
        y = mx.sym.broadcast_div(y, std + float(p.eps))
    return [mx.sym.identity(y, name=layer.name)]
