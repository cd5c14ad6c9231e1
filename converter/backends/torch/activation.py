"""Element-wise activations in PyTorch: ReLU, PReLU, ELU, Sigmoid, TanH, Swish, AbsVal, BNLL,
Clip, Threshold, Exp, Log, Power, Dropout, Softmax."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...layers import canonical_axis
from .module import CaffeModule, trailing_view
from .registry import register


class CaffeReLU(CaffeModule):
    """Caffe ReLU: max(x, 0) + negative_slope * min(x, 0)."""

    reusable = (0,)

    def __init__(self, negative_slope: float = 0.0):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x, *, reuse: Optional[int] = None):
        if self.negative_slope == 0.0:
            return F.relu(x, inplace=reuse == 0)
        return F.leaky_relu(x, self.negative_slope, inplace=reuse == 0)

    def fresh(self, n_bottoms: int) -> bool:
        return True

    def post_op(self, bottoms):
        return "relu" if self.negative_slope == 0.0 else None


class CaffeUnary(CaffeModule):
    """Element-wise Sigmoid or TanH."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        return torch.sigmoid(x) if self.kind == "Sigmoid" else torch.tanh(x)


class CaffePower(CaffeModule):
    """Caffe Power: y = (shift + scale * x) ^ power, with power_layer.cpp's shortcuts: a
    constant output when scale == 0 or power == 0, and no pow() when power == 1."""

    def __init__(self, power: float, scale: float, shift: float):
        super().__init__()
        self.power, self.scale, self.shift = float(power), float(scale), float(shift)

    def forward(self, x):
        if self.scale == 0.0 or self.power == 0.0:
            value = 1.0 if self.power == 0.0 else self.shift ** self.power
            return torch.full_like(x, value)
        y = x * self.scale if self.scale != 1.0 else x
        if self.shift != 0.0:
            y = y + self.shift
        return torch.pow(y, self.power) if self.power != 1.0 else y


class CaffeIdentity(CaffeModule):
    """Dropout at TEST phase: Caffe copies the bottom (scaling happens only in training)."""

    def forward(self, x):
        return x


class CaffeSoftmax(CaffeModule):
    """Caffe Softmax over one axis (max-subtracted exponentials, as softmax_layer.cpp)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return torch.softmax(x, dim=self.axis)


@register("ReLU")
def convert_relu(layer, shapes):
    return CaffeReLU(layer.params.negative_slope)


@register("Sigmoid", "TanH")
def convert_unary(layer, shapes):
    return CaffeUnary(layer.type)


@register("Power")
def convert_power(layer, shapes):
    p = layer.params
    return CaffePower(p.power, p.scale, p.shift)


@register("Dropout")
def convert_dropout(layer, shapes):
    return CaffeIdentity()


@register("Softmax")
def convert_softmax(layer, shapes):
    return CaffeSoftmax(canonical_axis(layer.params.axis, len(shapes[0]), layer))


class CaffePointwise(CaffeModule):
    """A parameter-free element-wise function of Caffe's, by type, with its (at most two)
    scalar settings ``a`` and ``b``; each line cites the Caffe layer it reproduces."""

    def __init__(self, kind: str, a: float = 0.0, b: float = 0.0):
        super().__init__()
        self.kind, self.a, self.b = kind, float(a), float(b)

    def forward(self, x):
        kind, a, b = self.kind, self.a, self.b
        if kind == "AbsVal":  # absval_layer.cpp: |x|
            return torch.abs(x)
        if kind == "BNLL":  # bnll_layer.cpp: x > 0 ? x + log(1 + exp(-x)) : log(1 + exp(x))
            return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))
        if kind == "ELU":  # elu_layer.cpp: max(x, 0) + alpha * (exp(min(x, 0)) - 1)
            return F.elu(x, a)
        if kind == "Clip":  # clip_layer.cpp: max(min, min(x, max))
            return torch.clamp(torch.clamp(x, max=b), min=a)
        if kind == "Swish":  # swish_layer.cpp: x * sigmoid(beta * x)
            return x * torch.sigmoid(x * a if a != 1.0 else x)
        if kind == "Threshold":  # threshold_layer.cpp: x > threshold ? 1 : 0
            return (x > a).to(x.dtype)
        raise ValueError(kind)

    def extra_repr(self) -> str:
        return f"{self.kind}, a={self.a}, b={self.b}"


@register("AbsVal", "BNLL")
def convert_pointwise(layer, shapes):
    return CaffePointwise(layer.type)


@register("ELU")
def convert_elu(layer, shapes):
    return CaffePointwise("ELU", layer.params.alpha)


@register("Clip")
def convert_clip(layer, shapes):
    return CaffePointwise("Clip", layer.params.min, layer.params.max)


@register("Swish")
def convert_swish(layer, shapes):
    return CaffePointwise("Swish", layer.params.beta)


@register("Threshold")
def convert_threshold(layer, shapes):
    return CaffePointwise("Threshold", layer.params.threshold)


class CaffeExp(CaffeModule):
    """Caffe Exp: y = outer * exp(inner * x) with exp_layer.cpp's float constants
    inner = log(base) * scale (log(base) = 1 for base -1) and outer = base ^ shift."""

    def __init__(self, p):
        super().__init__()
        f32 = np.float32
        log_base = f32(1) if p.base == -1 else np.log(f32(p.base))
        self.inner = float(f32(log_base * f32(p.scale)))
        self.outer = 1.0 if p.shift == 0 else float(
            np.exp(f32(p.shift)) if p.base == -1 else np.power(f32(p.base), f32(p.shift)))

    def forward(self, x):
        y = torch.exp(x * self.inner if self.inner != 1.0 else x)
        return y * self.outer if self.outer != 1.0 else y


class CaffeLog(CaffeModule):
    """Caffe Log: y = log(shift + scale * x) * base_scale, base_scale = 1 / log(base)
    (1 for base -1), each step skipped when it is the identity, as log_layer.cpp does."""

    def __init__(self, p):
        super().__init__()
        f32 = np.float32
        self.scale, self.shift = float(p.scale), float(p.shift)
        self.base_scale = 1.0 if p.base == -1 else float(f32(1) / np.log(f32(p.base)))

    def forward(self, x):
        if self.scale != 1.0:
            x = x * self.scale
        if self.shift != 0.0:
            x = x + self.shift
        y = torch.log(x)
        return y * self.base_scale if self.base_scale != 1.0 else y


class CaffePReLU(CaffeModule):
    """Caffe PReLU: max(x, 0) + a_c * min(x, 0), a per channel (axis 1) or shared."""

    caffe_blobs = ("weight",)

    def __init__(self, channels: int, shared: bool, trailing: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full(() if shared else (channels,), 0.25))
        self.trailing = 0 if shared else trailing

    def forward(self, x):
        slope = trailing_view(self.weight, self.trailing)
        return torch.clamp(x, min=0) + slope * torch.clamp(x, max=0)


@register("Exp")
def convert_exp(layer, shapes):
    return CaffeExp(layer.params)


@register("Log")
def convert_log(layer, shapes):
    return CaffeLog(layer.params)


@register("PReLU")
def convert_prelu(layer, shapes):
    shape = shapes[0]
    return CaffePReLU(shape[1], layer.params.channel_shared, len(shape) - 2)
