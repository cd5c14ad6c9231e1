"""MXNet back end: the IR as an ``mx.sym`` graph with Caffe's exact TEST-time semantics.

One converter per Caffe layer type, in the family file named as the type's
``converter/layers`` module (``conv.py``, ``pool.py``, ``norm.py``, ...); the machinery is
``registry.py`` (converters, build context) and ``symbol.py`` (building, checkpoints,
forward_all). The families are imported here, explicitly, so importing the package
registers every converter.

Public, stable API for custom layer types (see docs/adding-a-layer.md): :func:`register`
(``@register("Type", check=...) def convert(ctx, layer, bottoms) -> [symbols]``).
"""

from . import (activation, conv, data, eltwise, indexing, inner_product, norm, pool, recurrent,
               reduction, reshape)
from .registry import CONVERTERS, NOT_CONVERTED, register, supported_types
from .symbol import (forward_all, net_to_symbol_json, save_checkpoint, to_mxnet,
                     to_mxnet_values, unsupported_report)

FAMILIES = (activation, conv, data, eltwise, indexing, inner_product, norm, pool, recurrent,
            reduction, reshape)

__all__ = ["CONVERTERS", "FAMILIES", "NOT_CONVERTED", "forward_all", "net_to_symbol_json",
           "register", "save_checkpoint", "supported_types", "to_mxnet", "to_mxnet_values",
           "unsupported_report"]
