"""Element-wise activations -> Caffe ReLU (with negative_slope), Sigmoid, TanH.

Caffe 1.0's ReLU is ``max(x, 0) + negative_slope * min(x, 0)`` (relu_layer.cpp), which is
LeakyReLU for a nonzero slope. Activations whose Caffe layer type this project's IR does not
have yet (Clip for ReLU6/hardtanh, ELU, PReLU) are refused by name.
"""

from __future__ import annotations

from ... import ir as P
from .common import out
from .lower import Blob, Lowering, op_name, register

#: ATen activations refused, with the reason shown to the user.
NOT_YET = {
    "hardtanh": "hardtanh/ReLU6 needs Caffe's Clip layer, which this project's IR lacks",
    "clamp": "clamp needs Caffe's Clip layer, which this project's IR lacks",
    "elu": "ELU is not in this project's IR yet",
    "prelu": "PReLU is not in this project's IR yet",
    "_prelu_kernel": "PReLU is not in this project's IR yet",
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


def _refuse(lw: Lowering, node):
    lw.builder.unsupported(f"aten.{op_name(node)}: {NOT_YET[op_name(node)]}", lw.where(node))


for _name in NOT_YET:
    register(_name)(_refuse)
