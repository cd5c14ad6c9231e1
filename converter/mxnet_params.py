"""Writing MXNet ``.params`` files without MXNet, streaming blobs that still lie in a caffemodel.

The format is what MXNet 1.x's ``mx.nd.save`` writes for a dict of dense float32 CPU arrays
(``src/ndarray/ndarray.cc``: ``NDArray::Save`` and ``mx.nd.save``'s list format), all
little-endian:

* the list header: uint64 magic ``0x112``, uint64 reserved ``0``, uint64 array count;
* per array: uint32 magic ``0xF993FAC9`` (NDArray V2), int32 storage type ``0`` (dense),
  the shape (uint32 ndim, then ndim int64 sizes), the context (int32 device type ``1`` = CPU,
  int32 device id ``0``), int32 type flag ``0`` (float32), then the values;
* the names: uint64 count, then per name a uint64 byte length and its UTF-8 bytes.

The bytes are identical to ``mx.nd.save``'s for the same arrays (tests/test_mxnet_params.py),
so ``mx.model.load_checkpoint`` and ``gluon.SymbolBlock.imports`` read the file as their own.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Iterable, Sequence, Tuple

import numpy as np

from .caffe.blobs import FileBlob
from .streaming import CHUNK_BYTES, BlobCopier, Source, write_all

LIST_MAGIC = 0x112
NDARRAY_V2_MAGIC = 0xF993FAC9
_CPU, _DENSE, _FLOAT32 = 1, 0, 0

#: (name such as ``arg:conv1_weight``, shape, values)
Entry = Tuple[str, Sequence[int], Source]


def array_header(shape: Sequence[int]) -> bytes:
    """The bytes ``NDArray::Save`` writes before a dense float32 CPU array's values."""
    dims = [int(d) for d in shape]
    return (struct.pack("<Ii", NDARRAY_V2_MAGIC, _DENSE)
            + struct.pack(f"<I{len(dims)}q", len(dims), *dims)
            + struct.pack("<iii", _CPU, 0, _FLOAT32))


def names_block(names: Sequence[str]) -> bytes:
    """The trailing list of names: a count, then each name's length and UTF-8 bytes."""
    out = [struct.pack("<Q", len(names))]
    for name in names:
        data = name.encode("utf-8")
        out += [struct.pack("<Q", len(data)), data]
    return b"".join(out)


def _check(entries: Sequence[Entry]) -> None:
    seen = set()
    for name, shape, source in entries:
        size = source.size if isinstance(source, FileBlob) else np.size(source)
        # A 0-axis shape is MXNet 1.x's "none" array (NDArray::Save stops after the shape):
        # refuse it rather than write a file that mx.nd.load reads as something else.
        if name in seen or not shape or size != math.prod(shape):
            raise ValueError(f"{name!r}: shape {list(shape)} does not describe its "
                             f"{size} values, or the name repeats")
        seen.add(name)


def write_params(fd: int, entries: Sequence[Entry], *, verify: Iterable[FileBlob] = (),
                 chunk_bytes: int = CHUNK_BYTES) -> None:
    """Write ``entries`` (float32 values) in ``mx.nd.save``'s format to the open descriptor
    ``fd``; FileBlobs are streamed from their caffemodel and checked for NaN/Inf as they
    pass, and the FileBlobs in ``verify`` (not written) are checked too. Raises
    NonFiniteError as the eager read would; the caller owns the file (atomic output)."""
    _check(entries)
    with BlobCopier(chunk_bytes) as copier:
        write_all(fd, struct.pack("<QQQ", LIST_MAGIC, 0, len(entries)))
        for _, shape, source in entries:
            write_all(fd, array_header(shape))
            copier.copy(source, fd)
        write_all(fd, names_block([name for name, _, _ in entries]))
        for blob in verify:
            copier.copy(blob, None)
        copier.finish()


def save_params(path, entries: Sequence[Entry], **kwargs) -> None:
    """:func:`write_params` to ``path`` (created or truncated; not atomic by itself)."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_params(fd, entries, **kwargs)
    finally:
        os.close(fd)
