"""Element-wise activations -> Caffe ReLU (with negative_slope), Sigmoid, TanH.

Caffe 1.0's ReLU is ``max(x, 0) + negative_slope * min(x, 0)`` (relu_layer.cpp), which is
LeakyReLU for a nonzero slope. Activations whose Caffe layer type this project's IR does not
have yet (ELU, Swish) are refused by name. ReLU6 / hardtanh / clamp and PReLU are built from
ReLU, Power, Scale and Eltwise, exactly (:meth:`NetBuilder.add_clamp`, ``add_prelu``), so
they need no Clip or PReLU layer type and run in every Caffe build.
"""

from __future__ import annotations

import torch

from ... import ir as P
from .common import out
from .lower import Blob, Lowering, op_name, register

#: ATen activations refused, with the reason shown to the user.
NOT_YET = {
    "elu": "ELU is not in this project's IR yet",
    "gelu": "GELU has no Caffe layer",
    "silu": "SiLU/Swish is not in this project's IR yet",
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
