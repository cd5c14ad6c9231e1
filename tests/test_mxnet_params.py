"""MXNet ``.params`` files written without MXNet (:mod:`converter.mxnet_params`) and the
streamed ``caffe2mxnet`` job: the bytes are ``mx.nd.save``'s, the checkpoint is the eager
job's, and NaN/Inf and broken files give the eager read's errors, with no file left."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import fuzz_corpus as F
from golden_support import GOLDEN_FILES, golden_caffemodel
from netutil import random_weights

mx = pytest.importorskip("mxnet")

from converter.backends.mxnet import to_mxnet  # noqa: E402
from converter.builders import build  # noqa: E402
from converter.caffe.blobs import FileBlob  # noqa: E402
from converter.caffe.writer import net_to_proto  # noqa: E402
from converter.convert import Options, caffe2mxnet, load_for_conversion  # noqa: E402
from converter.mxnet_params import save_params  # noqa: E402


def nd_save_bytes(path: Path, arrays) -> bytes:
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=np.float32) for k, v in arrays.items()})
    return path.read_bytes()


@pytest.mark.parametrize("shapes", [
    [(1,)], [(3, 4)], [(2, 3, 4, 5)], [(0, 3)], [(7,), (1, 1, 1, 1, 1, 2), (5, 0)],
    [(64, 3, 7, 7), (64,), (1000, 2048)]])
def test_same_bytes_as_mx_nd_save(tmp_path, shapes):
    rng = np.random.default_rng(len(shapes))
    names = [f"arg:w{i}" if i % 2 else f"aux:é\"x/{i}" for i in range(len(shapes))]
    arrays = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
    expected = nd_save_bytes(tmp_path / "ref.params", arrays)
    save_params(tmp_path / "ours.params", [(n, a.shape, a) for n, a in arrays.items()])
    assert (tmp_path / "ours.params").read_bytes() == expected
    loaded = mx.nd.load(str(tmp_path / "ours.params"))
    assert list(loaded) == names
    assert all(np.array_equal(loaded[n].asnumpy(), arrays[n]) for n in names)


@pytest.mark.parametrize("entries", [
    [("a", (), np.zeros((), np.float32))],          # 0-axis: MXNet 1.x's "none" array
    [("a", (2, 2), np.zeros(3, np.float32))],       # the shape does not fit the values
    [("a", (1,), np.zeros(1, np.float32))] * 2])    # a repeated name
def test_refuses_what_mx_nd_load_would_read_otherwise(tmp_path, entries):
    with pytest.raises(ValueError):
        save_params(tmp_path / "x.params", entries)


# ---------------------------------------------------------------- the caffe2mxnet job

def eager_checkpoint(model, prefix: Path, opts: Options):
    """What caffe2mxnet wrote before streaming: every blob in memory, then mx.nd.save."""
    net, weights, _ = load_for_conversion(model, opts)
    symbol, args, aux = to_mxnet(net, weights, outputs=opts.outputs)
    params = {**{f"arg:{k}": v for k, v in args.items()},
              **{f"aux:{k}": v for k, v in aux.items()}}
    mx.nd.save(f"{prefix}-0000.params", params)
    return symbol.tojson(), Path(f"{prefix}-0000.params").read_bytes()


def outcome(model, folder: Path, opts: Options):
    """("ok", symbol json, params bytes) or ("error", type, message); the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            caffe2mxnet(model, folder / "s", opts)
            result = ("ok", (folder / "s-symbol.json").read_text(),
                      (folder / "s-0000.params").read_bytes())
        except Exception as exc:  # the same failure as the eager read is the point
            result = ("error", type(exc).__name__, str(exc))
            assert not list(folder.glob("s-*")), "a failed conversion left files"
    return result, [str(w.message) for w in caught]


def write_model(folder: Path, net, weights, **kwargs) -> Path:
    path = folder / "m.caffemodel"
    path.write_bytes(net_to_proto(net, weights, **kwargs).SerializeToString())
    return path


