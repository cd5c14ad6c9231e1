"""Builders: shapes, parameter counts, names and variant switches of every ResNet family."""

from __future__ import annotations

import pytest

from converter.builders import (IMAGENET_DEPTHS, PAPER_NS, build, cifar_resnet, family_of,
                                imagenet_resnet, mxnet_cifar_resnet)
from converter.errors import UsageError
from converter.ir import param_count

# Paper Table 6 (option A), in millions, as printed.
TABLE6 = {3: 0.27, 5: 0.46, 7: 0.66, 9: 0.85, 18: 1.7}
# torchvision / paper parameter counts of the ImageNet nets (ResNet-50 includes the released
# model's conv1 bias: 64 more than torchvision's 25,557,032).
IMAGENET_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_096, 101: 44_549_160,
                   152: 60_192_808}


def types(net):
    return [layer.type for layer in net.layers]


@pytest.mark.parametrize("depth", sorted(IMAGENET_DEPTHS))
def test_imagenet_shapes_and_params(depth):
    net = imagenet_resnet(depth)
    shapes = net.validate()
    assert shapes["prob"] == (1, 1000)
    final_c = 2048 if depth >= 50 else 512
    assert shapes["pool5"] == (1, final_c, 1, 1)
    assert shapes["pool1"] == (1, 64, 56, 56)
    assert param_count(net) == IMAGENET_PARAMS[depth]
    assert net.output_blobs() == ["prob"]


def test_imagenet_headline_counts():
    assert round(param_count(imagenet_resnet(50)) / 1e6, 1) == 25.6
    assert round(param_count(imagenet_resnet(152)) / 1e6, 1) == 60.2


@pytest.mark.parametrize("depth,layers", [(50, 228), (101, 449), (152, 670)])
def test_imagenet_layer_counts_match_kaiming(depth, layers):
    assert len(imagenet_resnet(depth).layers) == layers


def test_imagenet_kaiming_quirks():
    assert imagenet_resnet(50).layer("conv1").params.bias_term
    for depth in (18, 34, 101, 152):
        assert not imagenet_resnet(depth).layer("conv1").params.bias_term
    net = imagenet_resnet(101)
    names = {layer.name for layer in net.layers}
    assert {"res3b1", "res3b3", "res4b22", "res2c", "res5c"} <= names
    assert "res4w" not in names and "res3b" not in names
    assert {"res4f", "res3d"} <= {layer.name for layer in imagenet_resnet(50).layers}
    # stride 2 on the first 1x1 conv and on branch1, never on the 3x3
    assert net.layer("res3a_branch2a").params.stride == (2, 2)
    assert net.layer("res3a_branch1").params.stride == (2, 2)
    assert net.layer("res3a_branch2b").params.stride == (1, 1)
    pool5 = net.layer("pool5").params
    assert (pool5.pool, pool5.kernel, pool5.stride) == ("AVE", (7, 7), (1, 1))


def test_imagenet_basic_blocks_named_like_kaiming():
    net = imagenet_resnet(18)
    names = [layer.name for layer in net.layers]
    assert "res2a_branch2b" in names and "res2a_branch2c" not in names
    assert "res2a_branch1" not in names          # 64 -> 64: identity (option B)
    assert "res3a_branch1" in names and "bn3a_branch1" in names


def test_bn_scale_after_every_conv_in_place():
    net = imagenet_resnet(50)
    layers = net.layers
    for i, layer in enumerate(layers):
        if layer.type == "Convolution":
            bn, scale = layers[i + 1], layers[i + 2]
            assert (bn.type, scale.type) == ("BatchNorm", "Scale")
            assert bn.tops == bn.bottoms == layer.tops == scale.tops
            assert bn.params.use_global_stats is True and scale.params.bias_term


@pytest.mark.parametrize("n", PAPER_NS)
def test_cifar_option_a_matches_table6(n):
    net = cifar_resnet(n)
    shapes = net.validate()
    assert shapes["prob"] == (1, 10)
    count = param_count(net)
    digits = 1 if n == 18 else 2
    assert round(count / 1e6, digits) == TABLE6[n]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9, 18, 27])
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_cifar_any_n(n, shortcut):
    net = cifar_resnet(n, shortcut=shortcut, classes=100, batch=4)
    shapes = net.validate()
    assert shapes["prob"] == (4, 100)
    assert shapes["global_pool"] == (4, 64, 1, 1)
    convs = [l for l in net.layers if l.type == "Convolution" and not l.name.endswith(
        ("_branch1", "_subsample"))]
    assert len(convs) + 1 == 6 * n + 2     # + fc


def test_cifar_option_a_is_exact_standard_layers():
    net = cifar_resnet(3)
    shapes = net.validate()
    sub = net.layer("res3a_branch1_subsample")
    p = sub.params
    assert (p.kernel, p.stride, p.group, p.num_output, p.bias_term) == ((1, 1), (2, 2), 16, 16,
                                                                         False)
    assert p.weight_filler.type == "constant" and p.weight_filler.value == 1
    assert sub.param_specs[0].lr_mult == 0 and sub.param_specs[0].decay_mult == 0
    assert shapes["res3a_branch1_subsample"] == (1, 16, 16, 16)   # floor, not Pooling's 17
    zeros = net.layer("res3a_branch1_zeros")
    assert zeros.type == "Power" and zeros.params.scale == 0
    concat = net.layer("res3a_branch1")
    assert concat.type == "Concat" and shapes["res3a_branch1"] == (1, 32, 16, 16)
    assert net.layer("res3a").bottoms == ["res3a_branch1", "res3a_branch2b"]
    assert "res2a_branch1" not in {l.name for l in net.layers}
    assert set(types(net)) <= {"Convolution", "BatchNorm", "Scale", "ReLU", "Eltwise",
                               "Power", "Concat", "Pooling", "InnerProduct", "Softmax"}


