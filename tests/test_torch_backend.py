"""The PyTorch back end as a whole: naming, outputs, in-place SSA, errors, export, folding."""

from __future__ import annotations

import numpy as np
import pytest
from optional import need

from netutil import random_weights

torch = need("torch")

from converter.backends.torch import registry as torch_registry  # noqa: E402
from converter.backends.torch.net import load_weights, to_torch  # noqa: E402
from converter.errors import MismatchError, UnsupportedLayerError, UsageError  # noqa: E402
from converter.ir import (BatchNormParam, ConvolutionParam, EltwiseParam,  # noqa: E402
                          InnerProductParam, Layer, LRNParam, Net, PoolingParam,
                          ReshapeParam, ScaleParam)
from test_torch_ops import ref_bn, ref_conv, ref_pool, ref_scale  # noqa: E402

L = Layer


def conv(name, bottom, top, n, k=1, s=1, p=0, bias=False):
    return L(name, "Convolution", [bottom], [top], ConvolutionParam(
        num_output=n, kernel=(k, k), stride=(s, s), pad=(p, p), bias_term=bias))


def bn_scale_relu(prefix, blob, relu=True):
    """Kaiming's in-place idiom: BatchNorm, Scale and ReLU all on ``blob``."""
    layers = [L(f"bn{prefix}", "BatchNorm", [blob], [blob], BatchNormParam(eps=1e-5)),
              L(f"scale{prefix}", "Scale", [blob], [blob], ScaleParam(bias_term=True))]
    return layers + ([L(f"{prefix}_relu", "ReLU", [blob], [blob])] if relu else [])


def bottleneck_net():
    """conv1 -> pool1 -> one bottleneck block with a projection shortcut -> pool5 -> fc."""
    layers = [conv("conv1", "data", "conv1", 8, k=3, s=2, p=1), *bn_scale_relu("_conv1", "conv1"),
              L("pool1", "Pooling", ["conv1"], ["pool1"],
                PoolingParam(pool="MAX", kernel=(3, 3), stride=(2, 2))),
              conv("res2a_branch1", "pool1", "res2a_branch1", 16),
              *bn_scale_relu("2a_branch1", "res2a_branch1", relu=False),
              conv("res2a_branch2a", "pool1", "res2a_branch2a", 4),
              *bn_scale_relu("2a_branch2a", "res2a_branch2a"),
              conv("res2a_branch2b", "res2a_branch2a", "res2a_branch2b", 4, k=3, p=1),
              *bn_scale_relu("2a_branch2b", "res2a_branch2b"),
              conv("res2a_branch2c", "res2a_branch2b", "res2a_branch2c", 16),
              *bn_scale_relu("2a_branch2c", "res2a_branch2c", relu=False),
              L("res2a", "Eltwise", ["res2a_branch1", "res2a_branch2c"], ["res2a"],
                EltwiseParam()),
              L("res2a_relu", "ReLU", ["res2a"], ["res2a"]),
              L("pool5", "Pooling", ["res2a"], ["pool5"],
                PoolingParam(pool="AVE", kernel=(3, 3), stride=(1, 1))),
              L("fc", "InnerProduct", ["pool5"], ["fc"], InnerProductParam(num_output=5)),
              L("prob", "Softmax", ["fc"], ["prob"])]
    return Net("block", layers=layers, inputs={"data": (2, 3, 13, 13)})


def reference_blobs(net, weights, x):
    """Caffe's net.blobs after forward, by interpreting the (non-SSA) net with the float64
    loop references, overwriting blobs in place exactly as Caffe does."""
    blobs = {"data": x.astype(np.float64)}
    w = {k: [b.astype(np.float64) for b in v] for k, v in weights.items()}
    for l in net.layers:
        b, p = [blobs[n] for n in l.bottoms], l.params
        if l.type == "Convolution":
            y = ref_conv(b[0], w[l.name][0], None, p.stride, p.pad, p.dilation, p.group)
        elif l.type == "BatchNorm":
            y = ref_bn(b[0], *w[l.name], p.eps, True)
        elif l.type == "Scale":
            y = ref_scale(b[0], w[l.name][0], w[l.name][1], 1, 1)
        elif l.type == "ReLU":
            y = np.maximum(b[0], 0)
        elif l.type == "Pooling":
            y = ref_pool(b[0], p.pool, p.kernel, p.stride, p.pad)
        elif l.type == "Eltwise":
            y = b[0] + b[1]
        elif l.type == "InnerProduct":
            y = b[0].reshape(len(b[0]), -1) @ w[l.name][0].T + w[l.name][1]
        else:
            e = np.exp(b[0] - b[0].max(1, keepdims=True))
            y = e / e.sum(1, keepdims=True)
        blobs[l.tops[0]] = y
    return blobs


