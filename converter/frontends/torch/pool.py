"""Pooling ops -> Caffe Pooling (see :mod:`converter.frontends.pooling` for the exactness
rules: extent by CEIL, else FLOOR with a warning, else refused)."""

from __future__ import annotations

from ... import ir as P
from ..pooling import PoolingChoice, adaptive_pooling, caffe_pooling
from .common import is_tuple, out, pair
from .lower import Blob, Lowering, register


def _emit(lw: Lowering, node, x: Blob, choice: PoolingChoice, what: str):
    if choice.refusal:
        lw.builder.unsupported(f"{what}: {choice.refusal}", lw.where(node))
        return None
    name = lw.layer_name(node)
    if choice.warning:
        lw.builder.warn(f"layer '{name}' {choice.warning}")
    top = lw.builder.add("Pooling", name, [x.name], choice.params)
    blob = Blob(top, _out_shape(node))
    return (blob, None) if is_tuple(node) else blob


def _out_shape(node):
    """The pooled shape (the first output of ops that also return indices)."""
    val = node.meta["val"]
    val = val[0] if isinstance(val, (tuple, list)) else val
    return tuple(int(d) for d in val.shape)


def _out_hw(node):
    return _out_shape(node)[-2:]


@register("max_pool2d", "max_pool2d_with_indices")
def convert_max_pool(lw: Lowering, node):
    args = list(lw.value(node.args)) + [None] * 6
    x, kernel, stride, pad, dilation = args[:5]
    kernel = pair(kernel)
    if pair(dilation, 1) != (1, 1):
        lw.builder.unsupported("dilated max pooling (Caffe has no pooling dilation)",
                               lw.where(node))
        return None
    choice = caffe_pooling("MAX", x.shape[-2:], kernel, pair(stride, kernel), pair(pad, 0),
                           _out_hw(node))
    return _emit(lw, node, x, choice, "max pooling")


@register("avg_pool2d")
def convert_avg_pool(lw: Lowering, node):
    args = list(lw.value(node.args)) + [None] * 7
    x, kernel, stride, pad, _, include, divisor = args[:7]
    if divisor is not None:
        lw.builder.unsupported("avg_pool2d divisor_override (Caffe has no such option)",
                               lw.where(node))
        return None
    kernel = pair(kernel)
    choice = caffe_pooling("AVE", x.shape[-2:], kernel, pair(stride, kernel), pair(pad, 0),
                           _out_hw(node), count_include_pad=include is not False)
    return _emit(lw, node, x, choice, "average pooling")


@register("adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_max_pool2d")
def convert_adaptive(lw: Lowering, node):
    x = lw.value(node.args[0])
    pool = "MAX" if "max" in str(node.target) else "AVE"
    choice = adaptive_pooling(pool, x.shape[-2:], _out_hw(node))
    return _emit(lw, node, x, choice, "adaptive pooling")


@register("mean")
def convert_mean(lw: Lowering, node):
    x = lw.value(node.args[0])
    dims = node.args[1] if len(node.args) > 1 else None
    keep = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    rank = len(x.shape)
    if rank != 4 or dims is None or sorted(d % rank for d in dims) != [2, 3]:
        lw.builder.unsupported("mean over axes other than H and W", lw.where(node))
        return None
    name = lw.layer_name(node)
    top = lw.builder.add("Pooling", name, [x.name], P.PoolingParam(pool="AVE",
                                                                   global_pooling=True))
    if not keep:
        top = lw.builder.add("Flatten", name + ".flatten", [top], P.FlattenParam(axis=1))
    return out(lw, node, top)
