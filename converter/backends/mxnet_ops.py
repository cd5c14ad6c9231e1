"""Per-layer converters from the IR to ``mx.sym`` (the registry and the simple layers).

Each converter takes ``(ctx, layer, bottoms)`` -- the build context, the IR layer (in SSA form)
and its bottom symbols -- and returns one symbol per top. Every converter reproduces what BVLC
Caffe's ``Forward_cpu`` computes at TEST time; the comments cite the Caffe behaviour they follow.
Pooling/LRN live in ``mxnet_pool.py`` and BatchNorm/Scale in ``mxnet_norm.py``; importing
:mod:`converter.backends.mxnet_backend` registers all of them.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import mxnet as mx
import numpy as np

from ..errors import MismatchError
from ..ir import Layer

Converter = Callable[["BuildContext", Layer, list], list]
CONVERTERS: Dict[str, Converter] = {}
#: Optional per-type checks for options that cannot be converted exactly (None = fine).
OPTION_CHECKS: Dict[str, Callable[[Layer], Optional[str]]] = {}


def register(*types: str, check: Optional[Callable[[Layer], Optional[str]]] = None):
    """Register a converter (and an optional option check) for Caffe ``types``; once per type."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            if t in CONVERTERS:
                raise ValueError(f"MXNet converter for {t} registered twice")
            CONVERTERS[t] = fn
            if check is not None:
                OPTION_CHECKS[t] = check
        return fn
    return wrap


class BuildContext:
    """State shared by the converters while one symbol is built.

    ``shapes`` maps SSA blob names to their inferred shapes (batch as declared; only the batch
    axis is kept dynamic in the symbol). ``blobs`` maps layer name -> float32 weight arrays in
    Caffe order (already shape-checked), or is None for an untrained symbol.
    """

    def __init__(self, shapes, blobs, inputs):
        self.shapes = shapes
        self.blobs = blobs
        self.inputs = inputs  # input blob name -> its variable
        self.arg_params: Dict[str, mx.nd.NDArray] = {}
        self.aux_params: Dict[str, mx.nd.NDArray] = {}

    def shape(self, ssa_name: str):
        """The inferred shape of an SSA blob (in-place writes keep their blob's shape)."""
        return tuple(self.shapes[ssa_name])

    def blob(self, layer: Layer, index: int) -> Optional[np.ndarray]:
        """Weight blob ``index`` of ``layer`` as float32, or None when building untrained."""
        if self.blobs is None:
            return None
        return self.blobs[layer.name][index]

    def param(self, name: str, shape, value=None, aux: bool = False):
        """A variable ``name`` of ``shape``; ``value`` (if given) goes to arg/aux params."""
        shape = tuple(int(d) for d in shape) or (1,)  # MXNet 1.x has no 0-d arrays
        if value is not None and self.blobs is not None:
            value = np.asarray(value, dtype=np.float32).reshape(shape)
            target = self.aux_params if aux else self.arg_params
            target[name] = mx.nd.array(value, dtype=np.float32)
        return mx.sym.var(name, shape=shape, dtype=np.float32)


def canonical_axis(axis: int, ndim: int) -> int:
    """Caffe's CanonicalAxisIndex (shape inference has already range-checked it)."""
    return axis % ndim


# --------------------------------------------------------------------------- sources
@register("Input")
def input_layer(ctx, layer, bottoms):
    """Input tops are created up front as variables (see mxnet_backend); look them up."""
    return [ctx.inputs[top] for top in layer.tops]


# ------------------------------------------------------------------- learned layers
@register("Convolution")
def convolution(ctx, layer, bottoms):
    """Caffe conv: floor output size, zero padding, grouped and dilated -- as MXNet's."""
    p = layer.params
    args = {"weight": ctx.param(f"{layer.name}_weight", layer.blob_shapes[0], ctx.blob(layer, 0))}
    if p.bias_term:
        args["bias"] = ctx.param(f"{layer.name}_bias", layer.blob_shapes[1], ctx.blob(layer, 1))
    return [mx.sym.Convolution(bottoms[0], kernel=p.kernel, stride=p.stride, pad=p.pad,
                               dilate=p.dilation, num_filter=p.num_output, num_group=p.group,
                               no_bias=not p.bias_term, name=layer.name, **args)]