@pytest.fixture(scope="module")
def block():
    net = bottleneck_net()
    weights = random_weights(net)
    x = np.random.default_rng(1).standard_normal((2, 3, 13, 13)).astype(np.float32)
    return net, weights, x


# ------------------------------------------------------------------- structure, naming
def test_submodules_named_after_layers_and_state_dict(block):
    net, weights, _ = block
    model = to_torch(net, weights)
    names = dict(model.named_children())
    assert {l.name for l in net.layers} == set(names)
    keys = set(model.state_dict())
    assert {"conv1.weight", "bn_conv1.mean", "bn_conv1.var", "bn_conv1.factor",
            "scale_conv1.weight", "scale_conv1.bias", "fc.weight", "fc.bias"} <= keys
    assert not model.training


def test_forbidden_module_names_are_sanitized():
    net = Net("n", inputs={"data": (1, 2, 4, 4)}, layers=[
        L("conv1/3x3.a", "Convolution", ["data"], ["c"], ConvolutionParam(num_output=2,
                                                                          kernel=(1, 1))),
        L("conv1/3x3_a", "ReLU", ["c"], ["r"]), L("forward", "ReLU", ["r"], ["out"])])
    model = to_torch(net, random_weights(net))
    assert model.layer_modules == {"conv1/3x3.a": "conv1/3x3_a", "conv1/3x3_a": "conv1/3x3_a_1",
                                   "forward": "forward_"}
    assert "conv1/3x3_a.weight" in model.state_dict()
    assert model(torch.ones(1, 2, 4, 4)).shape == (1, 2, 4, 4)


def test_duplicate_converter_registration_raises():
    with pytest.raises(ValueError, match="twice"):
        torch_registry.register("ReLU")(lambda layer, shapes: None)


# ---------------------------------------------------------------- values and outputs
def test_bottleneck_matches_caffe_blob_by_blob(block):
    """In-place chains: every Caffe blob holds its *final* value (after BN/Scale/ReLU)."""
    net, weights, x = block
    ref = reference_blobs(net, weights, x)
    model = to_torch(net, weights)
    with torch.no_grad():
        got = model.forward_all(torch.from_numpy(x))
    assert list(got) == net.blob_names()
    for name, value in got.items():
        scale = max(1.0, np.abs(ref[name]).max())
        # float32 through ~4 conv/BN stages: measured <= 1e-6 relative; 1e-5 leaves margin.
        np.testing.assert_allclose(value.numpy(), ref[name], atol=1e-5 * scale, rtol=1e-5,
                                   err_msg=name)
    assert (got["conv1"] >= 0).all()  # conv1 reads back after its in-place ReLU


def test_outputs_selection_and_pruning(block):
    net, weights, x = block
    xt = torch.from_numpy(x)
    full = to_torch(net, weights).forward_all(xt)
    assert isinstance(to_torch(net, weights)(xt), torch.Tensor)  # single net output
    pair = to_torch(net, weights, outputs=["pool5", "conv1"])(xt)
    assert isinstance(pair, tuple) and len(pair) == 2
    torch.testing.assert_close(pair[0], full["pool5"])
    torch.testing.assert_close(pair[1], full["conv1"])
    one = to_torch(net, weights, outputs=["pool1"])
    assert isinstance(one(xt), tuple) and not hasattr(one, "fc")  # fc..prob pruned
    assert isinstance(to_torch(net, weights, outputs="pool1")(xt), torch.Tensor)
    with pytest.raises(UsageError, match="nope"):
        to_torch(net, weights, outputs=["nope"])


def test_batchnorm_batch_statistics_are_implemented():
    net = Net("n", inputs={"data": (4, 3, 2, 2)}, layers=[
        L("bn", "BatchNorm", ["data"], ["out"], BatchNormParam(use_global_stats=False))])
    model = to_torch(net, {"bn": [np.ones(3, np.float32), np.ones(3, np.float32),
                                  np.ones(1, np.float32)]})
    y = model(torch.randn(4, 3, 2, 2) * 5 + 3)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------- errors
