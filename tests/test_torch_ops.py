"""Layer-by-layer parity of the PyTorch back end with Caffe's semantics.

The references below are float64 NumPy transcriptions of BVLC Caffe's CPU forward loops
(conv via im2col's index rule, pooling_layer.cpp, batch_norm_layer.cpp, scale_layer.cpp,
lrn_layer.cpp, ...), written as plain loops on purpose: they share no code with the back end
(not even the IR's pooled_size).

Every case runs twice:
* the module cast to float64 must match to 1e-10 relative: this checks the *semantics*
  (window rules, divisors, factor handling) free of rounding noise;
* the float32 module must match within F32_TOL (see there for the measured floors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from optional import need

torch = need("torch")

from converter.backends.torch.net import to_torch  # noqa: E402
from converter.ir import (BatchNormParam, ConcatParam, ConvolutionParam,  # noqa: E402
                          EltwiseParam, FlattenParam, InnerProductParam, Layer, LRNParam,
                          Net, PoolingParam, PowerParam, ReLUParam, ReshapeParam, ScaleParam,
                          SoftmaxParam)

FLT_MAX = float(np.finfo(np.float32).max)

#: float32 tolerance, relative to max(1, max|reference|) of the blob. Measured worst cases
#: (float32 module vs float64 reference on the same float32 inputs; printed by the last test):
#: conv 1.6e-7, LRN 1.6e-7, IP 1.0e-7, softmax 1.1e-7, BN (factor 999.982, eps 1e-3) 8.4e-8,
#: pooling 8.4e-8, scale / element-wise 7.6e-8 -- i.e. 1-3 float32 ulps (u = 6e-8). The
#: a-priori bound for a K-term float32 sum is about K*u; K <= 36 here gives 2.2e-6, so 1e-5
#: covers the worst case with margin while any semantic slip (a wrong window, divisor or
#: factor) shows up at 1e-2 or more.
F32_TOL = 1e-5
F64_TOL = 1e-10


# --------------------------------------------------------------------------- harness
def single_layer_net(layer: Layer, shapes):
    """A net with inputs in0, in1, ... feeding ``layer`` (whose tops are kept)."""
    names = [f"in{i}" for i in range(len(shapes))]
    layer.bottoms = names
    return Net("t", layers=[layer], inputs={n: tuple(s) for n, s in zip(names, shapes)})


def random_weights(net, rng):
    """Random float32 blobs of the shapes shape inference gives."""
    net.validate()
    return {l.name: [rng.standard_normal(s).astype(np.float32) for s in l.blob_shapes]
            for l in net.layers if l.blob_shapes}


def check(net, inputs, weights, reference, tol=F32_TOL):
    """Run ``net`` in float64 and float32 and compare each top with ``reference``."""
    ref = reference([x.astype(np.float64) for x in inputs],
                    {k: [b.astype(np.float64) for b in v] for k, v in (weights or {}).items()})
    ref = ref if isinstance(ref, (list, tuple)) else [ref]
    outs = net.output_blobs()
    m32 = to_torch(net, weights, outputs=outs)
    m64 = to_torch(net, weights, outputs=outs).double()
    with torch.no_grad():
        y32 = m32(*[torch.from_numpy(x.astype(np.float32)) for x in inputs])
        y64 = m64(*[torch.from_numpy(x.astype(np.float64)) for x in inputs])
    worst = 0.0
    for a32, a64, r in zip(y32, y64, ref):
        a32, a64 = a32.numpy().astype(np.float64), a64.numpy()
        assert a32.shape == r.shape, (a32.shape, r.shape)
        scale = max(1.0, float(np.nanmax(np.abs(r[np.isfinite(r)]), initial=0.0)))
        np.testing.assert_allclose(a64, r, rtol=F64_TOL, atol=F64_TOL * scale, equal_nan=True)
        np.testing.assert_allclose(a32, r, rtol=tol, atol=tol * scale, equal_nan=True)
        finite = np.isfinite(r)
        worst = max(worst, float(np.max(np.abs(a32 - r)[finite], initial=0.0)) / scale)
    return worst


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------ Caffe references
def ref_conv(x, w, b, stride, pad, dil, group):
    n_, c_, h_, w_ = x.shape
    o_, cg, kh_, kw_ = w.shape
    oh_ = (h_ + 2 * pad[0] - (dil[0] * (kh_ - 1) + 1)) // stride[0] + 1
    ow_ = (w_ + 2 * pad[1] - (dil[1] * (kw_ - 1) + 1)) // stride[1] + 1
    y = np.zeros((n_, o_, oh_, ow_))
    for n in range(n_):
        for o in range(o_):
            g = o // (o_ // group)
            for oh in range(oh_):
                for ow in range(ow_):
                    acc = 0.0
                    for c in range(cg):
                        for kh in range(kh_):
                            for kw in range(kw_):
                                h = oh * stride[0] - pad[0] + kh * dil[0]
                                ww = ow * stride[1] - pad[1] + kw * dil[1]
                                if 0 <= h < h_ and 0 <= ww < w_:  # im2col pads with zeros
                                    acc += w[o, c, kh, kw] * x[n, g * cg + c, h, ww]
                    y[n, o, oh, ow] = acc + (b[o] if b is not None else 0.0)
    return y


def caffe_pooled(size, k, s, p, any_pad, round_mode="CEIL"):
    rounder = math.ceil if round_mode == "CEIL" else math.floor
    out = int(rounder((size + 2 * p - k) / s)) + 1
    if any_pad and (out - 1) * s >= size + p:  # `if (pad_h_ || pad_w_)`: both axes
        out -= 1
    return out


def ref_pool(x, method, k, s, p, global_pooling=False, round_mode="CEIL"):
    n_, c_, h_, w_ = x.shape
    if global_pooling:
        k, s, p = (h_, w_), (1, 1), (0, 0)
    oh_, ow_ = (caffe_pooled(sz, kk, ss, pp, bool(p[0] or p[1]), round_mode)
                for sz, kk, ss, pp in zip((h_, w_), k, s, p))
    y = np.zeros((n_, c_, oh_, ow_))
    for n in range(n_):
        for c in range(c_):
            for ph in range(oh_):
                for pw in range(ow_):
                    hs, ws = ph * s[0] - p[0], pw * s[1] - p[1]
                    if method == "MAX":
                        he, we = min(hs + k[0], h_), min(ws + k[1], w_)
                        hs, ws = max(hs, 0), max(ws, 0)
                        v = -FLT_MAX
                        for h in range(hs, he):
                            for w in range(ws, we):
                                if x[n, c, h, w] > v:
                                    v = x[n, c, h, w]
                    else:
                        he, we = min(hs + k[0], h_ + p[0]), min(ws + k[1], w_ + p[1])
                        pool_size = (he - hs) * (we - ws)
                        hs, ws = max(hs, 0), max(ws, 0)
                        he, we = min(he, h_), min(we, w_)
                        acc = 0.0
                        for h in range(hs, he):
                            for w in range(ws, we):
                                acc += x[n, c, h, w]
                        with np.errstate(invalid="ignore", divide="ignore"):
                            v = np.float64(acc) / pool_size
                    y[n, c, ph, pw] = v
    return y


def f32(value):
    """A caffe.proto ``float`` field as Caffe holds it (float32): the value the float64
    references must use, as the converted module does (backends.torch.registry.caffe_float)."""
    return float(np.float32(value))


def ref_bn(x, mean, var, f, eps, use_global):
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        if use_global:
            sf = 0.0 if f[0] == 0 else 1.0 / f[0]
            m, v = mean[c] * sf, var[c] * sf
        else:
            vals = x[:, c].ravel()
            m = sum(vals) / len(vals)
            v = sum((vals - m) ** 2) / len(vals)  # Caffe: E((X - EX)^2), biased
        y[:, c] = (x[:, c] - m) / math.sqrt(v + eps)
    return y


def ref_scale(x, gamma, beta, axis, nscale):
    """scale_layer.cpp: outer x scale_dim x inner loops."""
    axis = axis % x.ndim if nscale else 0
    outer = int(np.prod(x.shape[:axis]))
    sdim = int(np.prod(x.shape[axis:axis + nscale]))
    inner = int(np.prod(x.shape[axis + nscale:]))
    xf, g = x.reshape(outer, sdim, inner), gamma.reshape(sdim)
    y = np.empty_like(xf)
    for o in range(outer):
        for d in range(sdim):
            for i in range(inner):
                y[o, d, i] = xf[o, d, i] * g[d] + (beta.reshape(sdim)[d] if beta is not None else 0)
    return y.reshape(x.shape)


def ref_lrn_across(x, size, alpha, beta, k):
    pre = (size - 1) // 2
    y = np.empty_like(x)
    for n, c, h, w in np.ndindex(*x.shape):
        acc = sum(x[n, cc, h, w] ** 2 for cc in range(c - pre, c - pre + size)
                  if 0 <= cc < x.shape[1])
        y[n, c, h, w] = x[n, c, h, w] * (k + alpha / size * acc) ** -beta
    return y


def ref_lrn_within(x, size, alpha, beta):
    pre = (size - 1) // 2
    pooled = ref_pool(x * x, "AVE", (size, size), (1, 1), (pre, pre))
    return x * (1.0 + alpha * pooled) ** -beta  # Caffe's Power layer: shift 1, k unused


def ref_ip(x, w, b, axis, transpose):
    m_ = int(np.prod(x.shape[:axis]))
    xf = x.reshape(m_, -1)
    wt = w if transpose else w.T  # (K, N)
    y = np.zeros((m_, wt.shape[1]))
    for m in range(m_):
        for n in range(wt.shape[1]):
            y[m, n] = sum(xf[m, kk] * wt[kk, n] for kk in range(xf.shape[1])) + (
                b[n] if b is not None else 0)
    return y.reshape(x.shape[:axis] + (wt.shape[1],))


def ref_softmax(x, axis):
    outer, dim = int(np.prod(x.shape[:axis])), x.shape[axis]
    xf = x.reshape(outer, dim, -1)
    y = np.empty_like(xf)
    for o in range(outer):
        for i in range(xf.shape[2]):
            e = np.exp(xf[o, :, i] - max(xf[o, :, i]))
            y[o, :, i] = e / sum(e)
    return y.reshape(x.shape)


def ref_reshape(x, shape, axis, num_axes):
    """reshape_layer.cpp: 0 copies the bottom dim at that position, one -1 is inferred."""
    start = axis if axis >= 0 else x.ndim + axis + 1
    end = x.ndim if num_axes == -1 else start + num_axes
    new = [x.shape[start + i] if d == 0 else d for i, d in enumerate(shape)]
    out = list(x.shape[:start]) + new + list(x.shape[end:])
    if -1 in out:
        out[out.index(-1)] = x.size // -int(np.prod(out))
    return x.reshape(out)


# ------------------------------------------------------------------------------ cases
WORST: dict = {}


def record(name, worst):
    WORST[name] = max(WORST.get(name, 0.0), worst)


@pytest.mark.parametrize("cfg", [
    dict(kernel=(3, 3), stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1, bias=True),
    dict(kernel=(3, 2), stride=(2, 1), pad=(1, 0), dilation=(1, 1), group=1, bias=False),
    dict(kernel=(3, 3), stride=(1, 2), pad=(2, 2), dilation=(2, 2), group=2, bias=True),
    dict(kernel=(1, 1), stride=(2, 2), pad=(0, 0), dilation=(1, 1), group=4, bias=True),
])
def test_convolution(cfg):
    rng = np.random.default_rng(1)
    p = ConvolutionParam(num_output=4, kernel=cfg["kernel"], stride=cfg["stride"],
                         pad=cfg["pad"], dilation=cfg["dilation"], group=cfg["group"],
                         bias_term=cfg["bias"])
    net = single_layer_net(Layer("conv", "Convolution", tops=["out"], params=p), [(2, 4, 7, 6)])
    w = random_weights(net, rng)
    ref = lambda xs, ws: ref_conv(xs[0], ws["conv"][0], ws["conv"][1] if cfg["bias"] else None,
                                  cfg["stride"], cfg["pad"], cfg["dilation"], cfg["group"])
    record("conv", check(net, [rand(rng, 2, 4, 7, 6)], w, ref))


POOL_CASES = [  # (H, W), kernel, stride, pad
    ((7, 7), (3, 3), (2, 2), (1, 1)),   # ResNet-like pool1, ceil with pad
    ((6, 6), (3, 3), (2, 2), (0, 0)),   # ceil adds a partial last window
    ((6, 7), (2, 2), (2, 2), (1, 1)),   # last window clipped (starts in the padding)
    ((5, 5), (1, 1), (3, 3), (0, 0)),   # stride > kernel, pad 0: window past the input
    ((4, 6), (1, 2), (2, 3), (0, 0)),   # ... with a zero AVE divisor (Caffe: 0/0 = NaN)
    ((7, 8), (3, 3), (2, 3), (2, 2)),   # pad > kernel/2: PyTorch refuses, Caffe allows
    ((7, 7), (7, 7), (1, 1), (0, 0)),   # ResNet pool5
    ((5, 9), (2, 4), (3, 2), (1, 3)),   # rectangular everything
    ((7, 8), (3, 2), (2, 4), (1, 0)),   # pad_w 0 but pad_h 1: Caffe clips the w axis too
    ((8, 7), (2, 3), (4, 2), (0, 1)),   # ... and the h axis
]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("hw,kernel,stride,pad", POOL_CASES)
def test_pooling(method, hw, kernel, stride, pad):
    rng = np.random.default_rng(2)
    p = PoolingParam(pool=method, kernel=kernel, stride=stride, pad=pad)
    net = single_layer_net(Layer("pool", "Pooling", tops=["out"], params=p), [(2, 3) + hw])
    ref = lambda xs, ws: ref_pool(xs[0], method, kernel, stride, pad)
    record("pool", check(net, [rand(rng, 2, 3, *hw)], None, ref))


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("round_mode", ["CEIL", "FLOOR"])
def test_pooling_global_and_floor(method, round_mode):
    rng = np.random.default_rng(3)
    x = rand(rng, 2, 3, 5, 6)
    p = PoolingParam(pool=method, global_pooling=True)
    net = single_layer_net(Layer("g", "Pooling", tops=["out"], params=p), [x.shape])
    record("pool", check(net, [x], None, lambda xs, ws: ref_pool(xs[0], method, None, None,
                                                                   None, global_pooling=True)))
    p = PoolingParam(pool=method, kernel=(3, 3), stride=(2, 2), pad=(1, 1), round_mode=round_mode)
    net = single_layer_net(Layer("f", "Pooling", tops=["out"], params=p), [x.shape])
    record("pool", check(net, [x], None, lambda xs, ws: ref_pool(
        xs[0], method, (3, 3), (2, 2), (1, 1), round_mode=round_mode)))


@pytest.mark.parametrize("factor", [999.982, 1.0, 0.0])
@pytest.mark.parametrize("eps", [1e-5, 1e-3])
@pytest.mark.parametrize("use_global", [None, True, False])
def test_batchnorm(factor, eps, use_global):
    rng = np.random.default_rng(4)
    p = BatchNormParam(eps=eps, use_global_stats=use_global)
    net = single_layer_net(Layer("bn", "BatchNorm", tops=["out"], params=p), [(3, 4, 3, 5)])
    w = {"bn": [rand(rng, 4) * factor, np.abs(rand(rng, 4)) * factor + 0.1,
                np.array([factor], np.float32)]}
    ref = lambda xs, ws: ref_bn(xs[0], *ws["bn"], f32(eps), use_global is not False)
    record("bn", check(net, [rand(rng, 3, 4, 3, 5) * 3 + 1], w, ref))


@pytest.mark.parametrize("shape,axis,num_axes,bias", [
    ((2, 3, 4, 5), 1, 1, True), ((2, 3, 4, 5), 1, 2, False), ((2, 3, 4, 5), -2, 1, True),
    ((2, 3, 4, 5), 1, -1, True), ((2, 3, 4, 5), 1, 0, True), ((2, 3, 4, 5), 0, 2, False),
    ((2, 6), 1, 1, True),
])
def test_scale(shape, axis, num_axes, bias):
    rng = np.random.default_rng(5)
    p = ScaleParam(axis=axis, num_axes=num_axes, bias_term=bias)
    net = single_layer_net(Layer("sc", "Scale", tops=["out"], params=p), [shape])
    w = random_weights(net, rng)
    nscale = len(w["sc"][0].shape)
    ref = lambda xs, ws: ref_scale(xs[0], ws["sc"][0], ws["sc"][1] if bias else None,
                                   axis, nscale)
    record("scale", check(net, [rand(rng, *shape)], w, ref))


@pytest.mark.parametrize("sshape,axis,bias", [((3,), 1, False), ((3, 4), 1, True),
                                                ((4, 5), -2, False), ((), 1, True)])
def test_scale_two_bottoms(sshape, axis, bias):
    rng = np.random.default_rng(6)
    p = ScaleParam(axis=axis, bias_term=bias)
    net = single_layer_net(Layer("sc", "Scale", tops=["out"], params=p),
                           [(2, 3, 4, 5), sshape])
    w = random_weights(net, rng) if bias else None
    ref = lambda xs, ws: ref_scale(xs[0], xs[1], ws["sc"][0] if bias else None, axis,
                                   len(sshape))
    record("scale", check(net, [rand(rng, 2, 3, 4, 5), rand(rng, *sshape)], w, ref))


@pytest.mark.parametrize("shape,axis,transpose,bias", [
    ((2, 3, 2, 2), 1, False, True), ((2, 3, 2, 2), 1, True, True),
    ((2, 3, 4), 2, False, False), ((2, 3, 4), -1, True, True), ((6, 5), 1, False, True),
])
def test_inner_product(shape, axis, transpose, bias):
    rng = np.random.default_rng(7)
    p = InnerProductParam(num_output=3, axis=axis, transpose=transpose, bias_term=bias)
    net = single_layer_net(Layer("ip", "InnerProduct", tops=["out"], params=p), [shape])
    w = random_weights(net, rng)
    ref = lambda xs, ws: ref_ip(xs[0], ws["ip"][0], ws["ip"][1] if bias else None,
                                axis % len(shape), transpose)
    record("ip", check(net, [rand(rng, *shape)], w, ref))


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.6, 2.0),
                                               (1, 1.0, 0.5, 1.5)])
def test_lrn(region, size, alpha, beta, k):
    rng = np.random.default_rng(8)
    p = LRNParam(local_size=size, alpha=alpha, beta=beta, k=k, norm_region=region)
    net = single_layer_net(Layer("lrn", "LRN", tops=["out"], params=p), [(2, 7, 5, 4)])
    if region == "ACROSS_CHANNELS":
        ref = lambda xs, ws: ref_lrn_across(xs[0], size, f32(alpha), f32(beta), f32(k))
    else:
        ref = lambda xs, ws: ref_lrn_within(xs[0], size, f32(alpha), f32(beta))
    record("lrn", check(net, [rand(rng, 2, 7, 5, 4) * 4], None, ref))


@pytest.mark.parametrize("op,coeff", [("SUM", ()), ("SUM", (1.0, -0.5, 2.0)), ("PROD", ()),
                                      ("MAX", ())])
def test_eltwise(op, coeff):
    rng = np.random.default_rng(9)
    p = EltwiseParam(operation=op, coeff=coeff)
    net = single_layer_net(Layer("e", "Eltwise", tops=["out"], params=p), [(2, 3, 4, 4)] * 3)

    def ref(xs, ws):
        if op == "SUM":
            return sum(f32(c) * x for c, x in zip(coeff or (1.0,) * 3, xs))
        if op == "PROD":
            return xs[0] * xs[1] * xs[2]
        return np.maximum(np.maximum(xs[0], xs[1]), xs[2])
    record("elementwise", check(net, [rand(rng, 2, 3, 4, 4) for _ in range(3)], None, ref))


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_relu(slope):
    rng = np.random.default_rng(10)
    net = single_layer_net(Layer("r", "ReLU", tops=["out"], params=ReLUParam(slope)), [(2, 3, 4)])
    ref = lambda xs, ws: np.maximum(xs[0], 0) + f32(slope) * np.minimum(xs[0], 0)
    record("elementwise", check(net, [rand(rng, 2, 3, 4)], None, ref))


@pytest.mark.parametrize("kind", ["Sigmoid", "TanH", "Dropout"])
def test_unary(kind):
    rng = np.random.default_rng(11)
    net = single_layer_net(Layer("u", kind, tops=["out"]), [(2, 3, 4)])
    fns = {"Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "TanH": np.tanh,
           "Dropout": lambda x: x}  # Dropout at TEST copies the bottom
    record("elementwise", check(net, [rand(rng, 2, 3, 4) * 3], None,
                                lambda xs, ws: fns[kind](xs[0])))


@pytest.mark.parametrize("power,scale,shift", [(1.0, 2.0, 0.5), (2.0, 0.5, -1.0),
                                               (0.5, 1.0, 10.0), (3.0, 0.0, 2.0),
                                               (0.0, 3.0, 1.0), (-1.5, -1.0, 8.0)])
def test_power(power, scale, shift):
    rng = np.random.default_rng(12)
    p = PowerParam(power=power, scale=scale, shift=shift)
    net = single_layer_net(Layer("p", "Power", tops=["out"], params=p), [(2, 3, 4)])
    record("elementwise", check(net, [rand(rng, 2, 3, 4)], None,
                                lambda xs, ws: (f32(shift) + f32(scale) * xs[0]) ** f32(power)))


@pytest.mark.parametrize("shape,axis", [((2, 5), 1), ((2, 4, 3, 3), 1), ((2, 3, 4), -1),
                                        ((3, 2, 4), 0)])
def test_softmax(shape, axis):
    rng = np.random.default_rng(13)
    net = single_layer_net(Layer("s", "Softmax", tops=["out"], params=SoftmaxParam(axis)),
                           [shape])
    record("softmax", check(net, [rand(rng, *shape) * 5], None,
                            lambda xs, ws: ref_softmax(xs[0], axis % len(shape))))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    rng = np.random.default_rng(14)
    shapes = [[2, 3, 4], [2, 3, 4]]
    for s in shapes[1:]:
        s[axis] += 2
    net = single_layer_net(Layer("c", "Concat", tops=["out"], params=ConcatParam(axis)), shapes)
    record("elementwise", check(net, [rand(rng, *s) for s in shapes], None,
                                lambda xs, ws: np.concatenate(xs, axis)))


@pytest.mark.parametrize("axis,end_axis", [(1, -1), (0, 1), (2, 3), (-3, -2)])
def test_flatten(axis, end_axis):
    rng = np.random.default_rng(15)
    x = rand(rng, 2, 3, 4, 5)
    net = single_layer_net(Layer("f", "Flatten", tops=["out"],
                                 params=FlattenParam(axis, end_axis)), [x.shape])
    a, e = axis % 4, end_axis % 4
    ref = lambda xs, ws: xs[0].reshape(x.shape[:a] + (-1,) + x.shape[e + 1:])
    record("elementwise", check(net, [x], None, ref))


@pytest.mark.parametrize("shape,axis,num_axes", [((0, -1), 0, -1), ((-1, 4, 5), 0, -1),
                                                 ((0, 0, 20), 0, -1), ((2, -1), 2, 1),
                                                 ((1,), -1, 0), ((1, 1), 1, 0), ((6, 2), 1, 2)])
def test_reshape(shape, axis, num_axes):
    rng = np.random.default_rng(16)
    x = rand(rng, 2, 3, 4, 5)
    p = ReshapeParam(shape=shape, axis=axis, num_axes=num_axes)
    net = single_layer_net(Layer("r", "Reshape", tops=["out"], params=p), [x.shape])
    record("elementwise", check(net, [x], None,
                                lambda xs, ws: ref_reshape(xs[0], shape, axis, num_axes)))


def test_split():
    rng = np.random.default_rng(17)
    net = single_layer_net(Layer("sp", "Split", tops=["a", "b", "c"]), [(2, 3)])
    record("elementwise", check(net, [rand(rng, 2, 3)], None, lambda xs, ws: [xs[0]] * 3))


def test_measured_float32_floor_is_below_tolerance():
    """Runs last: the worst float32 error seen stays well under F32_TOL (prints the floors)."""
    if not WORST:
        pytest.skip("run with the other cases")
    print("float32 worst relative error per op:", {k: f"{v:.2e}" for k, v in WORST.items()})
    assert max(WORST.values()) < F32_TOL
