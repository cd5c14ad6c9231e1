"""The MXNet back end as a whole: a ResNet bottleneck block built from IR layers, output
selection, checkpoints (load_checkpoint and SymbolBlock.imports, batch 1 and 3), dynamic batch,
error reporting. Per-layer semantics are in test_mxnet_ops.py, whose Caffe references are
reused here."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from optional import need

from netutil import random_weights

from golden_support import files_with_caffemodel

mx = need("mxnet")

from converter.backends import mxnet as mb  # noqa: E402
from converter.backends.mxnet.registry import register  # noqa: E402
from converter.errors import ConverterError, MismatchError, UnsupportedLayerError, UsageError  # noqa: E402
from converter import mxnet_params  # noqa: E402
from converter.ir import (BatchNormParam, ConvolutionParam, EltwiseParam,  # noqa: E402
                          FlattenParam, InnerProductParam, InputParam, Layer, Net, PoolingParam,
                          ReshapeParam, ScaleParam)
from test_mxnet_ops import (F32_TOL, ref_batch_norm, ref_conv, ref_inner_product,  # noqa: E402
                            ref_pool, ref_scale, ref_softmax, rel_err)

pytestmark = pytest.mark.mxnet


# ----------------------------------------------------------------------- fixtures
def conv_bn(name, bottom, out, kernel, stride, pad, relu=True):
    """Kaiming's conv -> BatchNorm -> Scale (-> ReLU), the last three in place."""
    branch = name.split("res", 1)[1]
    layers = [Layer(name, "Convolution", [bottom], [name], ConvolutionParam(
                  num_output=out, kernel=(kernel,) * 2, stride=(stride,) * 2, pad=(pad,) * 2,
                  bias_term=False)),
              Layer(f"bn{branch}", "BatchNorm", [name], [name], BatchNormParam(eps=1e-5)),
              Layer(f"scale{branch}", "Scale", [name], [name], ScaleParam(bias_term=True))]
    if relu:
        layers.append(Layer(f"{name}_relu", "ReLU", [name], [name]))
    return layers


def bottleneck_net(batch=2, input_name="data"):
    """res2a as in Kaiming's ResNet-50 (shrunk): projection shortcut, 1x1-3x3-1x1, sum, ReLU,
    then global average pooling, a classifier and softmax."""
    layers = (conv_bn("res2a_branch1", input_name, 16, 1, 2, 0, relu=False)
              + conv_bn("res2a_branch2a", input_name, 4, 1, 2, 0)
              + conv_bn("res2a_branch2b", "res2a_branch2a", 4, 3, 1, 1)
              + conv_bn("res2a_branch2c", "res2a_branch2b", 16, 1, 1, 0, relu=False)
              + [Layer("res2a", "Eltwise", ["res2a_branch1", "res2a_branch2c"], ["res2a"]),
                 Layer("res2a_relu", "ReLU", ["res2a"], ["res2a"]),
                 Layer("pool5", "Pooling", ["res2a"], ["pool5"],
                       PoolingParam(pool="AVE", global_pooling=True)),
                 Layer("fc10", "InnerProduct", ["pool5"], ["fc10"],
                       InnerProductParam(num_output=10)),
                 Layer("prob", "Softmax", ["fc10"], ["prob"])])
    return Net("bottleneck", layers=layers, inputs={input_name: (batch, 8, 9, 9)})


def reference_blobs(net, weights, x):
    """Final value of every blob, composed from the float64 Caffe references layer by layer."""
    vals = {next(iter(net.inputs)): x.astype(np.float64)}
    w64 = {k: [b.astype(np.float64) for b in v] for k, v in weights.items()}
    for layer in net.layers:
        b, w, p = vals[layer.bottoms[0]], w64.get(layer.name), layer.params
        if layer.type == "Convolution":
            y = ref_conv(b, w[0], None, p.stride, p.pad, p.dilation, p.group)
        elif layer.type == "BatchNorm":
            y = ref_batch_norm(b, w[0], w[1], float(weights[layer.name][2][0]),
                               float(np.float32(p.eps)))
        elif layer.type == "Scale":
            y = ref_scale(b, w[0], w[1], 1)
        elif layer.type == "ReLU":
            y = np.maximum(b, 0)
        elif layer.type == "Eltwise":
            y = b + vals[layer.bottoms[1]]
        elif layer.type == "Pooling":
            y = ref_pool(b, "AVE", (0, 0), (1, 1), (0, 0), global_pooling=True)
        elif layer.type == "InnerProduct":
            y = ref_inner_product(b, w[0], w[1], 1, False)
        else:
            y = ref_softmax(b, 1)
        vals[layer.tops[0]] = y
    return vals


