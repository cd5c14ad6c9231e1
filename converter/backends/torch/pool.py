"""Caffe Pooling in PyTorch, with Caffe's exact window and divisor rules.

pooling_layer.cpp differs from PyTorch in three places:

* output size: both round up, but Caffe drops a last window starting at or past H + pad
  only when some pad (h or w: the test is ``pad_h_ || pad_w_``, for both axes) is nonzero,
  PyTorch always does. With pad 0 and stride > kernel, Caffe keeps a
  window that starts past the input: MAX yields -FLT_MAX there (its initial value), AVE
  yields 0 / pool_size;
* AVE divisor: (min(hstart + k, H + pad) - hstart) * (same for w), taken before the window
  is clipped to the image, so it counts padding cells but not cells beyond H + pad (PyTorch's
  ``count_include_pad=True`` uses the same formula, see its avg_pool2d kernel);
* PyTorch refuses pad > kernel / 2; Caffe allows any pad < kernel.

Where the output sizes agree and PyTorch accepts the pad, ``F.max_pool2d`` /
``F.avg_pool2d(ceil_mode=True, count_include_pad=True)`` are provably identical and used
(the fast path; every ResNet pooling layer takes it). Otherwise the input is padded
explicitly (with -FLT_MAX for MAX, zeros for AVE) so that every Caffe window fits, pooled
without padding, cropped to Caffe's output size, and AVE is rescaled by a precomputed map
kernel_area / caffe_divisor. (``divisor_override`` would avoid the rescale, but both ONNX
exporters silently drop it.)
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...layers import pooled_size
from ...layers.pool import spp_levels
from .module import CaffeModule
from .registry import refuse, register

#: Caffe initialises MAX outputs to -FLT_MAX, whatever the Dtype.
FLT_MAX = float(np.finfo(np.float32).max)


def torch_pooled_size(size: int, k: int, s: int, pad: int) -> int:
    """PyTorch's ceil_mode output size (pooling_output_shape): the last-window clip always."""
    out = -(-(size + 2 * pad - k) // s) + 1
    if (out - 1) * s >= size + pad:
        out -= 1
    return out


def caffe_ave_divisors(size: int, out: int, k: int, s: int, pad: int) -> np.ndarray:
    """Caffe's per-output AVE divisor along one axis: min(start + k, size + pad) - start.

    It may be 0 or negative for a window starting past the input (pad 0, stride > kernel);
    Caffe then divides a zero sum by it (giving 0, -0 or NaN), which we reproduce.
    """
    start = np.arange(out) * s - pad
    return (np.minimum(start + k, size + pad) - start).astype(np.float64)


class CaffePooling(CaffeModule):
    """Caffe Pooling (MAX / AVE, CEIL or FLOOR rounding, global pooling) on N,C,H,W."""

    def __init__(self, p, in_hw: Tuple[int, int]):
        super().__init__()
        self.method, self.global_pooling = p.pool, p.global_pooling
        self.kernel, self.stride = tuple(p.kernel), tuple(p.stride)
        self.pad, self.round_mode = tuple(p.pad), p.round_mode
        self.in_hw = tuple(in_hw)
        geometry = self.geometry(self.in_hw)
        self.fast = geometry[0]
        self.register_buffer("ratio", self.ratio_map(self.in_hw), persistent=False)

    def geometry(self, hw) -> Tuple[bool, Tuple[int, int], Tuple[int, int]]:
        """(fast path usable, Caffe output size, extra bottom/right padding) for input ``hw``."""
        out, extra, fast = [], [], self.round_mode == "CEIL"
        clip = any(self.pad)  # pooling_layer.cpp: `if (pad_h_ || pad_w_)` clips both axes
        for size, k, s, pad in zip(hw, self.kernel, self.stride, self.pad):
            o = pooled_size(size, k, s, pad, self.round_mode, clip=clip)
            fast = fast and o == torch_pooled_size(size, k, s, pad) and 2 * pad <= k
            out.append(o)
            extra.append(max(0, (o - 1) * s + k - pad - size))
        return fast, tuple(out), tuple(extra)

    def ratio_map(self, hw) -> torch.Tensor:
        """kernel_area / Caffe divisor per output cell (AVE explicit path only)."""
        if self.global_pooling or self.method != "AVE" or self.geometry(hw)[0]:
            return torch.ones(0, dtype=torch.float64)
        _, (oh, ow), _ = self.geometry(hw)
        dh = caffe_ave_divisors(hw[0], oh, self.kernel[0], self.stride[0], self.pad[0])
        dw = caffe_ave_divisors(hw[1], ow, self.kernel[1], self.stride[1], self.pad[1])
        with np.errstate(divide="ignore"):
            ratio = math.prod(self.kernel) / np.outer(dh, dw)
        # Kept in float64 and cast at use, so a .double() module is exact too.
        return torch.from_numpy(ratio)

    def forward(self, x):
        if self.global_pooling:
            # Caffe sets kernel = (H, W), pad 0, stride 1: one window over the whole plane.
            if self.method == "MAX":
                return x.amax(dim=(2, 3), keepdim=True)
            return x.mean(dim=(2, 3), keepdim=True)
        # Spatial dims are static under export; the TorchScript tracer (ONNX's legacy path)
        # would warn about reading them, and traces the built size anyway.
        hw = self.in_hw if torch.jit.is_tracing() else (int(x.shape[2]), int(x.shape[3]))
        fast, out, extra = self.geometry(hw) if hw != self.in_hw else (
            self.fast, *self.geometry(hw)[1:])
        if fast:
            if self.method == "MAX":
                return F.max_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=True)
            return F.avg_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=True,
                                count_include_pad=True)
        return self._explicit(x, hw, out, extra)

    def _explicit(self, x, hw, out, extra):
        """Pad so every Caffe window fits, pool without padding, crop to Caffe's size."""
        (ph, pw), (oh, ow) = self.pad, out
        fill = -FLT_MAX if self.method == "MAX" else 0.0
        xp = F.pad(x, (pw, extra[1], ph, extra[0]), value=fill)
        if self.method == "MAX":
            return F.max_pool2d(xp, self.kernel, self.stride)[:, :, :oh, :ow]
        ratio = self.ratio if hw == self.in_hw else self.ratio_map(hw).to(x.device)
        y = F.avg_pool2d(xp, self.kernel, self.stride)[:, :, :oh, :ow]
        return y * ratio.to(x.dtype)


