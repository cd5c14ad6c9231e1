"""PyTorch back end: a real ``nn.Module`` built from the IR, loaded with Caffe weights by name.

One converter per Caffe layer type, in the family file named as the type's
``converter/layers`` module (``conv.py``, ``pool.py``, ``norm.py``, ...); the machinery is
``module.py`` (the modules' shared facts), ``net.py`` (CaffeNet, building, weights),
``plan.py`` (the memory plan), ``fusion.py`` (post-ops fused into convolutions),
``fold.py`` (BatchNorm folding), ``onednn.py`` (packed convolutions) and ``export.py``
(safetensors, .pt2, ONNX). The families are imported here, explicitly, so importing the
package registers every converter.
"""

from . import (activation, conv, eltwise, indexing, inner_product, norm, pool, recurrent,
               reduction, reshape)
from .net import CaffeNet, build_module, load_weights, to_torch
from .registry import CONVERTERS, INPUT_TYPES, NOT_CONVERTED, supported_types

FAMILIES = (activation, conv, eltwise, indexing, inner_product, norm, pool, recurrent, reduction,
            reshape)

__all__ = ["CONVERTERS", "CaffeNet", "FAMILIES", "INPUT_TYPES", "NOT_CONVERTED",
           "build_module", "load_weights", "supported_types", "to_torch"]
