"""Shared helpers of the parity tests: golden files and the caffemodels they stand for.

Small golden cases carry the caffemodel real Caffe saved. Large ones (Kaiming's nets, n=9
CIFAR) store only the blobs that cannot be regenerated; convolution and InnerProduct weights
are rebuilt bit-exactly from the seed with ``tools/goldenlib.py`` (legacy RandomState, frozen
by NEP 19), the same code the golden maker ran inside the Caffe chroot.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.h5"))

if str(ROOT / "tools") not in sys.path:
    sys.path.insert(0, str(ROOT / "tools"))


def golden_ids():
    return [p.stem for p in GOLDEN_FILES]


def files_with_caffemodel():
    """Golden files that carry the caffemodel real Caffe saved (empty without h5py)."""
    try:
        import h5py
    except ImportError:
        return []
    found = []
    for path in GOLDEN_FILES:
        with h5py.File(path, "r") as handle:
            if "caffemodel" in handle:
                found.append(path)
    return found


def rebuild_weights(golden, net):
    """Weights for ``net`` (the golden prototxt, shapes inferred): stored blobs where the file
    has them, goldenlib's seeded weights otherwise; checked against the stored heads."""
    import goldenlib
    seed = int(golden.attrs["seed"])
    weights = {}
    for layer in net.layers:
        if not layer.blob_shapes:
            continue
        stored = golden.params.get(layer.name, {})
        blobs = []
        for i, shape in enumerate(layer.blob_shapes):
            if i in stored:
                blobs.append(np.asarray(stored[i], np.float32).reshape(shape))
            else:
                transpose = bool(getattr(layer.params, "transpose", False))
                blobs.append(goldenlib.param_blob(seed, layer.type, layer.name, i, shape,
                                                  transpose))
        weights[layer.name] = blobs
    return weights


def golden_caffemodel(golden, directory: Path) -> Path:
    """A .caffemodel for the golden case: Caffe's own if stored, else rebuilt and written
    with the project's writer (the weights are inputs; only activations must come from Caffe)."""
    path = directory / (Path(golden.path).stem + ".caffemodel")
    if golden.caffemodel is not None:
        path.write_bytes(golden.caffemodel)
        return path
    from converter.caffe.reader import parse_prototxt_text
    from converter.caffe.writer import write_caffemodel
    net = parse_prototxt_text(golden.prototxt, golden.path)
    net.validate()
    write_caffemodel(net, rebuild_weights(golden, net), path)
    return path


def load_golden_case(path, directory: Path):
    """``(golden, net, weights)`` for one golden file, read through the caffemodel reader."""
    from converter.caffe.loader import load_caffe
    from converter.golden import read_golden
    golden = read_golden(path)
    unsupported = golden.attrs.get("unsupported_reason")
    if unsupported:
        pytest.skip(str(unsupported))
    model = golden_caffemodel(golden, directory)
    net, weights = load_caffe(model)
    return golden, net, weights


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available() and os.environ.get("RESNET_CONVERT_NO_CUDA") != "1"


def mxnet_refusals(path):
    """The MXNet back end's reasons for the layer types of a golden file it does not convert
    (Filter: its output batch depends on the data); empty for most files."""
    import h5py
    from converter.backends.mxnet import NOT_CONVERTED
    from converter.caffe.reader import DROPPED_TYPES
    with h5py.File(path, "r") as h5:
        types = {t.decode() if isinstance(t, bytes) else t for t in h5["layer_types"][()]}
    return {t: NOT_CONVERTED[t] for t in sorted(types - DROPPED_TYPES) if t in NOT_CONVERTED}


def codegen_missing(path):
    """The layer types of a golden file that the PyTorch code generator does not write
    (none today: test_codegen_models.CODEGEN_MISSING lists them when there are)."""
    import h5py
    from converter.caffe.reader import DROPPED_TYPES
    from converter.codegen.ops import supported_types
    with h5py.File(path, "r") as h5:
        types = {t.decode() if isinstance(t, bytes) else t for t in h5["layer_types"][()]}
    return sorted(types - DROPPED_TYPES - set(supported_types()) - {"Split"})
