"""Convolution (a module that takes fused post-ops), Deconvolution and Im2col in PyTorch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.conv import Im2col
from . import onednn
from .module import CaffeModule, zeros
from .registry import register


class CaffeConvolution(onednn.PackedConvolution, CaffeModule):
    """Caffe Convolution: cross-correlation with group, dilation, (h, w) pad/kernel/stride.

    Caffe's output size is floor((H + 2p - (d(k-1)+1)) / s) + 1, the same as ``F.conv2d``.
    No-grad float32 CPU calls use a prepacked oneDNN weight (see ``onednn.py``).
    """
    caffe_blobs = ("weight", "bias")
    takes_post_ops = True

    def __init__(self, in_channels: int, p):
        super().__init__()
        self.stride, self.padding = tuple(p.stride), tuple(p.pad)
        self.dilation, self.groups = tuple(p.dilation), p.group
        shape = (p.num_output, in_channels // p.group) + tuple(p.kernel)
        self.weight = nn.Parameter(zeros(shape))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x, other=None, *, relu: bool = False):
        """The convolution of ``x``; with ``other``, plus ``other`` (an Eltwise SUM fused in,
        possibly computed in ``other``'s memory: the plan passes only a dead value); with
        ``relu``, then max(., 0) (a ReLU fused in). See ``fusion.py``."""
        geometry = (self.padding, self.stride, self.dilation, self.groups)
        y = self.packed_conv2d(x, geometry, other, relu)
        if y is not None:
            return y
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                     self.dilation, self.groups)
        return onednn.add_relu(y, other, relu)

    def fresh(self, n_bottoms: int) -> bool:
        return True


@register("Convolution")
def convert_convolution(layer, shapes):
    return CaffeConvolution(shapes[0][1], layer.params)


class CaffeDeconvolution(CaffeModule):
    """Caffe Deconvolution: the transpose of a convolution with the same geometry; the
    weight is (C_in, num_output / group, kh, kw), as ``F.conv_transpose2d`` takes it, and
    the output size stride * (in - 1) + dilation * (k - 1) + 1 - 2 * pad (no output
    padding), as deconv_layer.cpp."""
    caffe_blobs = ("weight", "bias")

    def __init__(self, in_channels: int, p):
        super().__init__()
        self.stride, self.padding = tuple(p.stride), tuple(p.pad)
        self.dilation, self.groups = tuple(p.dilation), p.group
        self.weight = nn.Parameter(zeros((in_channels, p.num_output // p.group)
                                         + tuple(p.kernel)))
        self.bias = nn.Parameter(torch.zeros(p.num_output)) if p.bias_term else None
        if not p.bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, 0,
                                  self.groups, self.dilation)

    def fresh(self, n_bottoms: int) -> bool:
        return True


@register("Deconvolution")
def convert_deconvolution(layer, shapes):
    return CaffeDeconvolution(shapes[0][1], layer.params)


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
