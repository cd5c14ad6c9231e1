"""Pooling: parameters, shape rule (ceil rounding, last-window clip) and Caffe translation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import CaffeFormatError, ShapeError
from .common import Pair, checked_nchw
from .fields import enum_name, pool_pair, write_fields, write_pool_pair
from .registry import LayerType, register


@dataclass(frozen=True)
class PoolingParam:
    """PoolingParameter. ``round_mode`` is CEIL in BVLC Caffe (FLOOR exists only in later forks)."""
    pool: str = "MAX"  # MAX | AVE | STOCHASTIC
    kernel: Pair = (0, 0)
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    global_pooling: bool = False
    round_mode: str = "CEIL"


def pooled_size(size: int, k: int, s: int, pad: int, round_mode: str = "CEIL",
                clip: bool | None = None) -> int:
    """Caffe's pooled extent: ceil rounding, then drop a last window that starts in the padding.

    Caffe applies that clip to both axes when *either* pad is nonzero (``if (pad_h_ ||
    pad_w_)`` in pooling_layer.cpp); pass ``clip=any(pads)``. The default clips when ``pad``."""
    rounder = math.ceil if round_mode == "CEIL" else math.floor
    out = int(rounder((size + 2 * pad - k) / s)) + 1
    if (bool(pad) if clip is None else clip) and (out - 1) * s >= size + pad:
        out -= 1
    return out


@register("Pooling")
class Pooling(LayerType):
    params, field = PoolingParam, "pooling_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        p, (n, c, h, w) = layer.params, checked_nchw(layer, bottoms[0])
        if p.global_pooling:
            return [(n, c, 1, 1)], []
        if min(p.kernel) <= 0 or min(p.stride) <= 0:
            raise ShapeError("kernel and stride must be positive", layer=layer.name,
                             layer_type=layer.type)
        if p.pad[0] >= p.kernel[0] or p.pad[1] >= p.kernel[1]:
            raise ShapeError("pad must be smaller than kernel", layer=layer.name,
                             layer_type=layer.type)
        out = [pooled_size(sz, k, s, pad, p.round_mode, clip=any(p.pad))
               for sz, k, s, pad in zip((h, w), p.kernel, p.stride, p.pad)]
        if min(out) <= 0:
            raise ShapeError("kernel larger than padded input", layer=layer.name,
                             layer_type=layer.type)
        return [(n, c, out[0], out[1])], []

    def read(lp):
        p = lp.pooling_param
        has_kernel = p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w")
        if p.global_pooling and has_kernel:
            raise CaffeFormatError("with global_pooling: true the kernel size cannot be given")
        if not p.global_pooling and not has_kernel:
            raise CaffeFormatError("kernel_size (or kernel_h and kernel_w) is required")
        return PoolingParam(
            pool=enum_name(p, "pool"), kernel=pool_pair(p, "kernel", None),
            stride=pool_pair(p, "stride", 1), pad=pool_pair(p, "pad", 0),
            global_pooling=p.global_pooling, round_mode=enum_name(p, "round_mode"))

    def write(c, lp):
        p = lp.pooling_param
        write_fields(c, p, skip=("kernel", "stride", "pad"))
        if not c.global_pooling:
            write_pool_pair(p, "kernel", c.kernel, 0)
        write_pool_pair(p, "stride", c.stride, 1)
        write_pool_pair(p, "pad", c.pad, 0)

    @classmethod
    def accepts_counts(cls, lp) -> bool:
        # Caffe's MAX pooling may output its argmax mask as a second top.
        return len(lp.bottom) == 1 and len(lp.top) == 2 and lp.pooling_param.pool == 0


@dataclass(frozen=True)
class SPPParam:
    """SPPParameter: ``pyramid_height`` levels of pooling, level l in 2^l x 2^l bins."""
    pyramid_height: int = 0
    pool: str = "MAX"


def spp_levels(layer, hw) -> list:
    """The PoolingParam of each pyramid level (spp_layer.cpp's GetPoolingParam): kernel
    ceil(size / bins), stride = kernel, pad (kernel * bins - size + 1) / 2."""
    levels = []
    for level in range(layer.params.pyramid_height):
        bins = 2 ** level
        kernel = tuple(-(-size // bins) for size in hw)
        pad = tuple((k * bins - size + 1) // 2 for k, size in zip(kernel, hw))
        levels.append(PoolingParam(pool=layer.params.pool, kernel=kernel, stride=kernel,
                                   pad=pad))
    return levels


@register("SPP")
class SPP(LayerType):
    """Spatial pyramid pooling: each level pooled, flattened and concatenated on axis 1;
    a single level is the pooling output itself (spp_layer.cpp)."""
    params, field = SPPParam, "spp_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        n, c, h, w = checked_nchw(layer, bottoms[0])
        if layer.params.pyramid_height < 1:
            raise ShapeError("pyramid_height must be at least 1", layer=layer.name,
                             layer_type=layer.type)
        sizes = []
        for p in spp_levels(layer, (h, w)):
            if p.pad[0] >= p.kernel[0] or p.pad[1] >= p.kernel[1]:
                raise ShapeError(f"{h}x{w} is too small for {layer.params.pyramid_height} "
                                 "pyramid levels (pad >= kernel)", layer=layer.name,
                                 layer_type=layer.type)
            sizes.append([pooled_size(size, k, s, pad, clip=any(p.pad)) for size, k, s, pad
                          in zip((h, w), p.kernel, p.stride, p.pad)])
        if len(sizes) == 1:
            return [(n, c, sizes[0][0], sizes[0][1])], []
        return [(n, c * sum(a * b for a, b in sizes))], []
