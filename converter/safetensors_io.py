"""Writing safetensors files without torch, streaming blobs that still lie in a caffemodel.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length N, then N bytes of UTF-8 JSON -- ``{"__metadata__": {str: str}, name: {"dtype",
"shape", "data_offsets": [begin, end]}, ...}`` -- padded with spaces so the data starts
8-byte aligned, then the tensors' bytes back to back (offsets count from the data start).

A :class:`~converter.caffe.blobs.FileBlob` is streamed from its caffemodel to the output,
NaN/Inf-checked on the way, by :class:`converter.streaming.BlobCopier`.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np

from .caffe.blobs import FileBlob
from .fileio import atomic_output
from .streaming import CHUNK_BYTES, BlobCopier, Source, write_all

_ITEM_SIZE = {"F32": 4, "I64": 8}  # int64: BatchNorm's num_batches_tracked (codegen)

#: (tensor name, safetensors dtype, shape, values)
Entry = Tuple[str, str, Sequence[int], Source]


def header(entries: Sequence[Entry], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """The length prefix and the padded JSON header of a file holding ``entries`` in order."""
    head: Dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    begin = 0
    for name, dtype, shape, source in entries:
        if name in head:
            raise ValueError(f"duplicate tensor name {name!r}")
        size = source.size if isinstance(source, FileBlob) else np.size(source)
        if dtype not in _ITEM_SIZE or size != math.prod(shape):
            raise ValueError(f"{name!r}: {dtype} {list(shape)} does not describe its values")
        end = begin + _ITEM_SIZE[dtype] * math.prod(shape)
        head[name] = {"dtype": dtype, "shape": [int(d) for d in shape],
                      "data_offsets": [begin, end]}
        begin = end
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # after the 8-byte prefix: the data starts aligned
    return struct.pack("<Q", len(text)) + text


def write_safetensors(path, entries: Sequence[Entry],
                      metadata: Optional[Mapping[str, str]] = None, *,
                      verify: Iterable[FileBlob] = (), chunk_bytes: int = CHUNK_BYTES) -> None:
    """Write ``entries`` (float32 only) as a safetensors file at ``path``, atomically.

    FileBlobs are streamed from their caffemodel and checked for NaN/Inf as they pass;
    ``verify`` lists FileBlobs that are not written but must pass the same check (the eager
    read checks every blob of the file). NonFiniteError (or any error) leaves no file.
    """
    with atomic_output(path, ".safetensors") as tmp, BlobCopier(chunk_bytes) as copier:
        out = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(out, header(entries, metadata))
            for _, _, _, source in entries:
                copier.copy(source, out)
        finally:
            os.close(out)
        for blob in verify:
            copier.copy(blob, None)
        copier.finish()  # before the rename: a warning turned into an error leaves no file
