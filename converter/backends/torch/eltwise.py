"""Eltwise in PyTorch (a plain two-bottom SUM can be fused into a convolution)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .module import CaffeModule
from .registry import refuse, register


class CaffeEltwise(CaffeModule):
    """Caffe Eltwise: SUM (with optional per-bottom coefficients), PROD or MAX."""

    reusable = (0, 1)

    def __init__(self, operation: str, coeff: Sequence[float] = ()):
        super().__init__()
        self.operation, self.coeff = operation, tuple(float(c) for c in coeff)

    def forward(self, *xs, reuse: Optional[int] = None):
        if self.operation == "PROD":
            y = xs[0]
            for x in xs[1:]:
                y = y * x
            return y
        if self.operation == "MAX":
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
            return y
        # SUM: eltwise_layer.cpp accumulates coeff_i * bottom_i in bottom order.
        coeff = self.coeff or (1.0,) * len(xs)
        terms = [x if c == 1.0 else x * c for x, c in zip(xs, coeff)]
        if reuse in (0, 1) and len(terms) > 1 and terms[reuse] is xs[reuse] and all(
                t.dtype == xs[reuse].dtype for t in terms):
            # The same sums in the same order, in bottom 0's or 1's memory (t1 + t0 is
            # t0 + t1 exactly: IEEE addition commutes). No shape test: Caffe's Eltwise
            # needs equal bottom shapes (its shape rule refuses others), and comparing traced
            # sizes would turn symbolic batch sizes into constants in an ONNX trace.
            y = terms[0].add_(terms[1]) if reuse == 0 else terms[1].add_(terms[0])
            for t in terms[2:]:
                y = y.add_(t)
            return y
        y = terms[0]
        for t in terms[1:]:
            y = y + t
        return y

    def fresh(self, n_bottoms: int) -> bool:
        return self.operation == "SUM" and n_bottoms >= 2  # one bottom is returned as is

    def post_op(self, bottoms):
        plain = (self.operation == "SUM" and len(bottoms) == 2 and bottoms[0] != bottoms[1]
                 and all(c == 1.0 for c in self.coeff))
        return "sum" if plain else None


@register("Eltwise")
def convert_eltwise(layer, shapes):
    p = layer.params
    if p.operation not in ("SUM", "PROD", "MAX"):
        refuse(layer, f"unknown Eltwise operation {p.operation}")
    if p.coeff and p.operation != "SUM":
        refuse(layer, "Eltwise coeff is only defined for operation SUM (Caffe refuses it)")
    return CaffeEltwise(p.operation, p.coeff)
