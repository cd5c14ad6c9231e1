"""ReLU / Eltwise SUM fused into convolutions (converter/backends/torch/fusion.py).

Fusing must change no value the module exposes: fused and unfused runs are compared bit for
bit (the post-ops are the same float32 operations in the same order), with the packed
oneDNN path and with plain F.conv2d, for forward and forward_all, and values that are
returned are never fused away.
"""

from __future__ import annotations

import pytest
from optional import need

from netutil import random_weights

torch = need("torch")

from converter.backends.torch.net import to_torch  # noqa: E402
from converter.backends.torch import onednn as torch_onednn  # noqa: E402
from converter.builders import build  # noqa: E402
from converter.ir import EltwiseParam, Layer, Net, ReLUParam  # noqa: E402
from test_torch_backend import bottleneck_net, conv  # noqa: E402


def _fusions(module, steps):
    """(convolution step, fused ReLU?, fused sum?) for every convolution that fused something."""
    return [(name, "relu" in kw, len(bottoms) == 2) for name, bottoms, _, kw in steps
            if type(module._modules[name]).__name__ == "CaffeConvolution"
            and ("relu" in kw or len(bottoms) == 2)]


def _kinds(module, steps):
    """(module type, fused keyword arguments) per step."""
    return [(type(module._modules[s[0]]).__name__, tuple(sorted(s[3]))) for s in steps]


@pytest.fixture(params=[True, False], ids=["packed", "plain"])
def packing(request):
    previous = torch_onednn.set_enabled(request.param)
    yield request.param
    torch_onednn.set_enabled(previous)


@pytest.mark.parametrize("n,shortcut", [(1, "A"), (1, "B"), (2, "B")])
def test_folded_resnet_fused_equals_unfused(packing, n, shortcut):
    net = build(n=n, shortcut=shortcut)
    weights = random_weights(net)
    fused, unfused = (to_torch(net, weights, fold_bn=True) for _ in range(2))
    unfused.fuse_post_ops = False
    x = torch.randn(3, 3, 32, 32) * 50
    with torch.no_grad():
        assert torch.equal(fused(x), unfused(x))
        a, b = fused.forward_all(x), unfused.forward_all(x)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert len(fused._steps) < len(unfused._steps)
    assert any(with_sum for _, _, with_sum in _fusions(fused, fused._steps))


def test_bottleneck_fusions_are_the_expected_ones():
    net = bottleneck_net()
    module = to_torch(net, random_weights(net), fold_bn=True)
    convs = [k for k in _kinds(module, module._steps) if k[0] == "CaffeConvolution"]
    # conv1 + ReLU; branch1 alone (its sum partner comes later); 2a, 2b + ReLU;
    # 2c + the sum with branch1 + ReLU.
    assert convs == [("CaffeConvolution", ("relu",)), ("CaffeConvolution", ()),
                     ("CaffeConvolution", ("relu",)), ("CaffeConvolution", ("relu",)),
                     ("CaffeConvolution", ("relu",))]
    sum_step = [s for s in module._steps if s[0] == "res2a_branch2c"][0]
    assert len(sum_step[1]) == 2 and "ReLU" not in str(_kinds(module, module._steps))
    # Unfolded, every convolution feeds a BatchNorm: nothing to fuse.
    plain = to_torch(net, random_weights(net))
    assert all(s[3] == {} or "reuse" in s[3] for s in plain._steps)


def _relu_net(relu_param=ReLUParam(), coeff=(), shortcut_reused=False):
    """conv 'c' -> relu 'r' (not in place: 'c' is a Caffe blob of its own), conv 'd' of r,
    then s = r + d -> relu in place. With ``shortcut_reused``, r is also read by a last
    layer, so it is not dead after the sum."""
    layers = [conv("c", "data", "c", 4, k=3, p=1, bias=True),
              Layer("r", "ReLU", ["c"], ["r"], relu_param),
              conv("d", "r", "d", 4, k=3, p=1),
              Layer("s", "Eltwise", ["r", "d"], ["s"], EltwiseParam(coeff=coeff)),
              Layer("s_relu", "ReLU", ["s"], ["s"], relu_param)]
    if shortcut_reused:
        layers.append(Layer("t", "Eltwise", ["s", "r"], ["t"], EltwiseParam()))
    return Net("relu", layers=layers, inputs={"data": (2, 4, 7, 7)})


