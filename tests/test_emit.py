"""Prototxt emitter: templates, field presence, protobuf parsing, round trip IR -> text -> IR."""

from __future__ import annotations

import dataclasses

import jinja2
import pytest

from converter.builders import build
from converter.emit import emit_prototxt, emit_solver, environment, number, quote
from converter.errors import UnsupportedLayerError
from converter.ir import (ConvolutionParam, InputParam, Layer, Net, PoolingParam, ReLUParam,
                          ReshapeParam)

# Every family and switch, small enough to run fast.
NETS = {
    "resnet18": dict(depth=18),
    "resnet50": dict(depth=50),
    "resnet34-A": dict(depth=34, shortcut="A"),
    "resnet50-C": dict(depth=50, shortcut="C"),
    "resnet50-preact": dict(depth=50, preact=True),
    "cifar20-A": dict(n=3),
    "cifar20-B": dict(n=3, shortcut="B"),
    "cifar20-C": dict(n=3, shortcut="C"),
    "cifar20-preact": dict(n=3, preact=True),
    "mxnet": dict(n=3, variant="mxnet"),
    "mxnet-1x1": dict(n=2, variant="mxnet", proj_kernel=1),
    "cifar20-train": dict(n=3, train=True),
    "resnet18-train": dict(depth=18, train=True),
    "mxnet-train": dict(n=1, variant="mxnet", train=True),
}


def parse(text):
    from converter.caffe import proto
    from google.protobuf import text_format
    return text_format.Parse(text, proto.NetParameter())


def find_reader():
    """The text-prototxt -> Net reader of converter.caffe."""
    from converter.caffe.reader import parse_prototxt_text
    return parse_prototxt_text


def test_templates_ship_in_package():
    """pyproject maps templates/ to the package converter.templates with its *.j2 files
    (.ci/run runs the installed wheel's resnet-gen from outside the checkout to prove it),
    and the loader finds every template here, installed or from a checkout."""
    import tomllib
    from pathlib import Path
    from converter import emit
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["converter.templates"] == "templates"
    assert "*.j2" in config["package-data"]["converter.templates"]
    assert "converter.templates" in config["packages"]
    for name in ("layers.j2", "net.j2", "solver.j2"):
        assert (root / "templates" / name).is_file()
        assert emit._load(name) == (root / "templates" / name).read_text(encoding="utf-8")
    assert environment().undefined is jinja2.StrictUndefined


def test_strict_undefined_fails_loudly():
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing }}").render()


@pytest.mark.parametrize("key", sorted(NETS))
def test_every_variant_parses(key):
    net = build(**NETS[key])
    msg = parse(emit_prototxt(net))
    assert msg.name == net.name
    assert [l.name for l in msg.layer] == [l.name for l in net.layers]
    assert [list(l.top) for l in msg.layer] == [l.tops for l in net.layers]
    assert [list(l.bottom) for l in msg.layer] == [l.bottoms for l in net.layers]


def test_presence_follows_kaiming():
    msg = parse(emit_prototxt(build(depth=101)))
    conv1, bn, scale = msg.layer[0], msg.layer[1], msg.layer[2]
    c = conv1.convolution_param
    assert c.HasField("bias_term") and not c.bias_term
    assert list(c.pad) == [3] and list(c.stride) == [2] and list(c.kernel_size) == [7]
    assert not c.HasField("group") and not c.HasField("weight_filler")
    assert bn.batch_norm_param.HasField("use_global_stats")
    assert not bn.batch_norm_param.HasField("eps")
    assert scale.scale_param.HasField("bias_term") and not scale.scale_param.HasField("axis")
    relu = msg.layer[3]
    assert not relu.HasField("relu_param")
    c50 = parse(emit_prototxt(build(depth=50))).layer[0].convolution_param
    assert not c50.HasField("bias_term")                       # only ResNet-50 has conv1 bias
    assert list(msg.input) == ["data"] and list(msg.input_dim) == [1, 3, 224, 224]


def test_option_a_and_mxnet_fields():
    msg = parse(emit_prototxt(build(n=3)))
    by_name = {l.name: l for l in msg.layer}
    sub = by_name["res3a_branch1_subsample"]
    assert sub.convolution_param.group == 16
    assert sub.convolution_param.weight_filler.type == "constant"
    assert sub.convolution_param.weight_filler.value == 1
    assert (sub.param[0].lr_mult, sub.param[0].decay_mult) == (0, 0)
    zeros = by_name["res3a_branch1_zeros"].power_param
    assert zeros.HasField("scale") and zeros.scale == 0
    assert by_name["global_pool"].pooling_param.global_pooling
    mx = {l.name: l for l in parse(emit_prototxt(build(n=3, variant="mxnet"))).layer}
    assert mx["bn2a"].batch_norm_param.eps == pytest.approx(1e-3)
    assert mx["scale2a"].param[0].lr_mult == 0
    assert not mx["res2a_branch2a"].convolution_param.HasField("bias_term")   # bias on


def test_train_net_fields():
    msg = parse(emit_prototxt(build(depth=18, train=True)))
    train, test = msg.layer[0], msg.layer[1]
    assert train.type == "Data" and train.include[0].phase == 0 and test.include[0].phase == 1
    assert train.transform_param.mirror and train.transform_param.crop_size == 224
    assert list(train.transform_param.mean_value) == [104, 117, 123]
    assert train.data_param.batch_size == 256 and train.data_param.backend == 1   # LMDB
    bn = next(l for l in msg.layer if l.type == "BatchNorm")
    assert not bn.batch_norm_param.HasField("use_global_stats")
    assert [p.lr_mult for p in bn.param] == [0, 0, 0]
    conv = next(l for l in msg.layer if l.type == "Convolution")
    assert conv.convolution_param.weight_filler.type == "msra"
    loss, acc = msg.layer[-2], msg.layer[-1]
    assert loss.type == "SoftmaxWithLoss" and list(loss.bottom) == ["fc1000", "label"]
    assert acc.type == "Accuracy" and acc.include[0].phase == 1
    assert not msg.input


