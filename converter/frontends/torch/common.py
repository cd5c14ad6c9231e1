"""Helpers shared by the PyTorch front end's converters."""

from __future__ import annotations

import torch

from .lower import Blob, Lowering


def pair(v, default=None):
    """An int or list (ATen's int[2], possibly empty or of length 1) as ``(h, w)``."""
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    return v * 2 if len(v) == 1 else v


def array(t: torch.Tensor):
    """A constant tensor as the float32 numpy blob Caffe stores."""
    return t.detach().to(torch.float32).contiguous().cpu().numpy()


def out(lw: Lowering, node, top: str) -> Blob:
    """The Blob for ``node``'s value, held by Caffe blob ``top``."""
    return Blob(top, lw.shape(node))


def is_tuple(node) -> bool:
    """True for ops returning several tensors (``getitem`` picks one)."""
    return isinstance(node.meta.get("val"), (tuple, list))
