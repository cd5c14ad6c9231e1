"""The streamed ``caffe2torch`` .safetensors path (``load_caffe(lazy=True)`` + FileBlobs copied
by :mod:`converter.safetensors_io`) writes what the eager path writes: the same tensors (bytes,
shapes, dtypes), the same metadata, the same errors and warnings, and no file on error."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import fuzz_corpus as F
from golden_support import files_with_caffemodel
from netutil import random_weights

from converter import load_torch
from converter.backends.torch import export as torch_export
from converter.backends.torch.net import build_module, to_torch
from converter.backends.torch.module import weights_follow
from converter.builders import build
from converter.caffe.blobs import FileBlob
from converter.caffe.proto import BlobProto, NetParameter
from converter.caffe.loader import load_caffe
from converter.caffe.writer import net_to_proto, write_prototxt
from converter.convert import Options, caffe2torch, load_for_conversion, torch_outputs
from converter.errors import CaffeFormatError
from converter.safetensors_io import header, write_safetensors


# ---------------------------------------------------------------- the two paths

def eager(model, out, opts: Options) -> None:
    """What caffe2torch did before streaming: every blob in memory, then safetensors."""
    net, weights, pre = load_for_conversion(model, opts)
    module = to_torch(net, weights, outputs=torch_outputs(opts.outputs))
    torch_export.save_safetensors(module, net, out, pre)


def streamed(model, out, opts: Options, chunk_bytes: int) -> None:
    """caffe2torch's streamed job with a chosen chunk size (it must not fall back)."""
    net, weights, pre = load_for_conversion(model, opts, lazy=True)
    with weights_follow():
        module = build_module(net, torch_outputs(opts.outputs))
    assert torch_export.save_safetensors_streamed(module, net, weights, out, pre,
                                                  chunk_bytes=chunk_bytes)