def test_cifar_options_b_and_c_projections():
    b_names = {l.name for l in cifar_resnet(3, shortcut="B").layers}
    c_names = {l.name for l in cifar_resnet(3, shortcut="C").layers}
    assert "res3a_branch1" in b_names and "res2b_branch1" not in b_names
    assert {"res2a_branch1", "res2b_branch1", "res4c_branch1"} <= c_names
    assert not any(name.endswith("_zeros") for name in b_names | c_names)


@pytest.mark.parametrize("family", ["cifar", "imagenet"])
def test_preact_structure(family):
    net = cifar_resnet(3, preact=True) if family == "cifar" else imagenet_resnet(50, preact=True)
    shapes = net.validate()
    names = [l.name for l in net.layers]
    assert "bn2a_preact" not in names                 # conv1's activation is shared
    bn = net.layer("bn2b_preact")
    assert bn.tops == ["res2b_preact"] and bn.bottoms == ["res2a"]   # not in place
    last_conv = "res2b_branch2b" if family == "cifar" else "res2b_branch2c"
    assert "bn" + last_conv[3:] not in names          # no BN after the last conv of a unit
    assert net.layer("res2b").bottoms == ["res2a", last_conv]   # identity reads the raw input
    assert "bn_final" in names and "final_relu" in names
    assert "res2a_relu" not in names and "res2b_relu" not in names   # no ReLU after additions
    assert shapes["prob"][1] == (10 if family == "cifar" else 1000)


def test_preact_param_counts():
    # Same weights as the original nets, moved: one fewer BN per unit, two more (preact + final)
    assert param_count(cifar_resnet(3, preact=True)) == param_count(cifar_resnet(3))


@pytest.mark.parametrize("n", [1, 3, 9])
@pytest.mark.parametrize("proj_kernel", [3, 1])
def test_mxnet_variant(n, proj_kernel):
    net = mxnet_cifar_resnet(n, proj_kernel=proj_kernel)
    shapes = net.validate()
    assert shapes["prob"] == (1, 10)
    assert shapes["pool"] == (1, 64, 2, 2)              # 7x7 average pool on 8x8, as in MXNet
    proj = net.layer("res3a_branch1")
    assert proj.params.kernel == (proj_kernel,) * 2 and proj.params.stride == (2, 2)
    assert proj.params.bias_term
    # conv3x3-BN-ReLU, conv3x3, add, BN-ReLU
    names = [l.name for l in net.layers]
    i = names.index("res2a_branch2a")
    assert types(net)[i:i + 8] == ["Convolution", "BatchNorm", "Scale", "ReLU", "Convolution",
                                  "Eltwise", "BatchNorm", "Scale"]
    assert net.layer("bn2a").params.eps == pytest.approx(1e-3)
    assert "res2a_branch1" not in names and "res4a_branch1" in names
    assert net.layer("scale2a").param_specs[0].lr_mult == 0     # MXNet's fix_gamma


@pytest.mark.parametrize("kwargs", [dict(depth=50), dict(n=3), dict(n=3, variant="mxnet"),
                                    dict(depth=18, preact=True)])
def test_train_nets(kwargs):
    net = build(train=True, **kwargs)
    assert not net.inputs
    data = [l for l in net.layers if l.type == "Data"]
    assert [l.phase for l in data] == ["TRAIN", "TEST"]
    assert data[0].params.transform.mirror and not data[1].params.transform.mirror
    assert data[0].params.batch_size == (256 if "depth" in kwargs else 128)
    assert types(net)[-2:] == ["SoftmaxWithLoss", "Accuracy"]
    assert net.layers[-1].phase == "TEST"
    for layer in net.layers:
        if layer.type == "BatchNorm":
            assert layer.params.use_global_stats is None
            assert [s.lr_mult for s in layer.param_specs] == [0, 0, 0]
        if layer.type == "Convolution" and not layer.name.endswith("_subsample"):
            assert layer.params.weight_filler.type == "msra"


def test_build_defaults_and_dispatch():
    assert build().name == "ResNet-50"
    assert build(n=3).name == "ResNet-20-CIFAR-A"
    assert build(variant="mxnet").name == "ResNet-56-CIFAR-mxnet"
    assert build(depth=34, name="x").name == "x"
    assert family_of(n=3) == "cifar" and family_of() == "imagenet"
    net = build(depth=18, classes=7, input_size=256, batch=2)
    assert net.inputs == {"data": (2, 3, 256, 256)}
    assert net.validate()["prob"] == (2, 7)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(depth=20), "valid depths: 18, 34, 50, 101, 152"),
    (dict(depth=50, n=3), "not both"),
    (dict(n=0), "positive"),
    (dict(n=3, shortcut="D"), "A, B, C"),
    (dict(n=3, variant="tf"), "variant"),
    (dict(depth=50, variant="mxnet"), "give n"),
    (dict(n=3, variant="mxnet", preact=True), "pre-activation"),
    (dict(n=3, proj_kernel=1), "mxnet variant only"),
    (dict(depth=50, classes=0), "classes"),
])
def test_usage_errors(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        build(**kwargs)


def test_too_small_input_is_a_converter_error():
    from converter.errors import ShapeError
    with pytest.raises(ShapeError):
        build(depth=50, input_size=64)
