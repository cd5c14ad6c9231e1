"""BlobProto <-> numpy.

Caffe stores a parameter blob as a ``BlobProto``: its geometry either as a ``BlobShape`` or
(before 2015) as the four legacy fields num/channels/height/width, and its values either in
``data`` (float) or ``double_data``. Caffe's ``Blob::FromProto`` prefers ``double_data`` when
present and always holds float32 in the net, which is what we return.

:class:`FileBlob` is a float32 blob whose values are left in the caffemodel until they are
needed (``load_caffe(..., lazy=True)``), so a converter can stream them to its output.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from typing import Iterator, List, Tuple

import numpy as np

from ..errors import CaffeFormatError, NonFiniteError
from .proto import BlobProto
from .wire import length_delimited, pread_full

# Caffe blobs are indexed with int (Blob::count_ is an int; kMaxBlobAxes = 32).
MAX_AXES = 32
MAX_COUNT = 2**31 - 1


def is_legacy(blob) -> bool:
    """True if the blob's geometry is given by the deprecated num/channels/height/width."""
    return not blob.HasField("shape") and any(
        blob.HasField(f) for f in ("num", "channels", "height", "width"))


def blob_shape(blob, *, file=None, layer=None, index=0) -> Tuple[int, ...]:
    """The declared shape of ``blob``, validated (non-negative dims, count fits an int)."""
    if blob.HasField("shape"):
        dims = tuple(int(d) for d in blob.shape.dim)
    elif is_legacy(blob):
        # Caffe's LegacyShape: always 4-D, missing fields read as their default 0.
        dims = (blob.num, blob.channels, blob.height, blob.width)
    else:
        # Neither form: Blob::FromProto reads an empty BlobShape, i.e. a 0-D blob of one
        # value. Blob::ToProto writes 0-D blobs (Scale/Bias with num_axes 0) exactly so.
        dims = ()
    where = f"blob {index}"
    if len(dims) > MAX_AXES:
        raise CaffeFormatError(f"{where} has {len(dims)} axes (Caffe allows {MAX_AXES})",
                               file=file, layer=layer)
    if any(d < 0 for d in dims):
        raise CaffeFormatError(f"{where} has a negative dimension {list(dims)}",
                               file=file, layer=layer)
    if math.prod(dims) > MAX_COUNT:  # Python ints: the product itself cannot overflow
        raise CaffeFormatError(f"{where} shape {list(dims)} exceeds Caffe's 2^31-1 elements",
                               file=file, layer=layer)
    if math.prod(d for d in dims if d) > MAX_COUNT:
        # An empty blob whose other axes are absurd ([0, 2**63-1]): the total alone would
        # let it through, and numpy refuses to even shape an empty array like that.
        raise CaffeFormatError(f"{where} shape {list(dims)} is corrupt: its non-zero axes "
                               "exceed Caffe's 2^31-1 elements", file=file, layer=layer)
    return dims


def blob_to_array(blob, *, file=None, layer=None, index=0,
                  allow_nonfinite: bool = False) -> np.ndarray:
    """Decode ``blob`` into a float32 array of its declared shape.

    The element count is compared with the declared shape *before* any array is built, so a
    corrupt shape cannot trigger a large allocation. NaN/Inf raise NonFiniteError unless
    ``allow_nonfinite`` (then a warning is issued).
    """
    shape = blob_shape(blob, file=file, layer=layer, index=index)
    expected = math.prod(shape)
    use_double = len(blob.double_data) > 0
    source = blob.double_data if use_double else blob.data
    if len(source) != expected:
        raise CaffeFormatError(
            f"blob {index} declares shape {list(shape)} ({expected} values) but holds "
            f"{len(source)} values; the file is truncated or corrupt", file=file, layer=layer)
    array = np.array(source, dtype=np.float64 if use_double else np.float32)
    array = array.astype(np.float32, copy=False).reshape(shape)
    check_finite(array, file=file, layer=layer, index=index, allow=allow_nonfinite)
    return array


def check_finite(array: np.ndarray, *, file=None, layer=None, index=0,
                 allow: bool = False) -> None:
    """Raise NonFiniteError (or warn, if ``allow``) when ``array`` holds NaN or Inf."""
    if array.size and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        msg = f"blob {index} holds {bad} NaN/Inf value(s)"
        if not allow:
            raise NonFiniteError(f"{msg}; pass --allow-nonfinite (allow_nonfinite=True) to "
                                 "convert anyway", file=file, layer=layer)
        warnings.warn(str(NonFiniteError(f"{msg}; converted anyway (allow_nonfinite)",
                                         file=file, layer=layer)), stacklevel=3)


