"""What every layer family shares: the generic parameter messages and Caffe's blob helpers.

Nothing here knows a layer type; the family modules (``conv.py``, ``pool.py``, ...) do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

from ..errors import ShapeError

Pair = Tuple[int, int]
Shape = Tuple[int, ...]


@dataclass(frozen=True)
class Filler:
    """caffe.proto FillerParameter (used only when emitting train nets)."""
    type: str = "constant"
    value: float = 0.0
    std: float = 1.0
    variance_norm: str = "FAN_IN"


@dataclass(frozen=True)
class ParamSpec:
    """caffe.proto ParamSpec: per-blob learning-rate and weight-decay multipliers."""
    lr_mult: float = 1.0
    decay_mult: float = 1.0


def canonical_axis(axis: int, ndim: int, layer) -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} out of range for a {ndim}-D blob",
                         layer=layer.name, layer_type=layer.type)
    return axis % ndim


def count(shape, start: int = 0, end: int | None = None) -> int:
    """Product of ``shape[start:end]`` (Caffe's Blob::count)."""
    return math.prod(shape[start:end])


def checked_nchw(layer, shape: Shape) -> Shape:
    """Return ``shape`` if it is 4-D (N, C, H, W); spatial layers here are 2-D only."""
    if len(shape) != 4:
        raise ShapeError(f"expects a 4-D (N,C,H,W) bottom, got {list(shape)}",
                         layer=layer.name, layer_type=layer.type)
    return shape


def legacy_shape_matches(stored, expected) -> bool:
    """Caffe's Blob::ShapeEquals for a legacy 4-D (num, channels, height, width) blob: the
    expected shape, left-padded with 1s to 4 axes, must equal the stored one.

    This is the one copy of the rule: the caffemodel reader and both back ends use it."""
    stored, expected = tuple(stored), tuple(expected)
    return len(stored) == 4 and len(expected) <= 4 and \
        (1,) * (4 - len(expected)) + expected == stored


def blob_shape_ok(stored, expected) -> bool:
    """A weight blob fits a layer: the same shape, or the legacy 4-D form of it."""
    return tuple(stored) == tuple(expected) or legacy_shape_matches(stored, expected)
