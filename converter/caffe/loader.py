"""Loading a caffemodel: decoding every layer's blobs and matching them to a net by name.

Caffe's Net::CopyTrainedLayersFrom matches source layers to target layers by name and checks
each blob with Blob::ShapeEquals (which lets a legacy 4-D num/channels/height/width blob match
a lower-rank shape padded with leading 1s). Caffe silently ignores extra or missing layers;
we refuse both, because a silently half-initialised model is the worst outcome for a
converter.

``load_caffe(..., lazy=True)`` leaves float32 values in the file (as FileBlob objects)
for writers that stream them; every check but the NaN/Inf one still runs at load time.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from ..errors import CaffeFormatError, ConverterError, MismatchError
from ..fileio import check_input
from ..ir import Net
from ..layers import legacy_shape_matches
from .blobs import CaffeFile, FileBlob, blob_shape, blob_to_array, check_finite, is_legacy
from .reader import (DROPPED_TYPES, layer_messages, net_from_proto, read_caffemodel,
                     read_prototxt)
from .schema import load_schema
from .wire import BlobData, Values, read_skeleton

#: layer name -> blobs in Caffe order: arrays, or FileBlobs where loaded lazily.
Weights = Dict[str, List[Union[np.ndarray, FileBlob]]]


def weights_from_proto(netp, path=None, *, allow_nonfinite: bool = False,
                       blob_data: Optional[BlobData] = None, lazy: Optional[CaffeFile] = None
                       ) -> Tuple[Weights, Set[Tuple[str, int]], Dict[str, str]]:
    """Decode the blobs of every layer that has any.

    Returns ``(weights, legacy, types)``: layer name -> arrays (Caffe order), the set of
    (layer, blob index) stored in legacy 4-D form, and layer name -> type. ``blob_data``
    (from :func:`converter.caffe.wire.split_file`) holds the values of blobs whose
    ``data``/``double_data`` were left out of ``netp``; they are read from the file straight
    into their arrays, or, with ``lazy`` (that file), float32 ones become FileBlobs and are
    not read at all.
    """
    weights: Weights = {}
    legacy: Set[Tuple[str, int]] = set()
    types: Dict[str, str] = {}
    for li, lp in enumerate(layer_messages(netp, path)):
        if not len(lp.blobs):
            continue
        if lp.name in weights:
            raise CaffeFormatError("two layers with this name carry weights", file=path,
                                   layer=lp.name, layer_type=lp.type)
        arrays = []
        for i, blob in enumerate(lp.blobs):
            try:
                if blob_data is None:
                    arrays.append(blob_to_array(blob, file=path, layer=lp.name, index=i,
                                                allow_nonfinite=allow_nonfinite))
                else:
                    arrays.append(_read_values(blob, blob_data.get((li, i)), path, lp.name,
                                               i, allow_nonfinite, lazy, lp.type))
            except ConverterError as exc:
                raise exc.with_context(layer_type=lp.type)
            if is_legacy(blob):
                legacy.add((lp.name, i))
        weights[lp.name], types[lp.name] = arrays, lp.type
    return weights, legacy, types


def _fit(name: str, i: int, array: np.ndarray, expected, legacy, layer, path) -> np.ndarray:
    """``array`` in the ``expected`` shape, or MismatchError naming the layer and blob."""
    if tuple(array.shape) == tuple(expected):
        return array
    if (name, i) in legacy and legacy_shape_matches(array.shape, expected):
        return array.reshape(tuple(expected))
    raise MismatchError(f"blob {i} has shape {list(array.shape)} in the caffemodel but the "
                        f"prototxt implies {list(expected)}", file=path, layer=name,
                        layer_type=layer.type)


def match_weights(net: Net, weights: Weights, *, legacy=frozenset(), path=None,
                  ignore: Sequence[str] = ()) -> Weights:
    """Weights for ``net`` (validated, so ``blob_shapes`` are known), checked by name and shape.

    Layers of ``net`` that need blobs must find them; layers in ``weights`` that the net does
    not have are an error too, except those named in ``ignore`` (layers the reader dropped).
    """
    out: Weights = {}
    for layer in net.layers:
        if not layer.blob_shapes:
            if weights.get(layer.name):
                raise MismatchError(f"the caffemodel has {len(weights[layer.name])} blob(s) "
                                    "for a layer that takes none", file=path,
                                    layer=layer.name, layer_type=layer.type)
            continue
        if layer.name not in weights:
            raise MismatchError(f"needs {len(layer.blob_shapes)} parameter blob(s) but the "
                                "caffemodel has no weights for this layer", file=path,
                                layer=layer.name, layer_type=layer.type)
        arrays = weights[layer.name]
        if len(arrays) != len(layer.blob_shapes):
            raise MismatchError(f"the caffemodel has {len(arrays)} blob(s), the prototxt "
                                f"implies {len(layer.blob_shapes)}", file=path,
                                layer=layer.name, layer_type=layer.type)
        out[layer.name] = [_fit(layer.name, i, a, s, legacy, layer, path)
                           for i, (a, s) in enumerate(zip(arrays, layer.blob_shapes))]
    extra = [n for n in weights if n not in out and n not in ignore]
    if extra:
        raise MismatchError(f"the caffemodel has weights for layer(s) the prototxt lacks: "
                            f"{', '.join(repr(n) for n in extra)}", file=path)
    return out


def first_conv_channels(weights: Weights, types: Dict[str, str]) -> Optional[int]:
    """Input channels of the first convolution with weights (file order): what the image
    must have when the file does not say (e.g. a train net's Data layer with a mean file).
    A wrong guess (a grouped first convolution) fails shape inference or weight matching."""
    for name, layer_type in types.items():
        if layer_type == "Convolution":
            blob = weights[name][0]
            return int(blob.shape[1]) if blob.ndim == 4 else None
    return None


def _validated(net: Net, path) -> None:
    try:
        net.validate()
    except ConverterError as exc:
        raise exc.with_context(file=path)


def load_caffe(path, prototxt=None, input_shape: Optional[Sequence[int]] = None, *,
               allow_nonfinite: bool = False, lazy: bool = False,
               caffe_proto=None) -> Tuple[Net, Weights]:
    """Load a caffemodel into ``(Net, weights)``; the deploy (TEST-phase) net.

    The net comes from ``prototxt`` if given, else from the layer definitions stored in the
    caffemodel itself. ``input_shape`` (N, C, H, W) supplies or overrides the input shape.
    Weights are matched by layer name with shape checks (MismatchError otherwise).

    ``lazy``: where the file's layout allows it, blobs stored as float32 ``data`` are
    returned as FileBlobs (read, and checked for NaN/Inf, when used); the rest are arrays.

    ``caffe_proto``: the ``caffe.proto`` of the Caffe fork that wrote the files (a path, or a
    :class:`~converter.caffe.schema.Schema`); see :mod:`converter.caffe.schema`.
    """
    schema = load_schema(caffe_proto) if caffe_proto is not None else None
    check_input(path, "caffemodel")  # before any open(): a FIFO would block it forever
    fast = read_skeleton(path, schema)
    model, blob_data, handle = fast if fast is not None else \
        (read_caffemodel(path, schema), None, None)
    try:
        lazy_file = handle is not None and lazy  # the fast path knows where values lie
        source = CaffeFile(path, os.fstat(handle.fileno())) if lazy_file else None
        weights, legacy, types = weights_from_proto(model, path, blob_data=blob_data,
                                                    allow_nonfinite=allow_nonfinite,
                                                    lazy=source)
    finally:
        if handle is not None:
            handle.close()
    channels = first_conv_channels(weights, types)
    if prototxt is not None:
        net = read_prototxt(prototxt, input_shape=input_shape, input_channels=channels,
                            schema=schema)
        net_file = prototxt
    else:
        net = net_from_proto(model, path, input_shape=input_shape, input_channels=channels)
        net_file = path
    del model
    _validated(net, net_file)
    ignore = [n for n, t in types.items() if t in DROPPED_TYPES]
    return net, match_weights(net, weights, legacy=legacy, path=path, ignore=ignore)


def _read_values(blob, values: Optional[Values], path, layer: str, index: int,
                 allow_nonfinite: bool, lazy: Optional[CaffeFile] = None,
                 layer_type: Optional[str] = None):
    """blob_to_array for a skeleton blob whose values are in the file at ``values`` (a
    FileBlob instead, with ``lazy``, for non-empty float32 values)."""
    shape = blob_shape(blob, file=path, layer=layer, index=index)
    expected = math.prod(shape)
    count = 0 if values is None else values.count
    if count != expected:
        raise CaffeFormatError(
            f"blob {index} declares shape {list(shape)} ({expected} values) but holds "
            f"{count} values; the file is truncated or corrupt", file=path, layer=layer)
    if lazy is not None and values is not None and values.count and values.dtype == "<f4":
        return lazy.blob(values.offset, shape, (layer, layer_type, index), allow_nonfinite)
    if values is None:
        array = np.zeros(0, np.float32)
    else:
        array = values.read(values.offset, values.count, values.dtype)
    array = array.astype(np.float32, copy=False).reshape(shape)
    check_finite(array, file=path, layer=layer, index=index, allow=allow_nonfinite)
    return array
