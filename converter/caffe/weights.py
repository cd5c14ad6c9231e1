"""Caffemodel weights: decoding every layer's blobs and matching them to a net by name.

Caffe's Net::CopyTrainedLayersFrom matches source layers to target layers by name and checks
each blob with Blob::ShapeEquals (which lets a legacy 4-D num/channels/height/width blob match
a lower-rank shape padded with leading 1s). Caffe silently ignores extra or missing layers;
we refuse both, because a silently half-initialised model is the worst outcome for a
converter.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from ..errors import CaffeFormatError, ConverterError, MismatchError
from ..ir import Net
from .blobs import blob_shape, blob_to_array, check_finite, is_legacy, legacy_fit

Weights = Dict[str, List[np.ndarray]]
#: (layer index, blob index) -> where its values lie in the file (see :func:`_split_file`).
BlobData = Dict[Tuple[int, int], "_Values"]


def weights_from_proto(netp, path=None, *, allow_nonfinite: bool = False,
                       blob_data: Optional[BlobData] = None
                       ) -> Tuple[Weights, Set[Tuple[str, int]], Dict[str, str]]:
    """Decode the blobs of every layer that has any.

    Returns ``(weights, legacy, types)``: layer name -> arrays (Caffe order), the set of
    (layer, blob index) stored in legacy 4-D form, and layer name -> type. ``blob_data``
    (from :func:`_split_file`) holds the values of blobs whose ``data``/``double_data`` were
    left out of ``netp``; they are read from the file straight into their arrays.
    """
    from .reader import layer_messages  # reader imports this module
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
                                               i, allow_nonfinite))
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
    if (name, i) in legacy:
        fitted = legacy_fit(array, tuple(expected))
        if fitted is not None:
            return fitted
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


def _validated(net: Net, path) -> None:
    try:
        net.validate()
    except ConverterError as exc:
        raise exc.with_context(file=path)


def load_caffe(path, prototxt=None, input_shape: Optional[Sequence[int]] = None, *,
               allow_nonfinite: bool = False) -> Tuple[Net, Weights]:
    """Load a caffemodel into ``(Net, weights)``; the deploy (TEST-phase) net.

    The net comes from ``prototxt`` if given, else from the layer definitions stored in the
    caffemodel itself. ``input_shape`` (N, C, H, W) supplies or overrides the input shape.
    Weights are matched by layer name with shape checks (MismatchError otherwise).
    """
    from .reader import DROPPED_TYPES, net_from_proto, read_caffemodel, read_prototxt
    fast = _read_skeleton(path)
    model, blob_data, handle = fast if fast is not None else (read_caffemodel(path), None, None)
    try:
        weights, legacy, types = weights_from_proto(model, path, blob_data=blob_data,
                                                    allow_nonfinite=allow_nonfinite)
    finally:
        if handle is not None:
            handle.close()
    if prototxt is not None:
        net, net_file = read_prototxt(prototxt, input_shape=input_shape), prototxt
    else:
        net, net_file = net_from_proto(model, path, input_shape=input_shape), path
    del model
    _validated(net, net_file)
    ignore = [n for n, t in types.items() if t in DROPPED_TYPES]
    return net, match_weights(net, weights, legacy=legacy, path=path, ignore=ignore)


# --------------------------------------------------------------- fast path
#
# A caffemodel is ~all blob values. Parsing it whole makes protobuf hold a copy of every value
# (as large as the file) before numpy makes another. Instead the file's wire format is walked
# down to the blobs (NetParameter.layer/layers -> LayerParameter.blobs -> BlobProto), a
# "skeleton" without BlobProto.data/double_data/diff/double_diff is parsed by protobuf as
# usual, and every blob's values are read from the file straight into their own array. Any
# encoding the walk does not expect (unpacked or repeated value fields, groups, a truncated
# field, ...) makes it give up, and the whole file is parsed as before: the results, and every
# error, are the same either way.

_NET_LAYER, _NET_V1_LAYERS = 100, 2          # NetParameter.layer / .layers
_LAYER_BLOBS, _V1_LAYER_BLOBS = 7, 6         # LayerParameter.blobs / V1LayerParameter.blobs
_DATA, _DIFF, _DOUBLE_DATA, _DOUBLE_DIFF = 5, 6, 8, 9   # BlobProto's packed value fields


class _GiveUp(Exception):
    """The fast path does not handle this file; parse it whole."""


class _Values:
    """Where one blob's packed values lie: file offset, count and element dtype."""
    __slots__ = ("offset", "count", "dtype", "read")

    def __init__(self, offset: int, count: int, dtype: str, read):
        self.offset, self.count, self.dtype, self.read = offset, count, dtype, read


def _varint(buf, pos: int, end: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _GiveUp
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf, pos: int, end: int):
    """(field number, wire type, start of the field's key, payload start, payload end)."""
    while pos < end:
        key_at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _GiveUp
        if wire == 0:
            _, nxt = _varint(buf, pos, end)
        elif wire == 1:
            nxt = pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            nxt = pos + length
        elif wire == 5:
            nxt = pos + 4
        else:  # groups (3, 4) and invalid wire types
            raise _GiveUp
        if nxt > end:
            raise _GiveUp
        yield number, wire, key_at, pos, nxt
        pos = nxt


