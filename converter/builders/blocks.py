"""Shared building blocks for every ResNet family: a layer accumulator and residual units.

All builders write layers through :class:`NetBuilder`, so naming, BatchNorm/Scale settings and
train-versus-deploy details (fillers, BatchNorm ``param`` specs) are decided in one place.
Names follow Kaiming He's released Caffe files: a conv ``res2a_branch2a`` is followed in place by
``bn2a_branch2a``, ``scale2a_branch2a`` and ``res2a_branch2a_relu``; the sum is ``res2a``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Sequence

from ..errors import UsageError
from ..ir import (BatchNormParam, ConcatParam, ConvolutionParam, EltwiseParam, Filler,
                  InnerProductParam, Layer, ParamSpec, PoolingParam, PowerParam, ScaleParam)

SHORTCUTS = ("A", "B", "C")

#: Frozen blobs: excluded from learning (and from the paper's learnable-parameter counts).
FROZEN = ParamSpec(lr_mult=0.0, decay_mult=0.0)
#: Caffe's BatchNorm keeps its statistics in three blobs that the solver must not update.
BN_STAT_SPECS = (ParamSpec(lr_mult=0.0),) * 3


@dataclass(frozen=True)
class BNStyle:
    """How BatchNorm/Scale pairs are written: eps/momentum, and MXNet's fixed gamma."""
    eps: float = 1e-5
    moving_average_fraction: float = 0.999
    fix_gamma: bool = False


def bn_style(base: BNStyle, momentum: Optional[float] = None) -> BNStyle:
    """``base`` with Caffe's ``moving_average_fraction`` replaced when ``momentum`` is given
    (a short training wants ~0.9: at 0.999 the running statistics average over every
    iteration so far, weighted almost equally, so early weights' statistics linger)."""
    return base if momentum is None else replace(base, moving_average_fraction=momentum)


