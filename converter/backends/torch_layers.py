"""Registry of Caffe layer converters for the PyTorch back end (one function per type).

A converter takes ``(layer, bottom_shapes)`` -- the layer in SSA form and its bottoms' shapes
from shape inference -- and returns an ``nn.Module`` whose forward takes the bottoms and
returns one tensor (one top) or a tuple (several tops). Options that Caffe itself refuses, or
that this project cannot reproduce exactly, raise UnsupportedLayerError naming the option.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List

import numpy as np
from torch import nn

from ..errors import UnsupportedLayerError
from ..ir.graph import Layer, Shape
from ..ir.shapes import canonical_axis, count
from . import torch_ops as ops
from .torch_pool import CaffeLRN, CaffePooling

Converter = Callable[[Layer, List[Shape]], nn.Module]
CONVERTERS: Dict[str, Converter] = {}

#: Layer types that produce network inputs rather than computing anything.
INPUT_TYPES = frozenset({"Input"})


def caffe_float(value: float) -> float:
    """A ``float`` field of caffe.proto as Caffe holds it: a float32 (layers read it into
    their Dtype). A float32 module rounds it so anyway; rounding here makes a float64 module
    (``.double()``) compute Caffe's semantics exactly, not those of the decimal text
    (eps 1e-5 is 9.99999974738e-06 in Caffe)."""
    return float(np.float32(value))


def register(*types: str):
    """Register a converter for Caffe layer types; registering a type twice is a bug."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            if t in CONVERTERS:
                raise ValueError(f"torch converter for {t} registered twice")
            CONVERTERS[t] = fn
        return fn
    return wrap


def supported_types() -> List[str]:
    """Every layer type the PyTorch back end converts, sorted."""
    return sorted(set(CONVERTERS) | INPUT_TYPES)


def _refuse(layer: Layer, message: str):
    raise UnsupportedLayerError(message, layer=layer.name, layer_type=layer.type)


@register("Convolution")
def convert_convolution(layer, shapes):
    return ops.CaffeConvolution(shapes[0][1], layer.params)


@register("InnerProduct")
def convert_inner_product(layer, shapes):
    axis = canonical_axis(layer.params.axis, len(shapes[0]), layer)
    return ops.CaffeInnerProduct(count(shapes[0], axis), layer.params, axis)


@register("BatchNorm")
def convert_batch_norm(layer, shapes):
    p = layer.params
    # BatchNormLayer::LayerSetUp: use_global_stats defaults to (phase == TEST); we convert
    # the TEST net, so an unset flag means global statistics.
    use_global = True if p.use_global_stats is None else p.use_global_stats
    channels = shapes[0][1] if len(shapes[0]) > 1 else 1
    return ops.CaffeBatchNorm(channels, caffe_float(p.eps), use_global)


@register("Scale")
def convert_scale(layer, shapes):
    p, shape = layer.params, shapes[0]
    if len(shapes) == 2:
        scale_shape = tuple(shapes[1])
        # scale_layer.cpp: an axis is meaningless for a scalar second bottom.
        axis = canonical_axis(p.axis, len(shape), layer) if scale_shape else 0
    else:
        axis = canonical_axis(p.axis, len(shape), layer) if p.num_axes != 0 else 0
        end = len(shape) if p.num_axes == -1 else axis + p.num_axes
        scale_shape = tuple(shape[axis:end])
    trailing = len(shape) - axis - len(scale_shape)
    return ops.CaffeScale(scale_shape, trailing, p.bias_term, len(shapes) == 2)


@register("ReLU")
def convert_relu(layer, shapes):
    return ops.CaffeReLU(caffe_float(layer.params.negative_slope))


@register("Sigmoid", "TanH")
def convert_unary(layer, shapes):
    return ops.CaffeUnary(layer.type)


@register("Dropout")
def convert_dropout(layer, shapes):
    return ops.CaffeIdentity()


@register("Power")
def convert_power(layer, shapes):
    p = layer.params
    return ops.CaffePower(caffe_float(p.power), caffe_float(p.scale), caffe_float(p.shift))


@register("Eltwise")
def convert_eltwise(layer, shapes):
    p = layer.params
    if p.operation not in ("SUM", "PROD", "MAX"):
        _refuse(layer, f"unknown Eltwise operation {p.operation}")
    if p.coeff and p.operation != "SUM":
        _refuse(layer, "Eltwise coeff is only defined for operation SUM (Caffe refuses it)")
    return ops.CaffeEltwise(p.operation, [caffe_float(c) for c in p.coeff])


@register("Softmax")
def convert_softmax(layer, shapes):
    return ops.CaffeSoftmax(canonical_axis(layer.params.axis, len(shapes[0]), layer))


@register("Concat")
def convert_concat(layer, shapes):
    return ops.CaffeConcat(canonical_axis(layer.params.axis, len(shapes[0]), layer))


@register("Flatten")
def convert_flatten(layer, shapes):
    n = len(shapes[0])
    return ops.CaffeFlatten(canonical_axis(layer.params.axis, n, layer),
                            canonical_axis(layer.params.end_axis, n, layer))


@register("Reshape")
def convert_reshape(layer, shapes):
    p, n = layer.params, len(shapes[0])
    # reshape_layer.cpp: a negative axis counts from the end, -1 meaning "after the last".
    start = p.axis if p.axis >= 0 else n + p.axis + 1
    end = None if p.num_axes == -1 else start + p.num_axes
    return ops.CaffeReshape(p.shape, start, end)


@register("Split")
def convert_split(layer, shapes):
    return ops.CaffeSplit(len(layer.tops))


@register("Pooling")
def convert_pooling(layer, shapes):
    p = layer.params
    if p.pool not in ("MAX", "AVE"):
        # Caffe has no CPU STOCHASTIC pooling and its GPU test-time variant ignores pad.
        _refuse(layer, f"pool: {p.pool} is not supported (only MAX and AVE)")
    if p.round_mode not in ("CEIL", "FLOOR"):
        _refuse(layer, f"round_mode {p.round_mode} is not supported")
    if p.global_pooling and (any(p.pad) or tuple(p.stride) != (1, 1)):
        _refuse(layer, "global_pooling needs pad 0 and stride 1 (Caffe refuses others)")
    return CaffePooling(p, tuple(shapes[0][2:4]))


@register("LRN")
def convert_lrn(layer, shapes):
    p = layer.params
    if p.local_size % 2 == 0:
        _refuse(layer, f"local_size {p.local_size} is even; Caffe's LRN requires odd sizes")
    if p.norm_region not in ("ACROSS_CHANNELS", "WITHIN_CHANNEL"):
        _refuse(layer, f"unknown norm_region {p.norm_region}")
    return CaffeLRN(dataclasses.replace(p, alpha=caffe_float(p.alpha), beta=caffe_float(p.beta),
                                        k=caffe_float(p.k)))