def test_unsupported_layers_reported_all_at_once():
    net = bottleneck_net()
    net.layers.insert(3, L("mystery", "Normalize", ["pool1", "conv1"], ["crop"]))
    net.layers.append(L("loss", "SoftmaxWithLoss", ["fc", "label"], ["loss"]))
    net.layers.append(L("deconv", "ROIPooling", ["pool5"], ["up"]))
    with pytest.raises(UnsupportedLayerError) as info:
        to_torch(net)
    text = str(info.value)
    for part in ("3 layer(s)", "'mystery' (Normalize)", "'loss' (SoftmaxWithLoss)",
                 "'deconv' (ROIPooling)", "Supported types:", "Convolution", "LRN"):
        assert part in text


def test_unsupported_options_reported_all_at_once():
    net = Net("n", inputs={"data": (1, 3, 6, 6)}, layers=[
        L("lrn", "LRN", ["data"], ["a"], LRNParam(local_size=4)),
        L("pool", "Pooling", ["a"], ["b"], PoolingParam(pool="STOCHASTIC", kernel=(2, 2)))])
    with pytest.raises(UnsupportedLayerError) as info:
        to_torch(net)
    assert "'lrn' (LRN)" in str(info.value) and "'pool' (Pooling)" in str(info.value)
    assert "local_size 4" in str(info.value) and "STOCHASTIC" in str(info.value)


def test_weight_shape_mismatch_names_layer_blob_and_shapes(block):
    net, weights, _ = block
    bad = dict(weights, fc=[np.zeros((5, 17), np.float32), weights["fc"][1]])
    with pytest.raises(MismatchError) as info:
        to_torch(net, bad)
    text = str(info.value)
    assert "layer 'fc' (InnerProduct)" in text and "blob 0" in text
    assert "[5, 17]" in text and "[5, 16]" in text


@pytest.mark.parametrize("change,match", [
    (lambda w: w.pop("res2a_branch2b"), "no weights"),
    (lambda w: w["bn_conv1"].pop(), "2 blob"),
    (lambda w: w["conv1"].append(np.zeros(8, np.float32)), "needs 1"),
    (lambda w: w.__setitem__("ghost", [np.zeros(1, np.float32)]), "ghost"),
])
def test_weight_set_mismatches(block, change, match):
    net, weights, _ = block
    weights = {k: list(v) for k, v in weights.items()}
    change(weights)
    with pytest.raises(MismatchError, match=match):
        to_torch(net, weights)


def test_unused_weights_allowed_and_legacy_shapes_accepted(block):
    net, weights, x = block
    legacy = dict(weights, ghost=[np.zeros(1, np.float32)],
                  fc=[weights["fc"][0][None, None], weights["fc"][1].reshape(1, 1, 1, 5)])
    model = to_torch(net, legacy, allow_unused=True)
    torch.testing.assert_close(model(torch.from_numpy(x)),
                               to_torch(net, weights)(torch.from_numpy(x)))


def test_weights_are_loaded_without_copies(block):
    net, weights, _ = block
    model = to_torch(net, weights)
    assert model.conv1.weight.data_ptr() == weights["conv1"][0].ctypes.data
    assert model.bn_conv1.mean.data_ptr() == weights["bn_conv1"][0].ctypes.data
    assert load_weights(model, net, weights) is model


# ----------------------------------------------------------------------------- export
def export_net():
    """Every code path that must survive export: explicit pooling windows (stride > kernel,
    pad > kernel/2), LRN, Reshape keeping the batch, BN + Scale, InnerProduct."""
    return Net("exp", inputs={"data": (2, 3, 11, 11)}, layers=[
        conv("conv1", "data", "conv1", 6, k=3, p=1, bias=True), *bn_scale_relu("_conv1", "conv1"),
        L("norm1", "LRN", ["conv1"], ["norm1"], LRNParam(local_size=3, alpha=0.1)),
        L("pool1", "Pooling", ["norm1"], ["pool1"],
          PoolingParam(pool="AVE", kernel=(2, 2), stride=(4, 4))),
        L("pool2", "Pooling", ["pool1"], ["pool2"],
          PoolingParam(pool="MAX", kernel=(3, 3), stride=(2, 2), pad=(2, 2))),
        L("flat", "Reshape", ["pool2"], ["flat"], ReshapeParam(shape=(0, -1))),
        L("fc", "InnerProduct", ["flat"], ["fc"], InnerProductParam(num_output=4)),
        L("prob", "Softmax", ["fc"], ["prob"])])