class NetBuilder:
    """Accumulates layers in Caffe order; every method returns the blob it wrote."""

    def __init__(self, train: bool = False, bn: BNStyle = BNStyle()):
        self.layers: List[Layer] = []
        self.train = train
        self.bn_style = bn

    def add(self, name, type_, bottoms, tops, params=None, specs=(), phase=None) -> str:
        """Append one layer and return its first top."""
        self.layers.append(Layer(name, type_, list(bottoms), list(tops), params, list(specs),
                                 phase))
        return tops[0] if tops else ""

    def conv(self, name, bottom, num_output, kernel, stride=1, pad=0, bias=False,
             group=1, top=None) -> str:
        """A square Convolution; train nets get MSRA weight fillers (He et al. 2015)."""
        weight, bias_f = None, None
        if self.train:
            weight = Filler(type="msra")
            bias_f = Filler(type="constant") if bias else None
        params = ConvolutionParam(num_output=num_output, bias_term=bias, kernel=(kernel, kernel),
                                  stride=(stride, stride), pad=(pad, pad), group=group,
                                  weight_filler=weight, bias_filler=bias_f)
        return self.add(name, "Convolution", [bottom], [top or name], params)

    def bn_scale(self, blob, bn_name, scale_name, top=None) -> str:
        """BatchNorm then Scale(bias) on ``blob``; in place unless ``top`` names a new blob."""
        out = top or blob
        style = self.bn_style
        # Deploy nets pin use_global_stats (Kaiming's files do); train nets leave it unset so
        # Caffe uses batch statistics in TRAIN and the running averages in TEST.
        params = BatchNormParam(use_global_stats=None if self.train else True,
                                eps=style.eps, moving_average_fraction=style.moving_average_fraction)
        self.add(bn_name, "BatchNorm", [blob], [out], params, BN_STAT_SPECS if self.train else ())
        scale_specs = (FROZEN, ParamSpec()) if style.fix_gamma else ()
        self.add(scale_name, "Scale", [out], [out], ScaleParam(bias_term=True), scale_specs)
        return out

    def relu(self, name, blob) -> str:
        """In-place ReLU."""
        return self.add(name, "ReLU", [blob], [blob])

    def eltwise(self, name, bottoms, top=None) -> str:
        """Element-wise SUM of ``bottoms``."""
        return self.add(name, "Eltwise", bottoms, [top or name], EltwiseParam())

    def pool(self, name, bottom, pool, kernel=0, stride=1, pad=0, global_pooling=False) -> str:
        """Pooling; ``global_pooling`` ignores kernel and stride."""
        if global_pooling:
            params = PoolingParam(pool=pool, global_pooling=True)
        else:
            params = PoolingParam(pool=pool, kernel=(kernel, kernel), stride=(stride, stride),
                                  pad=(pad, pad))
        return self.add(name, "Pooling", [bottom], [name], params)

    def fc(self, name, bottom, num_output) -> str:
        """InnerProduct classifier (MSRA weights, zero bias in train nets)."""
        weight = Filler(type="msra") if self.train else None
        bias_f = Filler(type="constant") if self.train else None
        params = InnerProductParam(num_output=num_output, weight_filler=weight, bias_filler=bias_f)
        return self.add(name, "InnerProduct", [bottom], [name], params)

    def zero_pad_shortcut(self, prefix, bottom, in_c, out_c, stride) -> str:
        """Paper's option A: identity, subsampled by ``stride``, with ``out_c - in_c`` zero
        channels appended -- built only from standard BVLC layers, exact in real Caffe.

        Subsampling is a frozen depthwise 1x1 convolution with all-ones weights: a kernel-1
        stride-2 Pooling would round up (32 -> 17) where the residual branch rounds down.
        Zeros come from Power(scale=0), which Caffe computes as the constant shift^power = 0.
        """
        if (out_c - in_c) % in_c:
            raise UsageError(f"option A cannot pad {in_c} channels to {out_c}; use B or C")
        sub = bottom
        if stride != 1:
            ones = Filler(type="constant", value=1.0)
            params = ConvolutionParam(num_output=in_c, bias_term=False, kernel=(1, 1),
                                      stride=(stride, stride), group=in_c, weight_filler=ones)
            sub = self.add(f"{prefix}_subsample", "Convolution", [bottom],
                           [f"{prefix}_subsample"], params, [FROZEN])
        zeros = self.add(f"{prefix}_zeros", "Power", [sub], [f"{prefix}_zeros"],
                         PowerParam(scale=0.0))
        parts = [sub] + [zeros] * ((out_c - in_c) // in_c)
        return self.add(prefix, "Concat", parts, [prefix], ConcatParam(axis=1))


def block_letters(count: int, numbered: bool) -> List[str]:
    """Block suffixes of one stage: ``a, b, c, ...`` or Kaiming's ``a, b1, b2, ...``."""
    if numbered:
        return ["a"] + [f"b{i}" for i in range(1, count)]
    if count > 26:
        raise UsageError(f"{count} blocks per stage need numbered names (a, b1, b2, ...)")
    return [chr(ord("a") + i) for i in range(count)]


def check_shortcut(option: str) -> str:
    """Return ``option`` upper-cased if it is one of the paper's A/B/C."""
    opt = str(option).upper()
    if opt not in SHORTCUTS:
        raise UsageError(f"unknown shortcut option {option!r}; valid: A, B, C")
    return opt


@dataclass(frozen=True)
class Unit:
    """One residual unit: ``convs`` are (kernel, num_output, stride) of the residual branch."""
    tag: str                      # "2a", "4b3", ...
    in_c: int
    out_c: int
    stride: int
    convs: Sequence[tuple]
    shortcut: str = "B"           # A | B | C
    preact: bool = False
    first: bool = False           # first unit after the stem (pre-activation already applied)


def _needs_projection(u: Unit) -> bool:
    changes = u.in_c != u.out_c or u.stride != 1
    return u.shortcut == "C" or (u.shortcut == "B" and changes)


def shortcut_path(b: NetBuilder, u: Unit, raw: str, activated: str) -> str:
    """The shortcut branch (``res{tag}_branch1`` when not an identity)."""
    name = f"res{u.tag}_branch1"
    if _needs_projection(u):
        # Pre-activation projections read the activated input (He et al. 2016, appendix).
        src = activated if u.preact else raw
        top = b.conv(name, src, u.out_c, 1, stride=u.stride)
        if not u.preact:
            b.bn_scale(top, f"bn{u.tag}_branch1", f"scale{u.tag}_branch1")
        return top
    if u.in_c != u.out_c or u.stride != 1:
        return b.zero_pad_shortcut(name, raw, u.in_c, u.out_c, u.stride)
    return raw


def residual_unit(b: NetBuilder, u: Unit, bottom: str) -> str:
    """Append one residual unit (original or pre-activation) and return its output blob."""
    activated = bottom
    if u.preact and not u.first:
        # A new blob, not in place: the identity shortcut must still see the raw input.
        activated = b.bn_scale(bottom, f"bn{u.tag}_preact", f"scale{u.tag}_preact",
                               top=f"res{u.tag}_preact")
        b.relu(f"res{u.tag}_preact_relu", activated)
    short = shortcut_path(b, u, bottom, activated)
    x = activated
    for i, (kernel, num_output, stride) in enumerate(u.convs):
        part = "branch2" + "abc"[i]
        last = i == len(u.convs) - 1
        x = b.conv(f"res{u.tag}_{part}", x, num_output, kernel, stride=stride, pad=kernel // 2)
        if u.preact and last:
            break
        b.bn_scale(x, f"bn{u.tag}_{part}", f"scale{u.tag}_{part}")
        if not last:
            b.relu(f"res{u.tag}_{part}_relu", x)
    out = b.eltwise(f"res{u.tag}", [short, x])
    if not u.preact:
        b.relu(f"res{u.tag}_relu", out)
    return out


def basic_convs(out_c: int, stride: int) -> List[tuple]:
    """Two 3x3 convolutions; the first one downsamples."""
    return [(3, out_c, stride), (3, out_c, 1)]


def bottleneck_convs(width: int, out_c: int, stride: int) -> List[tuple]:
    """1x1 reduce (strided, as in Kaiming's Caffe models), 3x3, 1x1 expand."""
    return [(1, width, stride), (3, width, 1), (1, out_c, 1)]


def final_activation(b: NetBuilder, blob: str) -> str:
    """Pre-activation nets end with BN-ReLU after the last addition (He et al. 2016)."""
    b.bn_scale(blob, "bn_final", "scale_final")
    return b.relu("final_relu", blob)


def check_positive(**values: Optional[int]) -> None:
    """Raise UsageError for any value that is not a positive int."""
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{key} must be a positive integer, got {value!r}")
