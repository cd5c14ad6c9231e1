"""Reading golden activation files (HDF5, made by real BVLC Caffe; see golden/README.md).

A golden file holds the input(s), Caffe's blob order, and per blob either the full tensor
(``/blobs/<name>``) or a compact signature (``/signatures/<name>``: per-channel mean and std
over all elements, plus values at seeded sample positions). Names are percent-escaped for HDF5.
Needs h5py (a test extra), imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .errors import CaffeFormatError, UsageError
from .fileio import check_input

FORMAT_PREFIX = "resnet-convert-golden/"


def unescape(name: str) -> str:
    """Inverse of the golden writer's HDF5 name escaping ('%2F' '/', '%2E' '.', '%25' '%')."""
    if name == "%2E":
        return "."
    return name.replace("%2F", "/").replace("%25", "%")


def signature(data: np.ndarray, sample_index: np.ndarray) -> Dict[str, np.ndarray]:
    """The signature of a blob, computed exactly as the golden maker does (float64 sums)."""
    data = np.asarray(data, np.float32)
    flat = data.reshape(-1)
    moved = (np.moveaxis(data.astype(np.float64), 1, 0).reshape(data.shape[1], -1)
             if data.ndim >= 2 else flat.astype(np.float64).reshape(1, -1))
    return {"channel_mean": moved.mean(axis=1), "channel_std": moved.std(axis=1),
            "sample_value": flat[np.asarray(sample_index, np.int64)]}


@dataclass
class Golden:
    """The contents of one golden file that verification needs."""
    path: str
    attrs: Dict[str, object]
    inputs: Dict[str, np.ndarray]
    blob_names: List[str]
    blobs: Dict[str, np.ndarray] = field(default_factory=dict)
    signatures: Dict[str, Dict[str, np.ndarray]] = field(default_factory=dict)
    prototxt: str = ""
    caffemodel: Optional[bytes] = None
    #: Stored parameter blobs (layer -> {blob index: array}); large nets store only those
    #: that cannot be regenerated from the seed (BatchNorm statistics, Scale, biases).
    params: Dict[str, Dict[int, np.ndarray]] = field(default_factory=dict)
    #: Per-channel absolute tolerances (blob -> one per channel along axis 1), written by the
    #: golden maker from Caffe's distance to an exact float64 run (tools/golden_tolerance.py).
    tolerances: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def atol(self) -> float:
        return float(self.attrs.get("atol", 1e-5))

    @property
    def rtol(self) -> float:
        return float(self.attrs.get("rtol", 1e-4))


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _group(h5, name) -> Dict[str, object]:
    if name not in h5:
        return {}
    return {unescape(k): v for k, v in h5[name].items()}


def read_golden(path) -> Golden:
    """Load a golden file (CaffeFormatError if it is not one)."""
    check_input(path, "golden HDF5 file")
    try:
        import h5py
    except ImportError:  # a hand-made environment; every install extra that verifies has it
        raise UsageError("reading golden files needs h5py: pip install h5py") from None
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise CaffeFormatError(f"not a readable golden HDF5 file ({exc})", file=path) from None
    try:
        with h5:
            golden = _read(h5, path)
    except (KeyError, ValueError, TypeError, AttributeError, OSError) as exc:
        raise CaffeFormatError(f"malformed golden file ({type(exc).__name__}: "
                               f"{str(exc)[:200]})", file=path) from None
    if not golden.blob_names:
        raise CaffeFormatError("malformed golden file: no blob_names", file=path)
    for key in ("atol", "rtol"):
        if key in golden.attrs and not _is_number(golden.attrs[key]):
            raise CaffeFormatError(f"malformed golden file: attribute {key} is not a number "
                                   f"({str(golden.attrs[key])[:40]!r})", file=path)
    return golden


def _is_number(value) -> bool:
    try:
        return np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _read(h5, path) -> Golden:
    """The Golden of an open HDF5 file (KeyError & co. for a malformed one)."""
    attrs = {k: (_text(v) if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
    if not str(attrs.get("format", "")).startswith(FORMAT_PREFIX):
        raise CaffeFormatError("not a resnet-convert golden file (no format attribute)",
                               file=path)
    golden = Golden(path=str(path), attrs=attrs,
                    inputs={k: v[()] for k, v in _group(h5, "input").items()},
                    blob_names=[_text(n) for n in h5["blob_names"][()]]
                    if "blob_names" in h5 else [])
    golden.blobs = {k: v[()] for k, v in _group(h5, "blobs").items()}
    golden.signatures = {k: {f: d[()] for f, d in g.items()}
                         for k, g in _group(h5, "signatures").items()}
    golden.prototxt = _text(h5["prototxt"][()]) if "prototxt" in h5 else ""
    golden.params = {k: {int(i): d[()] for i, d in g.items()}
                     for k, g in _group(h5, "params").items()}
    golden.tolerances = {k: v[()] for k, v in _group(h5, "tolerance").items()}
    if "caffemodel" in h5:
        golden.caffemodel = h5["caffemodel"][()].tobytes()
    return golden
