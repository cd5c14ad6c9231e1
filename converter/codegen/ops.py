"""The net as code-generation ops: one :class:`Op` per PyTorch statement, from the IR.

Caffe's layers map onto PyTorch's idiomatic modules where those compute the same thing: a
BatchNorm followed by its per-channel Scale becomes one ``nn.BatchNorm2d`` (running stats =
Caffe's stored mean/var times 1/factor, batch_norm_layer.cpp; affine = the Scale blobs), a
Split disappears (its tops are the bottom's value), an Input becomes a ``forward`` argument.
Each op carries the text of its module constructor and of its call, and the weights for its
state_dict entries (already in PyTorch's layout), so the emitters only place text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import MismatchError, UnsupportedLayerError
from ..ir.graph import Layer, Net
from ..ir.shapes import count, infer_shapes
from . import activation_text, index_text, recurrent_text, reduce_text, shape_text  # noqa: F401
from . import layer_text as text


@dataclass
class Op:
    """One generated statement: ``outputs = call(inputs)``.

    ``module`` is the constructor text of the submodule it calls (None for a function call);
    ``call`` is a format string over ``{m}`` (the submodule) and ``{0}``, ``{1}``, ... (the
    inputs). ``tensors`` maps state_dict suffixes (``weight``, ``running_mean``, ...) to
    arrays; ``helpers`` names the generated helper definitions the text uses.
    """
    kind: str
    name: str
    layer_type: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    module: Optional[str] = None
    call: str = "{m}({0})"
    tensors: Dict[str, np.ndarray] = field(default_factory=dict)
    helpers: Tuple[str, ...] = ()
    facts: dict = field(default_factory=dict)   # what the ResNet matcher looks at
    alias: bool = False                         # output may share memory with input 0


@dataclass
class Program:
    """The ops of a net in execution order, with its inputs, outputs and blob shapes."""
    name: str
    inputs: List[str]
    input_shapes: Dict[str, Tuple[int, ...]]
    outputs: List[str]
    ops: List[Op]
    shapes: Dict[str, Tuple[int, ...]]

    def producer(self) -> Dict[str, Op]:
        """SSA value -> the op computing it."""
        return {o: op for op in self.ops for o in op.outputs}

    def consumers(self) -> Dict[str, List[Op]]:
        """SSA value -> the ops reading it (in order; an op reading it twice counts twice)."""
        found: Dict[str, List[Op]] = {}
        for op in self.ops:
            for value in op.inputs:
                found.setdefault(value, []).append(op)
        return found


def _blobs(layer: Layer, weights) -> List[np.ndarray]:
    """The layer's blobs as float32 arrays in the shapes shape inference expects."""
    blobs = weights.get(layer.name)
    if blobs is None and layer.blob_shapes:
        raise MismatchError("no weights for this layer", layer=layer.name, layer_type=layer.type)
    blobs = list(blobs or [])
    if len(blobs) != len(layer.blob_shapes):
        raise MismatchError(f"the weights have {len(blobs)} blob(s) but the net needs "
                            f"{len(layer.blob_shapes)}", layer=layer.name, layer_type=layer.type)
    out = []
    for i, (blob, shape) in enumerate(zip(blobs, layer.blob_shapes)):
        arr = np.asarray(blob, np.float32)
        if arr.size != count(shape):
            raise MismatchError(f"blob {i} has shape {list(arr.shape)} in the weights but the "
                                f"net needs {list(shape)}", layer=layer.name,
                                layer_type=layer.type)
        out.append(arr.reshape(shape))
    return out


def caffe_bn_statistics(mean, var, factor) -> Tuple[np.ndarray, np.ndarray]:
    """Caffe's global statistics: the stored blobs times 1/factor in float32, or 0 when the
    factor is 0 (batch_norm_layer.cpp: ``scale_factor = f == 0 ? 0 : 1 / f``)."""
    f = np.float32(np.asarray(factor, np.float32).reshape(-1)[0])
    scale = np.float32(0) if f == 0 else np.float32(1) / f
    return (np.asarray(mean, np.float32) * scale, np.asarray(var, np.float32) * scale)


def _mergeable_scale(bn: Layer, nxt: Optional[Layer], readers: int) -> bool:
    """True if ``nxt`` is a one-bottom per-channel Scale reading only ``bn``'s output."""
    if nxt is None or nxt.type != "Scale" or len(nxt.bottoms) != 1:
        return False
    p = nxt.params
    return (nxt.bottoms[0] == bn.tops[0] and readers == 1 and p.axis in (1, -3)
            and p.num_axes == 1)


def build_program(net: Net, weights) -> Program:
    """The ops of ``net`` (Caffe TEST phase). Every layer that cannot be generated is
    reported at once in one UnsupportedLayerError."""
    net.validate(shapes=False)
    ssa, final = net.ssa()
    shapes = infer_shapes(ssa)
    readers: Dict[str, int] = {}
    for layer in ssa.layers:
        for b in layer.bottoms:
            readers[b] = readers.get(b, 0) + 1
    outputs = [final[b] for b in net.output_blobs()]
    for b in outputs:
        readers[b] = readers.get(b, 0) + 1
    ops, problems, skip = [], [], set()
    layers = ssa.layers
    for i, layer in enumerate(layers):
        if i in skip or layer.type == "Input":
            continue
        try:
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if layer.type == "BatchNorm" and _mergeable_scale(layer, nxt, readers.get(
                    layer.tops[0], 0)):
                ops.append(text.batch_norm(layer, shapes, _blobs(layer, weights), nxt,
                                           _blobs(nxt, weights)))
                skip.add(i + 1)
            else:
                ops.extend(_convert(layer, shapes, _blobs(layer, weights)))
        except UnsupportedLayerError as exc:
            problems.append((layer, exc.message))
    _report(problems)
    inputs = list(net.input_blobs())
    return Program(net.name, inputs, {k: tuple(v) for k, v in net.input_blobs().items()},
                   outputs, ops, shapes)


def _convert(layer: Layer, shapes, blobs) -> Sequence[Op]:
    fn = text.CONVERTERS.get(layer.type)
    if fn is None:
        raise UnsupportedLayerError("no PyTorch code generator for this layer type")
    return fn(layer, [shapes[b] for b in layer.bottoms], blobs)


def _report(problems) -> None:
    if not problems:
        return
    if len(problems) == 1:
        layer, message = problems[0]
        raise UnsupportedLayerError(f"{message} (supported types: "
                                    f"{', '.join(supported_types())})",
                                    layer=layer.name, layer_type=layer.type)
    listed = "; ".join(f"'{layer.name}' ({layer.type}): {m}" for layer, m in problems)
    raise UnsupportedLayerError(f"{len(problems)} layers cannot be generated as PyTorch code: "
                                f"{listed}")


def supported_types() -> List[str]:
    """Layer types the code generator handles, sorted."""
    return sorted(set(text.CONVERTERS) | {"Input"})
