"""Concat, Flatten, Reshape and Split in PyTorch."""

from __future__ import annotations

from typing import Sequence

import torch

from ...layers import canonical_axis
from .module import CaffeModule
from .registry import register


class CaffeConcat(CaffeModule):
    """Caffe Concat along ``axis``."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class CaffeFlatten(CaffeModule):
    """Caffe Flatten: merge axes [axis, end_axis] (canonical, inclusive)."""

    def __init__(self, axis: int, end_axis: int):
        super().__init__()
        self.axis, self.end_axis = axis, end_axis

    def forward(self, x):
        return x.flatten(self.axis, self.end_axis)


class CaffeReshape(CaffeModule):
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


class CaffeSplit(CaffeModule):
    """Caffe Split: every top is the bottom's value."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        return tuple(x for _ in range(self.n))


@register("Concat")
def convert_concat(layer, shapes):
    return CaffeConcat(canonical_axis(layer.params.axis, len(shapes[0]), layer))


@register("Flatten")
def convert_flatten(layer, shapes):
    n = len(shapes[0])
    return CaffeFlatten(canonical_axis(layer.params.axis, n, layer),
                        canonical_axis(layer.params.end_axis, n, layer))


@register("Reshape")
def convert_reshape(layer, shapes):
    p, n = layer.params, len(shapes[0])
    # reshape_layer.cpp: a negative axis counts from the end, -1 meaning "after the last".
    start = p.axis if p.axis >= 0 else n + p.axis + 1
    end = None if p.num_axes == -1 else start + p.num_axes
    return CaffeReshape(p.shape, start, end)


@register("Split")
def convert_split(layer, shapes):
    return CaffeSplit(len(layer.tops))
