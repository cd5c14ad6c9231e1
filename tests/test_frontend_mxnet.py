"""MXNet -> Caffe export (converter.from_mxnet, ``resnet-convert mxnet2caffe``), proven in
real Caffe: Gluon model-zoo nets (built offline, pretrained=False) and this project's MXNet
CIFAR ResNet symbol, with seeded weights and randomised BatchNorm statistics.

Tolerance, measured per net: the float32 floor is MXNet float32 vs the same net cast to
float64; Caffe may differ from MXNet by at most 4x that floor (never less than 1e-6).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from optional import need

mx = need("mxnet")

import converter  # noqa: E402
from converter.errors import UnsupportedLayerError  # noqa: E402
from converter.backends.mxnet.symbol import unfused  # noqa: E402
from caffe_support import caffe_forward, rel_error, require_caffe  # noqa: E402

pytestmark = pytest.mark.mxnet
FLOOR_FACTOR, MIN_TOL = 4.0, 1e-6


def randomise(params: dict, seed: int) -> dict:
    """Seeded He-normal weights, gamma in [0.5, 1.5), small betas and means, variances in
    [0.5, 1.5) (so neither BatchNorm nor fix_gamma can pass by accident)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, value in sorted(params.items()):
        shape = value.shape
        if name.endswith(("weight", "alpha")) and len(shape) > 1:
            fan_in = int(np.prod(shape[1:]))
            array = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith(("gamma", "running_var", "moving_var")):
            array = rng.uniform(0.5, 1.5, shape)
        else:
            array = rng.standard_normal(shape) * 0.1
        out[name] = mx.nd.array(array.astype(np.float32))
    return out


def split(symbol, params):
    args = {k: v for k, v in params.items() if k in symbol.list_arguments()}
    aux = {k: v for k, v in params.items() if k in symbol.list_auxiliary_states()}
    return args, aux


def run_mxnet(symbol, args, aux, x, names, dtype="float32"):
    """The named nodes' outputs (``name`` for the graph's own output node too)."""
    if dtype != "float32":  # constants made in the graph (e.g. _arange) follow too
        symbol = mx.sym.load_json(symbol.tojson().replace('"float32"', f'"{dtype}"'))
    internals = symbol.get_internals()
    group = mx.sym.Group([internals[f"{n}_output"] for n in names])
    cast = {k: v.astype(dtype) for k, v in {**args, **aux}.items()}
    with unfused():  # MKLDNN fusion cannot return a fused op's inner outputs
            ex = group.bind(mx.cpu(), {**{k: cast[k] for k in group.list_arguments()
                                      if k != "data"}, "data": mx.nd.array(x, dtype=dtype)},
                        aux_states={k: cast[k] for k in group.list_auxiliary_states()},
                        grad_req="null")
    return dict(zip(names, (o.asnumpy() for o in ex.forward(is_train=False))))


def gluon_symbol(name, shape, seed):
    from mxnet.gluon.model_zoo import vision
    net = vision.get_model(name, pretrained=False)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.zeros(shape))
    symbol = net(mx.sym.var("data"))
    names = symbol.list_arguments() + symbol.list_auxiliary_states()
    raw = {p.name: p.data() for p in net.collect_params().values() if p.name in names}
    args, aux = split(symbol, randomise(raw, seed))
    return symbol, args, aux


def check_in_caffe(symbol, args, aux, x, tmp_path):
    """Export, run in Caffe, compare every Caffe blob named like an MXNet node with that
    node's output; returns the net and the worst (error, floor) by error / floor."""
    net, weights = converter.from_mxnet(symbol, args, aux, {"data": x.shape})
    converter.save_caffe(net, weights, tmp_path / "net")
    blobs = caffe_forward(tmp_path / "net.prototxt", tmp_path / "net.caffemodel", {"data": x})
    outputs = set(symbol.get_internals().list_outputs())
    names = [n for n in blobs if f"{n}_output" in outputs]
    assert net.output_blobs()[0] in names
    ref32 = run_mxnet(symbol, args, aux, x, names)
    ref64 = run_mxnet(symbol, args, aux, x, names, "float64")
    worst = (0.0, 1.0)
    for name in names:
        floor, err = rel_error(ref32[name], ref64[name]), rel_error(blobs[name], ref32[name])
        assert err <= max(FLOOR_FACTOR * floor, MIN_TOL), (name, err, floor)
        worst = max(worst, (err, floor), key=lambda p: p[0] / max(p[1], 1e-12))
    return net, worst[0], worst[1]


#: Gluon model-zoo nets and the smallest input each architecture takes (batch 1 for the
#: big ones).
ZOO = {
    "resnet18_v1": (2, 3, 64, 64),
    "resnet50_v2": (1, 3, 64, 64),
    "mobilenet1.0": (2, 3, 64, 64),
    "vgg11_bn": (1, 3, 32, 32),
    "squeezenet1.1": (1, 3, 224, 224),  # ends in a fixed 13x13 average pool
    "densenet121": (1, 3, 224, 224),
}


