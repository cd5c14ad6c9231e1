"""PyTorch front end: an ``nn.Module`` or ``torch.export.ExportedProgram`` -> IR net + weights.

:func:`from_torch` exports the model (``torch.export``), brings the program to functional
ATen keeping composite ops (``run_decompositions({})``) and lowers it node by node
(:mod:`.lower`, converters in the family modules). Every op without an exact Caffe form is
reported at once in one UnsupportedLayerError.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import contextlib
import warnings

import numpy as np
import torch

from ...errors import CaffeFormatError, UnsupportedLayerError, UsageError
from ...ir import Net
from ..builder import Blob, NetBuilder
from . import activation, arith, conv, norm, pool, tensor  # noqa: F401  (converter families)
from .lower import Lowering

__all__ = ["from_torch", "lower", "load_program", "exported_program"]


def _as_tuple(example_inputs) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    return tuple(example_inputs)


def _is_static(program) -> bool:
    for node in program.graph.nodes:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor) and not all(isinstance(d, int) for d in val.shape):
            return False
    return True


@contextlib.contextmanager
def _quiet():
    """torch.export's own deprecation notices are not the user's problem (the CLI would
    print them as warnings about their model)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def exported_program(model, example_inputs=None):
    """``model`` as a functional-ATen ExportedProgram with concrete shapes.

    An ExportedProgram with dynamic dimensions (e.g. a dynamic batch) is re-exported at
    ``example_inputs``' shapes, as is one whose example shapes differ."""
    if isinstance(model, torch.export.ExportedProgram):
        if example_inputs is not None or not _is_static(model):
            if example_inputs is None:
                raise UsageError("the program has dynamic shapes: give example inputs "
                                 "(--input-shape N,C,H,W)")
            model = _reexport(model, _as_tuple(example_inputs))
    elif isinstance(model, torch.nn.Module):
        if example_inputs is None:
            raise UsageError("from_torch needs example inputs for an nn.Module")
        model = torch.export.export(model.eval(), _as_tuple(example_inputs))
    else:
        raise UsageError(f"expected an nn.Module or ExportedProgram, got {type(model).__name__}")
    return model.run_decompositions({})


def _reexport(program, example_inputs: tuple):
    """The program exported again at the example inputs' shapes (within its own limits)."""
    try:
        return torch.export.export(program.module(), example_inputs)
    except Exception as exc:  # guard failures, constraint violations: torch's many types
        shapes = [tuple(t.shape) for t in example_inputs]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"the program does not run at input shape {shapes} (only its "
                         f"dynamic dimensions can change): {first}") from None


def _constants(program) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Placeholder name -> tensor for parameters, buffers and lifted constants, and the
    state by fully qualified name."""
    sig = program.graph_signature
    state = dict(program.state_dict)
    state.update({k: v for k, v in program.constants.items() if isinstance(v, torch.Tensor)})
    names = dict(sig.inputs_to_parameters)
    names.update(sig.inputs_to_buffers)
    names.update(sig.inputs_to_lifted_tensor_constants)
    return {ph: state[fqn] for ph, fqn in names.items() if fqn in state}, state


def from_torch(model, example_inputs=None, *, name: str = "", source: str = "",
               native_clip: bool = False) -> Tuple[Net, Dict[str, List[np.ndarray]]]:
    """Lower ``model`` (nn.Module or ExportedProgram) to ``(net, weights)``.

    ``example_inputs`` (a tensor or tuple of tensors) fixes the input shapes; the net's
    Input layers carry them. Raises UnsupportedLayerError listing every op that Caffe cannot
    run exactly (with the module path and graph node of each). ``native_clip`` writes
    clamps as Caffe's Clip layer, which Caffe builds older than 2018 lack (default: exact
    emulation from older layers)."""
    net, weights, _ = lower(model, example_inputs, name=name, source=source,
                            native_clip=native_clip)
    return net, weights


def lower(model, example_inputs=None, *, name: str = "", source: str = "",
          native_clip: bool = False):
    """:func:`from_torch`, plus the Caffe blob of each of the model's outputs, in the
    model's order (Caffe lists its outputs in blob order instead)."""
    with _quiet():
        program = exported_program(model, example_inputs)
    constants, state = _constants(program)
    builder = NetBuilder(name or _model_name(model), native_clip=native_clip)
    lowering = Lowering(builder, constants, state)
    with torch.no_grad():
        outputs = lowering.run(program.graph)
    names = [o.name for o in outputs if isinstance(o, Blob)]
    if not builder.problems and not names:
        builder.unsupported("the model's output is not computed from its input", "")
    net, weights = builder.finish(source or type(model).__name__)
    return net, weights, names


def _model_name(model) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    return "exported"


def load_program(path, input_shape: Optional[Sequence[int]] = None):
    """Read a ``.pt2`` archive (``torch.export.save``) and fix its input shape: the given
    one, or for a program whose only dynamic dimension is the batch, batch 1."""
    try:
        with _quiet():
            program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a bad archive
        raise CaffeFormatError(f"not a readable torch.export archive ({exc})",
                               file=path) from None
    inputs = [n for n in program.graph.nodes if n.op == "placeholder"
              and n.name in program.graph_signature.user_inputs]
    if input_shape is not None:
        if len(inputs) != 1:
            raise UsageError(f"--input-shape gives one input, the program has {len(inputs)}")
        return program, (torch.zeros(tuple(input_shape)),)
    if _is_static(program):
        return program, None
    shapes = [tuple(d if isinstance(d, int) else (1 if i == 0 else None)
                    for i, d in enumerate(n.meta["val"].shape)) for n in inputs]
    if any(None in s for s in shapes):
        raise UnsupportedLayerError("the program's input shape is dynamic beyond the batch; "
                                    "give --input-shape N,C,H,W", file=path)
    return program, tuple(torch.zeros(s) for s in shapes)