@pytest.fixture(scope="module")
def block():
    net = bottleneck_net()
    weights = random_weights(net)
    x = np.random.default_rng(1).standard_normal((2, 8, 9, 9)).astype(np.float32)
    return net, weights, x


def run_symbol(symbol, arg_params, aux_params, x):
    """Bind ``symbol`` for ``x``'s batch and return its outputs as NumPy arrays."""
    args = dict(arg_params, data=mx.nd.array(x))
    exe = symbol.bind(mx.cpu(), args=args, aux_states=aux_params, grad_req="null")
    return [o.asnumpy() for o in exe.forward(is_train=False)]


# --------------------------------------------------------------------- the block
def test_bottleneck_every_blob_matches_caffe(block):
    net, weights, x = block
    got = mb.forward_all(net, weights, x)
    ref = reference_blobs(net, weights, x)
    assert set(got) == set(net.blob_names())
    for blob in net.blob_names():  # in-place blobs hold their final (post-ReLU/Scale) value
        assert rel_err(got[blob], ref[blob]) <= F32_TOL, blob


def test_parameter_names_follow_caffe_layers(block):
    net, weights, _ = block
    symbol, args, aux = mb.to_mxnet(net, weights)
    assert "res2a_branch1_weight" in args and "res2a_branch1_bias" not in args
    assert {"scale2a_branch1_gamma", "scale2a_branch1_beta", "fc10_weight",
            "fc10_bias"} <= set(args)
    assert {"bn2a_branch1_moving_mean", "bn2a_branch1_moving_var"} <= set(aux)
    assert symbol.list_arguments()[0] == "data"
    assert set(symbol.list_arguments()) == set(args) | {"data"}
    assert set(symbol.list_auxiliary_states()) == set(aux)
    # BN statistics are Caffe's divided by its factor (computed as Caffe does, in float32).
    mean = weights["bn2a_branch1"][0] * (np.float32(1) / np.float32(999.982))
    np.testing.assert_array_equal(aux["bn2a_branch1_moving_mean"].asnumpy(), mean)


def test_outputs_selection_in_order(block):
    net, weights, x = block
    symbol, args, aux = mb.to_mxnet(net, weights, outputs=["res2a_branch2a", "prob", "pool5"])
    outs = run_symbol(symbol, args, aux, x)
    ref = reference_blobs(net, weights, x)
    assert [o.shape for o in outs] == [(2, 4, 5, 5), (2, 10), (2, 16, 1, 1)]
    for out, blob in zip(outs, ["res2a_branch2a", "prob", "pool5"]):
        assert rel_err(out, ref[blob]) <= F32_TOL
    single, _, _ = mb.to_mxnet(net, weights, outputs=["fc10"])
    assert len(single.list_outputs()) == 1
    default, _, _ = mb.to_mxnet(net, weights)
    assert len(default.list_outputs()) == 1  # the net's only output, prob
    twice, _, _ = mb.to_mxnet(net, weights, outputs=["fc10", "fc10"])
    a, b = run_symbol(twice, args, aux, x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(UsageError, match="nosuchblob"):
        mb.to_mxnet(net, weights, outputs=["nosuchblob"])


def test_input_is_named_data_whatever_its_caffe_name(block):
    _, weights, x = block
    net = bottleneck_net(input_name="image")
    symbol, args, aux = mb.to_mxnet(net, weights)
    assert "data" in symbol.list_arguments() and "image" not in symbol.list_arguments()
    got = mb.forward_all(net, weights, x)
    assert rel_err(got["prob"], reference_blobs(net, weights, x)["prob"]) <= F32_TOL
    assert "image" in got


def test_forward_all_on_a_symbol(block):
    net, weights, x = block
    symbol, args, aux = mb.to_mxnet(net, weights, outputs=["res2a_branch2b"])
    got = mb.forward_all(symbol, (args, aux), x)
    assert set(got) == {"data", "res2a_branch2a", "res2a_branch2b"}  # what it computes
    ref = reference_blobs(net, weights, x)
    assert rel_err(got["res2a_branch2b"], ref["res2a_branch2b"]) <= F32_TOL


# ---------------------------------------------------------------- checkpoints
@pytest.mark.filterwarnings("ignore:Cannot decide type")  # gluon infers params before data
@pytest.mark.parametrize("batch", [1, 3])
def test_checkpoint_load_checkpoint_and_symbolblock(block, tmp_path, batch):
    net, weights, _ = block
    x = np.random.default_rng(batch).standard_normal((batch, 8, 9, 9)).astype(np.float32)
    ref = reference_blobs(net, weights, x)["prob"]
    prefix = tmp_path / "block"
    mb.save_checkpoint(prefix, *mb.to_mxnet(net, weights))
    assert sorted(os.listdir(tmp_path)) == ["block-0000.params", "block-symbol.json"]

    symbol, args, aux = mx.model.load_checkpoint(str(prefix), 0)
    (out,) = run_symbol(symbol, args, aux, x)
    assert out.shape == (batch, 10) and rel_err(out, ref) <= F32_TOL

    block_ = mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"],
                                          f"{prefix}-0000.params")
    out = block_(mx.nd.array(x)).asnumpy()
    assert out.shape == (batch, 10) and rel_err(out, ref) <= F32_TOL


