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

from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

from .torch_ops import CaffeBatchNorm, CaffeConvolution, CaffeScale


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


def _per_channel_scale(module: CaffeScale, channels: int) -> bool:
    """True for a one-bottom Scale whose gamma is one value per channel of an N,C,H,W blob."""
    return (not module.two_bottoms and tuple(module.weight.shape) == (channels,)
            and module.trailing == 2)


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
    return weight * mult[:, None, None, None], bias * mult + shift


def _apply(conv: CaffeConvolution, weight: np.ndarray, bias: np.ndarray) -> None:
    like = conv.weight
    conv.weight = nn.Parameter(torch.from_numpy(weight).to(like.dtype).to(like.device))
    conv.bias = nn.Parameter(torch.from_numpy(bias).to(like.dtype).to(like.device))
    conv.caffe_blobs = ("weight", "bias")


def fold_batchnorm(model) -> List[str]:
    """Fold every eligible Convolution -> BatchNorm (-> Scale) chain of ``model`` (a
    CaffeNet) in place. Returns the names of the folded BatchNorm/Scale submodules."""
    removed: List[str] = []
    i = 0
    while i < len(model.plan):
        name, bottoms, tops = model.plan[i]
        conv = model._modules[name]
        consumers = _consumers(model.plan)
        j = (_sole_consumer(model, consumers, tops[0], CaffeBatchNorm)
             if isinstance(conv, CaffeConvolution) else None)
        if j is None or not model._modules[model.plan[j][0]].use_global_stats:
            i += 1
            continue
        bn_name, _, bn_tops = model.plan[j]
        k = _sole_consumer(model, consumers, bn_tops[0], CaffeScale)
        if k is not None and not _per_channel_scale(model._modules[model.plan[k][0]],
                                                    conv.weight.shape[0]):
            k = None
        steps = [j] if k is None else [j, k]
        scale = None if k is None else model._modules[model.plan[k][0]]
        _apply(conv, *_fold_numbers(conv, model._modules[bn_name], scale))
        model.plan[i] = (name, bottoms, model.plan[steps[-1]][2])
        gone = [model.plan[s][0] for s in steps]
        for s in sorted(steps, reverse=True):
            del model.plan[s]
        for g in gone:
            delattr(model, g)
        removed.extend(gone)
        model.layer_modules = {k2: v for k2, v in model.layer_modules.items() if v not in removed}
        i += 1
    model.folded.extend(removed)
    return removed
