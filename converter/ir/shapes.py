"""Shape inference with Caffe's exact rules.

One function per layer type, registered by type. Each takes the layer and its bottom shapes and
returns ``(top_shapes, param_blob_shapes)``. The formulas follow BVLC Caffe's ``Reshape``
methods (conv_layer.cpp, pooling_layer.cpp, inner_product_layer.cpp, ...), including pooling's
ceil rounding and the clip of a last window that would start inside the padding only.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple

from ..errors import ShapeError, UnsupportedLayerError
from .graph import Layer, Net, Shape

ShapeFn = Callable[[Layer, List[Shape]], Tuple[List[Shape], List[Shape]]]
SHAPE_FNS: Dict[str, ShapeFn] = {}


def register(*types: str):
    """Register a shape function for the given Caffe types (a type may be registered once)."""
    def wrap(fn: ShapeFn) -> ShapeFn:
        for t in types:
            if t in SHAPE_FNS:
                raise ValueError(f"shape function for {t} registered twice")
            SHAPE_FNS[t] = fn
        return fn
    return wrap


def canonical_axis(axis: int, ndim: int, layer: Layer) -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} out of range for a {ndim}-D blob",
                         layer=layer.name, layer_type=layer.type)
    return axis % ndim


def count(shape, start: int = 0, end: int | None = None) -> int:
    """Product of ``shape[start:end]`` (Caffe's Blob::count)."""
    return math.prod(shape[start:end])


def _checked_nchw(layer: Layer, shape: Shape) -> Shape:
    """Return ``shape`` if it is 4-D (N, C, H, W); spatial layers here are 2-D only."""
    if len(shape) != 4:
        raise ShapeError(f"expects a 4-D (N,C,H,W) bottom, got {list(shape)}",
                         layer=layer.name, layer_type=layer.type)
    return shape


@register("Convolution")
def conv_shape(layer, bottoms):
    """out = (in + 2*pad - (dilation*(kernel-1)+1)) // stride + 1 (floor)."""
    p, (n, c, h, w) = layer.params, _checked_nchw(layer, bottoms[0])
    if p.num_output <= 0 or min(p.kernel) <= 0 or min(p.stride) <= 0 or p.group <= 0:
        raise ShapeError("num_output, kernel, stride and group must be positive",
                         layer=layer.name, layer_type=layer.type)
    if c % p.group or p.num_output % p.group:
        raise ShapeError(f"channels {c} and num_output {p.num_output} must divide by "
                         f"group {p.group}", layer=layer.name, layer_type=layer.type)
    out = []
    for size, k, s, pad, d in zip((h, w), p.kernel, p.stride, p.pad, p.dilation):
        extent = d * (k - 1) + 1
        o = (size + 2 * pad - extent) // s + 1
        if o <= 0:
            raise ShapeError(f"kernel extent {extent} exceeds padded input {size + 2 * pad}",
                             layer=layer.name, layer_type=layer.type)
        out.append(o)
    blobs = [(p.num_output, c // p.group) + tuple(p.kernel)]
    if p.bias_term:
        blobs.append((p.num_output,))
    return [(n, p.num_output, out[0], out[1])], blobs


def pooled_size(size: int, k: int, s: int, pad: int, round_mode: str = "CEIL",
                clip: bool | None = None) -> int:
    """Caffe's pooled extent: ceil rounding, then drop a last window that starts in the padding.

    Caffe applies that clip to both axes when *either* pad is nonzero (``if (pad_h_ ||
    pad_w_)`` in pooling_layer.cpp); pass ``clip=any(pads)``. The default clips when ``pad``."""
    rounder = math.ceil if round_mode == "CEIL" else math.floor
    out = int(rounder((size + 2 * pad - k) / s)) + 1
    if (bool(pad) if clip is None else clip) and (out - 1) * s >= size + pad:
        out -= 1
    return out


@register("Pooling")
def pool_shape(layer, bottoms):
    p, (n, c, h, w) = layer.params, _checked_nchw(layer, bottoms[0])
    if p.global_pooling:
        return [(n, c, 1, 1)], []
    if min(p.kernel) <= 0 or min(p.stride) <= 0:
        raise ShapeError("kernel and stride must be positive", layer=layer.name,
                         layer_type=layer.type)
    if p.pad[0] >= p.kernel[0] or p.pad[1] >= p.kernel[1]:
        raise ShapeError("pad must be smaller than kernel", layer=layer.name,
                         layer_type=layer.type)
    out = [pooled_size(sz, k, s, pad, p.round_mode, clip=any(p.pad))
           for sz, k, s, pad in zip((h, w), p.kernel, p.stride, p.pad)]
    if min(out) <= 0:
        raise ShapeError("kernel larger than padded input", layer=layer.name,
                         layer_type=layer.type)
    return [(n, c, out[0], out[1])], []


@register("InnerProduct")
def ip_shape(layer, bottoms):
    p, shape = layer.params, bottoms[0]
    axis = canonical_axis(p.axis, len(shape), layer)
    k = count(shape, axis)
    blobs = [(k, p.num_output) if p.transpose else (p.num_output, k)]
    if p.bias_term:
        blobs.append((p.num_output,))
    return [tuple(shape[:axis]) + (p.num_output,)], blobs


@register("BatchNorm")
def bn_shape(layer, bottoms):
    shape = bottoms[0]
    c = shape[1] if len(shape) > 1 else 1
    # mean, variance, and the moving-average scale factor Caffe divides both by.
    return [shape], [(c,), (c,), (1,)]


@register("Scale")
def scale_shape(layer, bottoms):
    p, shape = layer.params, bottoms[0]
    if len(bottoms) == 2:
        scale = bottoms[1]
        axis = canonical_axis(p.axis, len(shape), layer) if scale else 0
        blobs = []
    else:
        axis = canonical_axis(p.axis, len(shape), layer) if p.num_axes != 0 else 0
        end = len(shape) if p.num_axes == -1 else axis + p.num_axes
        if end > len(shape):
            raise ShapeError(f"num_axes {p.num_axes} from axis {axis} exceeds the bottom's "
                             f"{len(shape)} axes", layer=layer.name, layer_type=layer.type)
        scale = tuple(shape[axis:end])
        blobs = [scale]
    if tuple(shape[axis:axis + len(scale)]) != tuple(scale):
        raise ShapeError(f"scale shape {list(scale)} does not match bottom {list(shape)} "
                         f"at axis {axis}", layer=layer.name, layer_type=layer.type)
    if p.bias_term:
        blobs.append(tuple(scale))
    return [shape], blobs


@register("Eltwise")
def eltwise_shape(layer, bottoms):
    p = layer.params
    if any(b != bottoms[0] for b in bottoms):
        raise ShapeError(f"bottoms differ in shape: {[list(b) for b in bottoms]}",
                         layer=layer.name, layer_type=layer.type)
    if p.coeff and len(p.coeff) != len(bottoms):
        raise ShapeError("needs one coeff per bottom", layer=layer.name, layer_type=layer.type)
    return [bottoms[0]], []


@register("ReLU", "Sigmoid", "TanH", "Dropout", "Power", "BNLL", "AbsVal", "LRN", "Softmax")
def same_shape(layer, bottoms):
    return [bottoms[0]], []


@register("Split")
def split_shape(layer, bottoms):
    return [bottoms[0]] * len(layer.tops), []


@register("Concat")
def concat_shape(layer, bottoms):
    axis = canonical_axis(layer.params.axis, len(bottoms[0]), layer)
    for b in bottoms[1:]:
        if len(b) != len(bottoms[0]) or any(
                x != y for i, (x, y) in enumerate(zip(b, bottoms[0])) if i != axis):
            raise ShapeError(f"bottoms {[list(s) for s in bottoms]} differ off axis {axis}",
                             layer=layer.name, layer_type=layer.type)
    out = list(bottoms[0])
    out[axis] = sum(b[axis] for b in bottoms)
    return [tuple(out)], []


@register("Flatten")
def flatten_shape(layer, bottoms):
    shape = bottoms[0]
    start = canonical_axis(layer.params.axis, len(shape), layer)
    end = canonical_axis(layer.params.end_axis, len(shape), layer)
    return [tuple(shape[:start]) + (count(shape, start, end + 1),) + tuple(shape[end + 1:])], []


@register("Reshape")
def reshape_shape(layer, bottoms):
    p, shape = layer.params, list(bottoms[0])
    start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    # reshape_layer.cpp CHECKs that [axis, axis + num_axes) lies inside the bottom's axes.
    if not 0 <= start <= end <= len(shape) or p.num_axes < -1:
        raise ShapeError(f"axis {p.axis} / num_axes {p.num_axes} out of range for a "
                         f"{len(shape)}-D bottom", layer=layer.name, layer_type=layer.type)
    if any(d == 0 and start + i >= len(shape) for i, d in enumerate(p.shape)):
        raise ShapeError("a 0 (copy) dimension has no bottom axis to copy",
                         layer=layer.name, layer_type=layer.type)
    new = []
    for i, d in enumerate(p.shape):
        new.append(shape[start + i] if d == 0 else d)
    out = shape[:start] + new + shape[end:]
    if out.count(-1) > 1:
        raise ShapeError("at most one -1 dimension", layer=layer.name, layer_type=layer.type)
    if -1 in out:
        known = -math.prod(out)
        if known == 0 or count(shape) % known:
            raise ShapeError(f"cannot reshape {shape} to {out}", layer=layer.name,
                             layer_type=layer.type)
        out[out.index(-1)] = count(shape) // known
    if count(out) != count(shape):
        raise ShapeError(f"cannot reshape {shape} to {out}", layer=layer.name,
                         layer_type=layer.type)
    return [tuple(out)], []


@register("Input")
def input_shape(layer, bottoms):
    return [tuple(s) for s in layer.params.shape], []


@register("SoftmaxWithLoss", "Accuracy", "EuclideanLoss")
def loss_shape(layer, bottoms):
    return [()] * len(layer.tops), []


def infer_shapes(net: Net) -> Dict[str, Shape]:
    """Infer every blob's shape (Caffe names; in-place writes keep the shape) and fill each
    layer's ``blob_shapes``. Raises ShapeError / UnsupportedLayerError naming the layer."""
    shapes: Dict[str, Shape] = {k: tuple(v) for k, v in net.inputs.items()}
    for layer in net.layers:
        fn = SHAPE_FNS.get(layer.type)
        if fn is None:
            raise UnsupportedLayerError("no shape rule for this layer type",
                                        layer=layer.name, layer_type=layer.type)
        try:
            tops, blobs = fn(layer, [shapes[b] for b in layer.bottoms])
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


def param_count(net: Net, learnable_only: bool = True) -> int:
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
