"""Per-layer-type code generators: a Caffe layer -> the PyTorch text computing it exactly.

One function per type in :data:`CONVERTERS`, taking ``(layer, bottom_shapes, blobs)`` and
returning :class:`~converter.codegen.ops.Op` s. Idiomatic modules wherever PyTorch computes
what Caffe does; a generated helper (see :mod:`converter.codegen.helpers`) where it does not.
"""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np

from ..errors import UnsupportedLayerError
from ..layers import canonical_axis, count, pooled_size

CONVERTERS: Dict[str, Callable] = {}


def register(*types: str):
    """Register a generator for Caffe layer types (once per type)."""
    def wrap(fn):
        for t in types:
            if t in CONVERTERS:
                raise ValueError(f"code generator for {t} registered twice")
            CONVERTERS[t] = fn
        return fn
    return wrap


def _op(layer, kind, **kw):
    from .ops import Op
    return Op(kind, layer.name, layer.type, tuple(layer.bottoms), tuple(layer.tops), **kw)


def num(value: float) -> str:
    """The shortest float literal that rounds to the same float32 value (Caffe holds layer
    parameters as float; PyTorch casts Python scalars to the tensor's float32 too)."""
    value = np.float32(value)
    if not np.isfinite(value):
        return f"float({str(value)!r})"
    text = np.format_float_positional(value, unique=True, trim="0")
    if len(text) > 12:
        text = np.format_float_scientific(value, unique=True, trim="0")
    return text


def with_comment(line: str, comment: str, limit: int = 100) -> List[str]:
    """``line  # comment`` if it fits in ``limit`` columns, else the comment above it."""
    if not comment:
        return [line]
    if len(line) + len(comment) + 4 <= limit:
        return [f"{line}  # {comment}"]
    indent = line[:len(line) - len(line.lstrip())]
    return [f"{indent}# {comment}", line]


def pair(values) -> str:
    """``3`` for (3, 3), ``(3, 5)`` otherwise."""
    a, b = values
    return str(a) if a == b else f"({a}, {b})"


def kwargs(**items) -> str:
    """``, k=v`` for each item whose value is not None."""
    return "".join(f", {k}={v}" for k, v in items.items() if v is not None)


# --------------------------------------------------------------------------- parametric
@register("InnerProduct")
def inner_product(layer, shapes, blobs):
    p, shape = layer.params, shapes[0]
    axis = canonical_axis(p.axis, len(shape), layer)
    k = count(shape, axis)
    module = f"nn.Linear({k}, {p.num_output}" + ("" if p.bias_term else ", bias=False") + ")"
    # Caffe stores W as (N, K), or (K, N) with transpose; nn.Linear holds (N, K).
    weight = np.ascontiguousarray(blobs[0].T) if p.transpose else blobs[0]
    tensors = {"weight": weight}
    if p.bias_term:
        tensors["bias"] = blobs[1]
    # inner_product_layer.cpp flattens the bottom from `axis` on.
    call = "{m}({0})" if axis == len(shape) - 1 else f"{{m}}(torch.flatten({{0}}, {axis}))"
    return [_op(layer, "linear", module=module, call=call, tensors=tensors,
                facts=dict(cin=k, cout=p.num_output, axis=axis, ndim=len(shape)))]


_BN_CLASSES = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}


def batch_norm(layer, shapes, blobs, scale=None, scale_blobs=()):
    """BatchNorm (+ the Scale merged into it) as ``nn.BatchNorm{1,2,3}d``."""
    from .ops import caffe_bn_statistics
    p, shape = layer.params, shapes[layer.bottoms[0]]
    cls = _BN_CLASSES.get(len(shape))
    if cls is None:
        raise UnsupportedLayerError(f"BatchNorm on a {len(shape)}-D blob")
    channels = shape[1] if len(shape) > 1 else 1
    # BatchNormLayer: an unset use_global_stats means the stored statistics at TEST time;
    # false means batch statistics even then: nn.BatchNorm without running stats does that.
    global_stats = p.use_global_stats is not False
    eps = float(np.float32(p.eps))  # Caffe holds eps as a float
    extra = bn_options(eps, scale is not None, global_stats)
    tensors = {}
    if scale is not None:
        tensors["weight"] = scale_blobs[0]
        tensors["bias"] = (scale_blobs[1] if scale.params.bias_term
                           else np.zeros(channels, np.float32))
    if global_stats:
        mean, var = caffe_bn_statistics(*blobs)
        tensors.update(running_mean=mean, running_var=var,
                       num_batches_tracked=np.zeros((), np.int64))
    name = layer.name if scale is None else f"{layer.name} + {scale.name}"
    op = _op(layer, "bn", module=f"nn.{cls}({channels}{extra})", tensors=tensors,
             facts=dict(channels=channels, eps=eps, affine=scale is not None,
                        global_stats=global_stats, ndim=len(shape), caffe=name))
    if scale is not None:
        op.outputs = tuple(scale.tops)
    return op


