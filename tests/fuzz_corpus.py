"""Fuzzing helpers: seed models, mutators, a per-case runner and a worker entry point.

Used by ``tests/test_fuzz.py`` (which runs :func:`main` in a subprocess under a memory limit)
and by ``tests/test_bad_inputs.py`` (seed models). Run by hand::

    python tests/fuzz_corpus.py run --cases 2000 --seed 0        # the mutation loop
    python tests/fuzz_corpus.py replay KIND SEED                 # one case, with traceback

Every case is described by ``(kind, seed)`` alone: the mutation is a pure function of the seed
model and a numpy RNG seeded with ``seed``, so any failure reported by the loop can be
replayed on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import pickle
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout
    sys.path.insert(0, str(ROOT))

#: Per-case wall-clock limit (the issue's "within 10 s").
CASE_LIMIT_S = 10.0
#: Above this many activation values the forward pass is skipped: a mutated input shape may
#: legitimately describe a net too large to run here, which is not a converter bug.
FORWARD_BUDGET = 20_000_000
#: An error line longer than this is not something a user can read.
MAX_LINE = 1500

# ---------------------------------------------------------------- seed models

#: A tiny net using most supported layer types (small so mutations hit structure, not data).
TINY_PROTOTXT = """\
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 9 dim: 11 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_h: 3 kernel_w: 5 pad: 1 pad: 2 stride: 2 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { use_global_stats: true eps: 1e-3 } }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "gconv" type: "Convolution" bottom: "conv" top: "gconv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 2 dilation: 2 group: 2 bias_term: false } }
layer { name: "sum" type: "Eltwise" bottom: "conv" bottom: "gconv" top: "sum" eltwise_param { coeff: 1 coeff: -0.5 } }
layer { name: "pool" type: "Pooling" bottom: "sum" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "lrn" type: "LRN" bottom: "pool" top: "lrn" lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
layer { name: "sig" type: "Sigmoid" bottom: "lrn" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "lrn" top: "tanh" }
layer { name: "cat" type: "Concat" bottom: "sig" bottom: "tanh" top: "cat" concat_param { axis: 1 } }
layer { name: "pow" type: "Power" bottom: "cat" top: "pow" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "gap" type: "Pooling" bottom: "pow" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "flat" type: "Flatten" bottom: "gap" top: "flat" }
layer { name: "fc" type: "InnerProduct" bottom: "flat" top: "fc" inner_product_param { num_output: 6 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.3 } }
layer { name: "resh" type: "Reshape" bottom: "fc" top: "resh" reshape_param { shape { dim: 0 dim: 2 dim: -1 } } }
layer { name: "prob" type: "Softmax" bottom: "resh" top: "prob" softmax_param { axis: 2 } }
"""

#: Issue 14's layer types in one small net (PReLU, ELU, Bias, Deconvolution, Crop, Slice,
#: Tile, MVN, SPP, ArgMax, Reduction, Embed, LSTM, 1-D / 3-D Convolution and Deconvolution,
#: ...), so mutations reach their readers, shape rules and back ends too.
TINY_MORE_PROTOTXT = """\
name: "tiny-more"
layer { name: "data" type: "Input" top: "data" top: "ids" top: "seq" top: "cont" top: "vol"
  input_param { shape { dim: 2 dim: 4 dim: 6 dim: 7 } shape { dim: 2 dim: 3 }
                shape { dim: 3 dim: 2 dim: 4 } shape { dim: 3 dim: 2 }
                shape { dim: 1 dim: 2 dim: 3 dim: 4 dim: 3 } } }
layer { name: "conv3d" type: "Convolution" bottom: "vol" top: "conv3d"
  convolution_param { num_output: 2 kernel_size: 2 kernel_size: 3 kernel_size: 1 pad: 1 pad: 0 pad: 0 } }
layer { name: "up3d" type: "Deconvolution" bottom: "conv3d" top: "up3d"
  convolution_param { num_output: 2 kernel_size: 2 stride: 2 group: 2 } }
layer { name: "conv1d" type: "Convolution" bottom: "seq" top: "conv1d"
  convolution_param { num_output: 2 kernel_size: 3 pad: 1 dilation: 2 axis: 1 } }
layer { name: "prelu" type: "PReLU" bottom: "data" top: "prelu" }
layer { name: "elu" type: "ELU" bottom: "prelu" top: "elu" elu_param { alpha: 0.5 } }
layer { name: "bias" type: "Bias" bottom: "elu" top: "bias" bias_param { axis: 1 num_axes: 2 } }
layer { name: "up" type: "Deconvolution" bottom: "bias" top: "up"
  convolution_param { num_output: 4 kernel_size: 4 stride: 2 group: 2 } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop" crop_param { offset: 1 } }
layer { name: "slice" type: "Slice" bottom: "crop" top: "s0" top: "s1" slice_param { slice_point: 1 } }
layer { name: "tile" type: "Tile" bottom: "s0" top: "tile" tile_param { tiles: 3 } }
layer { name: "mvn" type: "MVN" bottom: "tile" top: "mvn" mvn_param { across_channels: true } }
layer { name: "clip" type: "Clip" bottom: "mvn" top: "clip" clip_param { min: -1 max: 1 } }
layer { name: "spp" type: "SPP" bottom: "clip" top: "spp" spp_param { pyramid_height: 2 } }
layer { name: "arg" type: "ArgMax" bottom: "spp" top: "arg" argmax_param { top_k: 2 axis: 1 } }
layer { name: "red" type: "Reduction" bottom: "s1" top: "red" reduction_param { operation: SUMSQ axis: 2 } }
layer { name: "emb" type: "Embed" bottom: "ids" top: "emb" embed_param { num_output: 3 input_dim: 5 } }
layer { name: "lstm" type: "LSTM" bottom: "seq" bottom: "cont" top: "lstm" recurrent_param { num_output: 3 } }
layer { name: "swish" type: "Swish" bottom: "lstm" top: "swish" }
"""

#: A net V1 ``layers`` can express (no BatchNorm/Scale/Reshape; inputs at the top level).
TINY_V1_PROTOTXT = """\
name: "tiny-v1"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 10 input_dim: 10
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "sig" type: "Sigmoid" bottom: "pool" top: "sig" }
layer { name: "sum" type: "Eltwise" bottom: "pool" bottom: "sig" top: "sum" }
layer { name: "fc" type: "InnerProduct" bottom: "sum" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def random_weights(net, seed: int = 0) -> Dict[str, List[np.ndarray]]:
    """Small random blobs for every layer of ``net`` that takes any (BatchNorm's variance
    and scale factor kept positive, as a trained net has them)."""
    net.validate()
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in net.layers:
        if not layer.blob_shapes:
            continue
        arrays = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in layer.blob_shapes]
        if layer.type == "BatchNorm":
            arrays[1] = np.abs(arrays[1]) + 0.5
            arrays[2] = np.ones(layer.blob_shapes[2], np.float32)
        weights[layer.name] = arrays
    return weights


@dataclass
class Seed:
    """One valid model: the caffemodel bytes, its prototxt text and its weights."""
    name: str
    caffemodel: bytes
    prototxt: str
    net: object = None
    weights: dict = field(default_factory=dict)


def tiny_seed(**write_kwargs) -> Seed:
    """The many-layer-types net (``write_kwargs`` as :func:`net_to_proto`: legacy_blobs, v1...)."""
    from converter.caffe.reader import parse_prototxt_text
    from converter.caffe.writer import net_to_proto
    more = write_kwargs.pop("more", False)
    text = TINY_V1_PROTOTXT if write_kwargs.get("v1") else (
        TINY_MORE_PROTOTXT if more else TINY_PROTOTXT)
    net = parse_prototxt_text(text)
    weights = random_weights(net, 1)
    data = net_to_proto(net, weights, **write_kwargs).SerializeToString()
    suffix = "".join(f"-{k}" for k, v in sorted(write_kwargs.items()) if v) + (
        "-more" if more else "")
    return Seed("tiny" + suffix, data, text, net, weights)


def cifar_seed() -> Seed:
    """CIFAR ResNet-8 (n=1) from the builders, with small random weights."""
    from converter.builders import build
    from converter.caffe.writer import net_to_proto, prototxt_text
    net = build(n=1)
    weights = random_weights(net, 2)
    data = net_to_proto(net, weights).SerializeToString()
    return Seed("cifar-n1", data, prototxt_text(net), net, weights)


_SEEDS: Dict[str, Seed] = {}


def seeds() -> Dict[str, Seed]:
    """The seed models, built once per process."""
    if not _SEEDS:
        for s in (tiny_seed(), tiny_seed(legacy_blobs=True), tiny_seed(double=True),
                  tiny_seed(v1=True), tiny_seed(more=True), cifar_seed()):
            _SEEDS[s.name] = s
    return _SEEDS


# ---------------------------------------------------------------- wire format

def broken_copies(data: bytes, flipped: int = 25, seed: int = 0) -> List[bytes]:
    """``data`` truncated three ways (one byte short, half, 40 bytes), then ``flipped``
    copies with 1 to 3 random bytes overwritten: the broken files that a streamed writer
    must refuse exactly as the eager read does."""
    rng = random.Random(seed)
    cases = [data[:n] for n in (len(data) - 1, len(data) // 2, 40)]
    for _ in range(flipped):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            copy[rng.randrange(len(copy))] = rng.randrange(256)
        cases.append(bytes(copy))
    return cases


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint (negative numbers as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return result, pos


@dataclass
class Span:
    """A length-delimited field: where its length varint and its payload lie."""
    len_start: int
    len_end: int
    start: int
    end: int
    depth: int


def length_fields(data: bytes, start: int = 0, end: Optional[int] = None,
                  depth: int = 0) -> List[Span]:
    """Every length-delimited field of a well-formed message, recursing into payloads that
    parse as messages themselves (a heuristic that is right for Caffe's protos)."""
    end = len(data) if end is None else end
    spans: List[Span] = []
    pos = start
    try:
        while pos < end:
            key, pos = _read_varint(data, pos)
            wire = key & 7
            if key >> 3 == 0:
                raise ValueError("field 0")
            if wire == 0:
                _, pos = _read_varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                len_start = pos
                length, pos = _read_varint(data, pos)
                span = Span(len_start, pos, pos, pos + length, depth)
                if span.end > end:
                    raise ValueError("overrun")
                spans.append(span)
                if depth < 8:
                    spans.extend(length_fields(data, span.start, span.end, depth + 1))
                pos = span.end
            else:
                raise ValueError("group")
            if pos > end:
                raise ValueError("overrun")
    except ValueError:
        # Not a message (packed floats, a string): drop what this level found below it.
        return [] if depth else spans
    return spans


def set_length(data: bytes, span: Span, length: int) -> bytes:
    """``data`` with the length prefix of ``span`` replaced (nothing else adjusted)."""
    return data[:span.len_start] + encode_varint(length) + data[span.len_end:]


# ---------------------------------------------------------------- mutators

@dataclass
class Case:
    """One fuzz input: files to write and how to run the conversion."""
    kind: str
    seed: int
    model: bytes                      # written as model.caffemodel
    prototxt: Optional[str] = None    # written as deploy.prototxt and passed as --prototxt
    prototxt_bytes: Optional[bytes] = None  # raw bytes for --prototxt (binary-as-text cases)
    allow_nonfinite: bool = False
    note: str = ""


def _pick_seed(rng) -> Seed:
    # The tiny nets are mostly structure, the CIFAR net mostly float data: weight the tiny
    # ones so most mutations land on something the parser has to interpret.
    names = list(seeds())
    weights = np.array([3.0 if n.startswith("tiny") else 1.0 for n in names])
    return seeds()[names[rng.choice(len(names), p=weights / weights.sum())]]


def _offset(rng, data: bytes) -> int:
    return int(rng.integers(0, max(len(data), 1)))


def mut_truncate(rng, s: Seed) -> Tuple[bytes, str]:
    cut = _offset(rng, s.caffemodel)
    return s.caffemodel[:cut], f"{s.name} cut at {cut}/{len(s.caffemodel)}"


def mut_flip(rng, s: Seed) -> Tuple[bytes, str]:
    data = bytearray(s.caffemodel)
    count = int(rng.integers(1, 9))
    for _ in range(count):
        i = _offset(rng, data)
        data[i] ^= 1 << int(rng.integers(0, 8)) if rng.random() < 0.5 else int(rng.integers(1, 256))
    return bytes(data), f"{s.name} {count} byte flips"


def mut_splice(rng, s: Seed) -> Tuple[bytes, str]:
    i = _offset(rng, s.caffemodel)
    junk = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    if rng.random() < 0.5:  # insert
        return s.caffemodel[:i] + junk + s.caffemodel[i:], f"{s.name} insert {len(junk)} at {i}"
    return (s.caffemodel[:i] + junk + s.caffemodel[i + len(junk):],
            f"{s.name} overwrite {len(junk)} at {i}")


def mut_delete_or_repeat(rng, s: Seed) -> Tuple[bytes, str]:
    i = _offset(rng, s.caffemodel)
    n = int(rng.integers(1, 200))
    if rng.random() < 0.5:
        return s.caffemodel[:i] + s.caffemodel[i + n:], f"{s.name} delete {n} at {i}"
    return s.caffemodel[:i + n] + s.caffemodel[i:], f"{s.name} repeat {n} at {i}"


_HUGE_LENGTHS = (2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 10**9)


def mut_length(rng, s: Seed) -> Tuple[bytes, str]:
    """Corrupt one length prefix: huge, zero, or a little off."""
    spans = length_fields(s.caffemodel)
    span = spans[int(rng.integers(0, len(spans)))]
    old = span.end - span.start
    r = rng.random()
    if r < 0.4:
        new = int(rng.choice(_HUGE_LENGTHS))
    elif r < 0.5:
        new = 0
    else:
        new = max(0, old + int(rng.integers(-8, 9)))
    return set_length(s.caffemodel, span, new), f"{s.name} length {old}->{new} at {span.len_start}"


def _scalar_fields(msg, path=()):
    """(message, field descriptor, path) for every set scalar field, recursively."""
    out = []
    for fd, value in msg.ListFields():
        if fd.type == fd.TYPE_MESSAGE:
            items = value if _is_repeated(fd) else [value]
            for i, sub in enumerate(items):
                out.extend(_scalar_fields(sub, path + (f"{fd.name}[{i}]",)))
        elif fd.type != fd.TYPE_BYTES:
            out.append((msg, fd, path))
    return out


def _is_repeated(fd) -> bool:
    # protobuf 7 has ``is_repeated``; older releases only ``label``.
    if hasattr(fd, "is_repeated"):
        return fd.is_repeated
    return fd.label == fd.LABEL_REPEATED


_EXTREME_INTS = (0, 1, -1, 2, 3, 7, 1000, 2**31 - 1, 2**31, 2**32 - 1, -2**31, 2**62)
_EXTREME_FLOATS = (0.0, -0.0, 1e-45, -1.0, 1e38, float("inf"), float("-inf"), float("nan"))


def _extreme(rng, fd):
    """An out-of-the-ordinary value that still fits the field's type (proto accepts it)."""
    limits = {fd.TYPE_INT32: (-2**31, 2**31 - 1), fd.TYPE_UINT32: (0, 2**32 - 1),
              fd.TYPE_INT64: (-2**63, 2**63 - 1), fd.TYPE_UINT64: (0, 2**64 - 1)}
    if fd.type in limits:
        lo, hi = limits[fd.type]
        return int(min(max(int(rng.choice(_EXTREME_INTS)), lo), hi))
    if fd.type in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        return float(rng.choice(_EXTREME_FLOATS))
    if fd.type == fd.TYPE_BOOL:
        return bool(rng.integers(0, 2))
    if fd.type == fd.TYPE_ENUM:
        values = [v.number for v in fd.enum_type.values]
        return int(rng.choice(values))
    if fd.type == fd.TYPE_STRING:
        return str(rng.choice(["", "data", "conv", "prob", "x" * 300, "ñ\u2603", "Split",
                               "Python", "ReLU"]))
    raise TypeError(fd.type)


def mut_field(rng, s: Seed) -> Tuple[bytes, str]:
    """Structure-aware: set one scalar field of the parsed model (layer params, blob dims,
    names, types...) to an extreme value and re-serialise a well-formed file."""
    from converter.caffe.proto import NetParameter
    netp = NetParameter()
    netp.ParseFromString(s.caffemodel)
    # Float payloads are not interesting here (byte flips cover them) and are many.
    fields = [f for f in _scalar_fields(netp) if f[1].name not in ("data", "double_data")]
    msg, fd, path = fields[int(rng.integers(0, len(fields)))]
    value = _extreme(rng, fd)
    if _is_repeated(fd):
        container = getattr(msg, fd.name)
        container[int(rng.integers(0, len(container)))] = value
    else:
        setattr(msg, fd.name, value)
    where = ".".join(path + (fd.name,))
    return netp.SerializeToString(), f"{s.name} {where} = {value!r}"


def mut_nonfinite(rng, s: Seed) -> Tuple[bytes, str]:
    """A NaN or Inf in one weight blob (well-formed file)."""
    from converter.caffe.writer import net_to_proto
    weights = {k: [a.copy() for a in v] for k, v in s.weights.items()}
    name = sorted(weights)[int(rng.integers(0, len(weights)))]
    blob = weights[name][int(rng.integers(0, len(weights[name])))]
    blob.flat[int(rng.integers(0, blob.size))] = rng.choice([np.nan, np.inf, -np.inf])
    return net_to_proto(s.net, weights).SerializeToString(), f"{s.name} non-finite in {name}"


# Whole-file replacements: (description, bytes) generators.

def _zip_bytes(s: Seed) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": [1.0, 2.0]}))
        z.writestr("model.caffemodel", s.caffemodel[:200])
    return buf.getvalue()


class _Evil:
    """Unpickling this would run code: proof that the reader never unpickles."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/resnet-convert-fuzz-was-unpickled",))


def _pickle_bytes(rng) -> bytes:
    obj = _Evil() if rng.random() < 0.5 else {"conv1": np.zeros((4, 3, 3, 3), np.float32)}
    return pickle.dumps(obj, protocol=int(rng.integers(0, pickle.HIGHEST_PROTOCOL + 1)))


def mut_whole_file(rng, s: Seed) -> Tuple[bytes, str]:
    """Files of the wrong kind under a .caffemodel name."""
    choices = {
        "empty": lambda: b"",
        "whitespace": lambda: b" \n\t\n",
        "prototxt as caffemodel": lambda: s.prototxt.encode(),
        "zip": lambda: _zip_bytes(s),
        "pickle": lambda: _pickle_bytes(rng),
        "random bytes": lambda: rng.integers(0, 256, int(rng.integers(1, 5000)),
                                             dtype=np.uint8).tobytes(),
        "gzip magic": lambda: b"\x1f\x8b\x08\x00" + s.caffemodel[:300],
        "hdf5 magic": lambda: b"\x89HDF\r\n\x1a\n" + bytes(200),
        "utf-16 text": lambda: s.prototxt.encode("utf-16"),
    }
    name = list(choices)[int(rng.integers(0, len(choices)))]
    return choices[name](), name


def bomb_model(dims, values: int = 3, legacy: bool = False) -> bytes:
    """A ~100-byte caffemodel whose one blob claims shape ``dims`` (BlobShape, or the legacy
    num/channels/height/width with ``legacy``) but holds only ``values`` values."""
    from converter.caffe.proto import NetParameter
    netp = NetParameter()
    netp.input.append("data")
    netp.input_dim.extend([1, 3, 8, 8])
    lp = netp.layer.add(name="conv", type="Convolution", bottom=["data"], top=["conv"])
    lp.convolution_param.num_output = 4
    lp.convolution_param.kernel_size.append(3)
    blob = lp.blobs.add()
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(dims)
    blob.data.extend([1.0] * values)
    return netp.SerializeToString()


def _bomb_blob_shape(rng) -> bytes:
    """A ~100-byte caffemodel whose one blob claims dims like [2**31, 2**31]."""
    dims = [[2**31, 2**31], [2**62, 4], [2**31 - 1, 1], [2**40], [-1, -1], [0, 2**63 - 1],
            [65536] * 4, [1] * 40][int(rng.integers(0, 8))]
    values = int(rng.integers(0, 8))
    if rng.random() < 0.5:  # the legacy form too
        legacy = [min(max(d, -2**31), 2**31 - 1) for d in (dims * 4)[:4]]
        return bomb_model(legacy, values, legacy=True)
    return bomb_model(dims, values)


def _deep_nesting(rng) -> bytes:
    """Unknown fields nested thousands deep (groups, or length-delimited submessages)."""
    depth = int(rng.choice([100, 1000, 20000]))
    if rng.random() < 0.5:  # start-group tags of an unknown field number, never closed/closed
        tag = encode_varint(999 << 3 | 3)
        end = encode_varint(999 << 3 | 4)
        return tag * depth + (end * depth if rng.random() < 0.5 else b"")
    # layer { layer_param-like unknown submessage { ... } } via nested length prefixes
    payload = b""
    for _ in range(depth):
        payload = encode_varint(100 << 3 | 2) + encode_varint(len(payload)) + payload
    return encode_varint(100 << 3 | 2) + encode_varint(len(payload)) + payload


def _huge_repeated(rng, s: Seed) -> bytes:
    """Many repeated entries: 10^5 empty layers, a BlobShape with 10^6 dims, 10^5 bottoms."""
    from converter.caffe.proto import NetParameter
    which = int(rng.integers(0, 3))
    if which == 0:
        entry = encode_varint(100 << 3 | 2) + encode_varint(0)  # layer {} (field 100)
        return s.caffemodel + entry * 100_000
    netp = NetParameter()
    netp.ParseFromString(s.caffemodel)
    lp = next(lp for lp in [*netp.layer, *netp.layers] if len(lp.blobs))  # V1 seeds too
    if which == 1:
        lp.blobs[0].shape.dim.extend([1] * 1_000_000)
    else:
        lp.bottom.extend(["data"] * 100_000)
    return netp.SerializeToString()


def mut_hostile(rng, s: Seed) -> Tuple[bytes, str]:
    """Allocation bombs, deep nesting and huge repeated fields."""
    r = rng.random()
    if r < 0.4:
        return _bomb_blob_shape(rng), "blob shape bomb"
    if r < 0.7:
        return _deep_nesting(rng), "deep nesting"
    return _huge_repeated(rng, s), f"{s.name} huge repeated field"


# ---------------------------------------------------------------- prototxt mutators

_TEXT_SNIPPETS = ("ceil_mode: true", "ceil_mode: false", "}", "{", 'bottom: "nowhere"',
                  'type: "Python"', 'type: "Deconvolution"', "kernel_size: 0", "stride: 0",
                  "num_output: 0", "num_output: 4294967295", "pad: 100000", "dim: -1",
                  "dim: 0", "dim: 2147483648", "group: 3", "axis: 7", "axis: -9",
                  "layer {", 'name: "conv"', '"', "#", "\x00", "\\", "nan", "inf", "-1",
                  "round_mode: FLOOR", "global_pooling: true", "engine: CUDNN",
                  "include { phase: TRAIN }", "exclude { phase: TEST }")


def mut_text(rng, s: Seed) -> Tuple[Optional[str], Optional[bytes], str]:
    """Mutate the prototxt text (it is then passed as --prototxt with the valid model)."""
    text = s.prototxt
    r = rng.random()
    i = int(rng.integers(0, len(text)))
    if r < 0.15:
        return text[:i], None, f"{s.name} prototxt cut at {i}"
    if r < 0.5:
        snippet = str(rng.choice(_TEXT_SNIPPETS))
        # Insert at a token boundary most of the time so the parser gets further.
        spaces = [j for j in range(len(text)) if text[j] in " \n"]
        j = spaces[int(rng.integers(0, len(spaces)))] if rng.random() < 0.8 else i
        return text[:j] + " " + snippet + " " + text[j:], None, f"{s.name} insert {snippet!r}"
    if r < 0.7:
        lines = text.splitlines()
        k = int(rng.integers(0, len(lines)))
        if rng.random() < 0.5:
            del lines[k]
            what = "delete"
        else:
            lines.insert(int(rng.integers(0, len(lines))), lines[k])
            what = "duplicate"
        return "\n".join(lines), None, f"{s.name} {what} line {k}"
    if r < 0.85:
        chars = list(text)
        for _ in range(int(rng.integers(1, 6))):
            chars[int(rng.integers(0, len(chars)))] = chr(int(rng.choice(
                [int(rng.integers(32, 127)), int(rng.integers(0, 0x3000))])))
        return "".join(chars), None, f"{s.name} prototxt char flips"
    if r < 0.93:
        return None, s.caffemodel, f"{s.name} caffemodel as prototxt"
    data = bytearray(text.encode())
    data[int(rng.integers(0, len(data)))] = int(rng.choice([0x80, 0xC3, 0xFF, 0xFE]))
    return None, bytes(data), f"{s.name} prototxt invalid utf-8"


# ---------------------------------------------------------------- hostile names

#: Layer and blob names Caffe accepts that once broke an output format or the SSA renaming
#: (issue 11): quotes, backslashes, dots, slashes, newlines, unicode, Python keywords,
#: dunders, torch's reserved attributes, the converter's own in-place marks.
HOSTILE_NAMES = ('a"b', "a\\b", "a.b", "a/b", "a\nb", " ", "ünï cødé", "日本語", "class", "None",
                 "lambda", "__init__", "__dict__", "__class__", "_modules", "_parameters",
                 "_buffers", "_forward_hooks", "forward", "training", "state_dict", "plan",
                 "blob_map", "0", "1x", "conv#1", "conv#2", "conv#3", "#", "a,b", "arg:x",
                 "data_weight", "__preprocess__.mean_image", "a b\tc", "\u2028", "/x/",
                 "_private")


def renamed_tiny(names, shift: int = 0, seed: int = 1):
    """The tiny net with its layers, then its blobs, renamed to ``names`` from ``shift`` on
    (cycled; distinct within a kind if ``names`` has at least 19 entries).
    Returns ``(net, weights, blob map old -> new)``."""
    from converter.caffe.reader import parse_prototxt_text
    net = parse_prototxt_text(TINY_PROTOTXT)
    start = shift + len(net.layers)
    blobs = {b: names[(start + i) % len(names)] for i, b in enumerate(net.blob_names())}
    for i, layer in enumerate(net.layers):
        layer.name = names[(shift + i) % len(names)]
        layer.bottoms = [blobs[b] for b in layer.bottoms]
        layer.tops = [blobs[b] for b in layer.tops]
    return net, random_weights(net, seed), blobs


# ---------------------------------------------------------------- endless and special files

def special_input(kind: str, folder: Path) -> str:
    """A path that is no regular file, or one that never ends (issue 11): each must be
    refused with one line, at once, wherever it is given (model, --prototxt, --mean)."""
    if kind == "fifo":  # no writer: an open() for reading blocks forever
        path = folder / "pipe"
        os.mkfifo(path)
        return str(path)
    if kind == "folder":
        return str(folder)
    return kind  # /dev/zero, /dev/urandom, /dev/null: devices, endless or empty


SPECIAL_INPUTS = ("fifo", "/dev/zero", "/dev/urandom", "/dev/null", "folder")


# ---------------------------------------------------------------- the case list

KINDS: Dict[str, Callable] = {
    "truncate": mut_truncate, "flip": mut_flip, "splice": mut_splice,
    "delete_repeat": mut_delete_or_repeat, "length": mut_length, "field": mut_field,
    "nonfinite": mut_nonfinite, "whole_file": mut_whole_file, "hostile": mut_hostile,
    "text": mut_text,
}


def make_case(kind: str, seed: int) -> Case:
    """The case ``(kind, seed)``: deterministic, so it can be replayed on its own."""
    rng = np.random.default_rng(seed)
    s = _pick_seed(rng)
    if kind == "text":
        text, raw, note = mut_text(rng, s)
        return Case(kind, seed, s.caffemodel, prototxt=text, prototxt_bytes=raw, note=note)
    model, note = KINDS[kind](rng, s)
    allow = kind == "nonfinite" and rng.random() < 0.5
    # Sometimes pass the (valid) prototxt too, so the caffemodel's weights are checked
    # against an independent net definition.
    prototxt = s.prototxt if kind != "hostile" and rng.random() < 0.25 else None
    return Case(kind, seed, model, prototxt=prototxt, allow_nonfinite=allow, note=note)


# ---------------------------------------------------------------- running a case

class CaseTimeout(BaseException):
    """Raised by the interval timer when a case runs past :data:`CASE_LIMIT_S`."""


def _on_alarm(signum, frame):
    raise CaseTimeout()


@dataclass
class Outcome:
    """What one case did: ``converted``, ``error`` (exit 2 with one proper line), or a failure kind
    (``traceback``, ``hang``, ``partial``, ``bad-message``)."""
    kind: str
    seed: int
    outcome: str
    detail: str = ""
    seconds: float = 0.0
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome not in ("converted", "error")


def _activation_count(net) -> int:
    return sum(math.prod(s) for s in net.validate().values())


class CliError(Exception):
    """The CLI exited with status 2; ``args[0]`` is what it printed on stderr."""


def cli_argv(model: Path, out: Path, prototxt: Optional[Path], allow_nonfinite: bool):
    """The ``resnet-convert caffe2torch`` arguments for one case."""
    argv = ["caffe2torch", str(model), "-o", str(out)]
    if prototxt is not None:
        argv += ["--prototxt", str(prototxt)]
    return argv + (["--allow-nonfinite"] if allow_nonfinite else [])


def convert_in_process(model: Path, out: Path, prototxt: Optional[Path],
                       allow_nonfinite: bool) -> str:
    """The whole pipeline as a user runs it, in-process for speed: ``resnet-convert
    caffe2torch`` (its ``main``, which catches only ConverterError) writes ``out``; the
    written file is then loaded back and run forward once. Raises CliError on exit 2."""
    import torch
    from converter.backends.torch.export import load_torch
    from converter.cli.convert import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the non-finite warning is expected with allow
        code = main(cli_argv(model, out, prototxt, allow_nonfinite))
    if code == 2:
        raise CliError(err.getvalue())
    if code != 0:
        raise RuntimeError(f"exit status {code}: {err.getvalue()}")
    module, _ = load_torch(out)
    net = module_net(out)
    if _activation_count(net) > FORWARD_BUDGET:
        return "converted (forward skipped: large activations)"
    inputs = [torch.zeros(s) for s in net.input_blobs().values()]
    with torch.no_grad():
        module(*inputs)
    return "converted"


def module_net(path: Path):
    """The IR net recorded in a converted safetensors file."""
    from safetensors import safe_open

    from converter.caffe.reader import parse_prototxt_text
    with safe_open(str(path), framework="pt") as handle:
        return parse_prototxt_text(handle.metadata()["prototxt"])


def _write_inputs(case: Case, folder: Path) -> Tuple[Path, Optional[Path]]:
    model = folder / "model.caffemodel"
    model.write_bytes(case.model)
    prototxt = None
    if case.prototxt is not None or case.prototxt_bytes is not None:
        prototxt = folder / "deploy.prototxt"
        raw = case.prototxt_bytes
        prototxt.write_bytes(raw if raw is not None else
                             case.prototxt.encode("utf-8", "surrogatepass"))
    return model, prototxt


def stderr_problem(stderr: str, inputs: List[Path]) -> str:
    """Why ``stderr`` breaks the CLI's error contract ('' if it keeps it): exactly one line
    ``resnet-convert: error: <file>: ...`` naming one of the ``inputs``, no traceback."""
    lines = stderr.splitlines()
    if len(lines) != 1:
        return f"{len(lines)} stderr lines: {stderr[-500:]!r}"
    line = lines[0]
    if len(line) > MAX_LINE:
        return f"error line of {len(line)} characters: {line[:300]!r}..."
    if not line.startswith("resnet-convert: error: "):
        return f"not an error line: {line!r}"
    rest = line[len("resnet-convert: error: "):]
    if not any(rest.startswith(f"{p}: ") for p in inputs):
        return f"names no input file: {line!r}"
    return ""


def run_case(case: Case, work: Path) -> Outcome:
    """Run ``case`` in a fresh folder under ``work`` and classify what happened."""
    folder = Path(tempfile.mkdtemp(prefix=f"{case.kind}-{case.seed}-", dir=work))
    out_dir = folder / "out"
    out_dir.mkdir()
    model, prototxt = _write_inputs(case, folder)
    out = out_dir / "model.safetensors"
    start = time.monotonic()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_LIMIT_S)
    result = Outcome(case.kind, case.seed, "", note=case.note)
    try:
        result.detail = convert_in_process(model, out, prototxt, case.allow_nonfinite)
        result.outcome = "converted"
    except CaseTimeout:
        result.outcome, result.detail = "hang", f"over {CASE_LIMIT_S} s"
    except CliError as exc:
        problem = stderr_problem(exc.args[0], [p for p in (model, prototxt) if p])
        result.outcome = "bad-message" if problem else "error"
        result.detail = problem or exc.args[0].strip()
    except BaseException:  # noqa: B036 -- anything else is the bug we are hunting
        result.outcome, result.detail = "traceback", traceback.format_exc(limit=-6)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    result.seconds = time.monotonic() - start
    if result.seconds > CASE_LIMIT_S and result.outcome != "hang":
        result.outcome, result.detail = "hang", f"took {result.seconds:.1f} s"
    left = sorted(p.name for p in out_dir.iterdir())
    expected = ["model.safetensors"] if result.outcome == "converted" else []
    if left != expected and not result.failed:
        result.outcome, result.detail = "partial", f"output folder holds {left}"
    shutil.rmtree(folder, ignore_errors=True)
    return result


# ---------------------------------------------------------------- the loop

def case_stream(total: int, base_seed: int) -> List[Tuple[str, int]]:
    """``total`` (kind, seed) pairs drawn with hypothesis, derandomized (the same list on
    every run and machine); a numpy RNG stands in if hypothesis is missing."""
    kinds = list(KINDS)
    rng = np.random.default_rng(base_seed)
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - hypothesis is a test dependency
        return [(kinds[i % len(kinds)], int(rng.integers(0, 2**32))) for i in range(total)]
    drawn: List[Tuple[str, int]] = []

    @settings(max_examples=total, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(kinds), st.integers(0, 2**32 - 1))
    def draw(kind, seed):
        drawn.append((kind, seed ^ base_seed))

    draw()
    # Hypothesis may stop early once it runs out of new examples; top up so the count is
    # exact whatever the hypothesis version does.
    while len(drawn) < total:
        drawn.append((kinds[len(drawn) % len(kinds)], int(rng.integers(0, 2**32))))
    return drawn[:total]


def systematic_cases() -> List[Case]:
    """Deterministic sweeps: the tiny model truncated at every 7th offset, and every length
    prefix of it set to 2^31-1."""
    s = seeds()["tiny"]
    cases = [Case("truncate-sweep", cut, s.caffemodel[:cut], note=f"tiny cut at {cut}")
             for cut in range(0, len(s.caffemodel), 7)]
    for k, span in enumerate(length_fields(s.caffemodel)):
        cases.append(Case("length-sweep", k, set_length(s.caffemodel, span, 2**31 - 1),
                          note=f"tiny length at {span.len_start} -> 2^31-1"))
    return cases


def set_memory_limit(gib: float) -> None:
    """Cap this process's address space, so an allocation bomb fails loudly (MemoryError,
    reported as a traceback) instead of eating the machine."""
    import resource
    limit = int(gib * 2**30)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_loop(total: int, base_seed: int, work: Path, emit: Callable[[dict], None],
             budget_s: float) -> None:
    """Run the systematic sweeps plus ``total`` drawn cases; ``emit`` gets one dict per case
    (``{"start": ...}`` before it runs, so a crash or hang can be attributed)."""
    deadline = time.monotonic() + budget_s
    cases = [(c.kind, c.seed, lambda c=c: c) for c in systematic_cases()]
    cases += [(k, s, lambda k=k, s=s: make_case(k, s)) for k, s in case_stream(total, base_seed)]
    for kind, seed, make in cases:
        if time.monotonic() > deadline:
            emit({"budget_exhausted": True})
            return
        emit({"start": [kind, seed]})
        try:
            case = make()
        except Exception:  # a broken mutator is a test bug: report it, do not hide it
            emit(Outcome(kind, seed, "mutator-error", traceback.format_exc()).__dict__)
            continue
        emit(run_case(case, work).__dict__)


def main(argv=None) -> int:
    """Command line: ``run`` the loop (JSON lines on stdout) or ``replay`` one case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=600.0, help="seconds for the whole loop")
    p.add_argument("--memory-gib", type=float, default=3.0)
    p = sub.add_parser("replay")
    p.add_argument("kind")
    p.add_argument("seed", type=int)
    p.add_argument("--memory-gib", type=float, default=None)
    args = parser.parse_args(argv)
    if args.memory_gib:
        set_memory_limit(args.memory_gib)
    if args.cmd == "replay":
        case = make_case(args.kind, args.seed)
        print(case.note)
        with tempfile.TemporaryDirectory() as work:
            result = run_case(case, Path(work))
        print(json.dumps(result.__dict__, indent=1))
        return 1 if result.failed else 0
    import torch  # noqa: F401 -- imported up front so the first case is not charged for it
    torch.set_num_threads(1)

    def emit(record):
        print(json.dumps(record), flush=True)

    with tempfile.TemporaryDirectory(prefix="resnet-convert-fuzz-") as work:
        run_loop(args.cases, args.seed, Path(work), emit, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
