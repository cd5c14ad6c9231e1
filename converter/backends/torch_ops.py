"""PyTorch modules that compute exactly what Caffe's layers compute (inference / TEST phase).

Each parametric module lists its Caffe blobs, in Caffe's order, in ``caffe_blobs`` (attribute
names of parameters or buffers), so weights load by name with shape checks
(see ``torch_backend.load_weights``). Parameters start as Caffe's default fillers would leave
them when no filler is given (constant 0; Scale's gamma constant 1).

No module mutates its inputs unless asked: in-place Caffe chains are rebuilt in SSA form by the
back end, and ``forward_all`` needs every intermediate value intact. BatchNorm, Scale, ReLU and
Eltwise SUM take a keyword ``reuse=k``: they may then compute in bottom k's memory. The back end
passes it only for a value that nothing else reads or returns (``CaffeNet.plan_inplace``); the
arithmetic, and so every value, is the same either way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import torch_onednn as onednn


_SKIP_FILL = False


@contextlib.contextmanager
def weights_follow() -> Iterator[None]:
    """Within this block, Convolution/InnerProduct weights are allocated but not filled:
    for a module whose every Caffe blob is loaded right after (``to_torch`` with weights),
    filling ~all of the model's memory with zeros first is wasted work."""
    global _SKIP_FILL
    previous, _SKIP_FILL = _SKIP_FILL, True
    try:
        yield
    finally:
        _SKIP_FILL = previous


def _zeros(shape) -> torch.Tensor:
    """Caffe's default (constant 0) filler, or uninitialised memory inside weights_follow()."""
    return torch.empty(shape) if _SKIP_FILL else torch.zeros(shape)


def _trailing_view(t: torch.Tensor, trailing: int) -> torch.Tensor:
    """View ``t`` with ``trailing`` singleton axes appended, so it broadcasts against a blob
    from the axis where it starts (leading axes broadcast by right alignment)."""
    return t.reshape(tuple(t.shape) + (1,) * trailing)


class CaffeConvolution(onednn.PackedConvolution, nn.Module):
    """Caffe Convolution: cross-correlation with group, dilation, (h, w) pad/kernel/stride.

    Caffe's output size is floor((H + 2p - (d(k-1)+1)) / s) + 1, the same as ``F.conv2d``.
    No-grad float32 CPU calls use a prepacked oneDNN weight (see ``torch_onednn``).
    """
    caffe_blobs = ("weight", "bias")

    def __init__(self, in_channels: int, p):
        super().__init__()
        self.stride, self.padding = tuple(p.stride), tuple(p.pad)
        self.dilation, self.groups = tuple(p.dilation), p.group
        shape = (p.num_output, in_channels // p.group) + tuple(p.kernel)
        self.weight = nn.Parameter(_zeros(shape))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x, other=None, *, relu: bool = False):
        """The convolution of ``x``; with ``other``, plus ``other`` (an Eltwise SUM fused in,
        possibly computed in ``other``'s memory: the plan passes only a dead value); with
        ``relu``, then max(., 0) (a ReLU fused in). See ``torch_steps``."""
        geometry = (self.padding, self.stride, self.dilation, self.groups)
        y = self.packed_conv2d(x, geometry, other, relu)
        if y is not None:
            return y
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                     self.dilation, self.groups)
        return onednn.add_relu(y, other, relu)


class CaffeInnerProduct(nn.Module):
    """Caffe InnerProduct: flatten from ``axis``, then x W^T + b (x W if ``transpose``,
    where Caffe stores W as (K, N))."""
    caffe_blobs = ("weight", "bias")

    def __init__(self, k: int, p, axis: int):
        super().__init__()
        self.axis, self.transpose = axis, p.transpose
        shape = (k, p.num_output) if p.transpose else (p.num_output, k)
        self.weight = nn.Parameter(_zeros(shape))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x):
        x = x.flatten(self.axis)
        w = self.weight.t() if self.transpose else self.weight
        return F.linear(x, w, self.bias)