def bn_options(eps: float, affine: bool, global_stats: bool) -> str:
    """The keyword arguments of an ``nn.BatchNorm2d`` that differ from its defaults."""
    return kwargs(eps=None if eps == float(np.float32(1e-5)) else num(eps),
                  affine=None if affine else "False",
                  track_running_stats=None if global_stats else "False")


@register("BatchNorm")
def batch_norm_alone(layer, shapes, blobs):
    return [batch_norm(layer, dict(zip(layer.bottoms, shapes)), blobs)]


@register("Scale")
def scale(layer, shapes, blobs):
    p, shape = layer.params, shapes[0]
    two = len(shapes) == 2
    if two:
        scale_shape = tuple(shapes[1])
        axis = canonical_axis(p.axis, len(shape), layer) if scale_shape else 0
    else:
        axis = canonical_axis(p.axis, len(shape), layer) if p.num_axes != 0 else 0
        end = len(shape) if p.num_axes == -1 else axis + p.num_axes
        scale_shape = tuple(shape[axis:end])
    trailing = len(shape) - axis - len(scale_shape)
    tensors = {} if two else {"weight": blobs[0]}
    if p.bias_term:
        tensors["bias"] = blobs[-1]
    module = (f"Scale({tuple(scale_shape)!r}, trailing={trailing}"
              + kwargs(bias="True" if p.bias_term else None,
                       learned_scale="False" if two else None) + ")")
    call = "{m}({0}, {1})" if two else "{m}({0})"
    return [_op(layer, "scale", module=module, call=call, tensors=tensors, helpers=("Scale",))]


# ------------------------------------------------------------------------ element-wise
@register("ReLU")
def relu(layer, shapes, blobs):
    slope = layer.params.negative_slope
    if slope == 0.0:
        return [_op(layer, "relu")]  # the emitter decides shared nn.ReLU(inplace) or not
    # Caffe: max(x, 0) + slope * min(x, 0), which is leaky_relu for any slope.
    return [_op(layer, "leaky_relu", module=f"nn.LeakyReLU({num(slope)})")]


@register("Sigmoid", "TanH")
def unary(layer, shapes, blobs):
    fn = "torch.sigmoid" if layer.type == "Sigmoid" else "torch.tanh"
    return [_op(layer, "func", call=fn + "({0})")]


@register("Dropout")
def dropout(layer, shapes, blobs):
    # Caffe's dropout scales by 1/(1-p) while training and is the identity at TEST: nn.Dropout.
    return [_op(layer, "dropout", module=f"nn.Dropout(p={num(layer.params.dropout_ratio)})",
                alias=True)]


@register("Power")
def power(layer, shapes, blobs):
    p = layer.params
    # power_layer.cpp: a constant when scale or power is 0, and no pow() when power is 1.
    if p.scale == 0.0 or p.power == 0.0:
        value = 1.0 if p.power == 0.0 else float(np.float32(p.shift) ** np.float32(p.power))
        return [_op(layer, "func", call=f"torch.full_like({{0}}, {num(value)})",
                    facts=dict(constant=value))]
    expr = "{0}" if p.scale == 1.0 else f"{{0}} * {num(p.scale)}"
    if p.shift != 0.0:
        expr = f"{expr} + {num(p.shift)}"
    if p.power != 1.0:
        expr = f"torch.pow({expr}, {num(p.power)})"
    return [_op(layer, "func", call=expr, alias=expr == "{0}")]


@register("Eltwise")
def eltwise(layer, shapes, blobs):
    p = layer.params
    n = len(layer.bottoms)
    if p.operation == "SUM":
        coeff = p.coeff or (1.0,) * n
        # eltwise_layer.cpp accumulates coeff_i * bottom_i in bottom order.
        terms = [f"{{{i}}}" if c == 1.0 else f"{{{i}}} * {num(c)}" for i, c in enumerate(coeff)]
        kind = "add" if not p.coeff and n == 2 else "func"
        return [_op(layer, kind, call=" + ".join(terms), alias=n == 1)]
    if p.operation == "PROD":
        return [_op(layer, "func", call=" * ".join(f"{{{i}}}" for i in range(n)), alias=n == 1)]
    expr = "{0}"
    for i in range(1, n):
        expr = f"torch.maximum({expr}, {{{i}}})"
    return [_op(layer, "func", call=expr, alias=n == 1)]


# --------------------------------------------------------------------------- shapes
@register("Softmax")
def softmax(layer, shapes, blobs):
    axis = canonical_axis(layer.params.axis, len(shapes[0]), layer)
    return [_op(layer, "softmax", module=f"nn.Softmax(dim={axis})")]


@register("Concat")
def concat(layer, shapes, blobs):
    axis = canonical_axis(layer.params.axis, len(shapes[0]), layer)
    items = ", ".join(f"{{{i}}}" for i in range(len(layer.bottoms)))
    items += "," if len(layer.bottoms) == 1 else ""
    return [_op(layer, "func", call=f"torch.cat(({items}), {axis})")]


@register("Flatten")
def flatten(layer, shapes, blobs):
    n = len(shapes[0])
    start = canonical_axis(layer.params.axis, n, layer)
    end = canonical_axis(layer.params.end_axis, n, layer)
    tail = "" if end == n - 1 else f", {end}"
    return [_op(layer, "func", call=f"torch.flatten({{0}}, {start}{tail})", alias=True)]


