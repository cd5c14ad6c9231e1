"""Fast caffemodel reading: protobuf parses a skeleton, blob values go straight to numpy.

A caffemodel is ~all blob values. Parsing it whole makes protobuf hold a copy of every value
(as large as the file) before numpy makes another. Instead the file's wire format is walked
down to the blobs (NetParameter.layer/layers -> LayerParameter.blobs -> BlobProto), a
"skeleton" without BlobProto.data/double_data/diff/double_diff is parsed by protobuf as usual,
and every blob's values are read from the file straight into their own array. Any encoding the
walk does not expect (unpacked or repeated value fields, groups, a truncated field, ...) makes
it give up, and the whole file is parsed as before: the results, and every error, are the same
either way.
"""

from __future__ import annotations

import os
from typing import Dict, Tuple

import numpy as np

from ..errors import CaffeFormatError, ConverterError

#: (layer index, blob index) -> where its values lie in the file (see :func:`split_file`).
BlobData = Dict[Tuple[int, int], "Values"]

_NET_LAYER, _NET_V1_LAYERS = 100, 2          # NetParameter.layer / .layers
_LAYER_BLOBS, _V1_LAYER_BLOBS = 7, 6         # LayerParameter.blobs / V1LayerParameter.blobs
_DATA, _DIFF, _DOUBLE_DATA, _DOUBLE_DIFF = 5, 6, 8, 9   # BlobProto's packed value fields


class _GiveUp(Exception):
    """The fast path does not handle this file; parse it whole."""


class Values:
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


def encode_varint(value: int) -> bytes:
    """Protobuf's base-128 varint encoding of a non-negative integer."""
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


def length_delimited(number: int, body: bytes) -> bytes:
    """Field ``number`` with wire type 2 (submessage, string or packed values) around
    ``body``, as protobuf serialises it."""
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


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
        kept.append(length_delimited(number, _blob_skeleton(buf, pos, nxt, values)))
        double = values.get(_DOUBLE_DATA)
        if double is not None and double[1]:
            if double[1] % 8:
                raise _GiveUp
            side[(li, bi)] = Values(double[0], double[1] // 8, "<f8", read)
        elif _DATA in values:
            offset, size = values[_DATA]
            if size % 4:
                raise _GiveUp
            side[(li, bi)] = Values(offset, size // 4, "<f4", read)
        bi += 1
    return b"".join(kept)


def split_file(buf, read) -> Tuple[bytes, BlobData]:
    """The NetParameter in ``buf`` without blob values, and where those values lie."""
    kept, side = [], {}
    counts = {_NET_LAYER: 0, _NET_V1_LAYERS: 0}
    for number, wire, key_at, pos, nxt in _fields(buf, 0, len(buf)):
        if number in counts and wire == 2:
            blobs_field = _LAYER_BLOBS if number == _NET_LAYER else _V1_LAYER_BLOBS
            body = _layer_skeleton(buf, pos, nxt, blobs_field, counts[number], side, read)
            counts[number] += 1
            kept.append(length_delimited(number, body))
        else:
            kept.append(bytes(buf[key_at:nxt]))
    if counts[_NET_LAYER] and counts[_NET_V1_LAYERS]:
        raise _GiveUp  # refused later with the full parse's message
    return b"".join(kept), side


def read_skeleton(path, schema=None):
    """``(NetParameter without blob values, BlobData, open file)`` for ``path`` (parsed with
    ``schema``, a fork's, if given), or None when
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
            skeleton, side = split_file(mm, _Reader(handle))  # mmap: indexing gives ints
        netp = parse_binary_net(skeleton, path, schema)
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
        pread_full(self.handle.fileno(), memoryview(array).cast("B"), offset, self.handle.name)
        return array


def pread_full(fd: int, view: memoryview, offset: int, name) -> None:
    """Fill the byte view ``view`` from ``fd`` at ``offset``; a short read means the file
    shrank since its layout was read (CaffeFormatError naming ``name``)."""
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise CaffeFormatError("the file changed while it was read", file=name)
        done += n
