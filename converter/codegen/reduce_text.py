"""Code generators for issue 14's Reduction, ArgMax, MVN and SPP: a torch expression, or a
generated helper (``caffe_argmax``, ``caffe_mvn``, ``caffe_spp``) with the formula of
Caffe's .cpp."""

from __future__ import annotations

from ..errors import UnsupportedLayerError
from ..layers import canonical_axis
from ..layers.reduction import ArgMax, argmax_axis
from .layer_text import _op, num, register


@register("Reduction")
def reduction(layer, shapes, blobs):
    # reduction_layer.cpp: coeff * SUM / ASUM / SUMSQ / MEAN over axes [axis, end), the top
    # keeping the axes before `axis` (MEAN divides coeff by the count).
    p, n = layer.params, len(shapes[0])
    axis = canonical_axis(p.axis, n, layer)
    dims = tuple(range(axis, n))
    x = {"ASUM": "{0}.abs()", "SUMSQ": "({0} * {0})"}.get(p.operation, "{0}")
    fn = "mean" if p.operation == "MEAN" else "sum"
    expr = f"{x}.{fn}(dim={dims!r})"
    if float(p.coeff) != 1.0:
        expr = f"{expr} * {num(p.coeff)}"
    return [_op(layer, "func", call=expr)]


@register("ArgMax")
def argmax(layer, shapes, blobs):
    p = layer.params
    axis = argmax_axis(layer, shapes[0])
    tail = tuple(ArgMax.shape(layer, shapes)[0][0][1:])
    call = (f"caffe_argmax({{0}}, {p.top_k}, out_max_val={bool(p.out_max_val)}, "
            f"axis={axis}, tail={tail!r})")
    return [_op(layer, "func", call=call, helpers=("caffe_argmax",))]


@register("MVN")
def mvn(layer, shapes, blobs):
    p = layer.params
    start = 1 if p.across_channels else 2
    call = (f"caffe_mvn({{0}}, {start}, normalize_variance={bool(p.normalize_variance)}, "
            f"eps={num(p.eps)})")
    return [_op(layer, "func", call=call, helpers=("caffe_mvn",))]


@register("SPP")
def spp(layer, shapes, blobs):
    pool = layer.params.pool
    if pool not in ("MAX", "AVE"):
        raise UnsupportedLayerError(f"pool: {pool} is not supported (only MAX and AVE)")
    call = f"caffe_spp({{0}}, {pool!r}, {layer.params.pyramid_height})"
    return [_op(layer, "func", call=call, helpers=("caffe_pool2d", "caffe_spp"))]
