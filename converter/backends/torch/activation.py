"""Element-wise activations in PyTorch: ReLU, Sigmoid, TanH, Power, Dropout, Softmax."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ...layers import canonical_axis
from .module import CaffeModule
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
