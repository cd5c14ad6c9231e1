"""InnerProduct: a fully connected layer over the axes from ``axis`` on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .common import Filler, canonical_axis, count
from .fields import write_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class InnerProductParam:
    """InnerProductParameter. Input is flattened from ``axis`` on."""
    num_output: int = 0
    bias_term: bool = True
    axis: int = 1
    transpose: bool = False
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@register("InnerProduct")
class InnerProduct(LayerType):
    params, field = InnerProductParam, "inner_product_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        p, shape = layer.params, bottoms[0]
        axis = canonical_axis(p.axis, len(shape), layer)
        k = count(shape, axis)
        blobs = [(k, p.num_output) if p.transpose else (p.num_output, k)]
        if p.bias_term:
            blobs.append((p.num_output,))
        return [tuple(shape[:axis]) + (p.num_output,)], blobs

    def write(c, lp):
        p = lp.inner_product_param
        p.num_output = c.num_output  # required by Caffe, so always written
        write_fields(c, p, skip=("num_output",))
