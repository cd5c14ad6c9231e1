"""``resnet-convert caffe2torch`` / ``caffe2mxnet`` / ``verify`` end to end on small models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from optional import need

from netutil import random_weights
import torch

from golden_support import GOLDEN_DIR

from converter import load_torch
from converter.builders import build
from converter.caffe.proto import BlobProto
from converter.caffe.writer import write_caffemodel
from converter.cli.convert import main


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    """A CIFAR ResNet-8 (n=1, shortcut B) caffemodel and its reference outputs."""
    folder = tmp_path_factory.mktemp("cifar")
    net = build(n=1, shortcut="B")
    net.validate()
    weights = random_weights(net, scale=0.2)
    path = folder / "cifar8.caffemodel"
    write_caffemodel(net, weights, path)
    from converter import to_torch
    x = np.random.RandomState(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    ref = to_torch(net, weights, outputs=["global_pool", "prob"])(torch.from_numpy(x))
    return path, x, [r.detach().numpy() for r in ref]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_output_is_self_contained_safetensors(cifar, capsys):
    path, x, (_, prob) = cifar
    code, _, err = run(["caffe2torch", path], capsys)
    assert code == 0, err
    module, pre = load_torch(path.with_suffix(".safetensors"))
    np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), prob, atol=1e-6)
    assert pre.channel_order == "BGR" and pre.input_scale == 255.0


def test_pt2_has_dynamic_batch_and_outputs(cifar, tmp_path, capsys):
    path, x, (pool, prob) = cifar
    out = tmp_path / "m.pt2"
    assert run(["caffe2torch", path, "-o", out, "--outputs", "global_pool,prob"], capsys)[0] == 0
    program = torch.export.load(str(out)).module()
    for n in (1, 3):
        got_pool, got_prob = program(torch.from_numpy(x[:n]))
        np.testing.assert_allclose(got_pool.detach().numpy(), pool[:n], atol=1e-5)
        np.testing.assert_allclose(got_prob.detach().numpy(), prob[:n], atol=1e-6)


def test_onnx_runs_in_onnxruntime_with_rgb_fold(cifar, tmp_path, capsys):
    ort = need("onnxruntime")
    path, x, (_, prob) = cifar
    out = tmp_path / "m.onnx"
    assert run(["caffe2torch", path, "-o", out, "--rgb", "--mean-values", "1,2,3"], capsys)[0] == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rgb = np.ascontiguousarray(x[:, ::-1])  # the same images, channels in RGB order
    np.testing.assert_allclose(session.run(None, {"data": rgb})[0], prob, atol=1e-5)
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    facts = json.loads(meta["preprocess"])
    assert facts["channel_order"] == "RGB" and facts["mean_values"] == [3.0, 2.0, 1.0]


def test_mean_binaryproto_travels_with_the_model(cifar, tmp_path, capsys):
    path, _, _ = cifar
    mean = np.arange(3 * 40 * 40, dtype=np.float32).reshape(1, 3, 40, 40)
    blob = BlobProto()
    blob.shape.dim.extend(mean.shape)
    blob.data.extend(mean.ravel())
    (tmp_path / "mean.binaryproto").write_bytes(blob.SerializeToString())
    out = tmp_path / "m.safetensors"
    assert run(["caffe2torch", path, "-o", out, "--mean", tmp_path / "mean.binaryproto"],
               capsys)[0] == 0
    _, pre = load_torch(out)
    np.testing.assert_array_equal(pre.mean_image, mean[0])
    image = np.zeros((32, 32, 3), np.float32)
    np.testing.assert_array_equal(pre.apply(image)[0], -mean[0, :, 4:36, 4:36])


def test_bad_output_extension_writes_nothing(cifar, tmp_path, capsys):
    path, _, _ = cifar
    code, _, err = run(["caffe2torch", path, "-o", tmp_path / "m.pkl"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("resnet-convert: error: ")
    assert list(tmp_path.iterdir()) == []


def test_verify_prints_a_table_and_passes(tmp_path, capsys):
    h5py = need("h5py")
    golden = GOLDEN_DIR / "layers_resblock.h5"
    with h5py.File(golden, "r") as handle:
        (tmp_path / "m.caffemodel").write_bytes(handle["caffemodel"][()].tobytes())
    code, out, _ = run(["verify", tmp_path / "m.caffemodel", "--golden", golden], capsys)
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["blob", "kind"]
    assert out.splitlines()[-1].startswith("PASS")


def test_verify_names_the_first_diverging_blob(tmp_path, capsys):
    """A caffemodel whose weights differ from the golden ones fails at the first layer."""
    h5py = need("h5py")
    from converter.caffe.loader import load_caffe
    golden = GOLDEN_DIR / "layers_resblock.h5"
    with h5py.File(golden, "r") as handle:
        (tmp_path / "good.caffemodel").write_bytes(handle["caffemodel"][()].tobytes())
    net, weights = load_caffe(tmp_path / "good.caffemodel")
    first = next(l for l in net.layers if l.type == "Convolution")
    weights[first.name][0] = weights[first.name][0] * 1.01
    write_caffemodel(net, weights, tmp_path / "bad.caffemodel")
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(tmp_path / "bad.caffemodel"), "--golden", str(golden)])
    assert exit_info.value.code == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"FAIL: first diverging blob: {first.tops[0]} ")
