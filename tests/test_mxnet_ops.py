"""Layer-by-layer parity of the MXNet back end with Caffe's TEST-time semantics.

The ``ref_*`` functions are float64 NumPy transcriptions of BVLC Caffe's CPU forward loops
(conv_layer/im2col, pooling_layer.cpp, batch_norm_layer.cpp, scale_layer.cpp, lrn_layer.cpp,
inner_product_layer.cpp, ...), written as plain loops on purpose and sharing no code with the
back end or the IR (not even ``pooled_size``). Shapes are small so the loops stay fast.

Tolerance: the symbol computes in float32; inputs and weights are float32 values, so the
reference sees exactly the same numbers and the only difference is float32 rounding inside the
layer. Errors are measured relative to max(1, max|reference|) (see ``rel_err``). Measured worst
cases over this file (each ``check`` asserts its own bound; MXNet 1.9.1 CPU):
conv 2.2e-7, softmax 1.4e-7, AVE pool 1.3e-7, BN 9.2e-8, IP 9.0e-8, power 8.6e-8, LRN 8.3e-8,
activations/Scale/Eltwise <= 6e-8, MAX pool and structural layers 0 -- i.e. at most ~4 float32
ulps (u = 6e-8). A K-term float32 sum is bounded by ~K*u; K <= 72 here gives 4.3e-6, so
F32_TOL = 1e-5 holds with margin, while a semantic slip (a wrong window, divisor, BN factor or
axis) shows up at 1e-2 or more. NaN/inf cells (Caffe's 0/0 AVE windows, -FLT_MAX) must match
exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from optional import need

mx = need("mxnet")

from converter.backends.mxnet import forward_all  # noqa: E402
from converter.ir import (BatchNormParam, ConcatParam, ConvolutionParam,  # noqa: E402
                          EltwiseParam, FlattenParam, InnerProductParam, Layer, LRNParam,
                          Net, PoolingParam, PowerParam, ReLUParam, ReshapeParam, ScaleParam,
                          SoftmaxParam)

pytestmark = pytest.mark.mxnet

FLT_MAX = float(np.finfo(np.float32).max)
F32_TOL = 1e-5


# ----------------------------------------------------------------- Caffe references
def ref_conv(x, w, b, stride, pad, dilation, group):
    """conv_layer.cpp via im2col: zero padding, floor output size, groups, dilation."""
    n_, _, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    oh = (h_ + 2 * pad[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    ow = (w_ + 2 * pad[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    y = np.zeros((n_, o_, oh, ow))
    for n in range(n_):
        for o in range(o_):
            g = o // (o_ // group)
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0 if b is None else float(b[o])
                    for ci in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                hh = i * stride[0] - pad[0] + p * dilation[0]
                                ww = j * stride[1] - pad[1] + q * dilation[1]
                                if 0 <= hh < h_ and 0 <= ww < w_:
                                    acc += w[o, ci, p, q] * x[n, g * cg + ci, hh, ww]
                    y[n, o, i, j] = acc
    return y


def ref_pool(x, method, kernel, stride, pad, global_pooling=False):
    """pooling_layer.cpp Reshape + Forward_cpu for MAX and AVE (CEIL rounding)."""
    n_, c_, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    if global_pooling:
        kh, kw, sh, sw, ph, pw = height, width, 1, 1, 0, 0
    pooled_h = int(math.ceil((height + 2 * ph - kh) / sh)) + 1
    pooled_w = int(math.ceil((width + 2 * pw - kw) / sw)) + 1
    if ph or pw:  # Caffe: "if (pad_h_ || pad_w_)" -- both axes clipped
        if (pooled_h - 1) * sh >= height + ph:
            pooled_h -= 1
        if (pooled_w - 1) * sw >= width + pw:
            pooled_w -= 1
    y = np.zeros((n_, c_, pooled_h, pooled_w))
    for n in range(n_):
        for c in range(c_):
            for i in range(pooled_h):
                for j in range(pooled_w):
                    y[n, c, i, j] = _ref_window(x[n, c], method, i * sh - ph, j * sw - pw,
                                                kh, kw, ph, pw)
    return y


def _ref_window(img, method, hstart, wstart, kh, kw, ph, pw):
    """One output cell of Caffe's pooling loop."""
    height, width = img.shape
    if method == "MAX":
        hend, wend = min(hstart + kh, height), min(wstart + kw, width)
        hstart, wstart = max(hstart, 0), max(wstart, 0)
        best = -FLT_MAX
        for h in range(hstart, hend):
            for w in range(wstart, wend):
                if img[h, w] > best:
                    best = img[h, w]
        return best
    hend, wend = min(hstart + kh, height + ph), min(wstart + kw, width + pw)
    pool_size = (hend - hstart) * (wend - wstart)
    hstart, wstart = max(hstart, 0), max(wstart, 0)
    hend, wend = min(hend, height), min(wend, width)
    acc = 0.0
    for h in range(hstart, hend):
        for w in range(wstart, wend):
            acc += img[h, w]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(acc) / np.float64(pool_size)  # 0/0 -> NaN, 0/-k -> -0 as in C


