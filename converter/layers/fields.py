"""Reading and writing a parameter dataclass from/to its caffe.proto ``*_param`` message.

The generic rule (:func:`read_fields`, :func:`write_fields`) maps dataclass fields to proto
fields of the same name: scalars, enums (by value name), repeated fields (tuples) and
fillers. Writing sets only the fields whose value differs from the dataclass default, so
"write only non-default fields" is derived from caffe.proto's defaults in one place, and
read(write(p)) == p. Family modules override only what does not follow that rule (spatial
(h, w) pairs, fields with extra CHECKs).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import CaffeFormatError
from .common import Filler


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


def field_default(params, name: str):
    """The caffe.proto default of field ``name`` of a parameter dataclass (or instance)."""
    f = next(f for f in dataclasses.fields(params) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def changed(params, name: str) -> bool:
    """True if ``params.name`` differs from its caffe.proto default (templates use this)."""
    return getattr(params, name) != field_default(params, name)


def is_default(params) -> bool:
    """True if a parameter dataclass equals its type's caffe.proto defaults."""
    return dataclasses.is_dataclass(params) and params == type(params)()


def enum_name(msg, field: str) -> str:
    return msg.DESCRIPTOR.fields_by_name[field].enum_type \
        .values_by_number[getattr(msg, field)].name


def enum_value(msg, field: str, name: str) -> int:
    return msg.DESCRIPTOR.fields_by_name[field].enum_type.values_by_name[name].number


def read_filler(msg, name: str):
    """IR Filler from ``msg.name`` (None when the field is absent)."""
    if not msg.HasField(name):
        return None
    f = getattr(msg, name)
    return Filler(type=f.type, value=f.value, std=f.std,
                  variance_norm=enum_name(f, "variance_norm"))


def write_filler(filler, msg, name: str) -> None:
    """Fill ``msg.name`` from an IR Filler (nothing for None)."""
    if filler is None:
        return
    f = getattr(msg, name)
    f.type = filler.type
    write_fields(filler, f, skip=("type",))


def _repeated(fd) -> bool:
    """Whether a field is repeated (protobuf >= 5 has ``is_repeated``; older ones ``label``)."""
    flag = getattr(fd, "is_repeated", None)
    return flag if flag is not None else fd.label == fd.LABEL_REPEATED


def _read_one(msg, name: str, default):
    fd = msg.DESCRIPTOR.fields_by_name[name]
    if _repeated(fd):
        return tuple(getattr(msg, name))
    if fd.message_type is not None and fd.message_type.name == "FillerParameter":
        return read_filler(msg, name)
    if default is None and not msg.HasField(name):
        return None  # an optional field whose absence means something (use_global_stats)
    if fd.enum_type is not None:
        return enum_name(msg, name)
    return getattr(msg, name)


def read_fields(cls, msg, skip=()):
    """``cls`` (a parameter dataclass) from the same-named fields of ``msg``."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in skip:
            values[f.name] = _read_one(msg, f.name, f.default)
    return cls(**values)


def write_fields(params, msg, skip=()) -> None:
    """Set the fields of ``msg`` whose value in ``params`` is not caffe.proto's default."""
    for f in dataclasses.fields(params):
        if f.name in skip or not changed(params, f.name):
            continue
        value, fd = getattr(params, f.name), msg.DESCRIPTOR.fields_by_name[f.name]
        if _repeated(fd):
            getattr(msg, f.name).extend(value)
        elif isinstance(value, Filler):
            write_filler(value, msg, f.name)
        elif fd.enum_type is not None:
            setattr(msg, f.name, enum_value(msg, f.name, value))
        else:
            setattr(msg, f.name, value)


# ------------------------------------------------------------- spatial dims

def conv_axes(p, name: str, default: int | None):
    """ConvolutionParameter's repeated ``name`` or its 2-D ``name_h``/``name_w``, as a tuple.

    Follows BaseConvolutionLayer::LayerSetUp: the _h/_w form excludes the repeated form and
    kernel_h needs kernel_w. The repeated form holds one value (returned as ``(v, v)``, the
    2-D spelling, which :func:`~.conv.geometry` applies to every spatial axis) or one per
    spatial axis (returned as written); the count is checked against the bottom's axes
    there, since the blob's rank is not known here."""
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
    return tuple(values)


def write_conv_axes(p, name: str, values, default: int) -> None:
    """Inverse of :func:`conv_axes`: for two axes one repeated value when square, else _h/_w
    (no dilation_h/_w exists: two values); for any other count every value, so reading
    the file back gives the same tuple."""
    field = name + ("_size" if name == "kernel" else "")
    if len(values) != 2:
        getattr(p, field).extend(values)
        return
    h, w = values
    if h == w:
        if h != default or name == "kernel":
            getattr(p, field).append(h)
    elif name == "dilation":
        getattr(p, field).extend(values)
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
        if name == "kernel" or h != default:
            setattr(p, "kernel_size" if name == "kernel" else name, h)
    else:
        setattr(p, name + "_h", h)
        setattr(p, name + "_w", w)
