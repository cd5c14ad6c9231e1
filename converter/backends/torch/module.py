"""What every PyTorch layer module shares: its Caffe blobs, its facts for the memory plan,
and Caffe's default fill.

Each parametric module lists its Caffe blobs, in Caffe's order, in ``caffe_blobs`` (attribute
names of parameters or buffers), so weights load by name with shape checks
(see ``net.load_weights``). Parameters start as Caffe's default fillers would leave them when
no filler is given (constant 0; Scale's gamma constant 1).

No module mutates its inputs unless asked: in-place Caffe chains are rebuilt in SSA form by the
back end, and ``forward_all`` needs every intermediate value intact. A module that lists
bottoms in ``reusable`` takes a keyword ``reuse=k``: it may then compute in bottom k's memory.
The memory plan (``plan.py``) passes it only for a value that nothing else reads or returns;
the arithmetic, and so every value, is the same either way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import nn

_SKIP_FILL = False


class CaffeModule(nn.Module):
    """Base of the layer modules: the facts the memory plan and the fusion read.

    * ``reusable``: bottoms whose memory ``forward(..., reuse=k)`` may compute in;
    * :meth:`fresh`: whether the output never shares memory with a value still in use;
    * :meth:`post_op`: "relu" or "sum" when the module can run as a post-op fused into the
      convolution feeding it (see ``fusion.py``), else None;
    * ``takes_post_ops``: whether the module accepts such post-ops (the convolution).
    """
    caffe_blobs: Tuple[str, ...] = ()
    reusable: Tuple[int, ...] = ()
    takes_post_ops = False
    #: Set only inside :func:`constants_frozen`: what :meth:`frozen_constants` returned.
    _frozen: Optional[tuple] = None

    def frozen_constants(self) -> Optional[tuple]:
        """Values that forward derives from the module's blobs on every call (per-channel
        statistics, parameters viewed to broadcast), computed here once with the very same
        float32 operations; None when there are none. See :func:`constants_frozen`."""
        return None

    def fresh(self, n_bottoms: int) -> bool:
        """True if the output is a new tensor, or a bottom's memory it was allowed to reuse."""
        return False

    def post_op(self, bottoms: Sequence[str]) -> Optional[str]:
        """The post-op this module is, given its bottoms' names; None if it is none."""
        return None


@contextlib.contextmanager
def constants_frozen(root: nn.Module) -> Iterator[None]:
    """Within this block, every CaffeModule under ``root`` uses its :meth:`frozen_constants`
    instead of deriving them in forward. Each value is computed by the same operations either
    way, so every output is bit for bit the same; what changes is the traced graph: a
    ResNet's BatchNorm is 2 nodes instead of 13, and ``torch.export``'s time is per node.
    The weights must not change inside the block."""
    found = [m for m in root.modules() if isinstance(m, CaffeModule)]
    try:
        with torch.no_grad():
            for module in found:
                module._frozen = module.frozen_constants()
        yield
    finally:
        for module in found:
            module._frozen = None


@contextlib.contextmanager
def weights_follow() -> Iterator[None]:
    """Within this block, Convolution/InnerProduct weights are allocated but not filled:
    for a module whose every Caffe blob is loaded right after (``to_torch`` with weights),
    filling ~all of the model's memory with zeros first is wasted work."""
    global _SKIP_FILL
    previous, _SKIP_FILL = _SKIP_FILL, True
    try:
        yield
    finally:
        _SKIP_FILL = previous


def zeros(shape) -> torch.Tensor:
    """Caffe's default (constant 0) filler, or uninitialised memory inside weights_follow()."""
    return torch.empty(shape) if _SKIP_FILL else torch.zeros(shape)


def trailing_view(t: torch.Tensor, trailing: int) -> torch.Tensor:
    """View ``t`` with ``trailing`` singleton axes appended, so it broadcasts against a blob
    from the axis where it starts (leading axes broadcast by right alignment)."""
    return t.reshape(tuple(t.shape) + (1,) * trailing)