def test_returned_values_are_not_fused_away(packing):
    net = _relu_net()
    weights = random_weights(net)
    module = to_torch(net, weights, outputs="s")
    reference = to_torch(net, weights, outputs="s")
    reference.fuse_post_ops = False
    # forward returns only 's': everything fuses. forward_all returns every blob, and 'c'
    # and 'd' are blobs of their own: nothing may be fused there.
    # 'd' reads r itself, so it cannot accumulate into r: only c + ReLU fuse.
    assert _fusions(module, module._steps) == [("c", True, False)]
    assert [k[0] for k in _kinds(module, module._steps_all)] == [
        "CaffeConvolution", "CaffeReLU", "CaffeConvolution", "CaffeEltwise", "CaffeReLU"]
    assert _fusions(module, module._steps_all) == []
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        assert torch.equal(module(x), reference(x))
        a, b = module.forward_all(x), reference.forward_all(x)
    assert all(torch.equal(a[k], b[k]) for k in b) and list(a) == list(b)


@pytest.mark.parametrize("relu_param,coeff", [(ReLUParam(negative_slope=0.1), ()),
                                              (ReLUParam(), (1.0, 2.0))],
                         ids=["leaky", "coeff"])
def test_leaky_relu_and_weighted_sums_are_not_fused(relu_param, coeff):
    net = _relu_net(relu_param, coeff)
    module = to_torch(net, random_weights(net), outputs="s")
    # leaky: no ReLU fuses (and 'd' reads r, so no sum either); weighted sum: the sum
    # stays a step, only conv 'c' + ReLU fuse.
    assert _fusions(module, module._steps) == ([("c", True, False)] if coeff else [])


def test_fused_steps_train_with_autograd():
    net = build(n=1, shortcut="B")
    module = to_torch(net, random_weights(net, scale=0.1), fold_bn=True)
    reference = to_torch(net, random_weights(net, scale=0.1), fold_bn=True)
    reference.fuse_post_ops = False
    x = torch.randn(2, 3, 32, 32)
    y, z = module(x), reference(x)
    assert torch.equal(y, z)
    y.sum().backward()
    z.sum().backward()
    assert all(torch.equal(p.grad, q.grad) for p, q in
               zip(module.parameters(), reference.parameters()))


def test_switching_fusion_off_replans():
    net = bottleneck_net()
    module = to_torch(net, random_weights(net), fold_bn=True)
    before = len(module._steps)
    module.fuse_post_ops = False
    with torch.no_grad():
        module(torch.randn(2, 3, 13, 13))
    assert len(module._steps) > before



def _shortcut_net(read_later: bool):
    """r = relu(conv(data)); e = conv(data) (it does not read r); s = r + e, relu in place;
    with ``read_later``, t = s + r reads the shortcut r again after the sum."""
    layers = [conv("c", "data", "c", 4, k=3, p=1, bias=True),
              Layer("r", "ReLU", ["c"], ["r"]),
              conv("e", "data", "e", 4, k=3, p=1),
              Layer("s", "Eltwise", ["r", "e"], ["s"], EltwiseParam()),
              Layer("s_relu", "ReLU", ["s"], ["s"])]
    if read_later:
        layers.append(Layer("t", "Eltwise", ["s", "r"], ["t"], EltwiseParam()))
    return Net("shortcut", layers=layers, inputs={"data": (2, 4, 7, 7)})


@pytest.mark.parametrize("read_later", [False, True])
def test_a_shortcut_read_later_is_not_overwritten(packing, read_later):
    """The sum fuses into conv 'e' (accumulating into r) only when no later step reads r."""
    net = _shortcut_net(read_later)
    weights = random_weights(net)
    out = "t" if read_later else "s"
    module, reference = to_torch(net, weights, outputs=out), to_torch(net, weights, outputs=out)
    reference.fuse_post_ops = False
    expected = [("c", True, False)] + ([] if read_later else [("e", True, True)])
    assert _fusions(module, module._steps) == expected
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        assert torch.equal(module(x), reference(x))
