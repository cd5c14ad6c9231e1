"""Normalisation layers: BatchNorm, Scale (Caffe's ResNets pair them), Bias, LRN and MVN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import CaffeFormatError, ShapeError
from .common import Filler, canonical_axis, checked_nchw
from .fields import read_fields, write_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class BatchNormParam:
    """BatchNormParameter. ``use_global_stats`` None means Caffe's default: true in TEST phase."""
    use_global_stats: Optional[bool] = None
    moving_average_fraction: float = 0.999
    eps: float = 1e-5


@dataclass(frozen=True)
class ScaleParam:
    """ScaleParameter (also covers the two-bottom form, where the scale comes from bottom[1])."""
    axis: int = 1
    num_axes: int = 1
    bias_term: bool = False
    filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


@dataclass(frozen=True)
class BiasParam:
    """BiasParameter: y = x + b, b laid over axes [axis, axis + num_axes) (or bottom[1])."""
    axis: int = 1
    num_axes: int = 1
    filler: Optional[Filler] = None


@dataclass(frozen=True)
class LRNParam:
    local_size: int = 5
    alpha: float = 1.0
    beta: float = 0.75
    norm_region: str = "ACROSS_CHANNELS"  # or WITHIN_CHANNEL
    k: float = 1.0


@register("BatchNorm")
class BatchNorm(LayerType):
    params, field = BatchNormParam, "batch_norm_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        shape = bottoms[0]
        c = shape[1] if len(shape) > 1 else 1
        # mean, variance, and the moving-average scale factor Caffe divides both by.
        return [shape], [(c,), (c,), (1,)]

    def write(c, lp):
        # An unset use_global_stats means "true in TEST" (BatchNormLayer::LayerSetUp), so
        # the field is written only when set; the block itself always is (Kaiming's files).
        write_fields(c, lp.batch_norm_param)
        lp.batch_norm_param.SetInParent()


def scale_extent(layer, bottoms):
    """(axis, scale shape) of a Scale or Bias layer: from bottom[1] in the two-bottom form,
    else ``num_axes`` axes of bottom[0] from ``axis`` (scale_layer.cpp's and
    bias_layer.cpp's LayerSetUp/Reshape, which agree)."""
    p, shape = layer.params, bottoms[0]
    if len(bottoms) == 2:
        scale = tuple(bottoms[1])
        # An axis is meaningless for a scalar second bottom.
        axis = canonical_axis(p.axis, len(shape), layer) if scale else 0
        if tuple(shape[axis:axis + len(scale)]) != scale:
            raise ShapeError(f"{layer.type.lower()} shape {list(scale)} does not match bottom "
                             f"{list(shape)} at axis {axis}", layer=layer.name,
                             layer_type=layer.type)
        return axis, scale
    axis = canonical_axis(p.axis, len(shape), layer) if p.num_axes != 0 else 0
    end = len(shape) if p.num_axes == -1 else axis + p.num_axes
    if end > len(shape):
        raise ShapeError(f"num_axes {p.num_axes} from axis {axis} exceeds the bottom's "
                         f"{len(shape)} axes", layer=layer.name, layer_type=layer.type)
    return axis, tuple(shape[axis:end])


@register("Scale")
class Scale(LayerType):
    params, field = ScaleParam, "scale_param"
    bottoms, tops = (1, 2), (1, 1)

    def shape(layer, bottoms):
        shape = bottoms[0]
        _, scale = scale_extent(layer, bottoms)
        blobs = [] if len(bottoms) == 2 else [scale]
        if layer.params.bias_term:
            blobs.append(tuple(scale))
        return [shape], blobs


@register("Bias")
class Bias(LayerType):
    """BiasLayer: y = x + b; b is blob 0, or bottom[1] in the two-bottom form (no blob)."""
    params, field = BiasParam, "bias_param"
    bottoms, tops = (1, 2), (1, 1)

    def shape(layer, bottoms):
        _, bias = scale_extent(layer, bottoms)
        return [bottoms[0]], ([] if len(bottoms) == 2 else [bias])


@register("LRN")
class LRN(LayerType):
    params, field = LRNParam, "lrn_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        # lrn_layer.cpp Reshape: CHECK_EQ(4, num_axes) "Input must have 4 axes".
        return [checked_nchw(layer, bottoms[0])], []

    def read(lp):
        p = lp.lrn_param
        if p.local_size % 2 == 0:  # LRNLayer::LayerSetUp's check
            raise CaffeFormatError(f"local_size {p.local_size}: LRN only supports odd values")
        return read_fields(LRNParam, p)


@dataclass(frozen=True)
class MVNParam:
    """MVNParameter: subtract the mean (and divide by std + eps) over each (n, c) plane, or
    over each sample when across_channels."""
    normalize_variance: bool = True
    across_channels: bool = False
    eps: float = 1e-9


@register("MVN")
class MVN(LayerType):
    params, field = MVNParam, "mvn_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        return [bottoms[0]], []
