"""Bilinear resizing -> Caffe Deconvolution with fixed weights, where the arithmetic is the
same; a reason to refuse otherwise (framework-free).

Per axis, a bilinear resize from ``n`` to ``m`` samples reads source position ``src(d)`` for
output ``d`` and mixes its two neighbours with weights ``1 - |i - src|``. A Deconvolution
with stride ``s`` writes ``x[i] * w[o - s*i]`` to every output ``o`` (deconv_layer.cpp via
col2im, then ``pad`` cropped from each end), so when ``src`` moves by ``1/s`` per output
sample the two agree with ``w`` a triangle:

* ``align_corners=True``: ``src = d * (n - 1) / (m - 1)``; exact when ``m - 1 = k (n - 1)``
  (kernel ``2k - 1``, pad ``k - 1``, ``w[t] = 1 - |t - (k - 1)| / k``). Every source
  position is inside the image, so the zero padding never contributes.
* ``align_corners=False`` (PyTorch's ``upsample_bilinear2d``, MXNet's BilinearResize2D):
  ``src = (d + 0.5) / f - 0.5`` with ``m = f n``, clamped to the image at both ends (edge
  samples repeat). Caffe's Deconvolution pads with zeros, so the input first gets one
  replicated edge row/column on each side (Slice + Concat, copies only); then kernel
  ``2f - f % 2``, pad ``3f // 2`` and Caffe's own bilinear filler weights
  (``w[t] = 1 - |t - c| / f``, ``c = (2f - 1 - f % 2) / 2``, filler.hpp) give exactly
  ``f n`` outputs, each the same two-term mix as the source.

The sums differ from the source's only in rounding order (float32 floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np


@dataclass(frozen=True)
class AxisPlan:
    """One axis of the Deconvolution: stride, kernel, pad, 1-D weights, and whether the
    input needs its edge replicated first."""
    stride: int
    kernel: int
    pad: int
    weights: np.ndarray
    replicate: bool


def _triangle(kernel: int, centre: float, width: int) -> np.ndarray:
    t = np.arange(kernel, dtype=np.float64)
    return np.maximum(0.0, 1.0 - np.abs(t - centre) / width)


def axis_plan(n: int, m: int, align_corners: bool,
              scale: Optional[float] = None) -> Union[AxisPlan, str]:
    """The plan for one axis resized from ``n`` to ``m``, or why there is none. ``scale``
    is the source's explicit scale factor (PyTorch uses ``1/scale`` as the step when it is
    given and align_corners is False)."""
    if align_corners:
        if n == m:
            return AxisPlan(1, 1, 0, np.ones(1), False)
        if n < 2 or (m - 1) % (n - 1):
            return (f"align_corners=True from {n} to {m} samples (exact only when "
                    f"out - 1 is a multiple of in - 1)")
        k = (m - 1) // (n - 1)
        return AxisPlan(k, 2 * k - 1, k - 1, _triangle(2 * k - 1, k - 1, k), False)
    if m % n:
        return f"align_corners=False from {n} to {m} samples (not an integer factor)"
    f = m // n
    if scale is not None and float(scale) != float(f):
        return (f"scale factor {scale} (the source steps by 1/{scale}, the output size "
                f"{m} / {n} is {f})")
    if f == 1:
        return AxisPlan(1, 1, 0, np.ones(1), False)
    kernel = 2 * f - f % 2
    return AxisPlan(f, kernel, 3 * f // 2, _triangle(kernel, (2 * f - 1 - f % 2) / 2, f),
                    True)


def bilinear_plan(size_in: Sequence[int], size_out: Sequence[int], align_corners: bool,
                  scales: Optional[Sequence[Optional[float]]] = None
                  ) -> Union[Tuple[AxisPlan, AxisPlan], str]:
    """``(H plan, W plan)`` for a 2-D bilinear resize, or the refusal reason."""
    scales = tuple(scales) if scales else (None, None)
    plans = [axis_plan(int(n), int(m), align_corners, s)
             for n, m, s in zip(size_in, size_out, scales)]
    for plan in plans:
        if isinstance(plan, str):
            return plan
    return plans[0], plans[1]


def deconv_weights(channels: int, plans: Tuple[AxisPlan, AxisPlan]) -> np.ndarray:
    """The (C, 1, kh, kw) weight blob of a per-channel (group C) Deconvolution."""
    kernel = np.outer(plans[0].weights, plans[1].weights).astype(np.float32)
    return np.ascontiguousarray(np.broadcast_to(kernel, (channels, 1) + kernel.shape))
