"""ArgMax and Reduction in PyTorch."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ...layers import canonical_axis
from ...layers.reduction import ArgMax, argmax_axis
from .module import CaffeModule
from .registry import register


class CaffeArgMax(CaffeModule):
    """Caffe ArgMax: the indices (as floats) of the ``top_k`` largest values, largest first,
    along ``axis``; with ``axis`` None, over each sample's flattened values, the values
    following the indices when ``out_max_val`` (argmax_layer.cpp). With an axis and
    out_max_val, only the values."""

    def __init__(self, top_k: int, out_max_val: bool, axis: Optional[int],
                 top_shape: Sequence[int]):
        super().__init__()
        self.top_k, self.out_max_val, self.axis = top_k, out_max_val, axis
        self.tail = tuple(top_shape[1:])

    def forward(self, x):
        if self.axis is not None:
            values, index = _caffe_topk(x, self.top_k, self.axis)
            return values if self.out_max_val else index.to(x.dtype)
        values, index = _caffe_topk(x.flatten(1), self.top_k, 1)
        parts = [index.to(x.dtype)] + ([values] if self.out_max_val else [])
        return torch.stack(parts, dim=1).reshape((x.shape[0],) + self.tail)


def _caffe_topk(x, k: int, dim: int):
    """(values, indices) of the k largest along ``dim`` in Caffe's order: argmax_layer.cpp
    sorts (value, index) pairs with std::greater, so among equal values the larger index
    comes first. A stable descending sort of the reversed axis gives exactly that."""
    n = x.shape[dim]
    values, index = torch.sort(x.flip(dim), dim=dim, descending=True, stable=True)
    return values.narrow(dim, 0, k), (n - 1) - index.narrow(dim, 0, k)


class CaffeReduction(CaffeModule):
    """Caffe Reduction: coeff * SUM / ASUM / SUMSQ / MEAN over axes [axis, end), the top
    keeping the axes before ``axis`` (reduction_layer.cpp; MEAN divides coeff by the count)."""

    def __init__(self, operation: str, axis: int, coeff: float, ndim: int):
        super().__init__()
        self.operation, self.axis, self.coeff = operation, axis, float(coeff)
        self.dims = tuple(range(axis, ndim))

    def forward(self, x):
        if self.operation == "ASUM":
            x = x.abs()
        elif self.operation == "SUMSQ":
            x = x * x
        y = x.mean(dim=self.dims) if self.operation == "MEAN" else x.sum(dim=self.dims)
        return y * self.coeff if self.coeff != 1.0 else y


@register("ArgMax")
def convert_argmax(layer, shapes):
    top = ArgMax.shape(layer, shapes)[0][0]
    p = layer.params
    return CaffeArgMax(p.top_k, p.out_max_val, argmax_axis(layer, shapes[0]), top)


@register("Reduction")
def convert_reduction(layer, shapes):
    p = layer.params
    axis = canonical_axis(p.axis, len(shapes[0]), layer)
    return CaffeReduction(p.operation, axis, p.coeff, len(shapes[0]))
