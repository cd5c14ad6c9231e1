"""Code generators for issue 14's element-wise types: AbsVal, BNLL, Clip, ELU, Exp, Log,
Swish, Threshold and PReLU, each as an idiomatic module or a one-line torch expression with
the exact formula of Caffe's .cpp (the same the torch back end proves against the goldens).
"""

from __future__ import annotations

import numpy as np

from .layer_text import _op, num, register


@register("AbsVal")
def absval(layer, shapes, blobs):
    return [_op(layer, "func", call="torch.abs({0})")]  # absval_layer.cpp: |x|


@register("BNLL")
def bnll(layer, shapes, blobs):
    # bnll_layer.cpp: x > 0 ? x + log(1 + exp(-x)) : log(1 + exp(x)), i.e. the overflow-free
    # max(x, 0) + log1p(exp(-|x|)).
    call = "torch.clamp({0}, min=0) + torch.log1p(torch.exp(-{0}.abs()))"
    return [_op(layer, "func", call=call)]


@register("Clip")
def clip(layer, shapes, blobs):
    p = layer.params
    # clip_layer.cpp: max(min, min(x, max)); the upper bound first, as Caffe.
    call = f"torch.clamp(torch.clamp({{0}}, max={num(p.max)}), min={num(p.min)})"
    return [_op(layer, "func", call=call)]


@register("ELU")
def elu(layer, shapes, blobs):
    # elu_layer.cpp: max(x, 0) + alpha * (exp(min(x, 0)) - 1), which nn.ELU computes.
    alpha = layer.params.alpha
    return [_op(layer, "elu", module="nn.ELU()" if alpha == 1.0 else f"nn.ELU({num(alpha)})")]


@register("Swish")
def swish(layer, shapes, blobs):
    beta = layer.params.beta
    if beta == 1.0:  # swish_layer.cpp: x * sigmoid(beta * x); nn.SiLU for beta 1
        return [_op(layer, "silu", module="nn.SiLU()")]
    return [_op(layer, "func", call=f"{{0}} * torch.sigmoid({{0}} * {num(beta)})")]


@register("Threshold")
def threshold(layer, shapes, blobs):
    # threshold_layer.cpp: x > threshold ? 1 : 0.
    call = f"({{0}} > {num(layer.params.threshold)}).to({{0}}.dtype)"
    return [_op(layer, "func", call=call)]


def _f32(value) -> float:
    return float(np.float32(value))


@register("Exp")
def exp(layer, shapes, blobs):
    p = layer.params
    base, scale, shift = _f32(p.base), _f32(p.scale), _f32(p.shift)
    # exp_layer.cpp: outer * exp(inner * x), inner = log(base) * scale (log(base) = 1 for
    # base -1, i.e. e) and outer = base ^ shift.
    inner = (1.0 if base == -1 else float(np.log(base))) * scale
    outer = 1.0 if shift == 0 else float(np.exp(shift) if base == -1 else np.power(base, shift))
    expr = "torch.exp({0})" if inner == 1.0 else f"torch.exp({{0}} * {num(inner)})"
    if outer != 1.0:
        expr = f"{expr} * {num(outer)}"
    return [_op(layer, "func", call=expr)]


@register("Log")
def log(layer, shapes, blobs):
    p = layer.params
    scale, shift, base = _f32(p.scale), _f32(p.shift), _f32(p.base)
    # log_layer.cpp: log(shift + scale * x) * base_scale, base_scale = 1 / log(base) (1 for
    # base -1), each step skipped when it is the identity.
    expr = "{0}" if scale == 1.0 else f"{{0}} * {num(scale)}"
    if shift != 0.0:
        expr = f"{expr} + {num(shift)}"
    expr = f"torch.log({expr})"
    base_scale = 1.0 if base == -1 else float(1.0 / np.log(base))
    if base_scale != 1.0:
        expr = f"{expr} * {num(base_scale)}"
    return [_op(layer, "func", call=expr)]


@register("PReLU")
def prelu(layer, shapes, blobs):
    # prelu_layer.cpp: max(x, 0) + a_c * min(x, 0), a per channel (axis 1) or one shared:
    # nn.PReLU's x > 0 ? x : a_c * x gives the same values.
    shared = layer.params.channel_shared
    n = 1 if shared else shapes[0][1]
    module = "nn.PReLU()" if n == 1 else f"nn.PReLU({n})"
    weight = np.asarray(blobs[0], np.float32).reshape(n)
    return [_op(layer, "prelu", module=module, tensors={"weight": weight})]
