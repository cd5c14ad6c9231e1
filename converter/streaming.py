"""Copying float32 values from caffemodels to output files in chunks (the streamed writers).

A :class:`~converter.caffe.blobs.FileBlob` is copied from its caffemodel to the output through
one reusable buffer, so the weights are never all in memory and never copied more than the two
system calls do. Each chunk is checked for NaN/Inf on the way (the check that the lazy load
deferred); when one has any, the caffemodel's blobs are re-read in file order to report (or,
if allowed, warn) exactly as the eager read would have. Used by the safetensors writer
(:mod:`converter.safetensors_io`) and MXNet's ``.params`` writer (:mod:`converter.mxnet_params`).
"""

from __future__ import annotations

import contextlib
import os
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from .caffe.blobs import CaffeFile, FileBlob
from .caffe.wire import pread_full
from .errors import CaffeFormatError

#: Bytes copied at a time: small enough that a chunk is still in the CPU cache when it is
#: checked and written out, large enough that system calls cost nothing.
CHUNK_BYTES = 1 << 20

Source = Union[np.ndarray, FileBlob]


class BlobCopier(contextlib.ExitStack):
    """Copies float32 values to an output descriptor through one reusable buffer; keeps each
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
                write_all(out, memoryview(values).cast("B"))
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
                write_all(out, view)
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


def write_all(fd: int, data) -> None:
    """Write all of ``data`` to the descriptor ``fd``."""
    view = memoryview(data)
    while len(view):
        written = os.write(fd, view)
        if written <= 0:  # a regular file never does this; do not spin if one does
            raise OSError("write made no progress")
        view = view[written:]


def unwritten_blobs(weights, written: Iterable[Source]) -> List[FileBlob]:
    """The FileBlobs of the caffemodel(s) behind ``weights`` that ``written`` does not hold
    (pruned or dropped layers): the eager read checks them for NaN/Inf too, so a streamed
    writer passes them to its copier to check."""
    done = {(id(s.file), s.offset) for s in written if isinstance(s, FileBlob)}
    files = {id(b.file): b.file for blobs in weights.values() for b in blobs
             if isinstance(b, FileBlob)}
    return [b for f in files.values() for b in f.blobs if (id(f), b.offset) not in done]
