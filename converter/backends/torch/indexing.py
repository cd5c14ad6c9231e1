"""Embed, BatchReindex, Filter and Parameter in PyTorch."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .module import CaffeModule, zeros
from .registry import register


class CaffeEmbed(CaffeModule):
    """Caffe Embed: row int(x) of the (input_dim, num_output) table, plus the bias, for each
    bottom element (embed_layer.cpp casts the float index with static_cast<int>)."""
    caffe_blobs = ("weight", "bias")

    def __init__(self, input_dim: int, num_output: int, bias_term: bool):
        super().__init__()
        self.weight = nn.Parameter(zeros((input_dim, num_output)))
        self.bias = nn.Parameter(torch.zeros(num_output)) if bias_term else None
        if not bias_term:
            self.caffe_blobs = ("weight",)

    def forward(self, x):
        y = F.embedding(x.long(), self.weight)
        return y + self.bias if self.bias is not None else y

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeBatchReindex(CaffeModule):
    """Caffe BatchReindex: top[i] = bottom[0][int(bottom[1][i])]."""

    def forward(self, x, index):
        return x.index_select(0, index.long())

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeFilter(CaffeModule):
    """Caffe Filter: the items of each data bottom whose selector (the last bottom) is
    nonzero, in order; the batch of the tops is known only at run time."""

    def __init__(self, n_tops: int):
        super().__init__()
        self.n_tops = n_tops

    def forward(self, *bottoms):
        keep = bottoms[-1].reshape(bottoms[-1].shape[0]) != 0
        tops = tuple(b[keep] for b in bottoms[:-1])
        return tops if self.n_tops > 1 else tops[0]

    def fresh(self, n_bottoms: int) -> bool:
        return True


class CaffeParameter(CaffeModule):
    """Caffe Parameter: its one learned blob, as a top (no bottoms)."""
    caffe_blobs = ("weight",)

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(tuple(shape)))

    def forward(self):
        return self.weight


@register("Embed")
def convert_embed(layer, shapes):
    p = layer.params
    return CaffeEmbed(p.input_dim, p.num_output, p.bias_term)


@register("BatchReindex")
def convert_batch_reindex(layer, shapes):
    return CaffeBatchReindex()


@register("Filter")
def convert_filter(layer, shapes):
    return CaffeFilter(len(layer.tops))


@register("Parameter")
def convert_parameter(layer, shapes):
    return CaffeParameter(layer.params.shape)
