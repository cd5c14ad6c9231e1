"""BatchNorm, Scale, Bias, LRN and MVN in PyTorch."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.norm import scale_extent
from .module import CaffeModule, trailing_view
from .registry import caffe_float, refuse, register


class CaffeBatchNorm(CaffeModule):
    """Caffe BatchNorm (no affine part; Caffe pairs it with a Scale layer).

    The three blobs are stored raw: mean*f, var*f and f. batch_norm_layer.cpp normalises with
    mean/f and var/f, using a scale factor of 0 when f == 0 (so mean = var = 0 then), and
    y = (x - mean) / sqrt(var + eps). With ``use_global_stats`` false Caffe ignores the stored
    statistics and uses the batch's: mean and *biased* variance over every axis but 1.
    (Caffe would also update its moving averages then; that side effect does not change
    the output and is not reproduced.)
    """
    caffe_blobs = ("mean", "var", "factor")
    reusable = (0,)

    def __init__(self, channels: int, eps: float, use_global_stats: bool,
                 trailing: Optional[int] = None):
        super().__init__()
        self.eps, self.use_global_stats = float(eps), bool(use_global_stats)
        self.trailing = trailing  # axes after the channel axis, when known when built
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.zeros(channels))
        self.register_buffer("factor", torch.zeros(1))

    def statistics(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Caffe's global (mean, variance): the stored blobs times 1/f, or 0 if f == 0."""
        f = self.factor[0]
        scale = torch.where(f == 0, torch.zeros_like(f), 1.0 / f)
        return self.mean * scale, self.var * scale

    def frozen_constants(self) -> Optional[tuple]:
        """Caffe's (mean, var) in the broadcast shape, as forward computes them. The
        ``sqrt(var + eps)`` stays in the graph: the torch front end reads eps there (and the
        module's raw blobs from the state_dict) to give the Caffe layer back bit for bit."""
        if not self.use_global_stats or self.trailing is None:
            return None
        mean, var = self.statistics()  # fresh tensors: views of them alias no blob
        return trailing_view(mean, self.trailing), trailing_view(var, self.trailing)

    def forward(self, x, *, reuse: Optional[int] = None):
        if self._frozen is not None:
            mean, var = self._frozen
        elif self.use_global_stats:
            mean, var = self.statistics()
            trailing = x.dim() - 2
            mean, var = trailing_view(mean, trailing), trailing_view(var, trailing)
        else:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        # In-place on the fresh difference (or in x's memory, when it is ours to reuse):
        # fewer allocations, same arithmetic.
        y = x.sub_(mean) if reuse == 0 and x.dtype == mean.dtype else torch.sub(x, mean)
        return y.div_(torch.sqrt(var + self.eps))

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeScale(CaffeModule):
    """Caffe Scale: y = x * gamma (+ beta), gamma spanning axes [axis, axis + num_axes).

    ``trailing`` is the number of blob axes after the scaled ones. In the two-bottom form
    gamma is bottom[1] and only the bias (if any) is a learned blob.
    """

    reusable = (0,)

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

    def frozen_constants(self) -> Optional[tuple]:
        """(gamma, beta or None) viewed to broadcast (the one-bottom form only)."""
        if self.two_bottoms:
            return None
        return tuple(None if t is None else trailing_view(t, self.trailing).detach().clone()
                     for t in (self.weight, self.bias))

    def forward(self, x, scale=None, *, reuse: Optional[int] = None):
        if self._frozen is not None:
            gamma, beta = self._frozen
        else:
            gamma = trailing_view(scale if self.two_bottoms else self.weight, self.trailing)
            beta = None if self.bias is None else trailing_view(self.bias, self.trailing)
        if reuse == 0 and not self.two_bottoms and x.dtype == gamma.dtype:
            y = x.mul_(gamma)
        else:
            y = x * gamma
        if beta is not None:
            y.add_(beta)  # y is fresh: add in place
        return y

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeBias(CaffeModule):
    """Caffe Bias: y = x + b, b spanning axes [axis, axis + num_axes); in the two-bottom form
    b is bottom[1] and there is no learned blob (bias_layer.cpp)."""

    reusable = (0,)

    def __init__(self, bias_shape: Sequence[int], trailing: int, two_bottoms: bool):
        super().__init__()
        self.trailing, self.two_bottoms = trailing, two_bottoms
        self.bias = None if two_bottoms else nn.Parameter(torch.zeros(tuple(bias_shape)))
        self.caffe_blobs = () if two_bottoms else ("bias",)

    def forward(self, x, bias=None, *, reuse: Optional[int] = None):
        b = trailing_view(bias if self.two_bottoms else self.bias, self.trailing)
        if reuse == 0 and x.dtype == b.dtype:
            return x.add_(b)
        return x + b

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeLRN(CaffeModule):
    """Caffe LRN (local_size must be odd, as lrn_layer.cpp checks).

    ACROSS_CHANNELS: scale = k + alpha / size * sum of x^2 over the ``size`` channels centred
    on c (zero-padded), y = x * scale^-beta.
    WITHIN_CHANNEL: Caffe composes a Power (x^2), an AVE Pooling (kernel ``size``, stride 1,
    pad (size-1)/2, whose divisor is always size^2 there since it counts padding), and a Power
    with scale alpha and shift 1 -- ``k`` is not used -- and power -beta; then x times that.
    """

    def __init__(self, p):
        super().__init__()
        self.size, self.alpha, self.beta = p.local_size, float(p.alpha), float(p.beta)
        self.k, self.region = float(p.k), p.norm_region

    def forward(self, x):
        sq = x * x
        pad = (self.size - 1) // 2
        if self.region == "WITHIN_CHANNEL":
            avg = F.avg_pool2d(sq, self.size, 1, pad, count_include_pad=True)
            return x * torch.pow(1.0 + self.alpha * avg, -self.beta)
        # Sum over a channel window via 3-D average pooling on (N, 1, C, H, W). Channels past
        # either end are zeros, so a window wider than 2C-1 sums the same as one of 2C-1:
        # clamp it, or a huge local_size would allocate that many padding channels.
        # (Not while tracing for ONNX: comparing a traced size would bake a Python boolean
        # into the trace; the unclamped window sums the same.)
        half = pad if torch.jit.is_tracing() else min(pad, x.shape[1] - 1)
        window = 2 * half + 1
        padded = F.pad(sq.unsqueeze(1), (0, 0, 0, 0, half, half))
        total = F.avg_pool3d(padded, (window, 1, 1), stride=1).squeeze(1) * window
        return x * torch.pow(self.k + (self.alpha / self.size) * total, -self.beta)


