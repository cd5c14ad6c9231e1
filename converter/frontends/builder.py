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
from ..ir import (ConcatParam, EltwiseParam, InputParam, PowerParam, ReshapeParam,
                  ScaleParam)


@dataclass(frozen=True)
class Blob:
    """A Caffe blob standing for a source tensor: its name and (concrete) shape."""
    name: str
    shape: Tuple[int, ...]


class NetBuilder:
    """Accumulates layers, their parameter blobs and the unsupported-op report."""

    def __init__(self, name: str = ""):
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
            self.weights[name] = [np.ascontiguousarray(b, dtype=np.float32) for b in blobs]
        return top

    def add_clamp(self, name: str, bottom: str, low: Optional[float],
                  high: Optional[float]) -> str:
        """``min(max(x, low), high)`` (ReLU6, hardtanh, clamp, MXNet's clip) from BVLC Caffe
        1.0 layers only, every step exact: ReLU for ``max(x, 0)``; else Eltwise MAX with a
        constant blob (a Power with scale 0 writes ``shift`` everywhere, power_layer.cpp);
        and ``min(y, high) = -max(-y, -high)`` with two negations (Power scale -1, exact).
        The last layer carries ``name``; returns its top."""
        x = bottom
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
        """PReLU ``max(x, 0) + a * min(x, 0)`` from BVLC Caffe 1.0 layers, exactly:
        ``min(x, 0) = -max(-x, 0)`` (two exact negations around a ReLU), ``a * .`` one
        rounding as in the source (Power for one shared slope, Scale per channel), and a SUM
        in which one term is always 0. The last layer carries ``name``."""
        slopes = np.asarray(slopes, np.float32).reshape(-1)
        positive = self.add("ReLU", f"{name}.pos", [bottom])
        neg = self.add("Power", f"{name}.neg", [bottom], PowerParam(scale=-1.0))
        neg = self.add("ReLU", f"{name}.neg_relu", [neg])
        neg = self.add("Power", f"{name}.min", [neg], PowerParam(scale=-1.0))
        if slopes.size == 1:
            scaled = self.add("Power", f"{name}.slope", [neg],
                              PowerParam(scale=float(slopes[0])))
        else:
            scaled = self.add("Scale", f"{name}.slope", [neg], ScaleParam(), [slopes])
        return self.add("Eltwise", name, [positive, scaled], EltwiseParam(operation="SUM"))

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
