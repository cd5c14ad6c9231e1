"""MXNet element-wise, shape and activation ops -> Caffe ReLU/Sigmoid/TanH, Eltwise, Power,
Scale, Concat, Flatten, Reshape, Softmax; identities (Dropout at inference, copies) vanish.

Caffe's Power is ``(shift + scale * x) ^ power`` (power_layer.cpp): ``x + s``, ``x - s``,
``s - x``, ``x * s`` and ``zeros_like`` (scale 0) are exact; ``x / s`` is ``x * (1/s)``.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ... import ir as P
from ...layers.activation import ELUParam
from ..bilinear import bilinear_plan
from .lower import Blob, Lowering, Node, Pending, attr_bool, attr_float, register
from .nn import divide_sum_pool


def _out(node: Node, top: str) -> Blob:
    return Blob(top, node.shape)


def _unary(lw: Lowering, node: Node, layer_type: str, params=None):
    x = lw.input(node, 0)
    return _out(node, lw.builder.add(layer_type, node.name, [x.name], params))


_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "TanH"}


@register("Activation")
def convert_activation(lw: Lowering, node: Node):
    act = node.attrs.get("act_type", "relu")
    if act not in _ACTIVATIONS:
        lw.builder.unsupported(f"Activation act_type={act} (no Caffe layer in this "
                               "project's IR)", lw.where(node))
        return None
    return _unary(lw, node, _ACTIVATIONS[act])


@register("relu", "sigmoid", "tanh")
def convert_activation_op(lw: Lowering, node: Node):
    return _unary(lw, node, _ACTIVATIONS[node.op])


@register("LeakyReLU")
def convert_leaky_relu(lw: Lowering, node: Node):
    """LeakyReLU: ``leaky`` -> ReLU with negative_slope, ``prelu`` -> PReLU (its gamma),
    ``elu`` -> ELU (alpha = ``slope``, MXNet's ``slope * (exp(x) - 1)`` below 0). SELU, GELU
    and rrelu have no Caffe layer."""
    act = node.attrs.get("act_type", "leaky")
    x = lw.input(node, 0)
    if act == "prelu" and isinstance(lw.input(node, 1), np.ndarray):
        return _out(node, lw.builder.add_prelu(node.name, x.name, lw.input(node, 1)))
    if act == "elu":
        return _unary(lw, node, "ELU", ELUParam(alpha=attr_float(node, "slope", 0.25)))
    if act != "leaky":
        lw.builder.unsupported(f"LeakyReLU act_type={act} (no Caffe layer)", lw.where(node))
        return None
    return _unary(lw, node, "ReLU", P.ReLUParam(negative_slope=attr_float(node, "slope", 0.25)))


@register("Dropout", "_copy", "identity", "BlockGrad", "stop_gradient")
def convert_identity(lw: Lowering, node: Node):
    return lw.input(node, 0)


@register("softmax", "SoftmaxOutput", "SoftmaxActivation", "Softmax")
def convert_softmax(lw: Lowering, node: Node):
    x = lw.input(node, 0)
    axis = int(node.attrs.get("axis", -1)) if node.op == "softmax" else 1
    if node.op == "softmax" and node.attrs.get("temperature") not in (None, "None", "1", "1.0"):
        lw.builder.unsupported("softmax with a temperature", lw.where(node))
        return None
    return _out(node, lw.builder.add("Softmax", node.name, [x.name], P.SoftmaxParam(axis=axis)))


@register("Flatten", "flatten")
def convert_flatten(lw: Lowering, node: Node):
    return _unary(lw, node, "Flatten", P.FlattenParam(axis=1))


@register("Reshape", "reshape")
def convert_reshape(lw: Lowering, node: Node):
    x = lw.input(node, 0)
    new = tuple(node.shape)
    dims = (0,) + new[1:] if new[:1] == x.shape[:1] else new
    return _unary(lw, node, "Reshape", P.ReshapeParam(shape=dims))


@register("Concat", "concat")
def convert_concat(lw: Lowering, node: Node):
    parts = [lw.input(node, k) for k in range(len(node.inputs))]
    if not all(isinstance(p, Blob) for p in parts):
        lw.builder.unsupported("Concat with a constant", lw.where(node))
        return None
    axis = int(node.attrs.get("dim", 1))
    return _out(node, lw.builder.add("Concat", node.name, [p.name for p in parts],
                                     P.ConcatParam(axis=axis)))


# ------------------------------------------------------------- arithmetic


def _blobs(lw: Lowering, node: Node):
    values = [lw.input(node, k) for k in range(len(node.inputs))]
    return values if all(isinstance(v, Blob) for v in values) else None


def _eltwise(lw: Lowering, node: Node, operation: str, coeff=()):
    parts = _blobs(lw, node)
    if parts is None or len({p.shape for p in parts}) != 1:
        return None
    return _out(node, lw.builder.add("Eltwise", node.name, [p.name for p in parts],
                                     P.EltwiseParam(operation=operation, coeff=tuple(coeff))))


@register("elemwise_add", "_Plus", "_plus", "_add", "add_n", "ElementWiseSum")
def convert_sum(lw: Lowering, node: Node):
    return _eltwise(lw, node, "SUM") or _refuse(lw, node)


@register("elemwise_sub", "_Minus", "_minus", "_sub")
def convert_difference(lw: Lowering, node: Node):
    return _eltwise(lw, node, "SUM", (1.0, -1.0)) or _refuse(lw, node)


@register("elemwise_mul", "_Mul", "_mul")
def convert_product(lw: Lowering, node: Node):
    return _eltwise(lw, node, "PROD") or _refuse(lw, node)


def _per_channel(value, x: Blob) -> Optional[np.ndarray]:
    if not isinstance(value, np.ndarray) or len(x.shape) < 2:
        return None
    c, trailing = x.shape[1], len(x.shape) - 2
    if value.shape in ((c,) + (1,) * trailing, (1, c) + (1,) * trailing):
        return value.reshape(c)
    return None


def _scale(lw: Lowering, node: Node, x: Blob, gamma, beta=None):
    blobs = [gamma] + ([] if beta is None else [beta])
    return _out(node, lw.builder.add("Scale", node.name, [x.name],
                                     P.ScaleParam(bias_term=beta is not None), blobs))


def _merge_bias(lw: Lowering, node: Node, x: Blob, beta) -> Optional[Blob]:
    """``scale_mul + beta`` after a bias-less Scale read only here: one Scale with bias
    (computed as Caffe does: the product, then the bias)."""
    layers = lw.builder.net.layers
    source = lw.input_node(node, 0)
    if not layers or lw.consumers.get(source.index, 0) != 1:
        return None
    last = layers[-1]
    if last.type != "Scale" or last.tops != [x.name] or last.params.bias_term:
        return None
    last.params = dataclasses.replace(last.params, bias_term=True)
    blobs = lw.builder.weights.pop(last.name) + [np.ascontiguousarray(beta, np.float32)]
    # The merged layer is what the add node computes: it takes that node's name.
    last.name = lw.builder.unique(node.name)
    last.tops = [last.name]
    lw.builder.weights[last.name] = blobs
    return Blob(last.name, node.shape)


@register("broadcast_add", "broadcast_plus")
def convert_broadcast_add(lw: Lowering, node: Node):
    a, b = lw.input(node, 0), lw.input(node, 1)
    if isinstance(a, Blob) and isinstance(b, Blob):
        return _eltwise(lw, node, "SUM") or _refuse(lw, node)
    if not isinstance(a, Blob):
        a, b = b, a
    c = _per_channel(b, a)
    if c is None:
        return _refuse(lw, node)
    return _merge_bias(lw, node, a, c) or _scale(lw, node, a, np.ones_like(c), c)


@register("broadcast_mul")
def convert_broadcast_mul(lw: Lowering, node: Node):
    a, b = lw.input(node, 0), lw.input(node, 1)
    if isinstance(a, Blob) and isinstance(b, Blob):
        return _eltwise(lw, node, "PROD") or _refuse(lw, node)
    if not isinstance(a, Blob):
        a, b = b, a
    c = _per_channel(b, a)
    return _refuse(lw, node) if c is None else _scale(lw, node, a, c)


@register("broadcast_div", "elemwise_div", "_div")
def convert_div(lw: Lowering, node: Node):
    a, b = lw.input(node, 0), lw.input(node, 1)
    if isinstance(a, Pending) and a.kind == "sum-pool" and isinstance(b, np.ndarray):
        return divide_sum_pool(lw, node, a, b)
    c = _per_channel(b, a) if isinstance(a, Blob) else None
    return _refuse(lw, node) if c is None else _scale(lw, node, a, 1.0 / c)


#: op -> (scale, shift) of Caffe's Power as functions of the op's scalar.
_SCALAR_OPS = {
    "_plus_scalar": lambda s: (1.0, s), "_PlusScalar": lambda s: (1.0, s),
    "_minus_scalar": lambda s: (1.0, -s), "_MinusScalar": lambda s: (1.0, -s),
    "_rminus_scalar": lambda s: (-1.0, s), "_RMinusScalar": lambda s: (-1.0, s),
    "_mul_scalar": lambda s: (s, 0.0), "_MulScalar": lambda s: (s, 0.0),
    "_div_scalar": lambda s: (1.0 / s, 0.0), "_DivScalar": lambda s: (1.0 / s, 0.0),
}


@register(*_SCALAR_OPS)
def convert_scalar_op(lw: Lowering, node: Node):
    scale, shift = _SCALAR_OPS[node.op](attr_float(node, "scalar", 0.0))
    return _unary(lw, node, "Power", P.PowerParam(scale=scale, shift=shift))


@register("_power_scalar", "_PowerScalar")
def convert_power_scalar(lw: Lowering, node: Node):
    return _unary(lw, node, "Power", P.PowerParam(power=attr_float(node, "scalar", 1.0)))


@register("zeros_like", "ones_like")
def convert_constant_like(lw: Lowering, node: Node):
    # power_layer.cpp: scale 0 gives the constant shift^power (here 0 or 1) everywhere.
    shift = 1.0 if node.op == "ones_like" else 0.0
    return _unary(lw, node, "Power", P.PowerParam(scale=0.0, shift=shift))


def _refuse(lw: Lowering, node: Node):
    lw.builder.unsupported(f"MXNet op {node.op} with these operands (Caffe has layers for "
                           "blob op blob of one shape, blob op scalar, blob op per-channel "
                           "constant)", lw.where(node))
    return None


@register("clip")
def convert_clip(lw: Lowering, node: Node):
    """clip(x, a_min, a_max), e.g. Gluon's ReLU6: exact from ReLU/Power/Eltwise MAX."""
    x = lw.input(node, 0)
    low, high = attr_float(node, "a_min", 0.0), attr_float(node, "a_max", 0.0)
    return _out(node, lw.builder.add_clamp(node.name, x.name, low, high))


@register("UpSampling")
def convert_upsampling(lw: Lowering, node: Node):
    """Nearest UpSampling (one input): copies only (NetBuilder.add_upsample_nearest).
    Bilinear UpSampling is MXNet's own per-channel Deconvolution with the given weight
    (upsampling-inl.h: kernel 2s - s % 2, stride s, pad ceil((s - 1) / 2), num_group =
    num_filter, no bias), which Caffe's Deconvolution computes the same way."""
    x = lw.input(node, 0)
    k = int(node.attrs.get("scale", 1))
    if node.attrs.get("sample_type", "nearest") == "bilinear":
        w = lw.input(node, 1) if len(node.inputs) == 2 else None
        if not isinstance(w, np.ndarray) or w.shape[:2] != (x.shape[1], 1):
            lw.builder.unsupported("bilinear UpSampling without a per-channel parameter "
                                   "weight", lw.where(node))
            return None
        params = P.ConvolutionParam(num_output=x.shape[1], bias_term=False, group=x.shape[1],
                                    kernel=tuple(w.shape[2:]), stride=(k, k),
                                    pad=(k // 2, k // 2))  # ceil((k - 1) / 2)
        return _out(node, lw.builder.add("Deconvolution", node.name, [x.name], params, [w]))
    if len(node.inputs) != 1:
        lw.builder.unsupported("nearest UpSampling of several inputs", lw.where(node))
        return None
    return _out(node, lw.builder.add_upsample_nearest(node.name, x.name, x.shape, (k, k)))


@register("_contrib_BilinearResize2D")
def convert_bilinear_resize(lw: Lowering, node: Node):
    """BilinearResize2D (the same arithmetic as PyTorch's upsample_bilinear2d, from the
    input and output sizes): a fixed-weight Deconvolution where exact (:mod:`..bilinear`)."""
    x = lw.input(node, 0)
    if len(node.inputs) != 1:
        lw.builder.unsupported("BilinearResize2D to another input's size", lw.where(node))
        return None
    plans = bilinear_plan(x.shape[2:], node.shape[2:], attr_bool(node, "align_corners", True))
    if isinstance(plans, str):
        lw.builder.unsupported(f"BilinearResize2D {plans}", lw.where(node))
        return None
    return _out(node, lw.builder.add_bilinear(node.name, x.name, x.shape, plans))