@pytest.mark.parametrize("kwargs", [{}, {"legacy_blobs": True}, {"double": True}, {"v1": True}])
def test_tiny_nets_identical_to_the_eager_checkpoint(tmp_path, kwargs):
    seed = F.tiny_seed(**kwargs)
    model = tmp_path / "m.caffemodel"
    model.write_bytes(seed.caffemodel)
    (result, symbol, params), _ = outcome(model, tmp_path, Options())
    assert result == "ok" and (symbol, params) == eager_checkpoint(model, tmp_path / "e",
                                                                   Options())


@pytest.mark.parametrize("opts", [Options(), Options(outputs=["global_pool"]),
                                  Options(rgb=True), Options(mean_values=[1, 2, 3])])
def test_resnet_with_bn_factor(tmp_path, opts):
    net = build(n=1, shortcut="B")
    model = write_model(tmp_path, net, random_weights(net, scale=0.2))
    (result, symbol, params), _ = outcome(model, tmp_path, opts)
    assert result == "ok" and (symbol, params) == eager_checkpoint(model, tmp_path / "e", opts)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_models_identical_to_the_eager_checkpoint(tmp_path, path):
    from converter.golden import read_golden
    golden = read_golden(path)
    model = golden_caffemodel(golden, tmp_path)
    try:
        expected = eager_checkpoint(model, tmp_path / "e", Options())
    except Exception as exc:  # a type MXNet does not convert: the same refusal
        assert outcome(model, tmp_path, Options())[0][1:] == (type(exc).__name__, str(exc))
        return
    assert outcome(model, tmp_path, Options())[0] == ("ok", *expected)


def test_streams_without_reading_stored_blobs(tmp_path, monkeypatch):
    net = build(n=1)
    model = write_model(tmp_path, net, random_weights(net, scale=0.2))
    expected = eager_checkpoint(model, tmp_path / "e", Options())
    conv_reads = []
    real = FileBlob.read

    def counted(self, fd=None):
        conv_reads.append(self.where[1])
        return real(self, fd)
    monkeypatch.setattr(FileBlob, "read", counted)
    assert outcome(model, tmp_path, Options())[0] == ("ok", *expected)
    # Only BatchNorm's statistics are computed (divided by the factor), hence read.
    assert conv_reads and set(conv_reads) == {"BatchNorm"}


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("layer", ["conv", "fc"])
@pytest.mark.parametrize("allow", [False, True])
def test_nonfinite_same_error_or_warning(tmp_path, value, layer, allow):
    seed = F.tiny_seed()
    weights = {k: [a.copy() for a in v] for k, v in seed.weights.items()}
    weights[layer][0].reshape(-1)[3] = value
    model = write_model(tmp_path, seed.net, weights)
    (result, *rest), caught = outcome(model, tmp_path, Options(allow_nonfinite=allow))
    if allow:
        assert result == "ok" and len(caught) == 1 and "converted anyway" in caught[0]
    else:
        assert result == "error" and rest[0] == "NonFiniteError" and f"layer '{layer}'" in rest[1]


def test_nonfinite_in_a_pruned_layer_still_refused(tmp_path):
    seed = F.tiny_seed()
    weights = {k: [a.copy() for a in v] for k, v in seed.weights.items()}
    weights["fc"][0].reshape(-1)[3] = np.nan
    model = write_model(tmp_path, seed.net, weights)
    (result, *rest), _ = outcome(model, tmp_path, Options(outputs=["sig"]))
    assert result == "error" and "layer 'fc'" in rest[1]


def test_corrupted_files_give_the_eager_errors(tmp_path):
    for i, case in enumerate(F.broken_copies(F.tiny_seed().caffemodel, flipped=20)):
        folder = tmp_path / str(i)
        folder.mkdir()
        model = folder / "m.caffemodel"
        model.write_bytes(case)
        try:
            expected = ("ok", *eager_checkpoint(model, folder / "e", Options()))
        except Exception as exc:
            expected = ("error", type(exc).__name__, str(exc))
        assert outcome(model, folder, Options())[0] == expected, i
