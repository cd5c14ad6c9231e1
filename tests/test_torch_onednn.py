"""The packed-weight oneDNN path of CaffeConvolution (converter/backends/torch_onednn.py).

Where it runs it must compute a correctly rounded-to-float32-accuracy convolution; where it
must not run (grad mode, tracing, FLOP counting, odd inputs, switched off) the module must
give exactly ``F.conv2d``'s result; the packed copy must follow weight changes and never
leak into state_dicts, pickles or deep copies.

Accuracy criterion: any float32 summation order of a K-term dot product plus a bias has
|error| <= gamma_{K+1} * (sum |x_i w_i| + |b|), gamma_n = n*u / (1 - n*u), u = 2^-24 (Higham,
"Accuracy and Stability of Numerical Algorithms", 3.1). The test checks that bound element by
element against a float64 convolution, so it holds for oneDNN's blocking on any CPU. On this
project's 2-core AVX-512 machine the packed path's worst error over 1,680 shapes was
3.7e-6 x max|exact| (F.conv2d's 1.3e-6), and bit-identical results on a ResNet-50 in Kaiming's
layout at 224x224 (bench/RESULTS.md).
"""

from __future__ import annotations

import copy
import itertools
import pickle
from types import SimpleNamespace

import pytest
from optional import need

torch = need("torch")
import torch.nn.functional as F  # noqa: E402

from converter.backends.torch import onednn  # noqa: E402
from converter.backends.torch.conv import CaffeConvolution  # noqa: E402

pytestmark = pytest.mark.skipif(not onednn._AVAILABLE, reason="oneDNN not in this torch build")

U = 2.0 ** -24


def _conv(c, o, k=3, s=1, p=1, d=1, g=1, bias=True, seed=0):
    params = SimpleNamespace(stride=(s, s), pad=(p, p), dilation=(d, d), group=g,
                             num_output=o, kernel=(k, k), bias_term=bias)
    m = CaffeConvolution(c, params)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
        if bias:
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
    return m


def _plain(m, x, weight=None):
    return F.conv2d(x, m.weight if weight is None else weight, m.bias, m.stride, m.padding,
                    m.dilation, m.groups)


def _within_bound(m, x, y):
    """y against the float64 convolution, inside the a-priori float32 error bound."""
    d = lambda t: None if t is None else t.double()  # noqa: E731
    exact = F.conv2d(x.double(), d(m.weight), d(m.bias), m.stride, m.padding, m.dilation,
                     m.groups)
    size = F.conv2d(x.double().abs(), d(m.weight).abs(), d(m.bias).abs() if m.bias is not None
                    else None, m.stride, m.padding, m.dilation, m.groups)
    n = m.weight[0].numel() + 1
    gamma = n * U / (1 - n * U)
    return bool(((y.double() - exact).abs() <= gamma * size).all())


CASES = list(itertools.product((1, 3, 7), (1, 2), (0, 3), (1, 2), (1, 2), (True, False)))


@pytest.mark.parametrize("k,s,p,d,g,bias", CASES)
@pytest.mark.parametrize("n", [1, 3])
def test_packed_convolution_is_float32_accurate(k, s, p, d, g, bias, n):
    m = _conv(16, 32, k, s, p, d, g, bias)
    x = torch.randn(n, 16, 20, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = m(x)
    assert m._packed is not None and m._packed.tensor is not None, "fast path not taken"
    assert y.shape == _plain(m, x).shape
    assert _within_bound(m, x, y)


def test_bound_catches_a_wrong_convolution():
    """The criterion is not vacuous: one weight of 288 in an output's sum off by 1e-2 (about
    2% of a typical weight here) breaks it. (It cannot see a one-ulp change: the a-priori
    bound n*u*sum|terms| is wider than that by design.)"""
    m = _conv(16, 32, 3)
    x = torch.randn(2, 16, 12, 12, generator=torch.Generator().manual_seed(2))
    wrong = m.weight.detach().clone()
    wrong[0, 0, 1, 1] += 1e-2
    assert not _within_bound(m, x, _plain(m, x, wrong).detach())


def test_grad_mode_uses_plain_convolution():
    m = _conv(8, 8)
    x = torch.randn(1, 8, 9, 9)
    y = m(x)
    assert m._packed is None and y.requires_grad
    assert torch.equal(y, _plain(m, x))


@pytest.mark.parametrize("make", [
    lambda: torch.randn(2, 8, 12, 12)[:, :, ::2],              # not contiguous
    lambda: torch.randn(2, 8, 6, 6, dtype=torch.float64),       # not float32
    lambda: torch.randn(0, 8, 6, 6),                            # empty batch
], ids=["strided", "float64", "empty"])
def test_other_inputs_use_plain_convolution(make):
    m = _conv(8, 8)
    x = make()
    if x.dtype == torch.float64:
        m = m.double()
    with torch.no_grad():
        y = m(x)
        assert torch.equal(y, _plain(m, x))
    assert m._packed is None


def test_switched_off_uses_plain_convolution():
    m = _conv(8, 8)
    x = torch.randn(1, 8, 9, 9)
    previous = onednn.set_enabled(False)
    try:
        with torch.no_grad():
            assert torch.equal(m(x), _plain(m, x))
        assert m._packed is None and not onednn.is_enabled()
    finally:
        onednn.set_enabled(previous)


def test_flop_counter_and_tracing_see_the_plain_convolution():
    from torch.utils.flop_counter import FlopCounterMode
    m = _conv(8, 8)
    x = torch.randn(1, 8, 9, 9)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        m(x)
    assert counter.get_total_flops() == 2 * 8 * 9 * 9 * 8 * 9
    with torch.no_grad():
        traced = torch.jit.trace(m, (x,), check_trace=False)
    graph = str(traced.graph)
    assert "aten::_convolution" in graph and "pointwise" not in graph
    assert m._packed is None


@pytest.mark.parametrize("how", ["load_state_dict", "no_grad_edit", "new_parameter"])
def test_weight_changes_repack(how):
    m = _conv(8, 8)
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        m(x)
    before = m._packed
    new = torch.randn(m.weight.shape)
    if how == "load_state_dict":
        m.load_state_dict({"weight": new, "bias": m.bias.detach().clone()})
    elif how == "no_grad_edit":
        with torch.no_grad():
            m.weight.copy_(new)
    else:
        m.weight = torch.nn.Parameter(new)
    with torch.no_grad():
        y = m(x)
    assert m._packed is not before
    assert _within_bound(m, x, y)
    assert torch.allclose(y, _plain(m, x, new), rtol=0, atol=1e-4)


def test_packed_copy_stays_out_of_state_and_copies():
    m = _conv(8, 8)
    with torch.no_grad():
        m(torch.randn(1, 8, 9, 9))
    assert m._packed.tensor is not None
    assert set(m.state_dict()) == {"weight", "bias"}
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone._packed is None
        assert torch.equal(clone.weight, m.weight)
    m.release()
    assert m._packed is None


def test_new_input_shape_repacks_and_same_shape_reuses():
    m = _conv(16, 16, 3)
    with torch.no_grad():
        m(torch.randn(1, 16, 14, 14))
        first = m._packed
        m(torch.randn(1, 16, 14, 14))
        assert m._packed is first
        x = torch.randn(5, 16, 14, 14)
        y = m(x)
    assert m._packed is not first
    assert _within_bound(m, x, y)