@register("Pooling")
def convert_pooling(layer, shapes):
    p = layer.params
    if p.pool not in ("MAX", "AVE"):
        # Caffe has no CPU STOCHASTIC pooling and its GPU test-time variant ignores pad.
        refuse(layer, f"pool: {p.pool} is not supported (only MAX and AVE)")
    if p.round_mode not in ("CEIL", "FLOOR"):
        refuse(layer, f"round_mode {p.round_mode} is not supported")
    if p.global_pooling and (any(p.pad) or tuple(p.stride) != (1, 1)):
        refuse(layer, "global_pooling needs pad 0 and stride 1 (Caffe refuses others)")
    return CaffePooling(p, tuple(shapes[0][2:4]))


class CaffeSPP(CaffeModule):
    """Caffe SPP: each pyramid level is a Caffe pooling (``CaffePooling``, same rounding and
    clipping), flattened and concatenated on axis 1; one level is returned as pooled."""

    def __init__(self, levels, in_hw):
        super().__init__()
        self.levels = nn.ModuleList(CaffePooling(p, in_hw) for p in levels)

    def forward(self, x):
        if len(self.levels) == 1:
            return self.levels[0](x)
        return torch.cat([level(x).flatten(1) for level in self.levels], dim=1)


@register("SPP")
def convert_spp(layer, shapes):
    if layer.params.pool not in ("MAX", "AVE"):
        refuse(layer, f"pool: {layer.params.pool} is not supported (only MAX and AVE)")
    hw = tuple(shapes[0][2:4])
    return CaffeSPP(spp_levels(layer, hw), hw)