def test_torch_export_dynamic_batch(tmp_path):
    net = export_net()
    model = to_torch(net, random_weights(net), outputs=["prob", "pool1"])
    assert not model.pool1.fast and not model.pool2.fast  # the explicit Caffe paths
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(2, 3, 11, 11),),
                                  dynamic_shapes=(({0: batch},),))
    torch.export.save(program, tmp_path / "m.pt2")
    loaded = torch.export.load(tmp_path / "m.pt2").module()
    for n in (1, 3):
        x = torch.randn(n, 3, 11, 11)
        for got, want in zip(loaded(x), model(x)):
            assert got.shape[0] == n
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dynamo", [False, True])
def test_onnx_export_runs_in_onnxruntime(tmp_path, dynamo):
    ort = need("onnxruntime")
    need("onnx")
    net = export_net()
    model = to_torch(net, random_weights(net), outputs=["prob", "pool1", "pool2"])
    path = str(tmp_path / "m.onnx")
    kwargs = (dict(dynamic_shapes=(({0: torch.export.Dim("batch", min=1, max=64)},),))
              if dynamo else dict(dynamic_axes={"data": {0: "batch"}}))
    torch.onnx.export(model, (torch.randn(2, 3, 11, 11),), path, input_names=["data"],
                      dynamo=dynamo, **kwargs)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for n in (1, 3):
        x = torch.randn(n, 3, 11, 11)
        got = session.run(None, {"data": x.numpy()})
        for g, want in zip(got, model(x)):
            np.testing.assert_allclose(g, want.detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- folding
def test_fold_bn_parity_and_structure(block):
    net, weights, x = block
    plain = to_torch(net, weights, outputs=["pool5", "prob"])
    folded = to_torch(net, weights, outputs=["pool5", "prob"], fold_bn=True)
    assert not any(name.startswith(("bn", "scale")) for name, _ in folded.named_children())
    assert len(folded.plan) == len(plain.plan) - 10
    xt = torch.from_numpy(x)
    for a, b in zip(folded(xt), plain(xt)):
        # Folding reorders float32 roundings; measured <= 2e-6 relative, allow 1e-5.
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.detach().abs().max()))


def test_fold_bn_factor_zero_and_guards():
    net = Net("n", inputs={"data": (2, 3, 5, 5)}, layers=[
        conv("c1", "data", "c1", 4, k=3, p=1), *bn_scale_relu("1", "c1"),
        conv("c2", "c1", "c2", 4), L("bn2", "BatchNorm", ["c2"], ["b2"], BatchNormParam()),
        L("other", "ReLU", ["c2"], ["r2"]),  # reads the pre-BN value: no fold there
        L("sum", "Eltwise", ["b2", "r2"], ["out"], EltwiseParam())])
    weights = random_weights(net)
    weights["bn1"][2][:] = 0  # Caffe: factor 0 -> mean = var = 0
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    folded = to_torch(net, weights, fold_bn=True)
    assert folded.folded == ["bn1", "scale1"]
    # Factor 0 divides by sqrt(eps) (~316x): compare at the output's scale, as float32
    # rounding is relative to the magnitudes involved (a fixed atol flaked on some draws).
    got, want = folded(x), to_torch(net, weights)(x)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    with pytest.raises(UsageError):
        load_weights(folded, net, weights)


def test_switching_memory_reuse_off_replans_and_changes_nothing():
    net = bottleneck_net()
    weights = random_weights(net)
    module, reference = to_torch(net, weights), to_torch(net, weights)
    assert module.reuse and module.reuse_all
    reference.reuse_memory = False
    x = torch.randn(2, 3, 13, 13)
    with torch.no_grad():
        assert torch.equal(module(x), reference(x))
        a, b = module.forward_all(x), reference.forward_all(x)
    assert not reference.reuse and not reference.reuse_all
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
