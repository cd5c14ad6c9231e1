"""Graph IR: layers, nets, shape inference (no framework imports).

The typed parameter dataclasses live with their layer types in :mod:`converter.layers`;
they are part of the IR's API and exported here too.
"""

from ..layers import (AccuracyParam, BatchNormParam, ConcatParam, ConvolutionParam, DataParam,
                      DropoutParam, EltwiseParam, FlattenParam, Filler, InnerProductParam,
                      InputParam, LRNParam, ParamSpec, PoolingParam, PowerParam, ReLUParam,
                      ReshapeParam, ScaleParam, SoftmaxParam, TransformParam, PARAMS,
                      default_params, param_types, pooled_size)
from .graph import Layer, Net, Shape
from .shapes import infer_shapes, param_count

__all__ = list(PARAMS) + ["Layer", "Net", "Shape", "default_params",
                          "param_types", "infer_shapes", "param_count", "pooled_size"]