@register("BatchNorm")
def convert_batch_norm(layer, shapes):
    p = layer.params
    # BatchNormLayer::LayerSetUp: use_global_stats defaults to (phase == TEST); we convert
    # the TEST net, so an unset flag means global statistics.
    use_global = True if p.use_global_stats is None else p.use_global_stats
    channels = shapes[0][1] if len(shapes[0]) > 1 else 1
    trailing = len(shapes[0]) - 2 if len(shapes[0]) > 1 else None
    return CaffeBatchNorm(channels, caffe_float(p.eps), use_global, trailing)


@register("Scale")
def convert_scale(layer, shapes):
    axis, scale_shape = scale_extent(layer, shapes)
    trailing = len(shapes[0]) - axis - len(scale_shape)
    return CaffeScale(scale_shape, trailing, layer.params.bias_term, len(shapes) == 2)


@register("Bias")
def convert_bias(layer, shapes):
    axis, bias_shape = scale_extent(layer, shapes)
    trailing = len(shapes[0]) - axis - len(bias_shape)
    return CaffeBias(bias_shape, trailing, len(shapes) == 2)


@register("LRN")
def convert_lrn(layer, shapes):
    p = layer.params
    if p.local_size % 2 == 0:
        refuse(layer, f"local_size {p.local_size} is even; Caffe's LRN requires odd sizes")
    if p.norm_region not in ("ACROSS_CHANNELS", "WITHIN_CHANNEL"):
        refuse(layer, f"unknown norm_region {p.norm_region}")
    return CaffeLRN(dataclasses.replace(p, alpha=caffe_float(p.alpha), beta=caffe_float(p.beta),
                                        k=caffe_float(p.k)))


class CaffeMVN(CaffeModule):
    """Caffe MVN: x - mean, then (normalize_variance) divided by sqrt(mean((x - mean)^2)) +
    eps -- eps is added to the standard deviation, not the variance (mvn_layer.cpp) -- with
    the statistics over each (n, c) plane, or over each sample when across_channels."""

    def __init__(self, normalize_variance: bool, across_channels: bool, eps: float):
        super().__init__()
        self.normalize_variance, self.eps = normalize_variance, float(eps)
        self.start = 1 if across_channels else 2

    def forward(self, x):
        dims = tuple(range(self.start, x.dim()))
        y = x - x.mean(dim=dims, keepdim=True)
        if not self.normalize_variance:
            return y
        std = torch.sqrt((y * y).mean(dim=dims, keepdim=True))
        return y / (std + self.eps)


@register("MVN")
def convert_mvn(layer, shapes):
    p = layer.params
    return CaffeMVN(p.normalize_variance, p.across_channels, p.eps)
