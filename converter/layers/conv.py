"""Convolution, Deconvolution and Im2col: parameters, shape rules and Caffe translation
(conv_layer.cpp, deconv_layer.cpp, im2col_layer.cpp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import ShapeError, UnsupportedLayerError
from .common import Filler, Shape, canonical_axis
from .fields import conv_axes, read_filler, write_conv_axes, write_fields
from .registry import LayerType, register

Axes = Tuple[int, ...]


@dataclass(frozen=True)
class ConvolutionParam:
    """ConvolutionParameter. ``kernel``/``stride``/``pad``/``dilation`` hold one value per
    spatial axis; a pair of equal values (the spelling of a single value in the file) stands
    for that value on every spatial axis, so 1-D and 3-D convolutions read from one value
    work; :func:`geometry` resolves them against the bottom."""
    num_output: int = 0
    bias_term: bool = True
    kernel: Axes = (0, 0)
    stride: Axes = (1, 1)
    pad: Axes = (0, 0)
    dilation: Axes = (1, 1)
    group: int = 1
    weight_filler: Optional[Filler] = None
    bias_filler: Optional[Filler] = None
    axis: int = 1
    force_nd_im2col: bool = False  # which im2col Caffe runs; the arithmetic is the same


_AXES = ("kernel", "stride", "pad", "dilation")


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution over one bottom, resolved as BaseConvolutionLayer::LayerSetUp does:
    ``axis`` is the channel axis (the axes before it are independent inputs, Caffe's num_;
    the axes after it are spatial) and each tuple has one value per spatial axis."""
    axis: int
    kernel: Axes
    stride: Axes
    pad: Axes
    dilation: Axes

    @property
    def extent(self) -> Axes:
        """Each axis's dilated kernel extent, dilation * (kernel - 1) + 1."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


def _per_axis(layer, name: str, values, n: int) -> Axes:
    """``values`` for ``n`` spatial axes: one per axis, or one (a square pair) for all.

    The IR spells Caffe's single value as a square pair, so two equal values written out
    (or equal _h/_w) on a bottom with other than 2 spatial axes are taken as that one value
    where Caffe's count CHECK would refuse them; every other count mismatch is refused."""
    if len(values) == n:
        return tuple(values)
    if len(values) == 2 and values[0] == values[1]:
        return (values[0],) * n
    raise ShapeError(f"{name} has {len(values)} values {list(values)} for {n} spatial "
                     "axes: give one value, or one per spatial axis",
                     layer=layer.name, layer_type=layer.type)


def geometry(layer, bottom: Shape) -> ConvGeometry:
    """The :class:`ConvGeometry` of ``layer`` over a bottom of shape ``bottom``, with
    LayerSetUp's checks (kernel and stride positive; counts one or one per axis)."""
    p = layer.params
    axis = canonical_axis(p.axis, len(bottom), layer)
    n = len(bottom) - axis - 1
    kernel, stride, pad, dilation = (_per_axis(layer, f, getattr(p, f), n) for f in _AXES)
    if min(kernel, default=1) <= 0 or min(stride, default=1) <= 0:
        raise ShapeError(f"kernel {list(kernel)} and stride {list(stride)} must be positive",
                         layer=layer.name, layer_type=layer.type)
    return ConvGeometry(axis, kernel, stride, pad, dilation)


def _check_sizes(layer, channels: int) -> None:
    """BaseConvolutionLayer::LayerSetUp's checks, shared by Convolution and Deconvolution."""
    p = layer.params
    if p.num_output <= 0 or p.group <= 0:
        raise ShapeError("num_output and group must be positive",
                         layer=layer.name, layer_type=layer.type)
    if channels % p.group or p.num_output % p.group:
        raise ShapeError(f"channels {channels} and num_output {p.num_output} must divide by "
                         f"group {p.group}", layer=layer.name, layer_type=layer.type)


def _conv_shapes(layer, bottom: Shape, out_size, in_out):
    """(tops, blobs) of a convolution-like layer: ``out_size(size, axis_index, g)`` gives a
    spatial output size; ``in_out(c)`` the weight's first two axes."""
    p, g = layer.params, geometry(layer, bottom)
    c = bottom[g.axis]
    _check_sizes(layer, c)
    out = tuple(out_size(size, i, g) for i, size in enumerate(bottom[g.axis + 1:]))
    blobs = [in_out(c) + g.kernel]
    if p.bias_term:
        blobs.append((p.num_output,))
    return [tuple(bottom[:g.axis]) + (p.num_output,) + out], blobs