class CaffeBatchNorm(nn.Module):
    """Caffe BatchNorm (no affine part; Caffe pairs it with a Scale layer).

    The three blobs are stored raw: mean*f, var*f and f. batch_norm_layer.cpp normalises with
    mean/f and var/f, using a scale factor of 0 when f == 0 (so mean = var = 0 then), and
    y = (x - mean) / sqrt(var + eps). With ``use_global_stats`` false Caffe ignores the stored
    statistics and uses the batch's: mean and *biased* variance over every axis but 1.
    (Caffe would also update its moving averages then; that side effect does not change
    the output and is not reproduced.)
    """
    caffe_blobs = ("mean", "var", "factor")

    def __init__(self, channels: int, eps: float, use_global_stats: bool):
        super().__init__()
        self.eps, self.use_global_stats = float(eps), bool(use_global_stats)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.zeros(channels))
        self.register_buffer("factor", torch.zeros(1))

    def statistics(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Caffe's global (mean, variance): the stored blobs times 1/f, or 0 if f == 0."""
        f = self.factor[0]
        scale = torch.where(f == 0, torch.zeros_like(f), 1.0 / f)
        return self.mean * scale, self.var * scale

    def forward(self, x, *, reuse: Optional[int] = None):
        trailing = x.dim() - 2
        if self.use_global_stats:
            mean, var = self.statistics()
            mean, var = _trailing_view(mean, trailing), _trailing_view(var, trailing)
        else:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        # In-place on the fresh difference (or in x's memory, when it is ours to reuse):
        # fewer allocations, same arithmetic.
        y = x.sub_(mean) if reuse == 0 and x.dtype == mean.dtype else torch.sub(x, mean)
        return y.div_(torch.sqrt(var + self.eps))


class CaffeScale(nn.Module):
    """Caffe Scale: y = x * gamma (+ beta), gamma spanning axes [axis, axis + num_axes).

    ``trailing`` is the number of blob axes after the scaled ones. In the two-bottom form
    gamma is bottom[1] and only the bias (if any) is a learned blob.
    """

    def __init__(self, scale_shape: Sequence[int], trailing: int, bias_term: bool,
                 two_bottoms: bool):
        super().__init__()
        self.trailing, self.two_bottoms = trailing, two_bottoms
        blobs = []
        self.weight = None
        if not two_bottoms:
            self.weight = nn.Parameter(torch.ones(tuple(scale_shape)))
            blobs.append("weight")
        self.bias = nn.Parameter(torch.zeros(tuple(scale_shape))) if bias_term else None
        if bias_term:
            blobs.append("bias")
        self.caffe_blobs = tuple(blobs)

    def forward(self, x, scale=None, *, reuse: Optional[int] = None):
        gamma = scale if self.two_bottoms else self.weight
        if reuse == 0 and not self.two_bottoms and x.dtype == gamma.dtype:
            y = x.mul_(_trailing_view(gamma, self.trailing))
        else:
            y = x * _trailing_view(gamma, self.trailing)
        if self.bias is not None:
            y.add_(_trailing_view(self.bias, self.trailing))  # y is fresh: add in place
        return y


class CaffeReLU(nn.Module):
    """Caffe ReLU: max(x, 0) + negative_slope * min(x, 0)."""

    def __init__(self, negative_slope: float = 0.0):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x, *, reuse: Optional[int] = None):
        if self.negative_slope == 0.0:
            return F.relu(x, inplace=reuse == 0)
        return F.leaky_relu(x, self.negative_slope, inplace=reuse == 0)


