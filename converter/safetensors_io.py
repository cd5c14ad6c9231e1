"""Writing safetensors files without torch, streaming blobs that still lie in a caffemodel.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length N, then N bytes of UTF-8 JSON -- ``{"__metadata__": {str: str}, name: {"dtype",
"shape", "data_offsets": [begin, end]}, ...}`` -- padded with spaces so the data starts
8-byte aligned, then the tensors' bytes back to back (offsets count from the data start).

A :class:`~converter.caffe.blobs.FileBlob` is copied from its caffemodel to the output in
chunks through one reusable buffer, so the weights are never all in memory and never copied
more than the two system calls do. Each chunk is checked for NaN/Inf on the way (the check
that the lazy load deferred); when one has any, the caffemodel's blobs are re-read in file
order to report (or, if allowed, warn) exactly as the eager read would have.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .caffe.blobs import CaffeFile, FileBlob
from .caffe.wire import pread_full
from .errors import CaffeFormatError
from .fileio import atomic_output

#: Bytes copied at a time: small enough that a chunk is still in the CPU cache when it is
#: checked and written out, large enough that system calls cost nothing.
CHUNK_BYTES = 1 << 20
_ITEM_SIZE = {"F32": 4, "I64": 8}  # int64: BatchNorm's num_batches_tracked (codegen)

Source = Union[np.ndarray, FileBlob]
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
    with atomic_output(path, ".safetensors") as tmp, _Copier(chunk_bytes) as copier:
        out = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            _write_all(out, header(entries, metadata))
            for _, _, _, source in entries:
                copier.copy(source, out)
        finally:
            os.close(out)
        for blob in verify:
            copier.copy(blob, None)
        copier.finish()  # before the rename: a warning turned into an error leaves no file


class _Copier(contextlib.ExitStack):
    """Copies values to an output descriptor through one reusable buffer; keeps each
    caffemodel open (once) while it is in use."""

    def __init__(self, chunk_bytes: int):
        super().__init__()
        self.buffer = np.empty(max(chunk_bytes // 4, 1), "<f4")
        self.files: Dict[CaffeFile, int] = {}
        self.flagged: Dict[CaffeFile, None] = {}  # files with (allowed) NaN/Inf, in order

    def copy(self, source: Source, out: Optional[int]) -> None:
        """Write ``source``'s bytes to ``out`` (only check a FileBlob if ``out`` is None)."""
        if not isinstance(source, FileBlob):
            if out is not None:
                values = np.ascontiguousarray(source, "<f4").reshape(-1)
                _write_all(out, memoryview(values).cast("B"))
            return
        fd = self._open(source.file)
        done, total = 0, source.size
        while done < total:
            chunk = self.buffer[:min(len(self.buffer), total - done)]
            view = memoryview(chunk).cast("B")
            pread_full(fd, view, source.offset + 4 * done, source.file.name)
            # min and max are NaN if any value is; one of them is infinite if any is.
            if not (np.isfinite(chunk.min()) and np.isfinite(chunk.max())):
                self._nonfinite(source)
            if out is not None:
                _write_all(out, view)
            done += len(chunk)

    def _open(self, file: CaffeFile) -> int:
        if file not in self.files:
            self.files[file] = self.enter_context(file.open())
        return self.files[file]

    def _nonfinite(self, blob: FileBlob) -> None:
        if blob.allow:
            self.flagged[blob.file] = None
            return
        blob.file.check_all()  # raises the eager read's error: the file's first bad blob
        raise CaffeFormatError("the file changed while it was read", file=blob.file.name)

    def finish(self) -> None:
        """Warn, as the eager read does, for every blob with NaN/Inf (allowed ones)."""
        for file in self.flagged:
            file.check_all()


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while len(view):
        written = os.write(fd, view)
        if written <= 0:  # a regular file never does this; do not spin if one does
            raise OSError("write made no progress")
        view = view[written:]
