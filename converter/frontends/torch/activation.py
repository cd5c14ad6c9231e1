"""Element-wise activations -> Caffe ReLU (with negative_slope), Sigmoid, TanH.

Caffe 1.0's ReLU is ``max(x, 0) + negative_slope * min(x, 0)`` (relu_layer.cpp), which is
LeakyReLU for a nonzero slope. ELU is Caffe's ELU (``alpha (exp(x) - 1)`` below 0, elu_layer.cpp)
and SiLU is Caffe's Swish with beta 1 (``x * sigmoid(x)``, swish_layer.cpp); PReLU is Caffe's
PReLU (BVLC Caffe 1.0 has it). ReLU6 / hardtanh / clamp are built from ReLU, Power and Eltwise,
exactly (:meth:`NetBuilder.add_clamp`), not Caffe's Clip: Clip only exists in Caffe builds
from 2018 on, and the emulation runs in every build at no cost in exactness.
"""

from __future__ import annotations

import torch

from ... import ir as P
from ...layers.activation import ELUParam, SwishParam
from .common import out
from .lower import Blob, Lowering, op_name, register

#: ATen activations refused, with the reason shown to the user.
NOT_YET = {
    "gelu": "GELU has no Caffe layer",
    "hardswish": "hardswish has no Caffe layer",
    "hardsigmoid": "hardsigmoid has no Caffe layer",
}


def _unary(lw: Lowering, node, layer_type: str, params=None):
    x = lw.value(node.args[0])
    if not isinstance(x, Blob):
        return None
    top = lw.builder.add(layer_type, lw.layer_name(node), [x.name], params)
    return out(lw, node, top)


@register("relu")
def convert_relu(lw: Lowering, node):
    return _unary(lw, node, "ReLU")


@register("leaky_relu")
def convert_leaky_relu(lw: Lowering, node):
    slope = node.args[1] if len(node.args) > 1 else 0.01
    return _unary(lw, node, "ReLU", P.ReLUParam(negative_slope=float(slope)))


@register("sigmoid")
def convert_sigmoid(lw: Lowering, node):
    return _unary(lw, node, "Sigmoid")


@register("tanh")
def convert_tanh(lw: Lowering, node):
    return _unary(lw, node, "TanH")


@register("elu")
def convert_elu(lw: Lowering, node):
    args = list(node.args[1:]) + [1.0, 1.0, 1.0]
    alpha, scale, input_scale = (float(v) for v in args[:3])
    if scale != 1.0 or input_scale != 1.0:  # SELU / CELU forms: Caffe's ELU has alpha only
        lw.builder.unsupported(f"aten.elu with scale {scale}, input_scale {input_scale} "
                               "(Caffe's ELU has only alpha)", lw.where(node))
        return None
    return _unary(lw, node, "ELU", ELUParam(alpha=alpha))


@register("silu")
def convert_silu(lw: Lowering, node):
    return _unary(lw, node, "Swish", SwishParam(beta=1.0))


def _number(v):
    return None if v is None else float(v)


@register("hardtanh", "relu6", "clamp", "clip")
def convert_clamp(lw: Lowering, node):
    x = lw.value(node.args[0])
    name = op_name(node)
    if name == "relu6":
        low, high = 0.0, 6.0
    else:
        default = (-1.0, 1.0) if name == "hardtanh" else (None, None)
        args = list(node.args[1:3]) + [None] * 2
        low = node.kwargs.get("min", node.kwargs.get("min_val", args[0]))
        high = node.kwargs.get("max", node.kwargs.get("max_val", args[1]))
        if name == "hardtanh":
            low = default[0] if low is None else low
            high = default[1] if high is None else high
        if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):
            lw.builder.unsupported("clamp with tensor bounds", lw.where(node))
            return None
    top = lw.builder.add_clamp(lw.layer_name(node), x.name, _number(low), _number(high))
    return out(lw, node, top)


@register("prelu", "_prelu_kernel")
def convert_prelu(lw: Lowering, node):
    x, weight = lw.value(node.args[0]), lw.value(node.args[1])
    if not isinstance(weight, torch.Tensor) or weight.numel() not in (1, x.shape[1]):
        lw.builder.unsupported("PReLU with computed or non-per-channel slopes", lw.where(node))
        return None
    slopes = weight.detach().to(torch.float32).reshape(-1).numpy()
    return out(lw, node, lw.builder.add_prelu(lw.layer_name(node), x.name, slopes))


def _refuse(lw: Lowering, node):
    lw.builder.unsupported(f"aten.{op_name(node)}: {NOT_YET[op_name(node)]}", lw.where(node))


for _name in NOT_YET:
    register(_name)(_refuse)