def test_input_shape_style_and_generic_layers():
    net = Net("t", [
        Layer("conv", "Convolution", ["data"], ["conv"],
              ConvolutionParam(num_output=4, kernel=(3, 1), pad=(1, 0), stride=(2, 1),
                               dilation=(2, 2))),
        Layer("pool", "Pooling", ["conv"], ["pool"],
              PoolingParam(pool="AVE", kernel=(2, 2), stride=(2, 2), pad=(1, 1))),
        Layer("relu", "ReLU", ["pool"], ["pool"], ReLUParam(negative_slope=0.1)),
        Layer("sig", "Sigmoid", ["pool"], ["sig"]),
        Layer("flat", "Reshape", ["sig"], ["flat"], ReshapeParam(shape=(0, -1))),
    ], inputs={"data": (2, 3, 8, 8)}, input_style="input_shape")
    net.validate()
    text = emit_prototxt(net)
    assert "input_dim" not in text and "kernel_h: 3" in text and "kernel_w: 1" in text
    msg = parse(text)
    assert list(msg.input_shape[0].dim) == [2, 3, 8, 8]
    assert msg.layer[0].convolution_param.dilation == [2]
    assert msg.layer[1].pooling_param.pad == 1
    assert msg.layer[2].relu_param.negative_slope == pytest.approx(0.1)
    assert list(msg.layer[4].reshape_param.shape.dim) == [0, -1]


def test_input_layer():
    net = Net("t", [Layer("in", "Input", [], ["data"], InputParam(shape=((1, 3, 4, 4),)))])
    msg = parse(emit_prototxt(net))
    assert list(msg.layer[0].input_param.shape[0].dim) == [1, 3, 4, 4]


def test_unknown_layer_type_is_reported():
    net = Net("t", [Layer("x", "Fancy", ["data"], ["x"], params=ReLUParam())],
              inputs={"data": (1, 1, 1, 1)})
    with pytest.raises(UnsupportedLayerError, match="Fancy"):
        emit_prototxt(net)


def test_number_and_quote():
    assert number(0.0) == "0" and number(1) == "1" and number(1e-5) == "1e-05"
    assert number(0.999) == "0.999" and number(-2.5) == "-2.5"
    assert quote('a"b\\c') == '"a\\"b\\\\c"'


def test_solver_emission_parses():
    from converter.caffe import proto
    from google.protobuf import text_format
    from converter.builders.solver import cifar_schedule, imagenet_schedule
    fields, comments = cifar_schedule("net.prototxt", "cifar", n=18)
    msg = text_format.Parse(emit_solver(fields, comments), proto.SolverParameter())
    assert (msg.base_lr, msg.lr_policy, list(msg.stepvalue), msg.max_iter) == \
        (pytest.approx(0.1), "multistep", [32000, 48000], 64000)
    assert msg.momentum == pytest.approx(0.9) and msg.weight_decay == pytest.approx(1e-4)
    fields, comments = imagenet_schedule("net.prototxt", "in")
    text = emit_solver(fields, comments)
    assert "plateau" in text
    msg = text_format.Parse(text, proto.SolverParameter())
    assert (msg.lr_policy, msg.gamma, msg.net) == ("step", pytest.approx(0.1), "net.prototxt")


def _comparable(net):
    layers = []
    for layer in net.layers:
        layer = dataclasses.replace(layer, blob_shapes=[])
        layers.append(layer)
    return layers


@pytest.mark.parametrize("key", sorted(NETS))
def test_round_trip_is_lossless(key):
    reader = find_reader()
    net = build(**NETS[key])
    # phase=None keeps every layer verbatim (Data layers, include rules, losses).
    back = reader(emit_prototxt(net), phase=None)
    assert back.name == net.name
    assert back.inputs == net.inputs and back.input_style == net.input_style
    assert [l.name for l in back.layers] == [l.name for l in net.layers]
    for theirs, ours in zip(_comparable(back), _comparable(net)):
        assert theirs == ours, ours.name
    assert [l.in_place for l in back.layers] == [l.in_place for l in net.layers]


def test_gen_caffe_check_tool(tmp_path):
    """tools/gen_caffe_check.py writes every net plus expected.json in the agreed format."""
    import importlib.util
    import json
    from pathlib import Path
    tool = Path(__file__).resolve().parents[1] / "tools" / "gen_caffe_check.py"
    spec = importlib.util.spec_from_file_location("gen_caffe_check", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path)]) == 0
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert {"cifar-n3-A.prototxt", "cifar-n18-B.prototxt", "imagenet-152.prototxt",
            "imagenet-50-preact.prototxt", "cifar-n9-A-preact.prototxt",
            "mxnet-n9.prototxt"} <= set(expected)
    for path, entry in expected.items():
        assert (tmp_path / path).is_file()
        assert set(entry) == {"output_blob", "shape", "learnable_params"}
        assert entry["output_blob"] == "prob"
        assert isinstance(entry["learnable_params"], int)
    assert expected["cifar-n3-A.prototxt"]["shape"] == [1, 10]
    assert expected["imagenet-50.prototxt"]["shape"] == [1, 1000]
    assert expected["cifar-n3-A.prototxt"]["learnable_params"] == 269722
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".prototxt")) \
        == ["expected.json"]
