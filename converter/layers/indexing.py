"""Layers that pick data by index: Embed, BatchReindex and Filter; and Parameter, a learned
blob as a top (embed_layer.cpp, batch_reindex_layer.cpp, filter_layer.cpp,
parameter_layer.hpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import ShapeError
from .common import Filler
from .registry import LayerType, register


@dataclass(frozen=True)
class EmbedParam:
    """EmbedParameter: row ``x`` of an (input_dim, num_output) table (plus a bias) for each
    integer-valued bottom element."""
    num_output: int = 0
    input_dim: int = 0
    bias_term: bool = True
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@dataclass(frozen=True)
class ParameterParam:
    """ParameterParameter: the shape of the one learned blob the layer outputs."""
    shape: Tuple[int, ...] = ()


@register("Embed")
class Embed(LayerType):
    params, field = EmbedParam, "embed_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        p = layer.params
        if p.num_output <= 0 or p.input_dim <= 0:
            raise ShapeError("num_output and input_dim must be positive", layer=layer.name,
                             layer_type=layer.type)
        blobs = [(p.input_dim, p.num_output)] + ([(p.num_output,)] if p.bias_term else [])
        return [tuple(bottoms[0]) + (p.num_output,)], blobs


@register("BatchReindex")
class BatchReindex(LayerType):
    """top[i] = bottom[0][bottom[1][i]]: the top's batch is the index blob's length."""
    bottoms, tops = (2, 2), (1, 1)

    def shape(layer, bottoms):
        data, index = bottoms
        if len(index) != 1:
            raise ShapeError(f"the index bottom must be 1-D, got {list(index)}",
                             layer=layer.name, layer_type=layer.type)
        return [(index[0],) + tuple(data[1:])], []


@register("Filter")
class Filter(LayerType):
    """The items of each data bottom whose selector (the last bottom) is nonzero. How many
    that is depends on the selector's values, so the inferred shape keeps the bottom's batch
    (an upper bound); the back ends compute the real count at run time, as Caffe's
    Reshape does."""
    bottoms, tops = (2, None), (1, None)

    def shape(layer, bottoms):
        data, selector = bottoms[:-1], bottoms[-1]
        if len(layer.tops) != len(data):
            raise ShapeError(f"{len(data)} data bottoms but {len(layer.tops)} tops",
                             layer=layer.name, layer_type=layer.type)
        if any(len(selector) < 1 or d[0] != selector[0] for d in data) or any(
                x != 1 for x in selector[1:]):
            raise ShapeError("the selector must be (N,) or (N, 1, ...) with every data "
                             "bottom's batch N", layer=layer.name, layer_type=layer.type)
        return [tuple(d) for d in data], []


@register("Parameter")
class Parameter(LayerType):
    params, field = ParameterParam, "parameter_param"
    bottoms, tops = (0, 0), (1, 1)

    def shape(layer, bottoms):
        shape = tuple(layer.params.shape)
        return [shape], [shape]

    def read(lp):
        return ParameterParam(shape=tuple(int(d) for d in lp.parameter_param.shape.dim))

    def write(c, lp):
        lp.parameter_param.shape.dim.extend(c.shape)