@register("Convolution")
class Convolution(LayerType):
    params, field = ConvolutionParam, "convolution_param"
    bottoms, tops = (1, 1), (1, 1)

    def shape(layer, bottoms):
        """Per spatial axis out = (in + 2*pad - extent) // stride + 1 (conv_layer.cpp's
        compute_output_shape); the axes before ``axis`` pass through, ``axis`` becomes
        num_output; the weight is (num_output, C / group) + kernel."""
        def out_size(size, i, g):
            o = (size + 2 * g.pad[i] - g.extent[i]) // g.stride[i] + 1
            if o <= 0:
                raise ShapeError(f"kernel extent {g.extent[i]} exceeds padded input "
                                 f"{size + 2 * g.pad[i]}", layer=layer.name,
                                 layer_type=layer.type)
            return o
        p = layer.params
        return _conv_shapes(layer, bottoms[0], out_size,
                            lambda c: (p.num_output, c // p.group))

    def read(lp):
        p = lp.convolution_param
        return ConvolutionParam(
            num_output=p.num_output, bias_term=p.bias_term, kernel=conv_axes(p, "kernel", None),
            stride=conv_axes(p, "stride", 1), pad=conv_axes(p, "pad", 0),
            dilation=conv_axes(p, "dilation", 1), group=p.group,
            weight_filler=read_filler(p, "weight_filler"),
            bias_filler=read_filler(p, "bias_filler"), axis=p.axis,
            force_nd_im2col=p.force_nd_im2col)

    def write(c, lp):
        p = lp.convolution_param
        p.num_output = c.num_output  # required by Caffe, so always written
        write_fields(c, p, skip=("num_output",) + _AXES)
        write_conv_axes(p, "pad", c.pad, 0)
        write_conv_axes(p, "kernel", c.kernel, 0)
        write_conv_axes(p, "stride", c.stride, 1)
        write_conv_axes(p, "dilation", c.dilation, 1)

    @classmethod
    def accepts_counts(cls, lp) -> bool:
        # Caffe also runs weight-sharing convolution over several bottom/top pairs.
        return len(lp.bottom) == len(lp.top)


@register("Deconvolution")
class Deconvolution(Convolution):
    """Caffe Deconvolution (the transpose of Convolution; same parameters). Its weight blob is
    (C_in, num_output / group) + kernel and per spatial axis
    out = stride * (in - 1) + extent - 2 * pad (DeconvolutionLayer::compute_output_shape)."""

    def shape(layer, bottoms):
        def out_size(size, i, g):
            o = g.stride[i] * (size - 1) + g.extent[i] - 2 * g.pad[i]
            if o <= 0:
                raise ShapeError(f"output size {o} is not positive", layer=layer.name,
                                 layer_type=layer.type)
            return o
        p = layer.params
        return _conv_shapes(layer, bottoms[0], out_size,
                            lambda c: (c, p.num_output // p.group))


@register("Im2col")
class Im2col(Convolution):
    """Caffe Im2col: the columns a convolution with these kernel/stride/pad/dilation would
    multiply, (N, C * kh * kw, out_h, out_w) in (c, kh, kw) order; num_output and the
    fillers are unused and there are no blobs (im2col_layer.cpp)."""

    def shape(layer, bottoms):
        g = geometry(layer, bottoms[0])
        if g.axis != 1 or len(g.kernel) != 2:
            # Caffe's Im2col also runs N-D; the back ends here unfold (N, C, H, W) only.
            raise UnsupportedLayerError(f"Im2col of a {len(bottoms[0])}-D bottom with axis "
                                        f"{layer.params.axis}: only 4-D (N, C, H, W), axis 1",
                                        layer=layer.name, layer_type=layer.type)
        (n, c, h, w) = bottoms[0]
        out = [(size + 2 * pad - e) // s + 1
               for size, e, s, pad in zip((h, w), g.extent, g.stride, g.pad)]
        if min(out) <= 0:
            raise ShapeError("kernel extent exceeds the padded input", layer=layer.name,
                             layer_type=layer.type)
        return [(n, c * g.kernel[0] * g.kernel[1], out[0], out[1])], []
