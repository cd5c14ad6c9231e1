"""Building an IR net from another framework's graph: unique names, blobs, weights, and the
one all-at-once report of what cannot be exported.

Framework-free: the torch and mxnet front ends walk their graphs and call :meth:`NetBuilder.add`
per Caffe layer; anything they cannot lower exactly goes to :meth:`NetBuilder.unsupported`, and
:meth:`NetBuilder.finish` raises one UnsupportedLayerError listing every such op, so a user
sees the whole list at once (as the Caffe readers do for unknown layer types).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UnsupportedLayerError
from ..ir import Layer, Net
from ..ir import (ConcatParam, ConvolutionParam, EltwiseParam, InputParam, PowerParam,
                  ReshapeParam)
from ..layers.activation import ClipParam, PReLUParam
from ..layers.reshape import SliceParam
from .bilinear import deconv_weights


@dataclass(frozen=True)
class Blob:
    """A Caffe blob standing for a source tensor: its name and (concrete) shape."""
    name: str
    shape: Tuple[int, ...]


class NetBuilder:
    """Accumulates layers, their parameter blobs and the unsupported-op report."""

    def __init__(self, name: str = "", native_clip: bool = False):
        #: Write two-sided clamps as Caffe's Clip layer (Caffe builds from 2018 on) instead
        #: of the exact emulation from BVLC Caffe 1.0 layers (:meth:`add_clamp`).
        self.native_clip = native_clip
        self.net = Net(name=name)
        self.weights: Dict[str, List[np.ndarray]] = {}
        self.problems: List[str] = []
        self._names: Dict[str, int] = {}

    def unique(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``... when a layer already has it (a module
        called twice, e.g. torchvision's shared ``relu``)."""
        base = name or "layer"
        candidate, k = base, self._names.get(base, 0)
        while candidate in self._names:
            k += 1
            candidate = f"{base}_{k}"
        self._names[base] = k
        self._names.setdefault(candidate, 0)
        return candidate

    def add_input(self, name: str, shape: Sequence[int]) -> str:
        """An Input layer whose layer and top are both ``name`` (Caffe's deploy form)."""
        name = self.unique(name)
        self.net.layers.append(Layer(name, "Input", [], [name],
                                     InputParam(shape=(tuple(int(d) for d in shape),))))
        return name

    def add(self, layer_type: str, name: str, bottoms: Sequence[str], params=None,
            blobs: Optional[Sequence[np.ndarray]] = None, in_place: bool = False) -> str:
        """Append a layer; its top is a new blob named like the layer, or its first bottom
        when ``in_place``. Returns the top blob's name."""
        name = self.unique(name)
        top = bottoms[0] if in_place else name
        self.net.layers.append(Layer(name, layer_type, list(bottoms), [top], params))
        if blobs:
            # np.array, not ascontiguousarray: that makes a 0-axis blob (shared PReLU) 1-D.
            self.weights[name] = [np.array(b, dtype=np.float32, order="C") for b in blobs]
        return top

    def add_clamp(self, name: str, bottom: str, low: Optional[float],
                  high: Optional[float]) -> str:
        """``min(max(x, low), high)`` (ReLU6, hardtanh, clamp, MXNet's clip) from BVLC Caffe
        1.0 layers only, every step exact: ReLU for ``max(x, 0)``; else Eltwise MAX with a
        constant blob (a Power with scale 0 writes ``shift`` everywhere, power_layer.cpp);
        and ``min(y, high) = -max(-y, -high)`` with two negations (Power scale -1, exact).
        The last layer carries ``name``; returns its top. With ``native_clip``, a clamp with
        both bounds is one Clip layer (``max(min, min(x, max))``, clip_layer.cpp), the same
        values."""
        x = bottom
        if self.native_clip and low is not None and high is not None:
            return self.add("Clip", name, [x], ClipParam(min=float(low), max=float(high)))
        if low is not None and low == 0.0 and high is None:
            return self.add("ReLU", name, [x])
        if low is not None and low == 0.0:
            x = self.add("ReLU", f"{name}.relu", [x])
        elif low is not None:
            x = self._max_const(f"{name}.low" if high is not None else name, x, low)
        if high is None:
            return x
        neg = self.add("Power", f"{name}.neg", [x], PowerParam(scale=-1.0))
        bound = self._max_const(f"{name}.min", neg, -high)
        return self.add("Power", name, [bound], PowerParam(scale=-1.0))

    def add_prelu(self, name: str, bottom: str, slopes: np.ndarray) -> str:
        """PReLU ``max(x, 0) + a * min(x, 0)``: Caffe's own PReLU layer (in BVLC Caffe 1.0,
        prelu_layer.cpp), one slope per channel or one shared (channel_shared, a 0-axis
        blob)."""
        slopes = np.asarray(slopes, np.float32).reshape(-1)
        shared = slopes.size == 1
        blob = slopes.reshape(()) if shared else slopes
        return self.add("PReLU", name, [bottom], PReLUParam(channel_shared=shared), [blob])

    def add_slice(self, name: str, bottom: str, axis: int, points: Sequence[int]) -> List[str]:
        """A Slice layer cutting ``axis`` at ``points``; returns its tops (``name``,
        ``name.1``, ...)."""
        name = self.unique(name)
        tops = [name] + [self.unique(f"{name}.{k}") for k in range(1, len(points) + 1)]
        self.net.layers.append(Layer(name, "Slice", [bottom], tops,
                                     SliceParam(axis=axis, slice_point=tuple(points))))
        return tops

    def add_edge_pad(self, name: str, bottom: str, size: int, axis: int) -> str:
        """``bottom`` with its first and last entry along ``axis`` repeated once more on
        their side (replicate padding by 1), from Slice + Concat copies."""
        if size == 1:
            parts = [bottom] * 3
        else:
            pieces = self.add_slice(f"{name}.edges", bottom, axis,
                                    [1] if size == 2 else [1, size - 1])
            parts = [pieces[0]] + pieces + [pieces[-1]]
        return self.add("Concat", name, parts, ConcatParam(axis=axis))

    def add_bilinear(self, name: str, bottom: str, shape: Sequence[int], plans) -> str:
        """Bilinear resizing of an N,C,H,W blob as a per-channel Deconvolution with fixed
        weights (:mod:`converter.frontends.bilinear`), after replicating the edges the
        plans ask for. The Deconvolution carries ``name``."""
        _, c, h, w = (int(d) for d in shape)
        x = bottom
        if plans[0].replicate:
            x = self.add_edge_pad(f"{name}.pad_h", x, h, 2)
        if plans[1].replicate:
            x = self.add_edge_pad(f"{name}.pad_w", x, w, 3)
        params = ConvolutionParam(num_output=c, bias_term=False, group=c,
                                  kernel=(plans[0].kernel, plans[1].kernel),
                                  stride=(plans[0].stride, plans[1].stride),
                                  pad=(plans[0].pad, plans[1].pad))
        return self.add("Deconvolution", name, [x], params, [deconv_weights(c, plans)])

    def add_upsample_nearest(self, name: str, bottom: str, shape: Sequence[int],
                             factors: Tuple[int, int]) -> str:
        """Nearest-neighbour upsampling by integer ``factors`` (fh, fw) of an N,C,H,W blob,
        as copies only: Reshape to add a unit axis, Concat the blob with itself along it,
        Reshape back (first W, then H). Exact, and BVLC Caffe 1.0 runs it. The last layer
        carries ``name``."""
        _, c, h, w = (int(d) for d in shape)
        fh, fw = factors
        x = bottom
        if fw > 1:
            unit = self.add("Reshape", f"{name}.w_axis", [x], ReshapeParam(shape=(0, c, h, w, 1)))
            wide = self.add("Concat", f"{name}.w_copies", [unit] * fw, ConcatParam(axis=4))
            x = self.add("Reshape", name if fh == 1 else f"{name}.w", [wide],
                         ReshapeParam(shape=(0, c, h, w * fw)))
        if fh > 1:
            unit = self.add("Reshape", f"{name}.h_axis", [x],
                            ReshapeParam(shape=(0, c, h, 1, w * fw)))
            tall = self.add("Concat", f"{name}.h_copies", [unit] * fh, ConcatParam(axis=3))
            x = self.add("Reshape", name, [tall], ReshapeParam(shape=(0, c, h * fh, w * fw)))
        return x

    def _max_const(self, name: str, x: str, value: float) -> str:
        const = self.add("Power", f"{name}.const", [x], PowerParam(scale=0.0, shift=value))
        return self.add("Eltwise", name, [x, const], EltwiseParam(operation="MAX"))

    def unsupported(self, what: str, where: str) -> None:
        """Record one op that has no exact Caffe equivalent (reported by :meth:`finish`)."""
        self.problems.append(f"{what} (at {where})" if where else what)

    @staticmethod
    def warn(message: str) -> None:
        """A one-line warning (the CLI prints it as ``resnet-convert: warning: ...``)."""
        warnings.warn(message, stacklevel=3)

    def finish(self, source: str) -> Tuple[Net, Dict[str, List[np.ndarray]]]:
        """The net and weights, shape-checked; every unsupported op at once otherwise."""
        if self.problems:
            listed = "; ".join(dict.fromkeys(self.problems))
            raise UnsupportedLayerError(
                f"cannot export to Caffe exactly: {len(self.problems)} unsupported "
                f"op{'s' if len(self.problems) != 1 else ''}: {listed}", file=source)
        self.net.validate()
        return self.net, self.weights
