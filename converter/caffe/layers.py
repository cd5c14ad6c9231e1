"""Per-type translation between Caffe ``LayerParameter`` messages and the IR's parameter
dataclasses: one translator per layer type, in a registry keyed by the Caffe type string.

A translator is a class with two plain functions: ``read(lp) -> params`` (``lp`` is the whole
LayerParameter, so Data can see its transform_param) and ``write(params, lp)`` (fills ``lp``).
Only values that differ from caffe.proto's defaults are written, which keeps files small and
makes read(write(p)) == p exact. The semantics checks are Caffe's own (the CHECKs of each
layer's LayerSetUp), reported as CaffeFormatError without a traceback.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np

from ..errors import CaffeFormatError, UnsupportedLayerError
from ..ir import params as P

TRANSLATORS: Dict[str, type] = {}


def register(layer_type: str, field: str | None = None):
    """Class decorator registering the translator of ``layer_type`` (once per type).

    ``field`` is the ``*_param`` member of LayerParameter that holds the type's options."""
    def wrap(cls):
        if layer_type in TRANSLATORS:
            raise ValueError(f"a translator for Caffe layer type '{layer_type}' is already "
                             "registered")
        cls.type, cls.field = layer_type, field
        TRANSLATORS[layer_type] = cls
        return cls
    return wrap


def translator(layer_type: str, *, layer: str | None = None, file=None):
    """The translator of ``layer_type``; UnsupportedLayerError naming the layer otherwise."""
    try:
        return TRANSLATORS[layer_type]
    except KeyError:
        raise UnsupportedLayerError(
            f"layer type '{layer_type}' is not supported (supported: "
            f"{', '.join(sorted(TRANSLATORS))})", file=file, layer=layer,
            layer_type=layer_type) from None


def shortest_floats(value):
    """Replace every float in ``value`` (a params dataclass, tuple or scalar) by the shortest
    decimal with the same float32 value.

    caffe.proto's float fields are float32: ``eps: 1e-5`` reads back as 9.99999974e-06. The
    IR holds the number as written (1e-5), so reading a file we wrote gives back the same IR.
    """
    if isinstance(value, float):
        return float(str(np.float32(value)))
    if isinstance(value, tuple):
        return tuple(shortest_floats(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: shortest_floats(getattr(value, f.name))
                   for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def _set(msg, name: str, value, default) -> None:
    """Assign ``msg.name = value`` unless it is the proto default (keeps output minimal)."""
    if value != default:
        setattr(msg, name, value)


# ------------------------------------------------------------------ fillers


def read_filler(msg, name: str):
    """IR Filler from ``msg.name`` (None when the field is absent)."""
    if not msg.HasField(name):
        return None
    f = getattr(msg, name)
    return P.Filler(type=f.type, value=f.value, std=f.std,
                    variance_norm=f.DESCRIPTOR.fields_by_name["variance_norm"]
                    .enum_type.values_by_number[f.variance_norm].name)


def write_filler(filler, msg, name: str) -> None:
    """Fill ``msg.name`` from an IR Filler (nothing for None)."""
    if filler is None:
        return
    f = getattr(msg, name)
    f.type = filler.type
    _set(f, "value", filler.value, 0.0)
    _set(f, "std", filler.std, 1.0)
    if filler.variance_norm != "FAN_IN":
        f.variance_norm = f.DESCRIPTOR.fields_by_name["variance_norm"] \
            .enum_type.values_by_name[filler.variance_norm].number


def _enum_name(msg, field: str) -> str:
    return msg.DESCRIPTOR.fields_by_name[field].enum_type \
        .values_by_number[getattr(msg, field)].name


def _enum_value(msg, field: str, name: str) -> int:
    return msg.DESCRIPTOR.fields_by_name[field].enum_type.values_by_name[name].number


# ------------------------------------------------------------- spatial dims


def conv_pair(p, name: str, default: int | None):
    """ConvolutionParameter's repeated ``name`` or its ``name_h``/``name_w`` as (h, w).

    Follows BaseConvolutionLayer::LayerSetUp: the _h/_w form excludes the repeated form,
    kernel_h needs kernel_w, and the repeated form holds one value or one per spatial axis."""
    values = list(getattr(p, "kernel_size" if name == "kernel" else name))
    hw = name != "dilation"  # Caffe has no dilation_h/dilation_w
    has_h, has_w = hw and p.HasField(name + "_h"), hw and p.HasField(name + "_w")
    if has_h or has_w:
        if values:
            raise CaffeFormatError(f"either {name} or {name}_h/{name}_w may be given, not both")
        if name == "kernel" and not (has_h and has_w):
            raise CaffeFormatError("kernel_h and kernel_w must be given together")
        return getattr(p, name + "_h"), getattr(p, name + "_w")
    if not values:
        if default is None:
            raise CaffeFormatError("kernel_size (or kernel_h and kernel_w) is required")
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise UnsupportedLayerError(f"{len(values)} values for {name}: only 2-D convolution "
                                "is supported")


def write_conv_pair(p, name: str, pair, default: int) -> None:
    """Inverse of :func:`conv_pair`: one repeated value when square, else _h/_w."""
    h, w = pair
    if h == w:
        if h != default or name == "kernel":
            getattr(p, name + ("_size" if name == "kernel" else "")).append(h)
    else:
        setattr(p, name + "_h", h)
        setattr(p, name + "_w", w)


def pool_pair(p, name: str, default: int | None):
    """PoolingParameter's scalar ``name`` or ``name_h`` + ``name_w`` (PoolingLayer's CHECKs)."""
    scalar = "kernel_size" if name == "kernel" else name
    has_s, has_h, has_w = p.HasField(scalar), p.HasField(name + "_h"), p.HasField(name + "_w")
    if has_s and (has_h or has_w):
        raise CaffeFormatError(f"{name} is {scalar} OR {name}_h and {name}_w; not both")
    if has_h or has_w:
        if not (has_h and has_w):
            raise CaffeFormatError(f"{name}_h and {name}_w are required together")
        return getattr(p, name + "_h"), getattr(p, name + "_w")
    if has_s or default is None:
        return getattr(p, scalar), getattr(p, scalar)
    return default, default


def write_pool_pair(p, name: str, pair, default: int) -> None:
    """Inverse of :func:`pool_pair`."""
    h, w = pair
    if h == w:
        _set(p, "kernel_size" if name == "kernel" else name, h,
             None if name == "kernel" else default)
    else:
        setattr(p, name + "_h", h)
        setattr(p, name + "_w", w)


from . import layer_types  # noqa: E402,F401  (registers the translators)