@pytest.mark.caffe
@pytest.mark.parametrize("name", sorted(ZOO))
def test_gluon_zoo_net_matches_mxnet_in_caffe(name, tmp_path):
    require_caffe()
    shape = ZOO[name]
    symbol, args, aux = gluon_symbol(name, shape, seed=3)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, err, floor = check_in_caffe(symbol, args, aux, x, tmp_path)
    print(name, "caffe vs mxnet", err, "float32 floor", floor)


def cifar_symbol(n: int = 3):
    """This project's MXNet CIFAR ResNet symbol, as ``resnet-gen mxnet --n N`` writes it."""
    import tempfile
    from converter.cli.gen import main as gen
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/cifar-symbol.json"
        assert gen(["mxnet", "--n", str(n), "-o", path]) == 0
        return mx.sym.load(path)


def cifar_params(symbol, shape, seed):
    arg_shapes, _, aux_shapes = symbol.infer_shape(data=shape)
    raw = {n: mx.nd.zeros(s) for n, s in zip(symbol.list_arguments(), arg_shapes) if n != "data"}
    raw.update({n: mx.nd.zeros(s) for n, s in zip(symbol.list_auxiliary_states(), aux_shapes)})
    params = randomise(raw, seed)
    for name in params:  # shortcut A's subsampling is a fixed one-hot 1x1 convolution
        if "subsample" in name:
            params[name] = mx.nd.ones(params[name].shape)
    return split(symbol, params)


@pytest.mark.caffe
def test_cifar_resnet_symbol_matches_mxnet_in_caffe(tmp_path):
    require_caffe()
    symbol = cifar_symbol(3)
    args, aux = cifar_params(symbol, (4, 3, 32, 32), seed=5)
    x = np.random.default_rng(6).standard_normal((4, 3, 32, 32)).astype(np.float32)
    net, err, floor = check_in_caffe(symbol, args, aux, x, tmp_path)
    print("cifar n=3 caffe vs mxnet", err, "float32 floor", floor)
    types = {layer.name: layer.type for layer in net.layers}
    assert types["global_pool"] == "Pooling" and types["res2a"] == "Eltwise"
    assert net.layer("global_pool").params.global_pooling


def test_cifar_symbol_names_and_scale_merge():
    symbol = cifar_symbol(3)
    args, aux = cifar_params(symbol, (1, 3, 32, 32), seed=5)
    net, weights = converter.from_mxnet(symbol, args, aux, {"data": (1, 3, 32, 32)})
    scale = net.layer("scale_conv1")  # broadcast_mul + broadcast_add: one Scale with bias
    assert scale.type == "Scale" and scale.params.bias_term
    np.testing.assert_array_equal(weights["scale_conv1"][0], args["scale_conv1_gamma"].asnumpy())
    np.testing.assert_array_equal(weights["scale_conv1"][1], args["scale_conv1_beta"].asnumpy())
    assert weights["bn_conv1"][2].tolist() == [1.0]


def test_batchnorm_default_eps_and_fix_gamma():
    data = mx.sym.var("data")
    symbol = mx.sym.BatchNorm(data, name="bn")  # MXNet defaults: eps 1e-3, fix_gamma True
    args = {"bn_gamma": mx.nd.array([2.0, 3.0]), "bn_beta": mx.nd.array([0.5, -0.5])}
    aux = {"bn_moving_mean": mx.nd.array([0.1, 0.2]), "bn_moving_var": mx.nd.array([1.5, 0.7])}
    net, weights = converter.from_mxnet(symbol, args, aux, {"data": (1, 2, 3, 3)})
    assert net.layer("bn").params.eps == pytest.approx(1e-3)
    assert weights["bn_scale"][0].tolist() == [1.0, 1.0]  # fix_gamma ignores the stored gamma


@pytest.mark.parametrize("convention, size, mode", [("valid", 8, "CEIL"), ("full", 8, "CEIL"),
                                                    ("valid", 7, "FLOOR"), ("full", 7, "CEIL")])
def test_pooling_convention(convention, size, mode):
    symbol = mx.sym.Pooling(mx.sym.var("data"), kernel=(2, 2), stride=(2, 2), pool_type="max",
                            pooling_convention=convention, name="pool")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net, _ = converter.from_mxnet(symbol, {}, {}, {"data": (1, 1, size, size)})
    assert net.layer("pool").params.round_mode == mode


