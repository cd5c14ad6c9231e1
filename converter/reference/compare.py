"""Verify a user's own model against real Caffe, and write golden files from real Caffe.

``verify_with_caffe`` runs the model in Caffe (:mod:`.caffe_runner`) and through our back end
on the same input -- the user's ``.npy`` or a seeded one -- and compares every blob exactly as
``verify --golden`` does (:func:`converter.verify.compare`), so the report names the first
blob that diverges. ``make_golden`` writes Caffe's blobs in the golden-file layout that
``verify --golden`` reads (golden/README.md), full tensors only.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

import numpy as np

from .. import progress
from ..errors import UsageError
from ..golden import FORMAT_PREFIX, Golden
from .caffe_runner import CaffeRun, run_caffe

#: Default tolerances of a comparison with Caffe run here (see README, "Verifying").
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-3
#: The seeded input: standard normal values (float32) from numpy's PCG64 with this seed.
DEFAULT_SEED = 0


def make_inputs(net, input_path=None, seed: int = DEFAULT_SEED) -> Dict[str, np.ndarray]:
    """The input blobs: the ``.npy`` file (one-input nets), else seeded normal values."""
    shapes = net.input_blobs()
    if input_path is not None:
        if len(shapes) != 1:
            raise UsageError(f"--input gives one array but the net has {len(shapes)} inputs")
        try:
            array = np.load(input_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UsageError(f"not a readable .npy array ({exc})", file=input_path) from None
        name, shape = next(iter(shapes.items()))
        if array.ndim != len(shape) or tuple(array.shape[1:]) != tuple(shape[1:]):
            raise UsageError(f"the array has shape {list(array.shape)}; the net's input "
                             f"'{name}' is {list(shape)} (any batch size)", file=input_path)
        return {name: np.ascontiguousarray(array, np.float32)}
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32)
            for name, shape in shapes.items()}


def caffe_golden(run: CaffeRun, inputs: Dict[str, np.ndarray], atol: float, rtol: float,
                 label: str = "real Caffe") -> Golden:
    """Caffe's blobs as an in-memory Golden, for :func:`converter.verify.compare`."""
    return Golden(path=label, attrs={"atol": atol, "rtol": rtol}, inputs=dict(inputs),
                  blob_names=list(run.blob_names), blobs=dict(run.blobs),
                  prototxt=run.prototxt)


def _ours(net, weights, inputs, framework: str, device: str):
    from ..verify import run_mxnet, run_torch
    if framework == "torch":
        return run_torch(net, weights, inputs, device)
    if framework == "mxnet":
        return run_mxnet(net, weights, inputs)
    raise UsageError(f"unknown framework '{framework}' (torch, mxnet)")


def verify_with_caffe(model, prototxt=None, *, framework: str = "torch", device: str = "cpu",
                      input_path=None, seed: int = DEFAULT_SEED, caffe_python=None,
                      input_shape: Optional[Sequence[int]] = None,
                      atol: Optional[float] = None, rtol: Optional[float] = None):
    """Run ``model`` in real Caffe and in ``framework`` on the same input and compare every
    blob; returns :class:`converter.verify.Report` (its ``first_failure`` names the layer)."""
    from .. import load_caffe
    from ..verify import compare
    atol = DEFAULT_ATOL if atol is None else atol
    rtol = DEFAULT_RTOL if rtol is None else rtol
    with progress.steps("verify", ("reading", "caffe", "ours", "comparing")) as job:
        job.step("reading the model")
        net, weights = load_caffe(model, prototxt, input_shape=input_shape)
        inputs = make_inputs(net, input_path, seed)
        job.step("running real Caffe")
        run = run_caffe(model, inputs, prototxt, caffe_python)
        job.step(f"running the {framework} conversion")
        computed = _ours(net, weights, inputs, framework, device)
        job.step("comparing blobs")
        return compare(caffe_golden(run, inputs, atol, rtol), computed, framework,
                       atol=atol, rtol=rtol)


def make_golden(model, out, prototxt=None, *, input_path=None, seed: int = DEFAULT_SEED,
                caffe_python=None, input_shape: Optional[Sequence[int]] = None,
                atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> str:
    """Write a golden file for ``model`` made by real Caffe (full tensors); returns ``out``."""
    from .. import load_caffe
    with progress.steps("golden", ("reading", "caffe", "writing")) as job:
        job.step("reading the model")
        net, _ = load_caffe(model, prototxt, input_shape=input_shape, lazy=True)
        inputs = make_inputs(net, input_path, seed)
        job.step("running real Caffe")
        run = run_caffe(model, inputs, prototxt, caffe_python)
        job.step("writing the golden file")
        write_golden(out, run, inputs, {"seed": seed, "atol": atol, "rtol": rtol,
                                        "caffemodel_path": os.path.abspath(model)})
    return str(out)


def write_golden(out, run: CaffeRun, inputs: Dict[str, np.ndarray], attrs: Dict) -> None:
    """The golden layout (golden/README.md) with every blob stored in full, atomically."""
    try:
        import h5py
    except ImportError:
        raise UsageError("writing a golden file needs h5py: pip install h5py") from None
    from ..fileio import atomic_output
    text = h5py.string_dtype(encoding="utf-8")
    with atomic_output(out, ".h5") as tmp:
        with h5py.File(tmp, "w", libver="latest") as h5:
            h5.attrs.update({"format": FORMAT_PREFIX + "1", "storage": "full",
                             "made_by": "resnet-convert golden", "phase": "TEST",
                             "caffe_version": run.caffe_version, **attrs})
            h5.create_dataset("prototxt", data=run.prototxt, dtype=text)
            for key, values in (("blob_names", run.blob_names),
                                ("layer_names", [l[0] for l in run.layers]),
                                ("layer_types", [l[1] for l in run.layers])):
                h5.create_dataset(key, data=np.array(values, dtype=object), dtype=text)
            for group, arrays in (("input", inputs), ("blobs", run.blobs)):
                g = h5.create_group(group)
                for name, array in arrays.items():
                    array = np.asarray(array, np.float32)
                    # Only big arrays are chunked and compressed (a 0-d one cannot be).
                    packed = {"compression": "gzip", "compression_opts": 4,
                              "shuffle": True} if array.size >= 16384 else {}
                    g.create_dataset(_h5_name(name), data=array, **packed)


def _h5_name(name: str) -> str:
    """The golden files' escaping of a Caffe name as one HDF5 path component (its inverse
    is :func:`converter.golden.unescape`)."""
    escaped = name.replace("%", "%25").replace("/", "%2F")
    return "%2E" if escaped == "." else escaped