def test_checkpoint_is_atomic(block, tmp_path, monkeypatch):
    net, weights, _ = block
    converted = mb.to_mxnet(net, weights)

    def broken_write(fd, data):
        os.write(fd, b"partial")
        raise OSError("disk full")

    # The .params writer (converter.mxnet_params) fails after a partial write.
    monkeypatch.setattr(mxnet_params, "write_all", broken_write)
    # An OSError while writing becomes the one-line ConverterError ("cannot write: ...").
    with pytest.raises(ConverterError, match="disk full"):
        mb.save_checkpoint(tmp_path / "block", *converted)
    assert os.listdir(tmp_path) == []


def test_checkpoint_refuses_missing_params(block, tmp_path):
    net, weights, _ = block
    symbol, args, aux = mb.to_mxnet(net, weights)
    args.pop("fc10_weight")
    with pytest.raises(UsageError, match="fc10_weight"):
        mb.save_checkpoint(tmp_path / "x", symbol, args, aux)
    assert os.listdir(tmp_path) == []


def test_untrained_symbol_json(block):
    net, _, _ = block
    symbol, args, aux = mb.to_mxnet(net)
    assert args == {} and aux == {}
    text = mb.net_to_symbol_json(net)
    loaded = mx.sym.load_json(text)
    assert loaded.list_arguments() == symbol.list_arguments()
    assert any(n["name"] == "res2a_branch2b" for n in json.loads(text)["nodes"])
    _, out_shapes, _ = loaded.infer_shape(data=(4, 8, 9, 9))
    assert out_shapes == [(4, 10)]