class CaffePower(nn.Module):
    """Caffe Power: y = (shift + scale * x) ^ power, with power_layer.cpp's shortcuts: a
    constant output when scale == 0 or power == 0, and no pow() when power == 1."""

    def __init__(self, power: float, scale: float, shift: float):
        super().__init__()
        self.power, self.scale, self.shift = float(power), float(scale), float(shift)

    def forward(self, x):
        if self.scale == 0.0 or self.power == 0.0:
            value = 1.0 if self.power == 0.0 else self.shift ** self.power
            return torch.full_like(x, value)
        y = x * self.scale if self.scale != 1.0 else x
        if self.shift != 0.0:
            y = y + self.shift
        return torch.pow(y, self.power) if self.power != 1.0 else y


class CaffeEltwise(nn.Module):
    """Caffe Eltwise: SUM (with optional per-bottom coefficients), PROD or MAX."""

    def __init__(self, operation: str, coeff: Sequence[float] = ()):
        super().__init__()
        self.operation, self.coeff = operation, tuple(float(c) for c in coeff)

    def forward(self, *xs, reuse: Optional[int] = None):
        if self.operation == "PROD":
            y = xs[0]
            for x in xs[1:]:
                y = y * x
            return y
        if self.operation == "MAX":
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
            return y
        # SUM: eltwise_layer.cpp accumulates coeff_i * bottom_i in bottom order.
        coeff = self.coeff or (1.0,) * len(xs)
        terms = [x if c == 1.0 else x * c for x, c in zip(xs, coeff)]
        if reuse in (0, 1) and len(terms) > 1 and terms[reuse] is xs[reuse] and all(
                t.dtype == xs[reuse].dtype for t in terms):
            # The same sums in the same order, in bottom 0's or 1's memory (t1 + t0 is
            # t0 + t1 exactly: IEEE addition commutes). No shape test: Caffe's Eltwise
            # needs equal bottom shapes (ir/shapes.py refuses others), and comparing traced
            # sizes would turn symbolic batch sizes into constants in an ONNX trace.
            y = terms[0].add_(terms[1]) if reuse == 0 else terms[1].add_(terms[0])
            for t in terms[2:]:
                y = y.add_(t)
            return y
        y = terms[0]
        for t in terms[1:]:
            y = y + t
        return y


class CaffeSoftmax(nn.Module):
    """Caffe Softmax over one axis (max-subtracted exponentials, as softmax_layer.cpp)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return torch.softmax(x, dim=self.axis)


class CaffeConcat(nn.Module):
    """Caffe Concat along ``axis``."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class CaffeFlatten(nn.Module):
    """Caffe Flatten: merge axes [axis, end_axis] (canonical, inclusive)."""

    def __init__(self, axis: int, end_axis: int):
        super().__init__()
        self.axis, self.end_axis = axis, end_axis

    def forward(self, x):
        return x.flatten(self.axis, self.end_axis)


class CaffeReshape(nn.Module):
    """Caffe Reshape of axes [start, end): 0 copies the bottom's dim, -1 is inferred.

    Dims are read from the input at run time, so a 0 over the batch axis (or a -1 that
    absorbs it) keeps the batch dynamic under torch.export.
    """

    def __init__(self, shape: Sequence[int], start: int, end: int):
        super().__init__()
        self.shape, self.start, self.end = tuple(shape), start, end

    def forward(self, x):
        dims = list(x.shape)
        new = [dims[self.start + i] if d == 0 else d for i, d in enumerate(self.shape)]
        end = len(dims) if self.end is None else self.end
        return x.reshape(dims[:self.start] + new + dims[end:])


class CaffeSplit(nn.Module):
    """Caffe Split: every top is the bottom's value."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        return tuple(x for _ in range(self.n))


class CaffeIdentity(nn.Module):
    """Dropout at TEST phase: Caffe copies the bottom (scaling happens only in training)."""

    def forward(self, x):
        return x


class CaffeUnary(nn.Module):
    """Element-wise Sigmoid or TanH."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        return torch.sigmoid(x) if self.kind == "Sigmoid" else torch.tanh(x)
