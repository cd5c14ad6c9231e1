"""Element-wise activations: ReLU, PReLU, ELU, Sigmoid, TanH, Swish, AbsVal, BNLL, Clip,
Threshold, Exp, Log, Power and (TEST-phase) Dropout; and Softmax."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import CaffeFormatError, ShapeError
from .common import Filler
from .registry import LAYERS, LayerType, register


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


@dataclass(frozen=True)
class ELUParam:
    """ELUParameter: y = x if x > 0 else alpha * (exp(x) - 1)."""
    alpha: float = 1.0


@dataclass(frozen=True)
class ClipParam:
    """ClipParameter: y = min(max(x, min), max). Both fields are ``required`` in caffe.proto,
    so they are always written; 0 stands for "not given" only in the dataclass."""
    min: float = 0.0
    max: float = 0.0


@dataclass(frozen=True)
class ExpParam:
    """ExpParameter: y = base ^ (shift + scale * x); base -1 means e."""
    base: float = -1.0
    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class LogParam:
    """LogParameter: y = log_base(shift + scale * x); base -1 means e."""
    base: float = -1.0
    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class SwishParam:
    """SwishParameter: y = x * sigmoid(beta * x)."""
    beta: float = 1.0


@dataclass(frozen=True)
class ThresholdParam:
    """ThresholdParameter: y = 1 if x > threshold else 0."""
    threshold: float = 0.0


@dataclass(frozen=True)
class PReLUParam:
    """PReLUParameter: y = max(x, 0) + a * min(x, 0), one learned a per channel (axis 1)
    or one for the whole blob (channel_shared)."""
    filler: Optional[Filler] = None
    channel_shared: bool = False


@register("AbsVal")
class AbsVal(_SameShape):
    """y = |x| (absval_layer.cpp)."""


@register("BNLL")
class BNLL(_SameShape):
    """y = log(1 + exp(x)), computed as x + log(1 + exp(-x)) for x > 0 (bnll_layer.cpp)."""


@register("ELU")
class ELU(_SameShape):
    params, field = ELUParam, "elu_param"


@register("Clip")
class Clip(_SameShape):
    params, field = ClipParam, "clip_param"

    def read(lp):
        if not (lp.clip_param.HasField("min") and lp.clip_param.HasField("max")):
            raise CaffeFormatError("clip_param needs both min and max (required fields)")
        return ClipParam(min=lp.clip_param.min, max=lp.clip_param.max)

    def write(c, lp):
        lp.clip_param.min, lp.clip_param.max = c.min, c.max


def _base_checked(lp):
    """Exp's and Log's parameters, read; their LayerSetUp CHECKs base > 0 or base == -1 (e)."""
    p = LayerType.read(lp)
    if p.base != -1 and not p.base > 0:
        raise CaffeFormatError(f"{LAYERS[lp.type].field}.base {p.base} must be positive "
                               "(or -1 for e)")
    return p


@register("Exp")
class Exp(_SameShape):
    params, field = ExpParam, "exp_param"

    read = _base_checked  # ExpLayer::LayerSetUp's CHECK


@register("Log")
class Log(_SameShape):
    params, field = LogParam, "log_param"

    read = _base_checked  # LogLayer::LayerSetUp's CHECK


@register("Swish")
class Swish(_SameShape):
    params, field = SwishParam, "swish_param"


@register("Threshold")
class Threshold(_SameShape):
    params, field = ThresholdParam, "threshold_param"


@register("PReLU")
class PReLU(LayerType):
    """PReLULayer: the slopes are one blob of shape (C,), or a 0-axis blob when
    channel_shared; C is axis 1 of a bottom with at least 2 axes (prelu_layer.cpp)."""
    params, field = PReLUParam, "prelu_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        shape = bottoms[0]
        if len(shape) < 2:
            raise ShapeError(f"PReLU needs a bottom with at least 2 axes, got {list(shape)}",
                             layer=layer.name, layer_type=layer.type)
        return [shape], [() if layer.params.channel_shared else (shape[1],)]
