"""Concat, Slice, Crop, Tile, Flatten, Reshape and Split in PyTorch."""

from __future__ import annotations

from typing import Sequence

import torch

from ...layers import canonical_axis
from ...layers.reshape import crop_offsets, slice_sizes
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


class CaffeSlice(CaffeModule):
    """Caffe Slice: consecutive pieces of ``sizes`` along ``axis``, one per top (views)."""

    def __init__(self, axis: int, sizes: Sequence[int]):
        super().__init__()
        self.axis, self.sizes = axis, tuple(sizes)

    def forward(self, x):
        return tuple(torch.split(x, self.sizes, dim=self.axis))


class CaffeTile(CaffeModule):
    """Caffe Tile: ``tiles`` copies of the bottom along ``axis``, each the whole block of
    axes [axis, end) (tile_layer.cpp), which is what Tensor.repeat does on that axis."""

    def __init__(self, axis: int, tiles: int, ndim: int):
        super().__init__()
        self.repeats = tuple(tiles if i == axis else 1 for i in range(ndim))

    def forward(self, x):
        return x.repeat(self.repeats)


class CaffeCrop(CaffeModule):
    """Caffe Crop: bottom[0] cut to bottom[1]'s shape on axes from ``axis`` on, starting at
    ``offsets`` (the shapes are fixed when the net is built, as in Caffe)."""

    def __init__(self, axis: int, offsets: Sequence[int], sizes: Sequence[int]):
        super().__init__()
        self.axis, self.offsets, self.sizes = axis, tuple(offsets), tuple(sizes)

    def forward(self, x, ref=None):
        for i, (o, n) in enumerate(zip(self.offsets, self.sizes)):
            x = x.narrow(self.axis + i, o, n)
        return x


@register("Slice")
def convert_slice(layer, shapes):
    axis, sizes = slice_sizes(layer, shapes[0])
    return CaffeSlice(axis, sizes)


@register("Tile")
def convert_tile(layer, shapes):
    axis = canonical_axis(layer.params.axis, len(shapes[0]), layer)
    return CaffeTile(axis, layer.params.tiles, len(shapes[0]))


@register("Crop")
def convert_crop(layer, shapes):
    axis, offsets = crop_offsets(layer, shapes[0], shapes[1])
    return CaffeCrop(axis, offsets, shapes[1][axis:])