def _submessage(number: int, body: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(body)) + body


def _blob_skeleton(buf, start: int, end: int, values: Dict[int, Tuple[int, int]]) -> bytes:
    """The BlobProto at buf[start:end] without its value fields; their (offset, bytes) go to
    ``values`` (field number -> ...)."""
    kept = []
    for number, wire, key_at, pos, nxt in _fields(buf, start, end):
        if number in (_DATA, _DOUBLE_DATA, _DIFF, _DOUBLE_DIFF):
            if wire != 2 or number in values:
                raise _GiveUp  # unpacked or split values: protobuf concatenates those
            values[number] = (pos, nxt - pos)
        else:
            kept.append(bytes(buf[key_at:nxt]))
    return b"".join(kept)


def _layer_skeleton(buf, start: int, end: int, blobs_field: int, li: int, side: dict,
                    read) -> bytes:
    kept, bi = [], 0
    for number, wire, key_at, pos, nxt in _fields(buf, start, end):
        if number != blobs_field or wire != 2:
            kept.append(bytes(buf[key_at:nxt]))
            continue
        values: Dict[int, Tuple[int, int]] = {}
        kept.append(_submessage(number, _blob_skeleton(buf, pos, nxt, values)))
        double = values.get(_DOUBLE_DATA)
        if double is not None and double[1]:
            if double[1] % 8:
                raise _GiveUp
            side[(li, bi)] = _Values(double[0], double[1] // 8, "<f8", read)
        elif _DATA in values:
            offset, size = values[_DATA]
            if size % 4:
                raise _GiveUp
            side[(li, bi)] = _Values(offset, size // 4, "<f4", read)
        bi += 1
    return b"".join(kept)


def _split_file(buf, read) -> Tuple[bytes, BlobData]:
    """The NetParameter in ``buf`` without blob values, and where those values lie."""
    kept, side = [], {}
    counts = {_NET_LAYER: 0, _NET_V1_LAYERS: 0}
    for number, wire, key_at, pos, nxt in _fields(buf, 0, len(buf)):
        if number in counts and wire == 2:
            blobs_field = _LAYER_BLOBS if number == _NET_LAYER else _V1_LAYER_BLOBS
            body = _layer_skeleton(buf, pos, nxt, blobs_field, counts[number], side, read)
            counts[number] += 1
            kept.append(_submessage(number, body))
        else:
            kept.append(bytes(buf[key_at:nxt]))
    if counts[_NET_LAYER] and counts[_NET_V1_LAYERS]:
        raise _GiveUp  # refused later with the full parse's message
    return b"".join(kept), side


def _read_skeleton(path):
    """``(NetParameter without blob values, BlobData, open file)`` for ``path``, or None when
    the fast path does not apply (then the caller parses the whole file, errors included).
    The caller closes the file once the values are read."""
    import mmap

    from .parse import MAX_BYTES, parse_binary_net
    try:
        handle = open(path, "rb")
    except (OSError, TypeError, ValueError):
        return None
    try:
        size = os.fstat(handle.fileno()).st_size
        if not 0 < size <= MAX_BYTES:
            handle.close()
            return None
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            skeleton, side = _split_file(mm, _Reader(handle))  # mmap: indexing gives ints
        netp = parse_binary_net(skeleton, path)
    except (_GiveUp, OSError, ValueError, ConverterError):
        handle.close()
        return None
    return netp, side, handle


class _Reader:
    """Reads blob values from the open caffemodel into fresh (aligned, writable) arrays."""

    def __init__(self, handle):
        self.handle = handle

    def __call__(self, offset: int, count: int, dtype: str) -> np.ndarray:
        array = np.empty(count, dtype=dtype)
        view = memoryview(array).cast("B")
        done = 0
        while done < len(view):
            n = os.preadv(self.handle.fileno(), [view[done:]], offset + done)
            if n <= 0:
                raise CaffeFormatError("the file changed while it was read",
                                       file=self.handle.name)
            done += n
        return array


def _read_values(blob, values: Optional[_Values], path, layer: str, index: int,
                 allow_nonfinite: bool) -> np.ndarray:
    """blob_to_array for a skeleton blob whose values are in the file at ``values``."""
    shape = blob_shape(blob, file=path, layer=layer, index=index)
    expected = math.prod(shape)
    count = 0 if values is None else values.count
    if count != expected:
        raise CaffeFormatError(
            f"blob {index} declares shape {list(shape)} ({expected} values) but holds "
            f"{count} values; the file is truncated or corrupt", file=path, layer=layer)
    if values is None:
        array = np.zeros(0, np.float32)
    else:
        array = values.read(values.offset, values.count, values.dtype)
    array = array.astype(np.float32, copy=False).reshape(shape)
    check_finite(array, file=path, layer=layer, index=index, allow=allow_nonfinite)
    return array
