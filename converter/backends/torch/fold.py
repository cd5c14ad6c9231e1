"""Fold Caffe BatchNorm (+ a following per-channel Scale) into the preceding Convolution.

With global statistics, BatchNorm is the per-channel affine map
``y = (x - mean) * inv``, ``inv = 1 / sqrt(var + eps)`` (mean, var already divided by
Caffe's factor f, or 0 when f == 0), and Scale is ``y * gamma + beta``; both compose with the
convolution's weights and bias exactly in real arithmetic. The fold is computed in float64
and rounded once to the parameters' dtype.

A fold is only done where it cannot change any value the module exposes: the convolution's
top must be read by the BatchNorm alone (in SSA form: nothing else, before or after, sees the
pre-BN value), the BatchNorm must use global statistics, and neither intermediate value may be
a requested output. In-place chains (conv -> BN -> Scale on one blob) are the common case.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .conv import CaffeConvolution
from .norm import CaffeBatchNorm, CaffeScale
from .plan import PlanStep


def _consumers(plan) -> Dict[str, List[int]]:
    """SSA blob -> indices of plan steps that read it."""
    found: Dict[str, List[int]] = {}
    for i, (_, bottoms, _) in enumerate(plan):
        for b in bottoms:
            found.setdefault(b, []).append(i)
    return found


def _sole_consumer(model, consumers, blob: str, kind) -> Optional[int]:
    """Index of the single step reading ``blob`` if it is a ``kind`` module and ``blob`` is
    not returned by forward; otherwise None."""
    users = consumers.get(blob, [])
    protected = {model.blob_map[n] for n in model.output_names}
    if len(users) != 1 or blob in protected:
        return None
    module = model._modules[model.plan[users[0]][0]]
    return users[0] if isinstance(module, kind) else None


def _per_channel_scale(module: CaffeScale, conv: CaffeConvolution) -> bool:
    """True for a one-bottom Scale whose gamma is one value per channel (axis 1) of the
    convolution's output (N, C, spatial...)."""
    return (not module.two_bottoms and tuple(module.weight.shape) == (conv.weight.shape[0],)
            and module.trailing == conv.weight.dim() - 2)


def _fold_numbers(conv: CaffeConvolution, bn: CaffeBatchNorm, scale: Optional[CaffeScale]):
    """The folded (weight, bias) as float64 arrays."""
    mean, var = (t.detach().double().cpu().numpy() for t in bn.statistics())
    mult = 1.0 / np.sqrt(var + np.float64(np.float32(bn.eps)))
    shift = -mean * mult
    if scale is not None:
        gamma = scale.weight.detach().double().cpu().numpy()
        mult, shift = mult * gamma, shift * gamma
        if scale.bias is not None:
            shift = shift + scale.bias.detach().double().cpu().numpy()
    weight = conv.weight.detach().double().cpu().numpy()
    bias = np.zeros(weight.shape[0]) if conv.bias is None else conv.bias.detach().double().cpu().numpy()
    return weight * mult.reshape((-1,) + (1,) * (weight.ndim - 1)), bias * mult + shift


def _apply(conv: CaffeConvolution, weight: np.ndarray, bias: np.ndarray) -> None:
    like = conv.weight
    conv.weight = nn.Parameter(torch.from_numpy(weight).to(like.dtype).to(like.device))
    conv.bias = nn.Parameter(torch.from_numpy(bias).to(like.dtype).to(like.device))
    conv.caffe_blobs = ("weight", "bias")


def _chain(model, consumers, i) -> Optional[Tuple[int, Optional[int]]]:
    """(BatchNorm step, Scale step or None) that step ``i`` can absorb; None if none."""
    name, _, tops = model.plan[i]
    conv = model._modules[name]
    if not isinstance(conv, CaffeConvolution) or not conv.folds_batchnorm:
        return None
    j = _sole_consumer(model, consumers, tops[0], CaffeBatchNorm)
    if j is None or not model._modules[model.plan[j][0]].use_global_stats:
        return None
    k = _sole_consumer(model, consumers, model.plan[j][2][0], CaffeScale)
    if k is not None and not _per_channel_scale(model._modules[model.plan[k][0]], conv):
        k = None
    return j, k


def fold_batchnorm(model) -> List[PlanStep]:
    """Fold every eligible Convolution -> BatchNorm (-> Scale) chain of ``model`` (a
    CaffeNet): the convolutions get the folded weights, and the returned plan -- a new list;
    ``model.plan`` is not edited -- leaves the BatchNorm/Scale steps out. Pass it to
    ``model.use_plan``, which drops the folded submodules and plans memory again."""
    consumers = _consumers(model.plan)
    absorbed, plan = set(), []
    for i, (name, bottoms, tops) in enumerate(model.plan):
        if i in absorbed:
            continue
        chain = _chain(model, consumers, i)
        if chain is None:
            plan.append((name, bottoms, tops))
            continue
        j, k = chain
        scale = None if k is None else model._modules[model.plan[k][0]]
        conv = model._modules[name]
        _apply(conv, *_fold_numbers(conv, model._modules[model.plan[j][0]], scale))
        last = j if k is None else k
        absorbed.update((j, last))
        plan.append((name, bottoms, model.plan[last][2]))
    return plan
