"""Registry of Caffe layer converters for the PyTorch back end (one per type, in the family
file of the same name as the type's ``converter/layers`` module).

A converter takes ``(layer, bottom_shapes)`` -- the layer in SSA form and its bottoms' shapes
from shape inference -- and returns a :class:`~.module.CaffeModule` whose forward takes the
bottoms and returns one tensor (one top) or a tuple (several tops). Options that Caffe itself
refuses, or that this project cannot reproduce exactly, raise UnsupportedLayerError naming
the option.
"""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np
from torch import nn

from ...errors import UnsupportedLayerError
from ...ir.graph import Layer, Shape

Converter = Callable[[Layer, List[Shape]], nn.Module]
CONVERTERS: Dict[str, Converter] = {}

def caffe_float(value: float) -> float:
    """A ``float`` field of caffe.proto as Caffe holds it: a float32 (layers read it into
    their Dtype). A float32 module rounds it so anyway; rounding here makes a float64 module
    (``.double()``) compute Caffe's semantics exactly, not those of the decimal text
    (eps 1e-5 is 9.99999974738e-06 in Caffe)."""
    return float(np.float32(value))


#: Layer types that produce network inputs rather than computing anything.
INPUT_TYPES = frozenset({"Input"})

#: Catalogue types this back end does not convert, and why (the error message says so).
NOT_CONVERTED = {
    "Data": "a training-net data source; the deploy net reads it as an Input layer",
    "SoftmaxWithLoss": "a training loss; the deploy (TEST) net drops it",
    "Accuracy": "a training metric; the deploy (TEST) net drops it",
}


def register(*types: str):
    """Register a converter for Caffe layer types; registering a type twice is a bug."""
    def wrap(fn: Converter) -> Converter:
        for t in types:
            if t in CONVERTERS or t in INPUT_TYPES:
                raise ValueError(f"torch converter for {t} registered twice")
            CONVERTERS[t] = fn
        return fn
    return wrap


def supported_types() -> List[str]:
    """Every layer type the PyTorch back end converts, sorted."""
    return sorted(set(CONVERTERS) | INPUT_TYPES)


def refuse(layer: Layer, message: str):
    """Raise UnsupportedLayerError for an option of ``layer`` this back end cannot convert."""
    raise UnsupportedLayerError(message, layer=layer.name, layer_type=layer.type)
