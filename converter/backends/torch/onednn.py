"""Prepacked oneDNN convolution weights for no-grad float32 CPU inference.

``F.conv2d`` on the CPU hands float32 convolutions to oneDNN, which reorders the weights
into its blocked layout on every call, and the activations into and out of its native
channels_last layout. For a converted ResNet that is a large share of eager inference time
(bench/RESULTS.md). Here the weight reorder is done once and cached on the module, the
convolution runs through ``torch.ops.mkldnn._convolution_pointwise`` (the op PyTorch's own
Inductor freezing pass emits for CPU convolutions), and activations stay channels_last from
one convolution to the next.

Accuracy: it is a float32 convolution like ``F.conv2d`` but its summation order may differ,
so results agree to float32 rounding, not always bit for bit (a ResNet-50 in Kaiming's
layout at 224x224 gave identical results here). ``tests/test_torch_onednn.py`` holds it to the
a-priori float32 error bound of a dot product; the golden parity tests run through it.

The fast path is only taken where nothing can observe the difference: grad mode off
(``torch.no_grad`` / ``torch.inference_mode``), a float32 4-D CPU tensor contiguous in NCHW
or channels_last layout, oneDNN available and enabled, and no tracing, scripting,
compiling, exporting, functorch transform or dispatch mode (FLOP counters, fake tensors)
active. Anything else, or any failure to pack, uses ``F.conv2d``.

Memory: the packed copy is as large as the convolution weights. :func:`set_enabled` turns
the fast path off process-wide; ``release()`` on a module frees its copy. The cache is
keyed on the weight's storage and version counter and on the input shape, so a new input
shape, ``load_state_dict``, ``torch.no_grad`` in-place edits and new Parameters repack it;
edits through ``weight.data`` bypass the version counter and need ``release()``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

_ENABLED = True


def set_enabled(enabled: bool) -> bool:
    """Turn the packed-weight fast path on or off (process-wide); returns the old setting."""
    global _ENABLED
    previous, _ENABLED = _ENABLED, bool(enabled)
    return previous


def is_enabled() -> bool:
    """Whether the packed-weight fast path may be used."""
    return _ENABLED


def _op_available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and ops is not None
            and hasattr(ops, "_convolution_pointwise")
            and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight"))


_AVAILABLE = _op_available()


def _observed() -> bool:
    """True when something may be watching the ops (tracing, export, FLOP counting...)."""
    functorch = getattr(torch._C._functorch, "_are_functorch_transforms_active", None)
    return (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None
            or (functorch is not None and functorch()))


def eligible(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a convolution of ``x`` with ``weight`` may use the packed path."""
    return (_ENABLED and _AVAILABLE and not torch.is_grad_enabled()
            and torch.backends.mkldnn.enabled
            and x.dim() == 4 and weight.dim() == 4 and x.numel() > 0
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.device.type == "cpu" and weight.device.type == "cpu"
            and x.layout == torch.strided and (x.is_contiguous() or x.is_contiguous(
                memory_format=torch.channels_last))
            and type(x) is torch.Tensor and not _observed())


def _addend_ok(other: torch.Tensor) -> bool:
    """A tensor oneDNN can add as a post-op: float32, CPU, dense, channels_last (the layout
    of the convolution's own output, so the add needs no reorder)."""
    return (other.dtype == torch.float32 and other.device.type == "cpu"
            and type(other) is torch.Tensor and other.layout == torch.strided
            and other.dim() == 4 and other.is_contiguous(memory_format=torch.channels_last))


class PackedWeight:
    """One convolution's packed weight, remembered with what it was packed from."""
    __slots__ = ("key", "tensor")

    def __init__(self, key: Tuple, tensor: Optional[torch.Tensor]):
        self.key, self.tensor = key, tensor


def _key(weight: torch.Tensor, geometry: Tuple, x: torch.Tensor) -> Tuple:
    return (weight.data_ptr(), weight._version, tuple(weight.shape), tuple(weight.stride()),
            geometry, tuple(x.shape))


