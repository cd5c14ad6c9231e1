"""Source pooling -> Caffe Pooling, exactly or not at all (framework-free).

pooling_layer.cpp (the build in tools/caffe-env.sh) computes the output extent as
``round((H + 2p - k) / s) + 1`` with ``round_mode`` CEIL (the default, and the only mode of
Caffe builds older than 2018) or FLOOR, then drops a last window that starts at or past
``H + p`` when any pad is nonzero. Its windows start at ``o * s - p``; MAX clips them to the
image, AVE divides by ``min(start + k, H + p) - start`` (per axis) taken before that clip.

PyTorch (``ceil_mode``, ``count_include_pad=True``) and MXNet (``pooling_convention``
valid/full, ``count_include_pad=True``) use the same window starts and the same AVE divisor,
so when the output extents agree the values agree too. The only question is the extent:
CEIL is tried first, then FLOOR (with a warning, since only newer Caffe builds have it);
if neither gives the source's extent the op is refused. An AVE window that must *not* count
padding (``count_include_pad=False`` with pad > 0) has no Caffe form and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from ..ir import PoolingParam
from ..ir import pooled_size

ROUND_MODE_WARNING = ("uses Caffe's round_mode: FLOOR, which Caffe builds older than 2018 lack "
                      "(they always round up)")


@dataclass(frozen=True)
class PoolingChoice:
    """The Caffe parameters for one pooling op, or why there are none."""
    params: Optional[PoolingParam] = None
    warning: Optional[str] = None
    refusal: Optional[str] = None


def _extent(size_in, kernel, stride, pad, mode) -> Tuple[int, int]:
    clip = any(pad)
    return tuple(pooled_size(n, k, s, p, mode, clip=clip)
                 for n, k, s, p in zip(size_in, kernel, stride, pad))


def caffe_pooling(pool: str, size_in: Sequence[int], kernel: Sequence[int],
                  stride: Sequence[int], pad: Sequence[int], size_out: Sequence[int],
                  count_include_pad: bool = True) -> PoolingChoice:
    """Caffe parameters reproducing a 2-D ``pool`` ("MAX"/"AVE") pooling whose input is
    ``size_in`` (H, W) and whose source output is ``size_out``."""
    kernel, stride, pad = tuple(kernel), tuple(stride), tuple(pad)
    size_in, size_out = tuple(size_in), tuple(size_out)
    if pool == "AVE" and any(pad) and not count_include_pad:
        return PoolingChoice(refusal="average pooling with padding and count_include_pad="
                                     "False (Caffe always counts the padding)")
    if any(p >= k for p, k in zip(pad, kernel)):
        return PoolingChoice(refusal=f"pad {pad} not smaller than kernel {kernel} "
                                     "(Caffe refuses it)")
    if kernel == size_in and size_out == (1, 1) and not any(pad):
        return PoolingChoice(PoolingParam(pool=pool, global_pooling=True))
    base = PoolingParam(pool=pool, kernel=kernel, stride=stride, pad=pad)
    if _extent(size_in, kernel, stride, pad, "CEIL") == size_out:
        return PoolingChoice(base)
    if _extent(size_in, kernel, stride, pad, "FLOOR") == size_out:
        return PoolingChoice(PoolingParam(pool=pool, kernel=kernel, stride=stride, pad=pad,
                                          round_mode="FLOOR"), warning=ROUND_MODE_WARNING)
    return PoolingChoice(refusal=f"output {size_out} that Caffe's pooling cannot produce from "
                                 f"{size_in} with kernel {kernel}, stride {stride}, pad {pad}")


def adaptive_pooling(pool: str, size_in: Sequence[int], size_out: Sequence[int]) -> PoolingChoice:
    """Adaptive pooling: to 1x1 it is global pooling; to a size dividing the input it is a
    plain pooling with kernel = stride = H / out (the same windows); anything else has
    overlapping, unequal windows that Caffe cannot express."""
    size_in, size_out = tuple(size_in), tuple(size_out)
    if size_out == (1, 1):
        return PoolingChoice(PoolingParam(pool=pool, global_pooling=True))
    if all(o > 0 and i % o == 0 for i, o in zip(size_in, size_out)):
        k = tuple(i // o for i, o in zip(size_in, size_out))
        return PoolingChoice(PoolingParam(pool=pool, kernel=k, stride=k))
    return PoolingChoice(refusal=f"adaptive pooling from {size_in} to {size_out} (the input "
                                 "is not a multiple of the output)")