def array_to_blob(array, *, double: bool = False, legacy: bool = False) -> BlobProto:
    """Encode ``array`` as a BlobProto (BlobShape geometry unless ``legacy``)."""
    array = np.asarray(array)
    blob = BlobProto()
    if legacy:
        if array.ndim > 4:
            raise ValueError("legacy blobs are at most 4-D")
        padded = (1,) * (4 - array.ndim) + tuple(array.shape)
        blob.num, blob.channels, blob.height, blob.width = padded
    else:
        blob.shape.dim.extend(int(d) for d in array.shape)
    # Append the packed field as raw wire bytes: tag, length, little-endian values. Merging
    # it is the same as extend() but avoids a Python-level loop over every value.
    values = np.ascontiguousarray(array, dtype="<f8" if double else "<f4").tobytes()
    tag = 8 if double else 5
    blob.MergeFromString(length_delimited(tag, values))
    return blob


def _identity(st: os.stat_result) -> Tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class CaffeFile:
    """A caffemodel whose blob values are read after its layout was (see :class:`FileBlob`).

    No handle is kept open: values are read by reopening the file by name, and a file that
    is not the one whose layout was read (replaced, resized, rewritten) is refused, since
    offsets into it would be meaningless.
    """

    def __init__(self, path, st: os.stat_result):
        self.name = path  # as the user gave it, for messages
        self._path = os.path.abspath(path)  # the same file even if the cwd changes
        self._identity = _identity(st)
        #: every FileBlob made from this file, in file order: what an eager read checks.
        self.blobs: List[FileBlob] = []

    def blob(self, offset: int, shape: Tuple[int, ...], where: Tuple[str, str, int],
             allow_nonfinite: bool) -> "FileBlob":
        """A new FileBlob for the values at ``offset`` (created in file order); ``where`` is
        (layer, layer type, blob index), for messages."""
        blob = FileBlob(self, offset, shape, where, allow_nonfinite)
        self.blobs.append(blob)
        return blob

    @contextlib.contextmanager
    def open(self) -> Iterator[int]:
        """A read-only descriptor of the file, checked to be the file that was laid out."""
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except OSError as exc:
            raise CaffeFormatError(f"cannot reopen to read the weights: "
                                   f"{exc.strerror or exc}", file=self.name) from None
        try:
            if _identity(os.fstat(fd)) != self._identity:
                raise CaffeFormatError("the file changed while it was read", file=self.name)
            yield fd
        finally:
            os.close(fd)

    def check_all(self) -> None:
        """Read and check every blob in file order, as the eager read does: the first one
        with NaN/Inf raises its NonFiniteError (or, if allowed, each one warns)."""
        with self.open() as fd:
            for blob in self.blobs:
                blob.read(fd)


class FileBlob:
    """A float32 blob whose little-endian values lie in a caffemodel (``CaffeFile``).

    It has the array attributes weight matching uses (``shape``, ``ndim``, ``size``,
    ``dtype``, ``reshape``); :meth:`read` (or ``np.asarray``) gives exactly the array the
    eager read gives, NaN/Inf check included -- that check is what is deferred with it.
    """
    __slots__ = ("file", "offset", "shape", "where", "allow")
    dtype = np.dtype(np.float32)

    def __init__(self, file: CaffeFile, offset: int, shape: Tuple[int, ...],
                 where: Tuple[str, str, int], allow: bool):
        self.file, self.offset, self.shape = file, offset, tuple(int(d) for d in shape)
        self.where, self.allow = where, allow  # (layer, layer type, blob index)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    nbytes = property(lambda self: 4 * self.size)

    def reshape(self, *shape) -> "FileBlob":
        """The same values viewed with another shape of the same size."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):  # numpy's two spellings
            shape = tuple(shape[0])
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape {list(self.shape)} to {list(shape)}")
        return FileBlob(self.file, self.offset, shape, self.where, self.allow)

    def read(self, fd=None) -> np.ndarray:
        """The values as a new float32 array, checked for NaN/Inf as the eager read does."""
        if fd is None:
            with self.file.open() as fd:
                return self.read(fd)
        array = np.empty(self.size, "<f4")
        pread_full(fd, memoryview(array).cast("B"), self.offset, self.file.name)
        array = array.astype(np.float32, copy=False).reshape(self.shape)
        layer, layer_type, index = self.where
        try:
            check_finite(array, file=self.file.name, layer=layer, index=index, allow=self.allow)
        except NonFiniteError as exc:  # the eager read names the type too (weights_from_proto)
            raise exc.with_context(layer_type=layer_type)
        return array

    def __array__(self, dtype=None, copy=None):
        array = self.read()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"FileBlob({self.file.name!r}, offset={self.offset}, shape={list(self.shape)})"