@register("Reshape")
def reshape(layer, shapes, blobs):
    p, n = layer.params, len(shapes[0])
    # reshape_layer.cpp: a negative axis counts from the end, -1 meaning "after the last";
    # a 0 copies the bottom's dim, -1 is inferred. Dims come from the input at run time, so
    # the batch stays dynamic under torch.export.
    start = p.axis if p.axis >= 0 else n + p.axis + 1
    end = n if p.num_axes == -1 else start + p.num_axes
    dims = [f"{{0}}.shape[{i}]" for i in range(start)]
    dims += [f"{{0}}.shape[{start + i}]" if d == 0 else str(d) for i, d in enumerate(p.shape)]
    dims += [f"{{0}}.shape[{i}]" for i in range(end, n)]
    return [_op(layer, "func", call=f"{{0}}.reshape({', '.join(dims)})", alias=True)]


@register("Split")
def split(layer, shapes, blobs):
    return [_op(layer, "split", alias=True)]


# --------------------------------------------------------------------------- pooling
def torch_pooled_size(size: int, k: int, s: int, pad: int, ceil: bool) -> int:
    """PyTorch's pooling output size (pooling_output_shape): the last-window clip in ceil
    mode only."""
    out = (-(-(size + 2 * pad - k) // s) if ceil else (size + 2 * pad - k) // s) + 1
    if ceil and (out - 1) * s >= size + pad:
        out -= 1
    return out


def pool_mode(p, hw):
    """``ceil_mode`` (True/False) under which nn.MaxPool2d / nn.AvgPool2d (count_include_pad)
    compute exactly Caffe's pooling on an ``hw`` input, or None if neither does: the output
    sizes must agree (Caffe clips the last window only when some pad is nonzero) and
    PyTorch needs pad <= kernel / 2. The AVE divisor is then the same formula in both."""
    clip = any(p.pad)
    caffe = [pooled_size(n, k, s, d, p.round_mode, clip=clip)
             for n, k, s, d in zip(hw, p.kernel, p.stride, p.pad)]
    if any(2 * d > k for k, d in zip(p.kernel, p.pad)):
        return None
    for ceil in (False, True):
        ours = [torch_pooled_size(n, k, s, d, ceil)
                for n, k, s, d in zip(hw, p.kernel, p.stride, p.pad)]
        if ours == caffe:
            return ceil
    return None


@register("Pooling")
def pooling(layer, shapes, blobs):
    p = layer.params
    if p.pool not in ("MAX", "AVE"):
        raise UnsupportedLayerError(f"pool: {p.pool} is not supported (only MAX and AVE)")
    kind = "Max" if p.pool == "MAX" else "Avg"
    if p.global_pooling:
        return [_op(layer, "pool", module=f"nn.Adaptive{kind}Pool2d(1)")]
    hw = tuple(shapes[0][2:4])
    ceil = pool_mode(p, hw)
    facts = dict(kernel=tuple(p.kernel), stride=tuple(p.stride), pad=tuple(p.pad))
    if ceil is None:
        call = (f"caffe_pool2d({{0}}, {p.pool!r}, {tuple(p.kernel)}, {tuple(p.stride)}, "
                f"{tuple(p.pad)}, ceil={p.round_mode == 'CEIL'})")
        return [_op(layer, "func", call=call, helpers=("caffe_pool2d",), facts=facts)]
    module = (f"nn.{kind}Pool2d({pair(p.kernel)}, stride={pair(p.stride)}"
              + kwargs(padding=pair(p.pad) if any(p.pad) else None,
                       ceil_mode="True" if ceil and ceil_matters(p, hw) else None) + ")")
    return [_op(layer, "pool", module=module, facts=facts)]


def ceil_matters(p, hw) -> bool:
    """True if floor rounding would give another output size (else ceil_mode is noise)."""
    return any(torch_pooled_size(n, k, s, d, True) != torch_pooled_size(n, k, s, d, False)
               for n, k, s, d in zip(hw, p.kernel, p.stride, p.pad))


@register("LRN")
def lrn(layer, shapes, blobs):
    p = layer.params
    if p.local_size % 2 == 0:
        raise UnsupportedLayerError(f"local_size {p.local_size} is even; Caffe's LRN "
                                    f"requires odd sizes")
    if p.norm_region == "WITHIN_CHANNEL":
        call = f"lrn_within_channel({{0}}, {p.local_size}, {num(p.alpha)}, {num(p.beta)})"
        return [_op(layer, "func", call=call, helpers=("lrn_within_channel",))]
    # ACROSS_CHANNELS: x / (k + alpha/size * sum of x^2 over `size` channels)^beta, as
    # nn.LocalResponseNorm (zero padding at both ends, size odd).
    module = (f"nn.LocalResponseNorm({p.local_size}, alpha={num(p.alpha)}, "
              f"beta={num(p.beta)}, k={num(p.k)})")
    return [_op(layer, "lrn", module=module)]
