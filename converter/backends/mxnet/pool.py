"""Pooling in MXNet, with Caffe's exact window arithmetic.

MXNet's ``pooling_convention='full'`` rounds up like Caffe but neither drops the last window
that would start in the padding nor divides AVE windows the way Caffe does, so pooling is
built here from an explicit pad (and slice) plus a ``valid`` pooling whose windows are exactly
Caffe's (pooling_layer.cpp, Forward_cpu):

* output size: ``pooled_size`` of the IR (ceil, then the clip when either pad > 0);
* MAX: the max over the window clipped to the image, starting from -FLT_MAX, so padding and
  cells past the image never win and a window wholly outside the image yields -FLT_MAX;
* AVE: the sum over the clipped window divided by ``pool_size = (hend - hstart) *
  (wend - wstart)`` with ``hend = min(hstart + k, H + pad)`` taken *before* clipping to the
  image -- padding cells count, cells beyond H + pad do not. The divisor map is built in the
  graph from ``arange`` so the symbol needs no extra parameters.
"""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ...layers import pooled_size
from ...layers.pool import spp_levels
from .registry import register

FLT_MAX = float(np.finfo(np.float32).max)


def _pool_check(layer):
    p = layer.params
    if p.pool not in ("MAX", "AVE"):
        return f"{p.pool} pooling (its TEST-phase weighting is not implemented)"
    return None


def _window_geometry(size, k, s, pad, round_mode, clip):
    """(out, pad_end): output extent and the padding after the input that makes a 'valid'
    pooling produce exactly ``out`` windows (negative: that many trailing cells unused)."""
    out = pooled_size(size, k, s, pad, round_mode, clip=clip)
    return out, (out - 1) * s + k - size - pad


def _divisor_axis(size, k, s, pad, out, name):
    """Caffe's per-axis AVE divisor min(hstart + k, size + pad) - hstart, hstart = i*s - pad,
    i.e. min(k, size + 2*pad - i*s) (negative or zero past the image, exactly as Caffe)."""
    idx = mx.sym.arange(start=0, stop=out, name=f"{name}_idx")
    return mx.sym.minimum(float(size + 2 * pad) - idx * float(s), float(k))


def pool2d(x, name, pool, kernel, stride, pad, hw, round_mode="CEIL"):
    """Caffe pooling of the NCHW symbol ``x`` whose spatial size is ``hw``; see module doc."""
    # Caffe clips the last window on both axes when either pad is nonzero.
    geo = [_window_geometry(n, k, s, p, round_mode, any(pad))
           for n, k, s, p in zip(hw, kernel, stride, pad)]
    pad_end = [max(e, 0) for _, e in geo]
    fill = -FLT_MAX if pool == "MAX" else 0.0
    if any(pad) or any(pad_end):
        x = mx.sym.pad(x, mode="constant", constant_value=fill, name=f"{name}_pad",
                       pad_width=(0, 0, 0, 0, pad[0], pad_end[0], pad[1], pad_end[1]))
    for axis, (n, p, (_, e)) in enumerate(zip(hw, pad, geo)):
        if e < 0:  # the last window ends before the input does: drop the unused cells
            x = mx.sym.slice_axis(x, axis=2 + axis, begin=0, end=n + p + e,
                                  name=f"{name}_crop{axis}")
    pool_type = "max" if pool == "MAX" else "sum"
    y = mx.sym.Pooling(x, kernel=kernel, stride=stride, pad=(0, 0), pool_type=pool_type,
                       pooling_convention="valid",
                       name=name if pool == "MAX" else f"{name}_sum")
    if pool == "MAX":
        return y
    dh = _divisor_axis(hw[0], kernel[0], stride[0], pad[0], geo[0][0], f"{name}_h")
    dw = _divisor_axis(hw[1], kernel[1], stride[1], pad[1], geo[1][0], f"{name}_w")
    divisor = mx.sym.broadcast_mul(mx.sym.reshape(dh, shape=(1, 1, -1, 1)),
                                   mx.sym.reshape(dw, shape=(1, 1, 1, -1)),
                                   name=f"{name}_divisor")
    # Divide (not multiply by a reciprocal) so the rounding and the 0/0 of a window that
    # starts exactly at the image edge match Caffe's ``top /= pool_size``.
    return mx.sym.broadcast_div(y, divisor, name=name)


@register("Pooling", check=_pool_check)
def pooling(ctx, layer, bottoms):
    """Caffe Pooling; global pooling is one window of the whole image (Caffe forces
    stride 1 and pad 0 there), so it goes through the same exact path."""
    p, shape = layer.params, ctx.shape(layer.bottoms[0])
    hw = tuple(shape[2:4])
    if p.global_pooling:
        kernel, stride, pad = hw, (1, 1), (0, 0)
    else:
        kernel, stride, pad = p.kernel, p.stride, p.pad
    return [pool2d(bottoms[0], layer.name, p.pool, kernel, stride, pad, hw, p.round_mode)]


@register("SPP", check=lambda layer: None if layer.params.pool in ("MAX", "AVE") else
          f"pool: {layer.params.pool} is not supported (only MAX and AVE)")
def spp(ctx, layer, bottoms):
    """spp_layer.cpp: each pyramid level pooled by Caffe's rule (``pool2d``), flattened and
    concatenated on axis 1; a single level is the pooled blob itself."""
    shape = ctx.shape(layer.bottoms[0])
    hw = tuple(shape[2:4])
    levels = [pool2d(bottoms[0], f"{layer.name}_level{i}", q.pool, q.kernel, q.stride, q.pad,
                     hw) for i, q in enumerate(spp_levels(layer, hw))]
    if len(levels) == 1:
        return [mx.sym.identity(levels[0], name=layer.name)]
    flat = [mx.sym.flatten(y) for y in levels]
    return [mx.sym.concat(*flat, dim=1, name=layer.name)]