def packed(cache: Optional[PackedWeight], weight: torch.Tensor, geometry: Tuple,
           x: torch.Tensor) -> PackedWeight:
    """``cache`` if it still matches ``weight`` and ``x``'s shape, else a freshly packed
    weight (its tensor is None when oneDNN refuses to pack it: the caller then uses
    ``F.conv2d``). oneDNN picks the weight layout for the input shape, and a layout picked
    for batch 1 runs ResNet-152 at batch 16 about 12% slower, so a new input shape repacks
    (one reorder, what ``F.conv2d`` does on every call); one packed copy is kept."""
    key = _key(weight, geometry, x)
    if cache is not None and cache.key == key:
        return cache
    padding, stride, dilation, groups = geometry
    try:
        tensor = torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight.detach().contiguous().to_mkldnn(), list(padding), list(stride),
            list(dilation), groups, list(x.shape))
    except RuntimeError:
        tensor = None
    return PackedWeight(key, tensor)


def conv2d(x: torch.Tensor, weight: PackedWeight, bias: Optional[torch.Tensor],
           geometry: Tuple, other: Optional[torch.Tensor] = None,
           relu: bool = False) -> torch.Tensor:
    """The convolution with a packed weight; ``other`` is added to it (in ``other``'s
    memory, which the result then is) and ``relu`` applied, as oneDNN post-ops: conv + bias,
    + other, then max(., 0), the same float32 operations in the same order as separate ops.

    The result is channels_last (oneDNN's native activation layout), and so are the
    element-wise results computed from it, until the next convolution takes it as it is:
    converting back to NCHW after every convolution would cost about what packing saves.
    ``CaffeNet`` hands its results back in the standard contiguous layout."""
    padding, stride, dilation, groups = geometry
    b = None if bias is None else bias.detach()
    args = (weight.tensor, b, list(padding), list(stride), list(dilation), groups)
    if other is None:
        return torch.ops.mkldnn._convolution_pointwise(x, *args, "relu" if relu else "none",
                                                       [], "")
    # Accumulate into other's memory (the caller passes it only when it is dead): the
    # out-of-place binary op measured no faster than separate ops, this one is.
    return torch.ops.mkldnn._convolution_pointwise_.binary(
        other, x, *args, "add", 1.0, "relu" if relu else None, [], "")


def add_relu(y: torch.Tensor, other: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    """The fused post-ops as separate ops, on ``y`` (a fresh convolution output): + other,
    then max(., 0)."""
    if other is not None:
        # No shape test: a post-op sum comes from an Eltwise, whose bottoms Caffe's shape
        # rule makes equal; comparing traced sizes would bake booleans into an ONNX trace.
        y = y.add_(other) if y.dtype == other.dtype else y + other
    return torch.relu_(y) if relu else y


class PackedConvolution:
    """Mixin for a convolution module with ``weight`` and ``bias``: keeps its packed weight
    in ``_packed`` (never in the state_dict, pickles or deep copies)."""
    _packed: Optional[PackedWeight] = None

    def packed_conv2d(self, x: torch.Tensor, geometry: Tuple,
                      other: Optional[torch.Tensor] = None,
                      relu: bool = False) -> Optional[torch.Tensor]:
        """The convolution (+ ``other``, then ReLU if asked) through the packed weight, or
        None where it may not be used (``geometry`` is (padding, stride, dilation, groups))."""
        if not eligible(x, self.weight):
            return None
        self._packed = packed(self._packed, self.weight, geometry, x)
        if self._packed.tensor is None:
            return None
        if other is None or _addend_ok(other):
            return conv2d(x, self._packed, self.bias, geometry, other, relu)
        return add_relu(conv2d(x, self._packed, self.bias, geometry), other, relu)

    def release(self) -> None:
        """Free the packed copy of the weight (it is made again when next needed)."""
        self._packed = None

    def __getstate__(self):
        # The packed copy is an opaque oneDNN tensor: not picklable, and cheap to remake.
        state = super().__getstate__().copy()
        state.pop("_packed", None)
        return state