def outcome(job, *args):
    """("ok", tensors, metadata) or ("error", type, message), plus the warnings issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            job(*args)
            result = ("ok",) + read(args[1])
        except Exception as exc:  # the same failure either way is the point
            result = ("error", type(exc).__name__, str(exc))
    return result, [str(w.message) for w in caught]


def read(path):
    """Every tensor as (dtype, shape, bytes), and the metadata."""
    with safe_open(str(path), framework="numpy") as handle:
        tensors = {k: (handle.get_tensor(k).dtype.str, handle.get_tensor(k).shape,
                       handle.get_tensor(k).tobytes()) for k in handle.keys()}
        return tensors, handle.metadata()


def same_either_way(model, folder: Path, opts=None, chunks=(1 << 20, 12)):
    """Convert ``model`` eagerly, through caffe2torch and streamed with small chunks;
    assert identical outcomes (and no file left behind by a failure). Returns the eager one."""
    opts = opts or Options()
    out = folder / "eager.safetensors"
    expected = outcome(eager, model, out, opts)
    jobs = [caffe2torch] + [(lambda m, o, p, c=c: streamed(m, o, p, c)) for c in chunks]
    for i, job in enumerate(jobs):
        got_path = folder / f"streamed{i}.safetensors"
        assert outcome(job, model, got_path, opts) == expected
        assert got_path.exists() == (expected[0][0] == "ok")
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files
    return expected


# ---------------------------------------------------------------- models

def write_model(folder: Path, net, weights, name="m.caffemodel", **kwargs) -> Path:
    path = folder / name
    path.write_bytes(net_to_proto(net, weights, **kwargs).SerializeToString())
    return path


@pytest.fixture(scope="module")
def tiny():
    return F.tiny_seed()


@pytest.mark.parametrize("kwargs", [{}, {"legacy_blobs": True}, {"double": True},
                                    {"v1": True}, {"v1": True, "legacy_blobs": True}])
def test_tiny_nets_every_encoding(tmp_path, kwargs):
    seed = F.tiny_seed(**kwargs)
    model = tmp_path / "m.caffemodel"
    model.write_bytes(seed.caffemodel)
    (result, *_), _ = same_either_way(model, tmp_path)
    assert result == "ok"
    module, _ = load_torch(tmp_path / "streamed0.safetensors")
    reference, _ = load_torch(tmp_path / "eager.safetensors")
    for (k, a), (k2, b) in zip(module.state_dict().items(), reference.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_resnet_with_bn_factor_mean_image_and_outputs(tmp_path):
    net = build(n=1, shortcut="B")
    weights = random_weights(net, scale=0.2)  # BatchNorm blobs carry the factor 999.982
    model = write_model(tmp_path, net, weights)
    mean = np.arange(3 * 36 * 36, dtype=np.float32).reshape(1, 3, 36, 36)
    blob = BlobProto()
    blob.shape.dim.extend(mean.shape)
    blob.data.extend(mean.ravel())
    (tmp_path / "mean.binaryproto").write_bytes(blob.SerializeToString())
    for opts in (Options(), Options(mean=str(tmp_path / "mean.binaryproto")),
                 Options(outputs=["global_pool"], mean_values=[1, 2, 3])):
        folder = tmp_path / f"case{len(list(tmp_path.glob('case*')))}"
        folder.mkdir()
        (result, tensors, meta), _ = same_either_way(model, folder, opts)
        assert result == "ok" and json.loads(meta["fold_bn"]) is False
        if opts.mean:
            assert tensors[torch_export.MEAN_KEY][2] == mean[0].tobytes()


def test_mixed_float_and_double_blobs(tmp_path, tiny):
    netp = NetParameter()
    netp.ParseFromString(tiny.caffemodel)
    fc = next(lp for lp in netp.layer if lp.name == "fc")
    fc.blobs[1].double_data.extend(fc.blobs[1].data)
    del fc.blobs[1].data[:]
    model = tmp_path / "m.caffemodel"
    model.write_bytes(netp.SerializeToString())
    _, weights = load_caffe(model, lazy=True)
    assert isinstance(weights["fc"][0], FileBlob) and isinstance(weights["fc"][1], np.ndarray)
    assert same_either_way(model, tmp_path)[0][0] == "ok"


@pytest.mark.parametrize("path", files_with_caffemodel(), ids=lambda p: p.stem)
def test_caffe_saved_golden_models(tmp_path, path):
    from converter.golden import read_golden
    golden = read_golden(path)
    model = tmp_path / "m.caffemodel"
    model.write_bytes(golden.caffemodel)
    (result, *rest), _ = same_either_way(model, tmp_path)
    assert result == "ok", rest  # a caffemodel real Caffe saved converts, identically both ways


def test_caffe2torch_streams_without_reading_blobs_whole(tmp_path, tiny, monkeypatch):
    model = write_model(tmp_path, tiny.net, tiny.weights)
    eager(model, tmp_path / "e.safetensors", Options())
    expected = read(tmp_path / "e.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("the streamed path materialised a blob or the whole module")
    monkeypatch.setattr(FileBlob, "read", refuse)
    monkeypatch.setattr(torch_export, "save_safetensors", refuse)
    caffe2torch(model, tmp_path / "s.safetensors", Options())
    assert read(tmp_path / "s.safetensors") == expected


def test_lazy_blobs_read_as_the_eager_arrays(tmp_path, tiny):
    model = write_model(tmp_path, tiny.net, tiny.weights, legacy_blobs=True)
    _, eager_w = load_caffe(model)
    _, lazy_w = load_caffe(model, lazy=True)
    for name, arrays in eager_w.items():
        for a, b in zip(arrays, lazy_w[name]):
            assert isinstance(b, FileBlob) and b.shape == a.shape and b.ndim == a.ndim
            got = np.asarray(b)
            assert got.dtype == a.dtype and got.tobytes() == a.tobytes()


# ---------------------------------------------------------------- NaN / Inf

def _poisoned(folder: Path, seed, edits, first=()) -> Path:
    """``seed``'s caffemodel with ``edits`` ({(layer, blob): (flat index, value)}), the
    layers named in ``first`` moved to the front of the file."""
    weights = {k: [a.copy() for a in v] for k, v in seed.weights.items()}
    for (layer, i), (at, value) in edits.items():
        weights[layer][i].reshape(-1)[at] = value
    netp = net_to_proto(seed.net, weights)
    ordered = [lp for name in first for lp in netp.layer if lp.name == name] + \
        [lp for lp in netp.layer if lp.name not in first]
    copies = [type(lp)() for lp in ordered]
    for copy, lp in zip(copies, ordered):
        copy.CopyFrom(lp)
    del netp.layer[:]
    netp.layer.extend(copies)
    return _write(folder / "m.caffemodel", netp)


def _write(path: Path, netp) -> Path:
    path.write_bytes(netp.SerializeToString())
    return path


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("allow", [False, True])
def test_nonfinite_same_error_or_warning(tmp_path, tiny, value, allow):
    model = _poisoned(tmp_path, tiny, {("conv", 0): (7, value)})
    (result, *rest), caught = same_either_way(model, tmp_path, Options(allow_nonfinite=allow),
                                              chunks=(1 << 20, 8, 4))
    if allow:
        assert result == "ok" and len(caught) == 1 and "converted anyway" in caught[0]
    else:
        assert result == "error" and rest[0] == "NonFiniteError" and "layer 'conv'" in rest[1]


def test_first_bad_blob_in_file_order_is_the_one_reported(tmp_path, tiny):
    # The file holds fc before conv, the module (prototxt order) conv before fc: the eager
    # read stops at fc, so must the streamed one, though it meets conv's NaN first.
    model = _poisoned(tmp_path, tiny, {("conv", 0): (0, np.nan), ("fc", 1): (2, np.inf)},
                      first=["fc"])
    write_prototxt(tiny.net, tmp_path / "deploy.prototxt")
    for allow in (False, True):
        opts = Options(prototxt=str(tmp_path / "deploy.prototxt"), allow_nonfinite=allow)
        (result, *rest), caught = same_either_way(model, tmp_path, opts)
        if allow:
            assert [("layer 'fc'" in w, "layer 'conv'" in w) for w in caught] == \
                [(True, False), (False, True)]
        else:
            assert "layer 'fc' (InnerProduct): blob 1" in rest[1]


def test_nonfinite_in_a_pruned_layer_still_refused(tmp_path, tiny):
    model = _poisoned(tmp_path, tiny, {("fc", 0): (3, np.nan)})
    (result, *rest), _ = same_either_way(model, tmp_path, Options(outputs=["sig"]))
    assert result == "error" and "layer 'fc'" in rest[1]


# ---------------------------------------------------------------- broken files

def test_corrupted_files_give_the_same_errors(tmp_path, tiny):
    for i, case in enumerate(F.broken_copies(tiny.caffemodel)):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "m.caffemodel").write_bytes(case)
        same_either_way(folder / "m.caffemodel", folder, chunks=(16,))


def test_a_file_changed_after_loading_is_refused(tmp_path, tiny):
    model = write_model(tmp_path, tiny.net, tiny.weights)
    net, weights, pre = load_for_conversion(model, Options(), lazy=True)
    with weights_follow():
        module = build_module(net)
    model.write_bytes(model.read_bytes() + b"\0")  # not the file whose layout was read
    out = tmp_path / "out.safetensors"
    with pytest.raises(CaffeFormatError, match="the file changed while it was read"):
        torch_export.save_safetensors_streamed(module, net, weights, out, pre)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.caffemodel"]


def test_fallback_to_the_eager_writer(tmp_path, tiny, monkeypatch):
    model = write_model(tmp_path, tiny.net, tiny.weights)
    expected = outcome(eager, model, tmp_path / "eager.safetensors", Options())
    monkeypatch.setattr(torch_export, "_stream_entries", lambda *a: None)
    out = tmp_path / "fallback.safetensors"
    assert outcome(caffe2torch, model, out, Options()) == expected


# ---------------------------------------------------------------- the writer alone

def test_writer_layout_and_numpy_sources(tmp_path):
    arrays = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.float32(2.5),
              "empty": np.zeros((0, 4), np.float32), "z": np.ones(3, ">f4")}
    entries = [(k, "F32", np.shape(v), np.asarray(v)) for k, v in arrays.items()]
    out = tmp_path / "t.safetensors"
    write_safetensors(out, entries, {"k": "välue"})
    raw = out.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0 and raw[:8 + n] == header(entries, {"k": "välue"})
    head = json.loads(raw[8:8 + n])
    assert list(head) == ["__metadata__", "b", "a", "empty", "z"]
    assert head["a"] == {"dtype": "F32", "shape": [], "data_offsets": [24, 28]}
    tensors, meta = read(out)
    assert meta == {"k": "välue"}
    for k, v in arrays.items():
        assert tensors[k] == ("<f4", np.shape(v), np.asarray(v, "<f4").tobytes())
    with pytest.raises(ValueError):
        header([("x", "F32", (2, 2), np.zeros(3, np.float32))])
