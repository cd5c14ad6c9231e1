"""Graph IR: layers, typed parameters, shape inference (no framework imports)."""

from .graph import Layer, Net, Shape
from . import params as _params
from .params import *  # noqa: F401,F403  (the parameter dataclasses are part of the IR API)
from .params import PARAM_TYPES, default_params
from .shapes import SHAPE_FNS, infer_shapes, param_count, pooled_size

__all__ = list(_params.__all__) + ["Layer", "Net", "Shape", "PARAM_TYPES", "default_params",
           "SHAPE_FNS", "infer_shapes", "param_count", "pooled_size"]