# ------------------------------------------------------------------ dynamic batch
def test_batch_is_dynamic_through_reshaping_layers():
    """Declared batch 2, run with 5: Flatten, Reshape (0/-1), IP with axis 2, two-bottom
    Scale and pooling must not have baked the batch in."""
    layers = [Layer("pool", "Pooling", ["data"], ["pool"], PoolingParam(
                  pool="AVE", kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
              Layer("rs", "Reshape", ["pool"], ["rs"], ReshapeParam(shape=(0, 2, -1, 0))),
              Layer("ip", "InnerProduct", ["rs"], ["ip"], InnerProductParam(num_output=3, axis=2)),
              Layer("fl", "Flatten", ["ip"], ["fl"], FlattenParam(axis=1)),
              Layer("sc", "Scale", ["fl", "fl"], ["sc"], ScaleParam(axis=0)),
              Layer("sum", "Eltwise", ["sc", "fl"], ["sum"], EltwiseParam(coeff=(1.0, -2.0)))]
    net = Net("dyn", layers=layers, inputs={"data": (2, 4, 7, 7)})
    weights = random_weights(net)
    x = np.random.default_rng(2).standard_normal((5, 4, 7, 7)).astype(np.float32)
    got = mb.forward_all(net, weights, x)
    pool = ref_pool(x.astype(np.float64), "AVE", (3, 3), (2, 2), (1, 1))
    rs = pool.reshape(5, 2, -1, 4)
    w = [b.astype(np.float64) for b in weights["ip"]]
    fl = ref_inner_product(rs, w[0], w[1], 2, False).reshape(5, -1)
    assert got["sum"].shape == (5, 2 * 3)
    assert rel_err(got["sum"], fl * fl - 2 * fl) <= F32_TOL


def test_several_inputs_keep_their_caffe_names():
    net = Net("two", inputs={"a": (2, 3), "b": (2, 3)},
              layers=[Layer("s", "Eltwise", ["a", "b"], ["s"], EltwiseParam(operation="MAX"))])
    symbol, _, _ = mb.to_mxnet(net)
    assert sorted(symbol.list_arguments()) == ["a", "b"]
    a, b = np.ones((4, 3), np.float32), np.full((4, 3), 2, np.float32)
    np.testing.assert_array_equal(mb.forward_all(net, {}, {"a": a, "b": b})["s"], b)


def test_input_layer_is_a_source():
    net = Net("inp", layers=[
        Layer("input", "Input", [], ["img"], InputParam(shape=((2, 3, 4, 4),))),
        Layer("relu", "ReLU", ["img"], ["out"])])
    symbol, _, _ = mb.to_mxnet(net)
    assert symbol.list_arguments() == ["data"]
    x = np.random.default_rng(3).standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(mb.forward_all(net, {}, x)["out"], np.maximum(x, 0))


# --------------------------------------------------------------------------- errors
def test_unsupported_layers_reported_at_once():
    net = bottleneck_net()
    net.layers.insert(3, Layer("weird1", "Normalize", ["res2a_branch1"], ["weird1"]))
    net.layers.append(Layer("weird2", "PriorBox", ["prob"], ["weird2"]))
    net.layers.append(Layer("sp", "Pooling", ["res2a"], ["sp"], PoolingParam(pool="STOCHASTIC")))
    net.layers.append(Layer("bnt", "BatchNorm", ["res2a"], ["bnt"],
                            BatchNormParam(use_global_stats=False)))
    with pytest.raises(UnsupportedLayerError) as info:
        mb.to_mxnet(net)
    text = str(info.value)
    for piece in ["'weird1' (Normalize)", "'weird2' (PriorBox)", "'sp' (Pooling)", "STOCHASTIC",
                  "'bnt' (BatchNorm)", "use_global_stats", "4 layer(s)",
                  "Supported types:", "Convolution", "LRN"]:
        assert piece in text, piece


def test_single_unsupported_layer_carries_context():
    net = Net("one", inputs={"data": (1, 2)},
              layers=[Layer("odd", "ROIPooling", ["data"], ["odd"])])
    with pytest.raises(UnsupportedLayerError) as info:
        mb.to_mxnet(net)
    assert info.value.layer == "odd" and info.value.layer_type == "ROIPooling"


def test_weight_shape_mismatch_names_layer_blob_and_shapes(block):
    net, weights, _ = block
    bad = dict(weights, res2a_branch2b=[np.zeros((4, 4, 3, 2), np.float32)])
    with pytest.raises(MismatchError) as info:
        mb.to_mxnet(net, bad)
    err = info.value
    assert err.layer == "res2a_branch2b" and "blob 0" in str(err)
    assert "[4, 4, 3, 2]" in str(err) and "[4, 4, 3, 3]" in str(err)


def test_missing_or_extra_blobs_are_mismatches(block):
    net, weights, _ = block
    missing = {k: v for k, v in weights.items() if k != "fc10"}
    with pytest.raises(MismatchError, match="no weights"):
        mb.to_mxnet(net, missing)
    short = dict(weights, fc10=weights["fc10"][:1])
    with pytest.raises(MismatchError, match="has 1 weight blobs, the net expects 2"):
        mb.to_mxnet(net, short)


def test_legacy_4d_blob_shapes_are_accepted(block):
    """Caffe's ShapeEquals lets a legacy (num, channels, height, width) blob match a shape
    padded with leading 1s, e.g. an old InnerProduct weight stored as (1, 1, N, K)."""
    net, weights, x = block
    fc10 = weights["fc10"]
    legacy = dict(weights, fc10=[fc10[0][None, None], fc10[1][None, None, None]])
    got = mb.forward_all(net, legacy, x)["prob"]
    np.testing.assert_array_equal(got, mb.forward_all(net, weights, x)["prob"])


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="registered twice"):
        register("Convolution")(lambda ctx, layer, bottoms: bottoms)


# ------------------------------------------------------------- real-Caffe golden files
GOLDEN = files_with_caffemodel()  # Caffe-saved models; tests/test_parity.py covers all files


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_golden_parity(tmp_path, golden):
    """Every blob real Caffe recorded matches, both blob by blob (forward_all) and through
    the plain default symbol bound as users do (oneDNN fusion on), within the golden file's
    own per-channel tolerances; no blob Caffe computed may be missing."""
    need("h5py")
    from converter import load_caffe
    from converter.golden import read_golden
    from converter.verify import compare, format_report
    from golden_support import mxnet_refusals
    if mxnet_refusals(golden):  # tests/test_parity.py checks the one-line refusal
        pytest.skip(f"MXNet does not convert {', '.join(mxnet_refusals(golden))}")
    data = read_golden(golden)
    path = tmp_path / "real.caffemodel"
    path.write_bytes(data.caffemodel)
    net, weights = load_caffe(path)
    feed = next(iter(data.inputs.values())) if len(data.inputs) == 1 else data.inputs
    report = compare(data, mb.forward_all(net, weights, feed), "mxnet")
    assert report.per_channel and report.compared == len(
        [r for r in report.rows if r.kind != "split"]), format_report(report)
    assert report.passed, format_report(report)
    if len(data.inputs) == 1:
        symbol, args, aux = mb.to_mxnet(net, weights)
        outs = dict(zip(net.output_blobs(), run_symbol(symbol, args, aux, feed)))
        plain = compare(data, outs, "mxnet")
        assert plain.compared >= 1 and all(r.passed for r in plain.rows
                                           if r.kind in ("full", "signature")), \
            format_report(plain)
