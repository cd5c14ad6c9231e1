"""MXNet layers -> Caffe: Convolution, FullyConnected, BatchNorm, Pooling, activations,
Dropout, softmax.

BatchNorm: MXNet computes ``(x - mean) / sqrt(var + eps) * gamma + beta`` with its own eps
(1e-3 by default for a symbol, 1e-5 in Gluon) and, with ``fix_gamma`` (the symbol default),
gamma taken as 1 whatever is stored. Caffe gets BatchNorm (scale factor 1, that eps) + Scale.
Pooling: see :mod:`converter.frontends.pooling`; MXNet's ``sum`` pooling becomes Caffe AVE
pooling when the graph divides it by exactly Caffe's AVE divisors (as this project's own
MXNet back end writes average pooling).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ... import ir as P
from ...ir import pooled_size
from ..pooling import caffe_pooling
from .lower import Blob, Lowering, Node, Pending, attr_bool, attr_float, attr_tuple, register


def _blob(lw: Lowering, node: Node, top: str) -> Blob:
    return Blob(top, node.shape)


def _param(lw: Lowering, node: Node, k: int):
    value = lw.input(node, k)
    return value if isinstance(value, np.ndarray) else None


def _convolution(lw: Lowering, node: Node, op: str, no_bias_default: bool):
    """``(x, blobs, geometry)`` of an MXNet Convolution/Deconvolution with parameter
    weights (``geometry``: the ConvolutionParam fields they share), or None once refused."""
    x, w = lw.input(node, 0), _param(lw, node, 1)
    no_bias = attr_bool(node, "no_bias", no_bias_default)
    b = None if no_bias else _param(lw, node, 2)
    if w is None or w.ndim != 4 or (not no_bias and b is None):
        lw.builder.unsupported(f"{op} that is not 2-D with parameter weights", lw.where(node))
        return None
    geometry = dict(bias_term=not no_bias, kernel=tuple(w.shape[2:]),
                    stride=attr_tuple(node, "stride", (1, 1)) or (1, 1),
                    pad=attr_tuple(node, "pad", (0, 0)) or (0, 0),
                    dilation=attr_tuple(node, "dilate", (1, 1)) or (1, 1),
                    group=int(node.attrs.get("num_group", 1)))
    return x, [w] + ([] if no_bias else [b]), geometry


@register("Convolution")
def convert_convolution(lw: Lowering, node: Node):
    found = _convolution(lw, node, "Convolution", False)
    if found is None:
        return None
    x, blobs, geometry = found
    p = P.ConvolutionParam(num_output=int(blobs[0].shape[0]), **geometry)
    return _blob(lw, node, lw.builder.add("Convolution", node.name, [x.name], p, blobs))


@register("Deconvolution")
def convert_deconvolution(lw: Lowering, node: Node):
    """Deconvolution -> Caffe Deconvolution: the same weight layout (C_in, num_filter /
    num_group, kh, kw). ``no_bias`` defaults to True here (unlike Convolution). Caffe's
    output is ``s (in - 1) + d (k - 1) + 1 - 2 pad``; MXNet's ``adj`` / ``target_shape``
    can make it differ, and then the op is refused."""
    found = _convolution(lw, node, "Deconvolution", True)
    if found is None:
        return None
    x, blobs, geometry = found
    p = P.ConvolutionParam(num_output=int(blobs[0].shape[1]) * geometry["group"], **geometry)
    size = [s * (n - 1) + d * (k - 1) + 1 - 2 * q for n, k, s, q, d in
            zip(x.shape[2:], p.kernel, p.stride, p.pad, p.dilation)]
    if tuple(size) != tuple(node.shape[2:]):
        lw.builder.unsupported(f"Deconvolution whose output {tuple(node.shape[2:])} (adj / "
                               f"target_shape) differs from Caffe's {tuple(size)}",
                               lw.where(node))
        return None
    return _blob(lw, node, lw.builder.add("Deconvolution", node.name, [x.name], p, blobs))


@register("FullyConnected")
def convert_fully_connected(lw: Lowering, node: Node):
    x, w = lw.input(node, 0), _param(lw, node, 1)
    no_bias = attr_bool(node, "no_bias", False)
    b = None if no_bias else _param(lw, node, 2)
    if w is None or (not no_bias and b is None):
        lw.builder.unsupported("FullyConnected with computed weights", lw.where(node))
        return None
    # flatten=True flattens from axis 1 (Caffe InnerProduct's default axis); flatten=False
    # acts on the last axis, which is InnerProduct with axis = last.
    axis = 1 if attr_bool(node, "flatten", True) else len(x.shape) - 1
    p = P.InnerProductParam(num_output=int(w.shape[0]), bias_term=not no_bias, axis=axis)
    top = lw.builder.add("InnerProduct", node.name, [x.name], p,
                         [w.reshape(w.shape[0], -1)] + ([] if no_bias else [b]))
    return _blob(lw, node, top)


@register("BatchNorm")
def convert_batch_norm(lw: Lowering, node: Node):
    x = lw.input(node, 0)
    gamma, beta, mean, var = (_param(lw, node, k) for k in range(1, 5))
    if any(v is None for v in (gamma, beta, mean, var)) or \
            int(node.attrs.get("axis", 1)) != 1:
        lw.builder.unsupported("BatchNorm over an axis other than 1 or with computed "
                               "statistics", lw.where(node))
        return None
    if attr_bool(node, "fix_gamma", True):
        gamma = np.ones_like(gamma)  # MXNet ignores the stored gamma (batch_norm.cc)
    eps = attr_float(node, "eps", 1e-3)
    one = np.ones((1,), np.float32)
    top = lw.builder.add("BatchNorm", node.name, [x.name], P.BatchNormParam(eps=eps),
                         [mean, var, one])
    lw.builder.add("Scale", node.name + "_scale", [top], P.ScaleParam(bias_term=True),
                   [gamma, beta], in_place=True)
    return _blob(lw, node, top)


_POOL_TYPES = {"max": "MAX", "avg": "AVE", "sum": "SUM"}


@register("Pooling")
def convert_pooling(lw: Lowering, node: Node):
    x = lw.input(node, 0)
    kind = _POOL_TYPES.get(node.attrs.get("pool_type", "max"))
    if kind is None or len(x.shape) != 4:
        lw.builder.unsupported(f"{node.attrs.get('pool_type')} pooling", lw.where(node))
        return None
    if attr_bool(node, "global_pool", False):
        params = P.PoolingParam(pool="AVE" if kind == "SUM" else kind, global_pooling=True)
        return _pool_layer(lw, node, x, params, kind)
    kernel = attr_tuple(node, "kernel")
    stride = attr_tuple(node, "stride", (1, 1)) or (1, 1)
    pad = attr_tuple(node, "pad", (0, 0)) or (0, 0)
    if node.attrs.get("pooling_convention", "valid") == "same":
        lw.builder.unsupported("pooling_convention 'same'", lw.where(node))
        return None
    choice = caffe_pooling("AVE" if kind == "SUM" else kind, x.shape[2:], kernel, stride, pad,
                           node.shape[2:], attr_bool(node, "count_include_pad", True))
    if choice.refusal:
        lw.builder.unsupported(f"pooling: {choice.refusal}", lw.where(node))
        return None
    if choice.warning:
        lw.builder.warn(f"layer '{node.name}' {choice.warning}")
    return _pool_layer(lw, node, x, choice.params, kind)


def _pool_layer(lw: Lowering, node: Node, x: Blob, params, kind: str):
    if kind == "SUM":
        return Pending("sum-pool", x, node, params)
    top = lw.builder.add("Pooling", node.name, [x.name], params)
    return _blob(lw, node, top)


def caffe_ave_divisors(params, size) -> np.ndarray:
    """Caffe's AVE divisor for every output position (pooling_layer.cpp): per axis
    ``min(start + k, H + pad) - start``, taken before the window is clipped to the image."""
    if params.global_pooling:
        return np.full((1, 1), float(size[0] * size[1]))
    axes = []
    for n, k, s, p in zip(size, params.kernel, params.stride, params.pad):
        out = pooled_size(n, k, s, p, params.round_mode, clip=any(params.pad))
        start = np.arange(out) * s - p
        axes.append(np.minimum(start + k, n + p) - start)
    return np.outer(axes[0], axes[1]).astype(np.float64)


def divide_sum_pool(lw: Lowering, node: Node, pending: Pending, divisor) -> object:
    """``sum_pool / divisor`` is Caffe's AVE pooling when the divisor is Caffe's own."""
    x, params = pending.blob, pending.params
    expected = caffe_ave_divisors(params, x.shape[2:])
    got = np.broadcast_to(np.asarray(divisor, np.float64), node.shape)
    if not np.array_equal(got, np.broadcast_to(expected, node.shape)):
        lw.builder.unsupported("sum pooling divided by something other than Caffe's "
                               "average-pooling window sizes", lw.where(node))
        return None
    top = lw.builder.add("Pooling", node.name, [x.name],
                         dataclasses.replace(params, pool="AVE"))
    return Blob(top, node.shape)
