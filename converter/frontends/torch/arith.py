"""Arithmetic -> Eltwise (two blobs), Power (a scalar) or Scale (a per-channel constant).

Caffe's Power computes ``(shift + scale * x) ^ power`` (power_layer.cpp), so ``x + s``,
``x - s``, ``s - x``, ``x * s`` and ``-x`` are exact. ``x / s`` becomes ``x * (1/s)``: exact
when s is a power of two, else within one rounding of float32. A per-channel constant
(shape (C, 1, 1) against N,C,H,W) is a Scale layer; ``x * g + b`` with both per-channel (an
affine step, e.g. a Caffe Scale converted to torch) is one Scale with bias, computed as
Caffe does: product first, then the bias.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from ... import ir as P
from .common import array, out
from .lower import Blob, Lowering, op_name, register


def _scalar(v) -> Optional[float]:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and v.dim() == 0:
        return float(v)
    return None


def _per_channel(v, x: Blob) -> Optional[torch.Tensor]:
    """``v`` as a (C,) vector if it broadcasts against ``x`` along axis 1 only."""
    if not isinstance(v, torch.Tensor) or len(x.shape) < 2:
        return None
    c = x.shape[1]
    trailing = len(x.shape) - 2
    shape = tuple(v.shape)
    if shape in ((c,) + (1,) * trailing, (1, c) + (1,) * trailing) or \
            (trailing == 0 and shape == (c,)):
        return v.reshape(c)
    return None


def _power(lw, node, x: Blob, power=1.0, scale=1.0, shift=0.0):
    top = lw.builder.add("Power", lw.layer_name(node), [x.name],
                         P.PowerParam(power=float(power), scale=float(scale),
                                      shift=float(shift)))
    return out(lw, node, top)


def _scale(lw, node, x: Blob, gamma, beta=None):
    blobs = [array(gamma)] + ([] if beta is None else [array(beta)])
    top = lw.builder.add("Scale", lw.layer_name(node), [x.name],
                         P.ScaleParam(bias_term=beta is not None), blobs)
    return out(lw, node, top)


def _merge_bias(lw: Lowering, node, x: Blob, beta) -> Optional[Blob]:
    """Fold ``+ beta`` into the bias-less Scale layer that produced ``x``, if only this op
    reads it."""
    layers = lw.builder.net.layers
    source = node.args[0]
    if not layers or len(source.users) != 1:
        return None
    last = layers[-1]
    if last.type != "Scale" or last.tops != [x.name] or last.params.bias_term or \
            len(last.bottoms) != 1:
        return None
    last.params = dataclasses.replace(last.params, bias_term=True)
    lw.builder.weights[last.name].append(array(beta))
    return Blob(x.name, lw.shape(node))


def _eltwise(lw, node, a: Blob, b: Blob, operation: str, coeff=()):
    if a.shape != b.shape:
        lw.builder.unsupported(f"aten.{op_name(node)} broadcasting {a.shape} with {b.shape}",
                               lw.where(node))
        return None
    top = lw.builder.add("Eltwise", lw.layer_name(node), [a.name, b.name],
                         P.EltwiseParam(operation=operation, coeff=tuple(coeff)))
    return out(lw, node, top)


def _operands(lw, node):
    a, b = lw.value(node.args[0]), lw.value(node.args[1])
    alpha = node.kwargs.get("alpha", node.args[2] if len(node.args) > 2 else 1)
    return a, b, float(alpha)


@register("add")
def convert_add(lw: Lowering, node):
    a, b, alpha = _operands(lw, node)
    if not isinstance(a, Blob):
        a, b = b, a
        if alpha != 1:
            return _refuse(lw, node)
    if isinstance(b, Blob):
        return _eltwise(lw, node, a, b, "SUM", () if alpha == 1 else (1.0, alpha))
    s, c = _scalar(b), _per_channel(b, a)
    if s is not None:
        return _power(lw, node, a, shift=s * alpha)
    if c is not None:
        c = c * alpha
        return _merge_bias(lw, node, a, c) or _scale(lw, node, a, torch.ones_like(c), c)
    return _refuse(lw, node)


@register("sub")
def convert_sub(lw: Lowering, node):
    a, b, alpha = _operands(lw, node)
    if isinstance(a, Blob) and isinstance(b, Blob):
        return _eltwise(lw, node, a, b, "SUM", (1.0, -alpha))
    if isinstance(a, Blob):
        s, c = _scalar(b), _per_channel(b, a)
        if s is not None:
            return _power(lw, node, a, shift=-s * alpha)
        if c is not None:
            return _scale(lw, node, a, torch.ones_like(c), -c * alpha)
    elif _scalar(a) is not None and alpha == 1:
        return _power(lw, node, b, scale=-1.0, shift=_scalar(a))
    return _refuse(lw, node)


@register("rsub")
def convert_rsub(lw: Lowering, node):
    a, b, alpha = _operands(lw, node)
    if isinstance(a, Blob) and _scalar(b) is not None:
        return _power(lw, node, a, scale=-alpha, shift=_scalar(b))
    return _refuse(lw, node)


@register("mul")
def convert_mul(lw: Lowering, node):
    a, b = lw.value(node.args[0]), lw.value(node.args[1])
    if not isinstance(a, Blob):
        a, b = b, a
    if isinstance(b, Blob):
        return _eltwise(lw, node, a, b, "PROD")
    s, c = _scalar(b), _per_channel(b, a)
    if s is not None:
        return _power(lw, node, a, scale=s)
    if c is not None:
        return _scale(lw, node, a, c)
    return _refuse(lw, node)


@register("div")
def convert_div(lw: Lowering, node):
    a, b = lw.value(node.args[0]), lw.value(node.args[1])
    if node.kwargs.get("rounding_mode") is None and isinstance(a, Blob):
        s, c = _scalar(b), _per_channel(b, a)
        if s is not None and s != 0:
            return _power(lw, node, a, scale=1.0 / s)
        if c is not None:
            return _scale(lw, node, a, 1.0 / c)
    return _refuse(lw, node)


@register("neg")
def convert_neg(lw: Lowering, node):
    return _power(lw, node, lw.value(node.args[0]), scale=-1.0)


@register("pow")
def convert_pow(lw: Lowering, node):
    a, b = lw.value(node.args[0]), lw.value(node.args[1])
    if isinstance(a, Blob) and _scalar(b) is not None:
        return _power(lw, node, a, power=_scalar(b))
    return _refuse(lw, node)


def _refuse(lw: Lowering, node):
    lw.builder.unsupported(f"aten.{op_name(node)} with these operands (Caffe has a layer for "
                           "blob op blob, blob op scalar and blob op per-channel constant)",
                           lw.where(node))
    return None
