"""Shape inference with Caffe's exact rules.

Each layer type's rule lives with the type in its family module (``converter/layers``); this
module runs them over a net in order. A rule takes the layer and its bottom shapes and
returns ``(top_shapes, param_blob_shapes)``, following BVLC Caffe's ``Reshape`` methods.
"""

from __future__ import annotations

from typing import Dict

from ..errors import ShapeError, UnsupportedLayerError
from ..layers import LAYERS, Shape, canonical_axis, count, pooled_size

__all__ = ["infer_shapes", "param_count", "canonical_axis", "count", "pooled_size"]


def infer_shapes(net) -> Dict[str, Shape]:
    """Infer every blob's shape (Caffe names; in-place writes keep the shape) and fill each
    layer's ``blob_shapes``. Raises ShapeError / UnsupportedLayerError naming the layer."""
    shapes: Dict[str, Shape] = {k: tuple(v) for k, v in net.inputs.items()}
    for layer in net.layers:
        entry = LAYERS.get(layer.type)
        if entry is None:
            raise UnsupportedLayerError("no shape rule for this layer type",
                                        layer=layer.name, layer_type=layer.type)
        try:
            tops, blobs = entry.shape(layer, [shapes[b] for b in layer.bottoms])
        except KeyError as exc:
            raise ShapeError(f"bottom {exc} has no known shape", layer=layer.name,
                             layer_type=layer.type) from None
        layer.blob_shapes = [tuple(b) for b in blobs]
        for top, shape in zip(layer.tops, tops):
            if top in shapes and top in layer.bottoms and shapes[top] != shape:
                raise ShapeError("in-place layer changes its blob's shape",
                                 layer=layer.name, layer_type=layer.type)
            shapes[top] = tuple(shape)
    return shapes


def param_count(net, learnable_only: bool = True) -> int:
    """Number of parameters; with ``learnable_only`` skip BatchNorm statistics and blobs whose
    ParamSpec has lr_mult 0 (frozen), as the paper counts "learnable parameters"."""
    total = 0
    for layer in net.layers:
        if learnable_only and layer.type == "BatchNorm":
            continue
        for i, shape in enumerate(layer.blob_shapes):
            spec = layer.param_specs[i] if i < len(layer.param_specs) else None
            if learnable_only and spec is not None and spec.lr_mult == 0:
                continue
            total += count(shape)
    return total
