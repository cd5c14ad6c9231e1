"""Convolution in PyTorch: a module that takes fused post-ops, and its converter."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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
