"""Eltwise in MXNet."""

from __future__ import annotations

import mxnet as mx

from .registry import register


def _eltwise_check(layer):
    op = layer.params.operation
    return None if op in ("SUM", "PROD", "MAX") else f"Eltwise operation {op}"


@register("Eltwise", check=_eltwise_check)
def eltwise(ctx, layer, bottoms):
    """EltwiseLayer::Forward_cpu: SUM is top = sum_i coeff_i * x_i accumulated in bottom
    order (caffe_axpy), PROD and MAX fold left over the bottoms."""
    p, name = layer.params, layer.name
    if p.operation == "SUM":
        coeffs = p.coeff or (1.0,) * len(bottoms)
        terms = [x if c == 1 else x * c for x, c in zip(bottoms, coeffs)]
        # add_n (ElementWiseSum), not elemwise_add: MXNet 1.9's oneDNN "conv + sum" fusion
        # breaks binding when the convolution's own output is also a graph output (e.g.
        # --outputs res2a_branch2b,res2a). add_n sums its inputs in order, as Caffe does.
        return [mx.sym.add_n(*terms, name=name)]
    if p.operation == "PROD":
        terms, fold = bottoms, lambda a, b: a * b  # noqa: E731
    else:
        terms, fold = bottoms, mx.sym.maximum
    y = terms[0]
    for t in terms[1:]:
        y = fold(y, t)
    return [mx.sym.identity(y, name=name)]
