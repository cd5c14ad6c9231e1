"""Reductions over trailing axes: ArgMax and Reduction (argmax_layer.cpp, reduction_layer.cpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import CaffeFormatError, ShapeError
from .common import canonical_axis, count
from .fields import read_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class ArgMaxParam:
    """ArgMaxParameter: the ``top_k`` largest values' indices (or, with out_max_val, the
    values too) per sample, or along ``axis`` when it is given (None: not given)."""
    out_max_val: bool = False
    top_k: int = 1
    axis: Optional[int] = None


@dataclass(frozen=True)
class ReductionParam:
    """ReductionParameter: ``coeff`` times the SUM / ASUM / SUMSQ / MEAN of all axes from
    ``axis`` on; the top keeps the axes before it (axis 0: one scalar)."""
    operation: str = "SUM"
    axis: int = 0
    coeff: float = 1.0


def argmax_axis(layer, shape) -> Optional[int]:
    """The canonical axis of an ArgMax layer, None when it works per sample."""
    axis = layer.params.axis
    return None if axis is None else canonical_axis(axis, len(shape), layer)


@register("ArgMax")
class ArgMax(LayerType):
    params, field = ArgMaxParam, "argmax_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        """ArgMaxLayer::Reshape: with an axis, the bottom's shape with top_k there; else
        (N, 1 or 2, top_k) padded with 1s to the bottom's axis count (at least 3)."""
        p, shape = layer.params, tuple(bottoms[0])
        axis = argmax_axis(layer, shape)
        limit = count(shape, 1) if axis is None else shape[axis]
        if not 1 <= p.top_k <= limit:
            raise ShapeError(f"top_k {p.top_k} must be in [1, {limit}]", layer=layer.name,
                             layer_type=layer.type)
        if axis is not None:
            return [shape[:axis] + (p.top_k,) + shape[axis + 1:]], []
        top = [1] * max(3, len(shape))
        top[0], top[1], top[2] = shape[0], 2 if p.out_max_val else 1, p.top_k
        return [tuple(top)], []


@register("Reduction")
class Reduction(LayerType):
    params, field = ReductionParam, "reduction_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        axis = canonical_axis(layer.params.axis, len(bottoms[0]), layer)
        return [tuple(bottoms[0][:axis])], []

    def read(lp):
        p = read_fields(ReductionParam, lp.reduction_param)
        if p.operation not in ("SUM", "ASUM", "SUMSQ", "MEAN"):
            raise CaffeFormatError(f"unknown reduction operation {p.operation}")
        return p