@register("InnerProduct")
def inner_product(ctx, layer, bottoms):
    """y = flatten(x from axis) . W^T + b; ``transpose`` blobs are stored (K, N), so the MXNet
    weight is their transpose (MXNet's FullyConnected always wants (N, K))."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    axis = canonical_axis(p.axis, len(shape))
    weight = ctx.blob(layer, 0)
    wshape = layer.blob_shapes[0][::-1] if p.transpose else layer.blob_shapes[0]
    if weight is not None and p.transpose:
        weight = weight.T
    args = {"weight": ctx.param(f"{layer.name}_weight", wshape, weight)}
    if p.bias_term:
        args["bias"] = ctx.param(f"{layer.name}_bias", layer.blob_shapes[1], ctx.blob(layer, 1))
    fc = dict(num_hidden=p.num_output, no_bias=not p.bias_term, name=layer.name, **args)
    x = bottoms[0]
    if axis == 1:
        return [mx.sym.FullyConnected(x, flatten=True, **fc)]
    if axis == 0:  # Caffe flattens everything, batch included, into one row: output (N,)
        x = mx.sym.reshape(x, shape=(1, -1), name=f"{layer.name}_flat")
        y = mx.sym.FullyConnected(x, flatten=False, **{**fc, "name": f"{layer.name}_fc"})
        return [mx.sym.reshape(y, shape=(-1,), name=layer.name)]
    # Leading axes are kept (batch dynamic via 0, the others static), the rest flattened.
    x = mx.sym.reshape(x, shape=(0,) + tuple(shape[1:axis]) + (-1,), name=f"{layer.name}_flat")
    return [mx.sym.FullyConnected(x, flatten=False, **fc)]


# ------------------------------------------------------------------ activations
@register("ReLU")
def relu(ctx, layer, bottoms):
    """Caffe: max(x, 0) + negative_slope * min(x, 0), i.e. a leaky ReLU when the slope != 0."""
    slope = layer.params.negative_slope
    if slope == 0:
        return [mx.sym.Activation(bottoms[0], act_type="relu", name=layer.name)]
    return [mx.sym.LeakyReLU(bottoms[0], act_type="leaky", slope=slope, name=layer.name)]


@register("Sigmoid")
def sigmoid(ctx, layer, bottoms):
    """Logistic function."""
    return [mx.sym.Activation(bottoms[0], act_type="sigmoid", name=layer.name)]


@register("TanH")
def tanh(ctx, layer, bottoms):
    """Hyperbolic tangent."""
    return [mx.sym.Activation(bottoms[0], act_type="tanh", name=layer.name)]


@register("Dropout")
def dropout(ctx, layer, bottoms):
    """Caffe's Dropout scales at TRAIN time (inverted dropout), so at TEST it is a plain copy."""
    return [bottoms[0]]


@register("Split")
def split(ctx, layer, bottoms):
    """Caffe's Split shares the bottom's data among its tops."""
    return [bottoms[0]] * len(layer.tops)


@register("Power")
def power(ctx, layer, bottoms):
    """PowerLayer::Forward_cpu: if power*scale == 0 the output is the constant
    (power == 0 ? 1 : shift^power); otherwise scale, then shift, then pow -- in that order."""
    p, x, name = layer.params, bottoms[0], layer.name
    if p.power * p.scale == 0:
        value = 1.0 if p.power == 0 else float(np.float32(p.shift) ** np.float32(p.power))
        return [mx.sym.zeros_like(x, name=f"{name}_zeros") + value]
    if p.scale != 1:
        x = x * p.scale
    if p.shift != 0:
        x = x + p.shift
    if p.power != 1:
        x = x ** p.power
    return [mx.sym.identity(x, name=name)]


# --------------------------------------------------------------- structural layers
@register("Softmax")
def softmax(ctx, layer, bottoms):
    """Softmax over ``axis`` (Caffe subtracts the max first, as MXNet does)."""
    axis = canonical_axis(layer.params.axis, len(ctx.shape(layer.bottoms[0])))
    return [mx.sym.softmax(bottoms[0], axis=axis, name=layer.name)]


@register("Concat")
def concat(ctx, layer, bottoms):
    """Concatenation along ``axis``."""
    axis = canonical_axis(layer.params.axis, len(ctx.shape(layer.bottoms[0])))
    return [mx.sym.concat(*bottoms, dim=axis, name=layer.name)]


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


@register("Flatten")
def flatten(ctx, layer, bottoms):
    """Merge axes [axis, end_axis] into one; axes before it are copied (0 keeps the batch
    dynamic), axes after it are static."""
    shape = ctx.shape(layer.bottoms[0])
    start = canonical_axis(layer.params.axis, len(shape))
    end = canonical_axis(layer.params.end_axis, len(shape))
    spec = (0,) * start + (-1,) + tuple(shape[end + 1:])
    return [mx.sym.reshape(bottoms[0], shape=spec, name=layer.name)]


@register("Reshape")
def reshape(ctx, layer, bottoms):
    """Caffe Reshape over axes [axis, axis+num_axes): 0 copies the bottom dim at the same
    position and -1 is inferred -- the same meaning MXNet's codes have while every entry
    consumes one input axis. Axes before ``axis`` are copied with 0 (batch stays dynamic);
    axes after the range use their static sizes."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    spec = [0] * start + list(p.shape) + list(shape[end:])
    if end == 0 and spec and -1 not in p.shape:
        # The batch axis moved behind new leading axes: let MXNet infer it so it stays dynamic.
        spec[len(p.shape)] = -1
    return [mx.sym.reshape(bottoms[0], shape=tuple(spec), name=layer.name)]


def check_blob_shapes(layer: Layer, arrays: List[np.ndarray]) -> List[np.ndarray]:
    """Return ``arrays`` as float32 in the shapes Caffe expects (``layer.blob_shapes``).

    Like Caffe's ``Blob::ShapeEquals``, a legacy 4-D (num, channels, height, width) blob
    matches when it equals the expected shape padded with leading 1s.
    """
    expected = layer.blob_shapes
    if len(arrays) != len(expected):
        raise MismatchError(f"has {len(arrays)} weight blobs, the net expects {len(expected)}",
                            layer=layer.name, layer_type=layer.type)
    out = []
    for i, (arr, shape) in enumerate(zip(arrays, expected)):
        arr = np.asarray(arr)
        if tuple(arr.shape) != tuple(shape) and _strip_ones(arr.shape) != _strip_ones(shape):
            raise MismatchError(f"blob {i} has shape {list(arr.shape)}, the net expects "
                                f"{list(shape)}", layer=layer.name, layer_type=layer.type)
        out.append(arr.astype(np.float32).reshape(shape))
    return out


def _strip_ones(shape):
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape
