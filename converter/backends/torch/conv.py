"""Convolution (a module that takes fused post-ops), Deconvolution and Im2col in PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.conv import ConvGeometry, Im2col, geometry
from . import onednn
from .module import CaffeModule, zeros
from .registry import refuse, register

#: PyTorch's convolutions by number of spatial axes (Caffe's CPU im2col runs any number).
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _plain_geometry(p) -> ConvGeometry:
    """The geometry of ``p`` taken as written: channels at axis 1, one value per axis."""
    return ConvGeometry(1, tuple(p.kernel), tuple(p.stride), tuple(p.pad), tuple(p.dilation))


def _checked_geometry(layer, shape) -> ConvGeometry:
    """``layer``'s geometry over ``shape``; 1, 2 or 3 spatial axes, as PyTorch has."""
    g = geometry(layer, shape)
    if len(g.kernel) not in _CONV:
        refuse(layer, f"{len(g.kernel)} spatial axes (a {len(shape)}-D bottom, axis "
                      f"{g.axis}): PyTorch convolves over 1, 2 or 3 spatial axes only")
    return g


class _Batched(CaffeModule):
    """Geometry shared by the convolution modules. Caffe treats the axes before the channel
    axis as independent inputs (base_conv_layer.cpp's num_): with channels at axis ``a``
    other than 1 the input is viewed as (prod(shape[:a]), C, spatial...) and back."""

    def _set_geometry(self, p, g: ConvGeometry) -> None:
        self.stride, self.padding, self.dilation = g.stride, g.pad, g.dilation
        self.groups, self.axis = p.group, g.axis

    def _flat(self, x):
        return x if self.axis == 1 else x.reshape((-1,) + tuple(x.shape[self.axis:]))

    def _unflat(self, y, x):
        return y if self.axis == 1 else y.reshape(tuple(x.shape[:self.axis]) + tuple(y.shape[1:]))

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeConvolution(onednn.PackedConvolution, _Batched):
    """Caffe Convolution: cross-correlation with group, dilation, per-axis pad/kernel/stride
    over 1, 2 or 3 spatial axes (``F.conv1d``/``conv2d``/``conv3d``).

    Caffe's output size is floor((in + 2p - (d(k-1)+1)) / s) + 1 per axis, the same as
    PyTorch's. No-grad float32 CPU calls of a 2-D one use a prepacked oneDNN weight (see
    ``onednn.py``); every other one runs the plain op.
    """
    caffe_blobs = ("weight", "bias")
    takes_post_ops = True

    def __init__(self, in_channels: int, p, g: ConvGeometry | None = None):
        super().__init__()
        g = g or _plain_geometry(p)
        self._set_geometry(p, g)
        self.weight = nn.Parameter(zeros((p.num_output, in_channels // p.group) + g.kernel))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    @property
    def folds_batchnorm(self) -> bool:
        """Whether a following BatchNorm (channels at axis 1) may be folded in (fold.py)."""
        return self.axis == 1

    def forward(self, x, other=None, *, relu: bool = False):
        """The convolution of ``x``; with ``other``, plus ``other`` (an Eltwise SUM fused in,
        possibly computed in ``other``'s memory: the plan passes only a dead value); with
        ``relu``, then max(., 0) (a ReLU fused in). See ``fusion.py``."""
        if self.axis == 1 and len(self.stride) == 2:
            geometry = (self.padding, self.stride, self.dilation, self.groups)
            y = self.packed_conv2d(x, geometry, other, relu)
            if y is not None:
                return y
        y = _CONV[len(self.stride)](self._flat(x), self.weight, self.bias, self.stride,
                                    self.padding, self.dilation, self.groups)
        return onednn.add_relu(self._unflat(y, x), other, relu)


@register("Convolution")
def convert_convolution(layer, shapes):
    g = _checked_geometry(layer, shapes[0])
    return CaffeConvolution(shapes[0][g.axis], layer.params, g)


class CaffeDeconvolution(_Batched):
    """Caffe Deconvolution: the transpose of a convolution with the same geometry over 1, 2
    or 3 spatial axes; the weight is (C_in, num_output / group) + kernel, as
    ``F.conv_transpose{1,2,3}d`` takes it, and the output size per axis
    stride * (in - 1) + dilation * (k - 1) + 1 - 2 * pad (no output padding), as
    deconv_layer.cpp."""
    caffe_blobs = ("weight", "bias")

    def __init__(self, in_channels: int, p, g: ConvGeometry | None = None):
        super().__init__()
        g = g or _plain_geometry(p)
        self._set_geometry(p, g)
        self.weight = nn.Parameter(zeros((in_channels, p.num_output // p.group) + g.kernel))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x):
        y = _CONV_T[len(self.stride)](self._flat(x), self.weight, self.bias, self.stride,
                                      self.padding, 0, self.groups, self.dilation)
        return self._unflat(y, x)


@register("Deconvolution")
def convert_deconvolution(layer, shapes):
    g = _checked_geometry(layer, shapes[0])
    return CaffeDeconvolution(shapes[0][g.axis], layer.params, g)


class CaffeIm2col(CaffeModule):
    """Caffe Im2col: ``F.unfold``'s columns, (N, C * kh * kw, L) in (c, kh, kw) order as
    Caffe's im2col_cpu, viewed as (N, C * kh * kw, out_h, out_w)."""

    def __init__(self, p, out_hw):
        super().__init__()
        self.kernel, self.stride = tuple(p.kernel), tuple(p.stride)
        self.padding, self.dilation = tuple(p.pad), tuple(p.dilation)
        self.out_hw = tuple(out_hw)

    def forward(self, x):
        cols = F.unfold(x, self.kernel, self.dilation, self.padding, self.stride)
        return cols.reshape(cols.shape[0], cols.shape[1], *self.out_hw)


@register("Im2col")
def convert_im2col(layer, shapes):
    top = Im2col.shape(layer, shapes)[0][0]
    return CaffeIm2col(layer.params, top[2:])
