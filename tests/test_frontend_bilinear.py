"""converter.frontends.bilinear: which bilinear resizes a fixed-weight Deconvolution computes,
checked in float64 numpy against the resize formula itself (no framework needed)."""

from __future__ import annotations

import numpy as np
import pytest

from converter.frontends.bilinear import axis_plan


def resize_1d(x, m, align_corners):
    """Bilinear resize of a 1-D signal to ``m`` samples (PyTorch's formula: source positions
    clamped to the image when align_corners is False)."""
    n = len(x)
    d = np.arange(m, dtype=np.float64)
    src = d * (n - 1) / (m - 1) if align_corners else np.maximum((d + 0.5) * n / m - 0.5, 0)
    lo = np.minimum(np.floor(src).astype(int), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    return x[lo] * (1 - frac) + x[hi] * frac


def deconv_1d(x, plan):
    """Caffe's Deconvolution on one axis (col2im: every input adds ``x[i] * w`` at
    ``s * i``; ``pad`` is cropped from both ends), after the edge replication."""
    if plan.replicate:
        x = np.concatenate([x[:1], x, x[-1:]])
    full = np.zeros(plan.stride * (len(x) - 1) + plan.kernel)
    for i, v in enumerate(x):
        full[plan.stride * i:plan.stride * i + plan.kernel] += v * plan.weights
    return full[plan.pad:len(full) - plan.pad]


@pytest.mark.parametrize("n, m, align", [(5, 10, False), (4, 12, False), (3, 15, False),
                                         (1, 4, False), (2, 6, False), (5, 9, True),
                                         (4, 13, True), (6, 6, True), (6, 6, False)])
def test_deconvolution_computes_the_resize(n, m, align):
    plan = axis_plan(n, m, align)
    x = np.random.default_rng(n * m).standard_normal(n)
    got, want = deconv_1d(x, plan), resize_1d(x, m, align)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_factor_two_is_caffes_bilinear_filler():
    plan = axis_plan(4, 8, False)
    assert (plan.stride, plan.kernel, plan.pad) == (2, 4, 3)
    assert plan.weights.tolist() == [0.25, 0.75, 0.75, 0.25]


@pytest.mark.parametrize("n, m, align, scale, reason", [
    (4, 6, False, None, "not an integer factor"),
    (4, 8, False, 2.1, "scale factor 2.1"),
    (4, 8, True, None, "multiple of in - 1"),
    (1, 5, True, None, "multiple of in - 1")])
def test_refusals_say_why(n, m, align, scale, reason):
    assert reason in axis_plan(n, m, align, scale)
