"""Convolution, Deconvolution and Im2col: parameters, shape rules and Caffe translation
(conv_layer.cpp, deconv_layer.cpp, im2col_layer.cpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ShapeError, UnsupportedLayerError
from .common import Filler, Pair, checked_nchw
from .fields import conv_pair, read_filler, write_conv_pair, write_fields
from .registry import LayerType, register


@dataclass(frozen=True)
class ConvolutionParam:
    """ConvolutionParameter; 2-D only (ResNets and classic classifiers)."""
    num_output: int = 0
    bias_term: bool = True
    kernel: Pair = (0, 0)
    stride: Pair = (1, 1)
    pad: Pair = (0, 0)
    dilation: Pair = (1, 1)
    group: int = 1
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None


_PAIRS = ("kernel", "stride", "pad", "dilation")


def _check_sizes(layer, channels: int) -> None:
    """BaseConvolutionLayer::LayerSetUp's checks, shared by Convolution and Deconvolution."""
    p = layer.params
    if p.num_output <= 0 or min(p.kernel) <= 0 or min(p.stride) <= 0 or p.group <= 0:
        raise ShapeError("num_output, kernel, stride and group must be positive",
                         layer=layer.name, layer_type=layer.type)
    if channels % p.group or p.num_output % p.group:
        raise ShapeError(f"channels {channels} and num_output {p.num_output} must divide by "
                         f"group {p.group}", layer=layer.name, layer_type=layer.type)


@register("Convolution")
class Convolution(LayerType):
    params, field = ConvolutionParam, "convolution_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        """out = (in + 2*pad - (dilation*(kernel-1)+1)) // stride + 1 (floor)."""
        p, (n, c, h, w) = layer.params, checked_nchw(layer, bottoms[0])
        _check_sizes(layer, c)
        out = []
        for size, k, s, pad, d in zip((h, w), p.kernel, p.stride, p.pad, p.dilation):
            extent = d * (k - 1) + 1
            o = (size + 2 * pad - extent) // s + 1
            if o <= 0:
                raise ShapeError(f"kernel extent {extent} exceeds padded input "
                                 f"{size + 2 * pad}", layer=layer.name, layer_type=layer.type)
            out.append(o)
        blobs = [(p.num_output, c // p.group) + tuple(p.kernel)]
        if p.bias_term:
            blobs.append((p.num_output,))
        return [(n, p.num_output, out[0], out[1])], blobs

    def read(lp):
        p = lp.convolution_param
        if p.axis != 1:  # channels at another axis: N-D im2col only, not 2-D NCHW
            raise UnsupportedLayerError(f"convolution_param.axis {p.axis}: only axis 1")
        return ConvolutionParam(
            num_output=p.num_output, bias_term=p.bias_term, kernel=conv_pair(p, "kernel", None),
            stride=conv_pair(p, "stride", 1), pad=conv_pair(p, "pad", 0),
            dilation=conv_pair(p, "dilation", 1), group=p.group,
            weight_filler=read_filler(p, "weight_filler"),
            bias_filler=read_filler(p, "bias_filler"))

    def write(c, lp):
        p = lp.convolution_param
        p.num_output = c.num_output  # required by Caffe, so always written
        write_fields(c, p, skip=("num_output",) + _PAIRS)
        write_conv_pair(p, "pad", c.pad, 0)
        write_conv_pair(p, "kernel", c.kernel, 0)
        write_conv_pair(p, "stride", c.stride, 1)
        if c.dilation != (1, 1):
            # Caffe has no dilation_h/_w: the repeated form is the only spelling.
            p.dilation.extend(c.dilation if c.dilation[0] != c.dilation[1] else c.dilation[:1])

    @classmethod
    def accepts_counts(cls, lp) -> bool:
        # Caffe also runs weight-sharing convolution over several bottom/top pairs.
        return len(lp.bottom) == len(lp.top)


@register("Deconvolution")
class Deconvolution(Convolution):
    """Caffe Deconvolution (the transpose of Convolution; same parameters). Its weight blob is
    (C_in, num_output / group, kh, kw) and out = stride * (in - 1) + extent - 2 * pad
    (DeconvolutionLayer::compute_output_shape)."""

    def shape(layer, bottoms):
        p, (n, c, h, w) = layer.params, checked_nchw(layer, bottoms[0])
        _check_sizes(layer, c)
        out = []
        for size, k, s, pad, d in zip((h, w), p.kernel, p.stride, p.pad, p.dilation):
            o = s * (size - 1) + d * (k - 1) + 1 - 2 * pad
            if o <= 0:
                raise ShapeError(f"output size {o} is not positive", layer=layer.name,
                                 layer_type=layer.type)
            out.append(o)
        blobs = [(c, p.num_output // p.group) + tuple(p.kernel)]
        if p.bias_term:
            blobs.append((p.num_output,))
        return [(n, p.num_output, out[0], out[1])], blobs


@register("Im2col")
class Im2col(Convolution):
    """Caffe Im2col: the columns a convolution with these kernel/stride/pad/dilation would
    multiply, (N, C * kh * kw, out_h, out_w) in (c, kh, kw) order; num_output and the
    fillers are unused and there are no blobs (im2col_layer.cpp)."""

    def shape(layer, bottoms):
        p, (n, c, h, w) = layer.params, checked_nchw(layer, bottoms[0])
        if min(p.kernel) <= 0 or min(p.stride) <= 0:
            raise ShapeError("kernel and stride must be positive", layer=layer.name,
                             layer_type=layer.type)
        out = [(size + 2 * pad - (d * (k - 1) + 1)) // s + 1
               for size, k, s, pad, d in zip((h, w), p.kernel, p.stride, p.pad, p.dilation)]
        if min(out) <= 0:
            raise ShapeError("kernel extent exceeds the padded input", layer=layer.name,
                             layer_type=layer.type)
        return [(n, c * p.kernel[0] * p.kernel[1], out[0], out[1])], []
