"""The layer catalogue: every Caffe layer type described in one place (its family module).

Each family module holds, per type, the parameter dataclass (caffe.proto defaults), the
bottom/top counts, the shape rule (which gives the parameter blobs' shapes) and the Caffe
read/write; see :mod:`converter.layers.registry` for the protocol and
``docs/adding-a-layer.md`` for adding one. The families are imported here, explicitly, so
importing the package registers the whole catalogue; nothing else registers layer types.
"""

from . import (activation, conv, data, eltwise, indexing, inner_product, loss, norm, pool,
               recurrent, reduction, reshape)
from .activation import DropoutParam, PowerParam, ReLUParam, SoftmaxParam
from .common import (Filler, Pair, ParamSpec, Shape, blob_shape_ok, canonical_axis,
                     checked_nchw, count, legacy_shape_matches)
from .conv import ConvolutionParam
from .data import DataParam, InputParam, TransformParam, read_transform
from .eltwise import EltwiseParam
from .fields import shortest_floats
from .inner_product import InnerProductParam
from .loss import AccuracyParam
from .norm import BatchNormParam, LRNParam, ScaleParam
from .pool import PoolingParam, pooled_size
from .registry import (LAYERS, LayerType, default_params, layer_type, param_types, register,
                       unsupported_error)
from .reshape import ConcatParam, FlattenParam, ReshapeParam

FAMILIES = (activation, conv, data, eltwise, indexing, inner_product, loss, norm, pool,
            recurrent, reduction, reshape)

#: The parameter dataclasses (also exported by :mod:`converter.ir`).
PARAMS = ["Filler", "ParamSpec", "ConvolutionParam", "PoolingParam", "BatchNormParam",
          "ScaleParam", "ReLUParam", "EltwiseParam", "InnerProductParam", "SoftmaxParam",
          "ConcatParam", "DropoutParam", "PowerParam", "FlattenParam", "ReshapeParam",
          "LRNParam", "InputParam", "TransformParam", "DataParam", "AccuracyParam"]

__all__ = PARAMS + [
    "FAMILIES", "LAYERS", "LayerType", "Pair", "Shape", "blob_shape_ok", "canonical_axis",
    "checked_nchw", "count", "default_params", "layer_type", "legacy_shape_matches",
    "param_types", "pooled_size", "read_transform", "register", "shortest_floats",
    "unsupported_error"]
