"""Eltwise: SUM (with coefficients), PROD, MAX of same-shaped bottoms (eltwise_layer.cpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..errors import CaffeFormatError, ShapeError
from .fields import read_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class EltwiseParam:
    """EltwiseParameter; ``coeff`` applies to SUM only and is empty or one per bottom."""
    operation: str = "SUM"  # PROD | SUM | MAX
    coeff: Tuple[float, ...] = ()


@register("Eltwise")
class Eltwise(LayerType):
    params, field = EltwiseParam, "eltwise_param"
    bottoms, tops = (2, None), (1, 1)

    def shape(layer, bottoms):
        p = layer.params
        if any(b != bottoms[0] for b in bottoms):
            raise ShapeError(f"bottoms differ in shape: {[list(b) for b in bottoms]}",
                             layer=layer.name, layer_type=layer.type)
        if p.coeff and len(p.coeff) != len(bottoms):
            raise ShapeError("needs one coeff per bottom", layer=layer.name,
                             layer_type=layer.type)
        return [bottoms[0]], []

    def read(lp):
        params = read_fields(EltwiseParam, lp.eltwise_param)
        if params.coeff and params.operation != "SUM":  # EltwiseLayer::LayerSetUp
            raise CaffeFormatError("Eltwise only takes coefficients for summation (SUM)")
        if params.coeff and len(params.coeff) != len(lp.bottom):
            raise CaffeFormatError(f"Eltwise takes one coeff per bottom: {len(params.coeff)} "
                                   f"coeffs for {len(lp.bottom)} bottoms")
        return params