def test_unsupported_ops_reported_at_once():
    data = mx.sym.var("data")
    a = mx.sym.LeakyReLU(data, act_type="gelu", name="gelu0")
    b = mx.sym.Activation(a, act_type="softrelu", name="soft0")
    c = mx.sym.LeakyReLU(b, act_type="selu", name="selu0")
    d = mx.sym.contrib.BilinearResize2D(c, height=5, width=6, align_corners=False, name="rs0")
    e = mx.sym.Deconvolution(d, kernel=(3, 3), stride=(2, 2), adj=(1, 1), num_filter=2,
                             name="adj0")
    args = {"adj0_weight": mx.nd.ones((2, 2, 3, 3))}
    with pytest.raises(UnsupportedLayerError) as info:
        converter.from_mxnet(e, args, {}, {"data": (1, 2, 3, 3)})
    text = str(info.value)
    for expected in ("'gelu0'", "'soft0'", "'selu0'", "'rs0'", "not an integer factor",
                     "'adj0'", "adj / target_shape", "5 unsupported"):
        assert expected in text, (expected, text)


@pytest.mark.caffe
def test_clip_and_prelu_are_bit_identical_in_caffe(tmp_path):
    """clip (Gluon's ReLU6) from ReLU / Power / Eltwise, PReLU as Caffe's PReLU, nearest UpSampling
    from Reshape / Concat: every step is exact, so on
    exactly computed inputs (scalar products by powers of two) Caffe equals MXNet bit for bit."""
    require_caffe()
    data = mx.sym.var("data")
    y = mx.sym.clip(data * 4.0, 0, 6, name="relu6")
    y = mx.sym.clip(y * 0.5 - 1.0, -0.5, 0.75, name="clip1")
    y = mx.sym.LeakyReLU(y, act_type="prelu", name="prelu0")
    y = mx.sym.UpSampling(y, scale=2, sample_type="nearest", num_args=1, name="up0")
    args = {"prelu0_gamma": mx.nd.array([0.25, -0.5])}
    x = np.random.default_rng(10).standard_normal((2, 2, 9, 9)).astype(np.float32)
    net, weights = converter.from_mxnet(y, args, {}, {"data": x.shape})
    converter.save_caffe(net, weights, tmp_path / "net")
    blobs = caffe_forward(tmp_path / "net.prototxt", tmp_path / "net.caffemodel", {"data": x})
    ref = run_mxnet(y, args, {}, x, ["relu6", "clip1", "prelu0", "up0"])
    for name in ("relu6", "clip1", "prelu0", "up0"):
        assert blobs[name].tobytes() == ref[name].tobytes(), name
    assert 0 < (ref["relu6"] == 6).mean() < 1 and 0 < (ref["relu6"] == 0).mean() < 1
    assert 0 < (ref["clip1"] == -0.5).mean() < 1 and 0 < (ref["clip1"] == 0.75).mean() < 1


def _new_types_symbol():
    """Deconvolution (groups, dilation, bias), bilinear UpSampling, BilinearResize2D both
    ways, LeakyReLU elu / prelu: the layer types issue 14 brought."""
    data = mx.sym.var("data")
    y = mx.sym.Deconvolution(data, kernel=(3, 2), stride=(2, 1), pad=(1, 0), dilate=(1, 2),
                             num_filter=6, num_group=2, no_bias=False, name="deconv0")
    y = mx.sym.LeakyReLU(y, act_type="elu", slope=0.6, name="elu0")
    y = mx.sym.LeakyReLU(y, act_type="prelu", name="prelu0")
    y = mx.sym.UpSampling(y, mx.sym.var("up0_weight"), scale=2, sample_type="bilinear",
                          num_filter=6, num_args=2, name="up0")
    y = mx.sym.contrib.BilinearResize2D(y, scale_height=3, scale_width=2, align_corners=False,
                                        name="resize0")
    y = mx.sym.contrib.BilinearResize2D(y, height=59, width=55, align_corners=True,
                                        name="resize1")
    return mx.sym.Deconvolution(y, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=3,
                                name="deconv1")


@pytest.mark.caffe
def test_new_layer_types_match_mxnet_in_caffe(tmp_path):
    require_caffe()
    symbol = _new_types_symbol()
    shape = (2, 4, 3, 5)
    arg_shapes, _, _ = symbol.infer_shape(data=shape)
    raw = {n: mx.nd.zeros(s) for n, s in zip(symbol.list_arguments(), arg_shapes) if n != "data"}
    args = randomise(raw, seed=7)
    args["prelu0_gamma"] = mx.nd.array(np.linspace(-0.5, 0.5, 6, dtype=np.float32))
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    net, err, floor = check_in_caffe(symbol, args, {}, x, tmp_path)
    print("issue-14 types caffe vs mxnet", err, "float32 floor", floor)
    types = {layer.name: layer.type for layer in net.layers}
    assert [types[n] for n in ("deconv0", "elu0", "prelu0", "up0", "resize0", "resize1")] == \
        ["Deconvolution", "ELU", "PReLU", "Deconvolution", "Deconvolution", "Deconvolution"]
    assert net.layer("deconv0").params.group == 2 and not net.layer("deconv1").params.bias_term
