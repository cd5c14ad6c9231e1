"""IR (+ weights) -> Caffe NetParameter, binary .caffemodel and text prototxt.

The user-facing, pretty prototxt comes from ``converter/emit.py``; ``write_prototxt`` here
uses protobuf's text format and exists for tests and round trips. Files are written to a
temporary file in the target folder and renamed into place, so a failure never leaves a
half-written model behind.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from google.protobuf import text_format

from ..fileio import atomic_write  # noqa: F401  (re-exported: writers' one atomic path)
from ..ir import Net
from ..layers import layer_type
from .blobs import array_to_blob
from .schema import Schema, schema_for_fields
from .v1 import downgrade_layer

_PHASE_NUMBERS = {"TRAIN": 0, "TEST": 1}


def _write_inputs(net: Net, netp) -> None:
    """Top-level ``input`` fields in the style the net was read with."""
    # input_dim can only say 4-D shapes (Caffe reads it in fours): use input_shape otherwise.
    style = net.input_style
    if any(len(shape) != 4 for shape in net.inputs.values()):
        style = "input_shape"
    for name, shape in net.inputs.items():
        netp.input.append(name)
        if style == "input_shape":
            netp.input_shape.add().dim.extend(int(d) for d in shape)
        else:
            netp.input_dim.extend(int(d) for d in shape)


def _layer_proto(layer, lp, weights: Optional[Dict[str, List[np.ndarray]]],
                 double: bool, legacy: bool) -> None:
    """Fill LayerParameter ``lp`` from IR ``layer`` (and its blobs, if any)."""
    lp.name, lp.type = layer.name, layer.type
    lp.bottom.extend(layer.bottoms)
    lp.top.extend(layer.tops)
    if layer.phase is not None:
        lp.include.add().phase = _PHASE_NUMBERS[layer.phase]
    for spec in layer.param_specs:
        p = lp.param.add()
        p.lr_mult, p.decay_mult = spec.lr_mult, spec.decay_mult
    if layer.params is not None:
        layer_type(layer.type, layer=layer.name).write(layer.params, lp)
    for array in (weights or {}).get(layer.name, []):
        lp.blobs.append(array_to_blob(array, double=double, legacy=legacy))


def net_schema(net: Net) -> Schema:
    """The schema that can hold ``net``: BVLC's, or the fork schema a custom layer type's
    parameter field comes from (:func:`converter.caffe.schema.schema_for_fields`)."""
    fields = {layer_type(layer.type, layer=layer.name).field for layer in net.layers
              if layer.params is not None}
    return schema_for_fields(sorted(f for f in fields if f))


def net_to_proto(net: Net, weights=None, *, double: bool = False, legacy_blobs: bool = False,
                 v1: bool = False, schema: Optional[Schema] = None):
    """The NetParameter of ``net`` with ``weights`` (layer name -> arrays) as blobs.

    ``double`` stores blobs in ``double_data``; ``legacy_blobs`` uses num/channels/height/
    width instead of BlobShape; ``v1`` writes legacy ``layers`` entries (all for testing the
    reader against old-style files). ``schema``: default :func:`net_schema`.
    """
    netp = (schema or net_schema(net)).NetParameter()
    if net.name:
        netp.name = net.name
    _write_inputs(net, netp)
    for layer in net.layers:
        lp = netp.layer.add()
        _layer_proto(layer, lp, weights, double, legacy_blobs)
        if v1:
            downgraded = downgrade_layer(lp, type(netp.layers.add()))
            del netp.layer[-1]
            netp.layers[-1].CopyFrom(downgraded)
    return netp


def write_caffemodel(net: Net, weights, path, **kwargs) -> None:
    """Write ``net`` and ``weights`` as a binary .caffemodel (atomically)."""
    atomic_write(path, net_to_proto(net, weights, **kwargs).SerializeToString())


def prototxt_text(net: Net, **kwargs) -> str:
    """``net`` in protobuf text format (no weights)."""
    return text_format.MessageToString(net_to_proto(net, **kwargs))


def write_prototxt(net: Net, path, **kwargs) -> None:
    """Write ``net`` as a text prototxt (atomically)."""
    atomic_write(path, prototxt_text(net, **kwargs).encode("utf-8"))
