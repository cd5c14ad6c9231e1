"""InnerProduct in PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers import canonical_axis, count
from .module import CaffeModule, zeros
from .registry import register


class CaffeInnerProduct(CaffeModule):
    """Caffe InnerProduct: flatten from ``axis``, then x W^T + b (x W if ``transpose``,
    where Caffe stores W as (K, N))."""
    caffe_blobs = ("weight", "bias")

    def __init__(self, k: int, p, axis: int):
        super().__init__()
        self.axis, self.transpose = axis, p.transpose
        shape = (k, p.num_output) if p.transpose else (p.num_output, k)
        self.weight = nn.Parameter(zeros(shape))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x):
        x = x.flatten(self.axis)
        w = self.weight.t() if self.transpose else self.weight
        return F.linear(x, w, self.bias)


@register("InnerProduct")
def convert_inner_product(layer, shapes):
    axis = canonical_axis(layer.params.axis, len(shapes[0]), layer)
    return CaffeInnerProduct(count(shapes[0], axis), layer.params, axis)