def ref_batch_norm(x, mean, var, factor, eps):
    """batch_norm_layer.cpp with global stats: both scaled by 1/factor (0 when factor is 0)."""
    s = 0.0 if factor == 0 else 1.0 / factor
    y = np.empty(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            y[n, c] = (x[n, c] - mean[c] * s) / math.sqrt(var[c] * s + eps)
    return y


def ref_scale(x, s, b, axis):
    """scale_layer.cpp: outer x scale_dim x inner loops; s is blob 0 or bottom[1]."""
    outer = int(np.prod(x.shape[:axis]))
    sdim = max(int(np.prod(np.shape(s))), 1)
    inner = x.size // (outer * sdim)
    flat, sf = x.reshape(outer, sdim, inner), np.reshape(s, (-1,))
    y = np.empty((outer, sdim, inner))
    for o in range(outer):
        for d in range(sdim):
            for i in range(inner):
                y[o, d, i] = flat[o, d, i] * sf[d] + (0.0 if b is None else np.reshape(b, -1)[d])
    return y.reshape(x.shape)


def ref_inner_product(x, w, b, axis, transpose):
    """inner_product_layer.cpp: M = count(0, axis), K = count(axis); W (N, K) or (K, N)."""
    m = int(np.prod(x.shape[:axis]))
    flat = x.reshape(m, x.size // m)
    n_out = w.shape[1] if transpose else w.shape[0]
    y = np.zeros((m, n_out))
    for i in range(m):
        for j in range(n_out):
            acc = 0.0 if b is None else float(b[j])
            for t in range(flat.shape[1]):
                acc += flat[i, t] * (w[t, j] if transpose else w[j, t])
            y[i, j] = acc
    return y.reshape(tuple(x.shape[:axis]) + (n_out,))


def ref_lrn_across(x, size, alpha, beta, k):
    """lrn_layer.cpp CrossChannelForward: scale = k + alpha/size * sum of squares in the
    channel window [c - (size-1)/2, c + (size-1)/2] (zero padded)."""
    pre = (size - 1) // 2
    y = np.empty(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            acc = np.zeros(x.shape[2:])
            for cc in range(c - pre, c - pre + size):
                if 0 <= cc < x.shape[1]:
                    acc += x[n, cc] ** 2
            y[n, c] = x[n, c] * (k + alpha / size * acc) ** (-beta)
    return y


def ref_lrn_within(x, size, alpha, beta):
    """lrn_layer.cpp WithinChannelForward: square -> AVE pool (pad (size-1)/2, stride 1) ->
    Power(shift 1, scale alpha, power -beta) -> times x (k unused)."""
    pre = (size - 1) // 2
    return x * (1.0 + alpha * ref_pool(x ** 2, "AVE", (size, size), (1, 1), (pre, pre))) ** -beta


def ref_softmax(x, axis):
    """softmax_layer.cpp: subtract the max over ``axis``, exp, divide by the sum."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_reshape_shape(shape, new, axis, num_axes):
    """reshape_layer.cpp: 0 copies the bottom dim at that position, -1 is inferred."""
    start = axis if axis >= 0 else len(shape) + axis + 1
    end = len(shape) if num_axes == -1 else start + num_axes
    out = list(shape[:start]) + [shape[start + i] if d == 0 else d for i, d in enumerate(new)]
    out += list(shape[end:])
    if -1 in out:
        out[out.index(-1)] = int(np.prod(shape)) // -int(np.prod(out))
    return tuple(out)


# ------------------------------------------------------------------------ harness
def rel_err(got, ref):
    """max |got - ref| / max(1, max |ref|) over finite cells; NaN/inf must match exactly."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    if not finite.any():
        return 0.0
    return float(np.abs(got[finite] - ref[finite]).max() / max(1.0, np.abs(ref[finite]).max()))


def run_layer(layer, inputs, weights=None):
    """Run ``layer`` alone on float32 ``inputs`` (list); returns {top: value}."""
    names = [f"in{i}" for i in range(len(inputs))]
    layer.bottoms = list(names) if not layer.bottoms else layer.bottoms
    net = Net("t", layers=[layer], inputs={n: x.shape for n, x in zip(layer.bottoms, inputs)})
    feed = inputs[0] if len(inputs) == 1 else dict(zip(layer.bottoms, inputs))
    out = forward_all(net, {} if weights is None else {layer.name: weights}, feed)
    return {t: out[t] for t in layer.tops}


def check(kind, got, ref, tol=F32_TOL):
    err = rel_err(got, ref)
    assert err <= tol, f"{kind}: relative error {err:.3g} > {tol}"


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# -------------------------------------------------------------------------- pooling
POOL_CASES = [  # (H, W, kernel, stride, pad): the ceil/clip situations Caffe distinguishes
    (7, 7, (3, 3), (2, 2), (1, 1)),   # ResNet pool1 shape: ceil, no clip
    (6, 6, (3, 3), (2, 2), (0, 0)),   # ceil adds a ragged last window, no pad
    (6, 6, (2, 2), (2, 2), (1, 1)),   # last window half in the padding
    (7, 7, (2, 2), (2, 2), (1, 1)),   # ceil window would start in the padding: clipped
    (6, 6, (2, 2), (3, 3), (0, 0)),   # stride > kernel, p0: a window starts at H (AVE 0/0)
    (6, 6, (1, 1), (4, 4), (0, 0)),   # a window starts past H (AVE 0/-k = -0)
    (7, 6, (3, 2), (2, 3), (1, 0)),   # pad_h only: Caffe clips the w axis too
    (5, 8, (3, 2), (1, 2), (1, 1)),   # rectangular everything
]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("h,w,kernel,stride,pad", POOL_CASES)
def test_pooling(rng, method, h, w, kernel, stride, pad):
    x = rand(rng, 2, 3, h, w)
    layer = Layer("pool", "Pooling", tops=["pool"],
                  params=PoolingParam(pool=method, kernel=kernel, stride=stride, pad=pad))
    got = run_layer(layer, [x])["pool"]
    ref = ref_pool(x.astype(np.float64), method, kernel, stride, pad)
    check(f"pool {method}", got, ref)
    # Signs of zero and the exact -FLT_MAX of windows outside the image are Caffe's too.
    np.testing.assert_array_equal(np.signbit(got[ref == 0]), np.signbit(ref[ref == 0]))


def test_pooling_outside_windows_are_caffes_constants(rng):
    """stride > kernel without pad: Caffe emits windows starting at/after the input edge."""
    x = rand(rng, 1, 2, 6, 6)
    mx_max = run_layer(Layer("p", "Pooling", tops=["p"], params=PoolingParam(
        pool="MAX", kernel=(2, 2), stride=(3, 3))), [x])["p"]
    assert mx_max.shape == (1, 2, 3, 3)
    assert (mx_max[:, :, 2, :] == -FLT_MAX).all() and (mx_max[:, :, :, 2] == -FLT_MAX).all()
    ave = run_layer(Layer("p", "Pooling", tops=["p"], params=PoolingParam(
        pool="AVE", kernel=(1, 1), stride=(4, 4))), [x])["p"]
    assert ave[0, 0, 2, 2] == 0 and not np.signbit(ave[0, 0, 2, 2])  # 0 / ((-2) * (-2))
    assert ave[0, 0, 2, 0] == 0 and np.signbit(ave[0, 0, 2, 0])      # 0 / ((-2) * 1)


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("h,w", [(7, 7), (3, 5)])
def test_global_pooling(rng, method, h, w):
    x = rand(rng, 2, 4, h, w)
    layer = Layer("gp", "Pooling", tops=["gp"],
                  params=PoolingParam(pool=method, global_pooling=True))
    got = run_layer(layer, [x])["gp"]
    check(f"pool {method}", got, ref_pool(x.astype(np.float64), method, (0, 0), (1, 1),
                                          (0, 0), global_pooling=True))


# ------------------------------------------------------------------- learned layers
@pytest.mark.parametrize("kw", [
    dict(num_output=4, kernel=(3, 3), pad=(1, 1)),
    dict(num_output=6, kernel=(3, 2), stride=(2, 1), pad=(1, 0), bias_term=False),
    dict(num_output=6, kernel=(3, 3), pad=(2, 2), dilation=(2, 2), group=3),
    dict(num_output=6, kernel=(2, 3), stride=(2, 2), dilation=(1, 2), group=2),
])
def test_convolution(rng, kw):
    x = rand(rng, 2, 6, 7, 8)
    p = ConvolutionParam(**kw)
    w = rand(rng, p.num_output, 6 // p.group, *p.kernel)
    b = rand(rng, p.num_output) if p.bias_term else None
    got = run_layer(Layer("c", "Convolution", tops=["c"], params=p), [x],
                    [w] + ([b] if b is not None else []))["c"]
    ref = ref_conv(x.astype(np.float64), w.astype(np.float64),
                   None if b is None else b.astype(np.float64), p.stride, p.pad, p.dilation,
                   p.group)
    check("conv", got, ref)


@pytest.mark.parametrize("shape,axis,transpose,bias", [
    ((3, 4, 2, 3), 1, False, True),
    ((3, 4, 2, 3), 1, True, True),
    ((3, 4, 2, 3), 2, False, False),
    ((3, 4, 2, 3), -1, True, True),
    ((3, 5), 1, False, True),
    ((3, 4, 2), 0, False, True),
])
def test_inner_product(rng, shape, axis, transpose, bias):
    x = rand(rng, *shape)
    ax = axis % len(shape)
    k = int(np.prod(shape[ax:]))
    w = rand(rng, k, 5) if transpose else rand(rng, 5, k)
    b = rand(rng, 5)
    p = InnerProductParam(num_output=5, axis=axis, transpose=transpose, bias_term=bias)
    got = run_layer(Layer("ip", "InnerProduct", tops=["ip"], params=p), [x],
                    [w, b] if bias else [w])["ip"]
    ref = ref_inner_product(x.astype(np.float64), w.astype(np.float64),
                            b.astype(np.float64) if bias else None, ax, transpose)
    check("ip", got, ref)


@pytest.mark.parametrize("factor", [999.982, 1.0, 0.0])
@pytest.mark.parametrize("eps", [1e-5, 1e-3])
def test_batch_norm(rng, factor, eps):
    x = rand(rng, 2, 3, 4, 5)
    mean = rand(rng, 3) * np.float32(max(factor, 1))
    var = (np.abs(rand(rng, 3)) + 0.1).astype(np.float32) * np.float32(max(factor, 1))
    f = np.array([factor], np.float32)
    got = run_layer(Layer("bn", "BatchNorm", tops=["bn"], params=BatchNormParam(eps=eps)),
                    [x], [mean, var, f])["bn"]
    ref = ref_batch_norm(x.astype(np.float64), mean.astype(np.float64), var.astype(np.float64),
                         float(f[0]), float(np.float32(eps)))
    check("bn", got, ref)


def test_batch_norm_tiny_eps_is_not_clamped(rng):
    """eps below cuDNN's 1e-5 minimum must be honoured: with var ~ 1e-8 it decides the
    result (clamping to 1e-5 would shrink the output ~30x)."""
    x = rand(rng, 2, 2, 3, 3)
    mean, var = np.zeros(2, np.float32), np.full(2, 1e-8, np.float32)
    got = run_layer(Layer("bn", "BatchNorm", tops=["bn"], params=BatchNormParam(eps=1e-10)),
                    [x], [mean, var, np.ones(1, np.float32)])["bn"]
    ref = ref_batch_norm(x.astype(np.float64), mean, var.astype(np.float64), 1.0,
                         float(np.float32(1e-10)))
    check("bn", got, ref)


@pytest.mark.parametrize("axis,num_axes,bias", [
    (1, 1, True), (1, 1, False), (1, 2, True), (2, -1, True), (0, 1, False), (-2, 1, True),
    (1, 0, True),
])
def test_scale(rng, axis, num_axes, bias):
    x = rand(rng, 2, 3, 4, 5)
    ax = axis % 4 if num_axes != 0 else 0
    sshape = x.shape[ax:] if num_axes == -1 else x.shape[ax:ax + num_axes]
    gamma, beta = rand(rng, *sshape), rand(rng, *sshape)
    p = ScaleParam(axis=axis, num_axes=num_axes, bias_term=bias)
    got = run_layer(Layer("sc", "Scale", tops=["sc"], params=p), [x],
                    [gamma, beta] if bias else [gamma])["sc"]
    ref = ref_scale(x.astype(np.float64), gamma.astype(np.float64),
                    beta.astype(np.float64) if bias else None, ax)
    check("scale", got, ref)


@pytest.mark.parametrize("sshape,axis,bias", [((2, 3), 0, False), ((3,), 1, True),
                                              ((3, 4), 1, False)])
def test_scale_two_bottoms(rng, sshape, axis, bias):
    x, s = rand(rng, 2, 3, 4, 5), rand(rng, *sshape)
    beta = rand(rng, *sshape)
    p = ScaleParam(axis=axis, bias_term=bias)
    got = run_layer(Layer("sc", "Scale", tops=["sc"], params=p), [x, s],
                    [beta] if bias else None)["sc"]
    ref = ref_scale(x.astype(np.float64), s.astype(np.float64),
                    beta.astype(np.float64) if bias else None, axis)
    check("scale", got, ref)


# --------------------------------------------------------------------------- LRN
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 0.5, 0.75, 1.0), (3, 2.0, 0.6, 2.0),
                                               (1, 1e-4, 0.75, 1.0)])
def test_lrn_across_channels(rng, size, alpha, beta, k):
    x = rand(rng, 2, 6, 3, 4)
    p = LRNParam(local_size=size, alpha=alpha, beta=beta, k=k)
    got = run_layer(Layer("n", "LRN", tops=["n"], params=p), [x])["n"]
    check("lrn", got, ref_lrn_across(x.astype(np.float64), size, np.float32(alpha), beta, k))


@pytest.mark.parametrize("size,alpha,beta", [(3, 0.5, 0.75), (5, 2.0, 0.6)])
def test_lrn_within_channel(rng, size, alpha, beta):
    x = rand(rng, 2, 3, 6, 5)
    p = LRNParam(local_size=size, alpha=alpha, beta=beta, norm_region="WITHIN_CHANNEL", k=7.0)
    got = run_layer(Layer("n", "LRN", tops=["n"], params=p), [x])["n"]
    check("lrn", got, ref_lrn_within(x.astype(np.float64), size, np.float32(alpha), beta))


# ---------------------------------------------------------------- element-wise layers
@pytest.mark.parametrize("op,coeff,n", [("SUM", (), 2), ("SUM", (1.0, -1.0), 2),
                                        ("SUM", (0.5, 2.0, -3.0), 3), ("PROD", (), 3),
                                        ("MAX", (), 3)])
def test_eltwise(rng, op, coeff, n):
    xs = [rand(rng, 2, 3, 4, 4) for _ in range(n)]
    p = EltwiseParam(operation=op, coeff=coeff)
    got = run_layer(Layer("e", "Eltwise", tops=["e"], params=p), xs)["e"]
    x64 = [x.astype(np.float64) for x in xs]
    if op == "SUM":
        ref = sum(c * x for c, x in zip(coeff or (1.0,) * n, x64))
    elif op == "PROD":
        ref = x64[0] * x64[1] * x64[2]
    else:
        ref = np.maximum(np.maximum(x64[0], x64[1]), x64[2])
    check("eltwise", got, ref)


@pytest.mark.parametrize("power,scale,shift", [(1.0, 1.0, 0.0), (2.0, 0.5, 1.0),
                                               (3.0, -1.5, 0.25), (0.0, 2.0, 3.0),
                                               (2.0, 0.0, 3.0), (1.0, 2.0, -1.0)])
def test_power(rng, power, scale, shift):
    x = rand(rng, 2, 3, 4)
    p = PowerParam(power=power, scale=scale, shift=shift)
    got = run_layer(Layer("pw", "Power", tops=["pw"], params=p), [x])["pw"]
    # power_layer.cpp: power*scale == 0 -> constant (power == 0 ? 1 : shift^power).
    ref = (np.full(x.shape, 1.0 if power == 0 else shift ** power) if power * scale == 0
           else (shift + scale * x.astype(np.float64)) ** power)
    check("power", got, ref)


@pytest.mark.parametrize("slope", [0.0, 0.1, -0.5])
def test_relu(rng, slope):
    x = rand(rng, 2, 3, 4)
    got = run_layer(Layer("r", "ReLU", tops=["r"], params=ReLUParam(slope)), [x])["r"]
    x64 = x.astype(np.float64)
    check("activation", got, np.maximum(x64, 0) + slope * np.minimum(x64, 0))


@pytest.mark.parametrize("kind", ["Sigmoid", "TanH", "Dropout"])
def test_unary(rng, kind):
    x = rand(rng, 2, 3, 4, 2) * 3
    got = run_layer(Layer("u", kind, tops=["u"]), [x])["u"]
    x64 = x.astype(np.float64)
    ref = {"Sigmoid": 1 / (1 + np.exp(-x64)), "TanH": np.tanh(x64), "Dropout": x64}[kind]
    check("activation", got, ref)


def test_split(rng):
    x = rand(rng, 2, 3)
    got = run_layer(Layer("s", "Split", tops=["a", "b"]), [x])
    check("structural", got["a"], x)
    check("structural", got["b"], x)


# -------------------------------------------------------------------- structural layers
@pytest.mark.parametrize("axis", [1, -1, 2, 0])
def test_softmax(rng, axis):
    x = rand(rng, 2, 3, 4, 5) * 4
    got = run_layer(Layer("sm", "Softmax", tops=["sm"], params=SoftmaxParam(axis)), [x])["sm"]
    check("softmax", got, ref_softmax(x.astype(np.float64), axis))


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_concat(rng, axis):
    xs = [rand(rng, 2, 3, 4, 5), rand(rng, 2, 3, 4, 5)]
    got = run_layer(Layer("cc", "Concat", tops=["cc"], params=ConcatParam(axis)), xs)["cc"]
    check("structural", got, np.concatenate(xs, axis=axis))


@pytest.mark.parametrize("axis,end_axis", [(1, -1), (2, -1), (1, 2), (0, 1), (0, -1)])
@pytest.mark.parametrize("batch", [2, 5])
def test_flatten(rng, axis, end_axis, batch):
    x = rand(rng, batch, 3, 4, 5)
    p = FlattenParam(axis=axis, end_axis=end_axis)
    got = run_layer(Layer("f", "Flatten", tops=["f"], params=p), [x])["f"]
    e = end_axis % 4
    ref = x.reshape(x.shape[:axis] + (-1,) + x.shape[e + 1:])  # flatten.cpp: merge [axis, end]
    check("structural", got, ref)


@pytest.mark.parametrize("shape,axis,num_axes", [
    ((0, -1), 0, -1), ((0, 2, -1, 0), 0, -1), ((-1,), 1, -1), ((6, 2), 1, 2),
    ((1, -1), 1, 1), ((1, 1), 0, 0), ((1,), 1, 0), ((-1, 4, 5), 0, -1), ((3, 1), 1, 1),
])
def test_reshape(rng, shape, axis, num_axes):
    x = rand(rng, 2, 3, 4, 5)
    p = ReshapeParam(shape=shape, axis=axis, num_axes=num_axes)
    got = run_layer(Layer("rs", "Reshape", tops=["rs"], params=p), [x])["rs"]
    check("structural", got, x.reshape(ref_reshape_shape(x.shape, shape, axis, num_axes)))
