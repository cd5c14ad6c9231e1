"""Batch normalization -> Caffe BatchNorm (scale factor 1) + Scale.

Caffe's BatchNorm has no affine part: batch_norm_layer.cpp computes
``(x - mean/f) / sqrt(var/f + eps)`` from its blobs (mean*f, var*f, f); the affine
``gamma * . + beta`` is a separate Scale layer (bias_term). Exported statistics are stored with
f = 1, so Caffe divides by exactly 1; eps is the source's.

A net converted *from* Caffe by this project (``caffe2torch``) runs that arithmetic in its
``CaffeBatchNorm`` module; its graph is recognised by the module's class (from the graph's
``nn_module_stack``) and exported with the module's own three blobs, bit for bit.
"""

from __future__ import annotations

import numpy as np

from ... import ir as P
from .common import array, out
from .lower import Blob, Lowering, module_of, op_name, register, register_module


def _batch_norm(lw: Lowering, node, x, w, b, mean, var, training, eps):
    if training:
        lw.builder.unsupported("batch norm in training mode (call model.eval())",
                               lw.where(node))
        return None
    if not isinstance(x, Blob) or mean is None or var is None:
        lw.builder.unsupported("batch norm without running statistics", lw.where(node))
        return None
    name = lw.layer_name(node)
    one = np.ones((1,), np.float32)
    top = lw.builder.add("BatchNorm", name, [x.name], P.BatchNormParam(eps=float(eps)),
                         [array(mean), array(var), one])
    if w is not None or b is not None:
        channels = int(mean.numel())
        gamma = array(w) if w is not None else np.ones(channels, np.float32)
        blobs = [gamma] + ([array(b)] if b is not None else [])
        lw.builder.add("Scale", name + ".scale", [top],
                       P.ScaleParam(bias_term=b is not None), blobs, in_place=True)
    return out(lw, node, top)


@register("_native_batch_norm_legit_no_training")
def convert_bn_no_training(lw: Lowering, node):
    x, w, b, mean, var, _, eps = lw.value(node.args)[:7]
    return (_batch_norm(lw, node, x, w, b, mean, var, False, eps), None, None)


@register("batch_norm", "native_batch_norm", "_native_batch_norm_legit",
          "_native_batch_norm_legit_functional")
def convert_batch_norm(lw: Lowering, node):
    args = lw.value(node.args)
    if op_name(node) == "batch_norm":
        x, w, b, mean, var, training, _, eps = args[:8]
        return _batch_norm(lw, node, x, w, b, mean, var, training, eps)
    x, w, b, mean, var, training, _, eps = args[:8]
    blob = _batch_norm(lw, node, x, w, b, mean, var, training, eps)
    return None if blob is None else (blob,) + (None,) * (len(node.meta["val"]) - 1)


@register_module("CaffeBatchNorm")
def convert_caffe_batch_norm(lw: Lowering, node):
    """The ops of this project's CaffeBatchNorm: ``sub(x, mean)`` then ``div(., sqrt(var +
    eps))``; the sub passes x through, the div emits the layer with the module's raw blobs."""
    path, _ = module_of(node)
    name = op_name(node)
    if name == "sub":
        return lw.value(node.args[0])
    eps_node = node.args[1].args[0] if name == "div" else None
    if eps_node is None or op_name(eps_node) != "add" or op_name(node.args[1]) != "sqrt":
        lw.builder.unsupported(f"aten.{name} in a CaffeBatchNorm that does not use its "
                               "stored statistics (use_global_stats false)", lw.where(node))
        return None
    x = lw.value(node.args[0])
    blobs = [array(lw.state[f"{path}.{key}"]) for key in ("mean", "var", "factor")]
    top = lw.builder.add("BatchNorm", lw.layer_name(node), [x.name],
                         P.BatchNormParam(eps=float(eps_node.args[1])), blobs)
    return out(lw, node, top)
