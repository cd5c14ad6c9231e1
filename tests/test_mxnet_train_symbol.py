"""``resnet-gen mxnet --train`` / ``to_mxnet(net, train=True)``: a symbol that trains in MXNet.

The trainable symbol is the inference symbol's graph with the same parameter names, BatchNorm
in Caffe's TRAIN mode (batch statistics, moving averages kept), the output Softmax as
SoftmaxOutput and the net's lr_mult/decay_mult as variable attributes; the default output of
``resnet-gen mxnet`` is unchanged.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from optional import need

mx = need("mxnet")
pytestmark = pytest.mark.mxnet

from converter.backends.mxnet import to_mxnet
from converter.builders import build
from converter.caffe.reader import parse_prototxt_text
from converter.cli.gen import main as gen_main
from converter.errors import UsageError

#: (resnet-gen selection flags, the BatchNorm moving_average_fraction the builder writes)
NETS = [(["--n", "1"], 0.999), (["--n", "1", "--variant", "mxnet"], 0.9)]


def generated(tmp_path, argv, train):
    out = tmp_path / ("train.json" if train else "deploy.json")
    assert gen_main(["mxnet", *argv, *(["--train"] if train else []), "-o", str(out)]) == 0
    return mx.sym.load(str(out))


def nodes_of(sym, op):
    return [n for n in json.loads(sym.tojson())["nodes"] if n["op"] == op]


@pytest.mark.parametrize("argv,momentum", NETS)
def test_batchnorm_attrs_train_vs_deploy(argv, momentum, tmp_path):
    deploy = nodes_of(generated(tmp_path, argv, False), "BatchNorm")
    train = nodes_of(generated(tmp_path, argv, True), "BatchNorm")
    assert [n["name"] for n in deploy] == [n["name"] for n in train] and deploy
    for node in deploy:
        assert node["attrs"]["use_global_stats"] == "True"
        assert node["attrs"]["fix_gamma"] == "False"
        assert "momentum" not in node["attrs"]
    for node in train:  # each has its Scale as gamma/beta: nothing fixed
        assert node["attrs"]["use_global_stats"] == "False"
        assert node["attrs"]["fix_gamma"] == "False"
        assert float(node["attrs"]["momentum"]) == momentum


def affine_of_bn(names):
    """The deploy symbol's fixed BatchNorm gamma/beta (the trainable one uses the Scale's)."""
    return [a for a in names if a.startswith("bn") and a.endswith(("_gamma", "_beta"))]


@pytest.mark.parametrize("argv,momentum", NETS)
def test_scale_params_and_a_softmax_output_loss(argv, momentum, tmp_path):
    deploy, train = generated(tmp_path, argv, False), generated(tmp_path, argv, True)
    fixed = affine_of_bn(deploy.list_arguments())
    assert fixed and not affine_of_bn(train.list_arguments())
    assert train.list_arguments() == [a for a in deploy.list_arguments()
                                      if a not in fixed] + ["softmax_label"]
    assert train.list_auxiliary_states() == deploy.list_auxiliary_states()
    assert train.list_outputs() == deploy.list_outputs() == ["prob_output"]
    assert [n["name"] for n in nodes_of(train, "SoftmaxOutput")] == ["prob"]
    assert not nodes_of(deploy, "SoftmaxOutput")
    def scales(sym):
        return [n for n in nodes_of(sym, "broadcast_mul") if n["name"].startswith("scale")]
    assert len(scales(deploy)) == len(fixed) // 2
    assert not scales(train)  # the Scales are the BatchNorms' affine part


def test_learning_rate_facts_become_attributes(tmp_path):
    """The variant's Scale gamma keeps its ``lr_mult: 0 decay_mult: 0`` (MXNet's
    fix_gamma, written as Caffe); the deploy symbol carries no learning-rate facts."""
    attrs = generated(tmp_path, NETS[1][0], True).attr_dict()
    assert attrs["scale_conv1_gamma"]["__lr_mult__"] == "0.0"
    assert attrs["scale_conv1_gamma"]["__wd_mult__"] == "0.0"
    assert attrs["scale_conv1_beta"]["__lr_mult__"] == "1.0"
    deploy = generated(tmp_path, NETS[1][0], False).attr_dict()
    assert "__lr_mult__" not in deploy["scale_conv1_gamma"]


LONE_BN = """
input: "data" input_shape { dim: 2 dim: 3 dim: 8 dim: 8 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv"
        batch_norm_param { moving_average_fraction: 0.8 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
        inner_product_param { num_output: 3 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def test_a_batchnorm_without_scale_has_no_affine_part():
    """Caffe's BatchNorm alone normalises only: gamma fixed at 1, beta frozen at 0."""
    symbol = to_mxnet(parse_prototxt_text(LONE_BN), train=True)[0]
    node = nodes_of(symbol, "BatchNorm")[0]["attrs"]
    assert (node["fix_gamma"], node["use_global_stats"]) == ("True", "False")
    assert float(node["momentum"]) == 0.8
    attrs = symbol.attr_dict()
    assert attrs["bn_beta"]["__lr_mult__"] == attrs["bn_beta"]["__wd_mult__"] == "0.0"


def train_steps(symbol, x, y, steps):
    """SGD on one batch with MXNet's Module; the cross-entropy before each step."""
    it = mx.io.NDArrayIter(x, y, len(y), label_name="softmax_label")
    mod = mx.mod.Module(symbol, data_names=["data"], label_names=["softmax_label"],
                        context=mx.cpu())
    mod.bind(it.provide_data, it.provide_label)
    mx.random.seed(0)
    mod.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.05,
                                                          "momentum": 0.9})
    batch, losses = next(iter(it)), []
    for _ in range(steps):
        mod.forward_backward(batch)
        prob = mod.get_outputs()[0].asnumpy()
        losses.append(float(-np.mean(np.log(prob[np.arange(len(y)), y.astype(int)]))))
        mod.update()
    return mod, losses


@pytest.mark.parametrize("argv,momentum", NETS)
def test_symbol_trains_on_a_tiny_batch(argv, momentum, tmp_path):
    rng = np.random.RandomState(0)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    y = np.arange(8, dtype=np.float32) % 10
    mod, losses = train_steps(generated(tmp_path, argv, True), x, y, 12)
    assert losses[-1] < 0.5 * losses[0], losses
    args, aux = mod.get_params()
    assert np.any(args["scale_conv1_beta"].asnumpy())  # learned
    assert np.any(aux["bn_conv1_moving_mean"].asnumpy())  # moving averages kept
    frozen = "--variant" in argv  # the variant's gamma: lr_mult 0 (fix_gamma)
    assert np.all(args["scale_conv1_gamma"].asnumpy() == 1) == frozen


@pytest.mark.parametrize("argv,momentum", NETS)
def test_trained_symbol_predicts_as_the_deploy_symbol(argv, momentum, tmp_path):
    """At inference the trainable symbol uses the moving averages: the deploy symbol with
    the same parameters (its BatchNorms' own gamma/beta 1 and 0) gives the same
    probabilities."""
    rng = np.random.RandomState(1)
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    mod, _ = train_steps(generated(tmp_path, argv, True), x, np.arange(4.0), 3)
    args, aux = mod.get_params()
    deploy = generated(tmp_path, argv, False)
    shapes = dict(zip(deploy.list_arguments(), deploy.infer_shape(data=x.shape)[0]))
    fixed = {a: (mx.nd.ones if a.endswith("_gamma") else mx.nd.zeros)(shapes[a])
             for a in affine_of_bn(shapes)}
    outs = []
    for symbol, extra in ((generated(tmp_path, argv, True), {"softmax_label": mx.nd.zeros(4)}),
                          (deploy, fixed)):
        exe = symbol.bind(mx.cpu(), args={**args, **extra, "data": mx.nd.array(x)},
                          aux_states=aux, grad_req="null")
        outs.append(exe.forward(is_train=False)[0].asnumpy())
    # Measured: 2.4e-7 (--n 1) and 4.2e-7 (--variant mxnet), 2-4 float32 steps at 1: a
    # BatchNorm + Scale computed as one op rounds differently from two.
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-6)


def test_a_net_that_does_not_end_in_softmax_is_refused():
    net = build(n=1)
    with pytest.raises(UsageError, match="Softmax"):
        to_mxnet(net, outputs=["fc10"], train=True)
