"""Shape ops and identities: flatten, view/reshape, concat, softmax, dropout, copies."""

from __future__ import annotations

import math

import torch

from ... import ir as P
from .common import is_tuple, out
from .lower import Blob, Lowering, module_of, register


# ------------------------------------------------------------------ identity


@register("clone", "alias", "contiguous", "detach", "lift_fresh_copy", "_assert_tensor_metadata")
def convert_identity(lw: Lowering, node):
    return lw.value(node.args[0])


@register("dropout", "feature_dropout", "native_dropout")
def convert_dropout(lw: Lowering, node):
    train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train", False)
    if train:
        lw.builder.unsupported("dropout in training mode (call model.eval())", lw.where(node))
        return None
    x = lw.value(node.args[0])
    return (x, None) if is_tuple(node) else x


@register("_to_copy")
def convert_to_copy(lw: Lowering, node):
    dtype = node.kwargs.get("dtype")
    if dtype not in (None, torch.float32):
        lw.builder.unsupported(f"cast to {dtype} (Caffe computes in float32)", lw.where(node))
        return None
    return lw.value(node.args[0])


@register("getitem")
def convert_getitem(lw: Lowering, node):
    value = lw.value(node.args[0])
    return value[node.args[1]]



# ------------------------------------------------------------------- shapes


def _flatten_name(lw: Lowering, node) -> str:
    """nn.Flatten gets its module's name; a flatten inside another module (e.g. before an
    InnerProduct in a Caffe-converted net) gets ``.flatten`` after it, so the layer that
    owns the module keeps the module's name."""
    path, cls = module_of(node)
    if path and "Flatten" not in cls and lw.layer_name(node) == path:
        return path + ".flatten"
    return lw.layer_name(node, op="flatten")


def _reshape(lw: Lowering, node, x: Blob):
    """Flatten when the new shape merges a run of axes, else Reshape (batch copied, 0)."""
    new = lw.shape(node)
    if new == x.shape:
        return x
    for axis in range(len(x.shape)):
        for end in range(axis, len(x.shape)):
            merged = x.shape[:axis] + (math.prod(x.shape[axis:end + 1]),) + x.shape[end + 1:]
            if merged == new and end > axis:
                end_axis = -1 if end == len(x.shape) - 1 else end
                top = lw.builder.add("Flatten", _flatten_name(lw, node), [x.name],
                                     P.FlattenParam(axis=axis, end_axis=end_axis))
                return out(lw, node, top)
    dims = (0,) + new[1:] if new[:1] == x.shape[:1] else new
    top = lw.builder.add("Reshape", lw.layer_name(node), [x.name],
                         P.ReshapeParam(shape=tuple(int(d) for d in dims)))
    return out(lw, node, top)


@register("flatten", "view", "reshape", "_unsafe_view", "squeeze", "unsqueeze")
def convert_reshape(lw: Lowering, node):
    x = lw.value(node.args[0])
    if not isinstance(x, Blob):
        return None
    return _reshape(lw, node, x)


@register("cat", "concat")
def convert_cat(lw: Lowering, node):
    tensors = lw.value(node.args[0])
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not all(isinstance(t, Blob) for t in tensors):
        lw.builder.unsupported("concatenation with a constant tensor", lw.where(node))
        return None
    top = lw.builder.add("Concat", lw.layer_name(node), [t.name for t in tensors],
                         P.ConcatParam(axis=int(dim)))
    return out(lw, node, top)


@register("softmax", "_softmax")
def convert_softmax(lw: Lowering, node):
    x, dim = lw.value(node.args[0]), node.args[1]
    if node.kwargs.get("dtype") not in (None, torch.float32):
        lw.builder.unsupported("softmax to another dtype", lw.where(node))
        return None
    top = lw.builder.add("Softmax", lw.layer_name(node), [x.name], P.SoftmaxParam(axis=int(dim)))
    return out(lw, node, top)
