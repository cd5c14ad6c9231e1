"""MXNet front end: a symbol + parameters (an MXNet checkpoint, or what Gluon's
``HybridBlock.export`` writes) -> IR net + weights.

:func:`from_mxnet` lowers the symbol's JSON graph (:mod:`.lower`; converters in :mod:`.nn`
and :mod:`.tensor`) at the given input shapes; every op without an exact Caffe form is
reported at once in one UnsupportedLayerError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

from ...errors import CaffeFormatError, UsageError
from ...ir import Net
from ..builder import Blob, NetBuilder
from . import nn, tensor  # noqa: F401  (converter families)
from .lower import Lowering, infer_shapes, parse_nodes

__all__ = ["from_mxnet", "load_checkpoint", "data_inputs", "guess_input_shape"]


def _numpy(params) -> Dict[str, np.ndarray]:
    out = {}
    for name, value in (params or {}).items():
        out[name] = value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)
    return out


def from_mxnet(symbol, arg_params, aux_params, input_shapes: Dict[str, Sequence[int]], *,
               name: str = "", source: str = "",
               native_clip: bool = False) -> Tuple[Net, Dict[str, List[np.ndarray]]]:
    """Lower an MXNet ``symbol`` with its ``arg_params``/``aux_params`` (name -> NDArray or
    numpy) at ``input_shapes`` (input name -> shape) to ``(net, weights)``; ``native_clip``
    as in :func:`converter.from_torch`."""
    params = _numpy(arg_params)
    params.update(_numpy(aux_params))
    shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
    nodes, heads = parse_nodes(symbol)
    try:
        infer_shapes(symbol, nodes, shapes)
    except mx.base.MXNetError as exc:
        raise UsageError(f"MXNet cannot infer shapes at {shapes}: "
                         f"{str(exc).splitlines()[0]}") from None
    builder = NetBuilder(name or "mxnet", native_clip=native_clip)
    lowering = Lowering(builder, nodes, params, symbol.get_internals())
    for node in nodes:
        for i, _ in node.inputs:
            lowering.consumers[i] = lowering.consumers.get(i, 0) + 1
        if node.op == "null":
            _variable(lowering, node, shapes, params)
    outputs = lowering.run(heads)
    if not builder.problems and not any(isinstance(o, Blob) for o in outputs):
        builder.unsupported("the symbol's output is not computed from its input", "")
    return builder.finish(source or "symbol")


def _variable(lw: Lowering, node, shapes, params) -> None:
    if node.name in shapes:
        top = lw.builder.add_input(node.name, shapes[node.name])
        lw.values[node.index] = Blob(top, shapes[node.name])
    elif node.name in params:
        lw.values[node.index] = params[node.name]
    elif node.name.endswith("_label"):
        lw.values[node.index] = np.zeros(())  # a loss layer's label: unused at inference
    else:
        lw.builder.unsupported(f"variable '{node.name}' that is neither an input (give its "
                               "shape) nor a parameter", "")
        lw.values[node.index] = None


def load_checkpoint(prefix, epoch: Optional[int] = None):
    """``(symbol, arg_params, aux_params, epoch)`` from ``PREFIX-symbol.json`` and
    ``PREFIX-NNNN.params`` (the newest epoch when ``epoch`` is None)."""
    prefix = str(prefix)
    symbol_path = Path(prefix + "-symbol.json")
    if not symbol_path.exists():
        raise CaffeFormatError("no such MXNet symbol file", file=symbol_path)
    if epoch is None:
        found = sorted(Path(prefix + "-0000.params").parent.glob(Path(prefix).name +
                                                                 "-[0-9][0-9][0-9][0-9].params"))
        if not found:
            raise CaffeFormatError("no PREFIX-NNNN.params file next to it", file=symbol_path)
        epoch = int(found[-1].name[-11:-7])
    params_path = Path(f"{prefix}-{epoch:04d}.params")
    try:
        symbol = mx.sym.load(str(symbol_path))
    except mx.base.MXNetError as exc:
        raise CaffeFormatError(f"not an MXNet symbol ({str(exc).splitlines()[0]})",
                               file=symbol_path) from None
    try:
        saved = mx.nd.load(str(params_path))
    except mx.base.MXNetError as exc:
        raise CaffeFormatError(f"not an MXNet params file ({str(exc).splitlines()[0]})",
                               file=params_path) from None
    args = {k.split(":", 1)[-1]: v for k, v in saved.items() if not k.startswith("aux:")}
    aux = {k.split(":", 1)[1]: v for k, v in saved.items() if k.startswith("aux:")}
    return symbol, args, aux, epoch


def data_inputs(symbol, arg_params, aux_params) -> List[str]:
    """The symbol's variables that are neither parameters nor loss labels."""
    known = set(arg_params or {}) | set(aux_params or {})
    return [n for n in symbol.list_arguments() if n not in known and not n.endswith("_label")]


#: Input sizes tried, in order, when a checkpoint's input shape is not given.
COMMON_SIZES = (224, 32, 299, 227, 28, 256, 64, 96, 112, 128, 160, 192, 320, 331, 384, 512)


def guess_input_shape(symbol, arg_params, aux_params, name: str) -> Optional[Tuple[int, ...]]:
    """The first ``(1, C, S, S)`` (C 3 or 1, S from COMMON_SIZES) at which MXNet's shape
    inference agrees with every parameter's stored shape (an FC layer after a fixed-size
    pooling pins S down); None if none does."""
    known = {k: tuple(v.shape) for k, v in {**(arg_params or {}), **(aux_params or {})}.items()}
    args = set(symbol.list_arguments()) | set(symbol.list_auxiliary_states())
    fixed = {k: v for k, v in known.items() if k in args}
    for size in COMMON_SIZES:
        for channels in (3, 1):
            shape = (1, channels, size, size)
            try:
                arg_shapes, _, aux_shapes = symbol.infer_shape(**{name: shape})
            except mx.base.MXNetError:
                continue
            inferred = dict(zip(symbol.list_arguments(), arg_shapes))
            inferred.update(zip(symbol.list_auxiliary_states(), aux_shapes))
            if all(tuple(inferred.get(k, v)) == v for k, v in fixed.items()):
                return shape
    return None
