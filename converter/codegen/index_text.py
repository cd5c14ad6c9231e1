"""Code generators for issue 14's Im2col, Embed, BatchReindex, Filter and Parameter: a
torch expression, or a small generated helper where the layer holds a learned blob."""

from __future__ import annotations

from ..layers.conv import Im2col
from .layer_text import _op, register


@register("Im2col")
def im2col(layer, shapes, blobs):
    # im2col_layer.cpp: the columns in (c, kh, kw) order, as F.unfold's, viewed as
    # (N, C * kh * kw, out_h, out_w).
    p = layer.params
    top = Im2col.shape(layer, shapes)[0][0]
    call = (f"F.unfold({{0}}, {tuple(p.kernel)}, {tuple(p.dilation)}, "
            f"{tuple(p.pad)}, {tuple(p.stride)}).reshape({{0}}.shape[0], {top[1]}, "
            f"{top[2]}, {top[3]})")
    return [_op(layer, "func", call=call)]


@register("Embed")
def embed(layer, shapes, blobs):
    p = layer.params
    module = f"Embed({p.input_dim}, {p.num_output}" + ("" if p.bias_term else ", bias=False") + ")"
    tensors = {"weight": blobs[0]}
    if p.bias_term:
        tensors["bias"] = blobs[1]
    return [_op(layer, "embed", module=module, tensors=tensors, helpers=("Embed",))]


@register("BatchReindex")
def batch_reindex(layer, shapes, blobs):
    # batch_reindex_layer.cpp: top[i] = bottom[0][int(bottom[1][i])].
    return [_op(layer, "func", call="{0}.index_select(0, {1}.long())")]


@register("Filter")
def filter_(layer, shapes, blobs):
    # filter_layer.cpp: the items of each data bottom whose selector (the last bottom) is
    # nonzero, in order.
    n = len(layer.bottoms) - 1
    keep = f"{{{n}}}.reshape(-1) != 0"
    items = ", ".join(f"{{{i}}}[{keep}]" for i in range(n))
    return [_op(layer, "func", call=items)]


@register("Parameter")
def parameter(layer, shapes, blobs):
    # parameter_layer.cpp: its one learned blob, as a top.
    shape = tuple(layer.params.shape)
    return [_op(layer, "param", module=f"Parameter({shape!r})", call="{m}()",
                tensors={"weight": blobs[0]}, helpers=("Parameter",))]
