"""Element-wise activations: ReLU, Sigmoid, TanH, Power and (TEST-phase) Dropout."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import LayerType, register


@dataclass(frozen=True)
class ReLUParam:
    """ReLUParameter: leaky slope for negative inputs."""
    negative_slope: float = 0.0


@dataclass(frozen=True)
class PowerParam:
    """PowerParameter: y = (shift + scale * x) ^ power."""
    power: float = 1.0
    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class DropoutParam:
    dropout_ratio: float = 0.5


class _SameShape(LayerType):
    """One bottom, one top of the same shape, no parameter blobs."""
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        return [bottoms[0]], []


@register("ReLU")
class ReLU(_SameShape):
    params, field = ReLUParam, "relu_param"


@register("Sigmoid")
class Sigmoid(_SameShape):
    pass


@register("TanH")
class TanH(_SameShape):
    pass


@register("Power")
class Power(_SameShape):
    params, field = PowerParam, "power_param"


@register("Dropout")
class Dropout(_SameShape):
    params, field = DropoutParam, "dropout_param"


@dataclass(frozen=True)
class SoftmaxParam:
    axis: int = 1


@register("Softmax")
class Softmax(_SameShape):
    """Softmax over one axis (softmax_layer.cpp)."""
    params, field = SoftmaxParam, "softmax_param"
