"""MXNet back end: the IR as an ``mx.sym`` graph with Caffe's exact TEST-time semantics.

API
---
``to_mxnet(net, weights=None, outputs=None) -> (symbol, arg_params, aux_params)``
    One converter per Caffe type, in the family files (``conv.py``, ``pool.py``, ...). The input
    variable is called ``data`` when the net has one input (whatever its Caffe name); nets with
    several inputs keep their Caffe blob names. Only the batch axis is dynamic. Parameter names
    come from Caffe layer names: ``<layer>_weight``/``_bias`` (Convolution, InnerProduct),
    ``<layer>_gamma``/``_beta`` (Scale; BatchNorm's are fixed at 1/0) and the aux params
    ``<bn>_moving_mean``/``_moving_var`` (Caffe's statistics divided by its factor). Without
    ``weights`` the params dicts are empty (an untrained symbol).
``save_checkpoint(prefix, symbol, arg_params, aux_params)``
    Atomic ``PREFIX-symbol.json`` + ``PREFIX-0000.params`` (MXNet's checkpoint format).
``net_to_symbol_json(net, train=False)``: the untrained symbol of ``net`` as JSON text.

Trainable symbols (``train=True``, ``resnet-gen mxnet --train``)
    The same net made to train as Caffe's TRAIN phase does: BatchNorm normalises with
    batch statistics and keeps moving averages (momentum = Caffe's
    ``moving_average_fraction``; at inference MXNet uses the averages); a BatchNorm + Scale
    pair is one MXNet BatchNorm whose gamma/beta are the Scale's (same names); the net's
    output Softmax becomes ``SoftmaxOutput`` with the label ``softmax_label``; Caffe's
    ``param { lr_mult decay_mult }`` become the variables' ``__lr_mult__``/``__wd_mult__``.
``forward_all(model, params, x)``: every Caffe blob's final value, for blob-by-blob checks.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Dict, Iterable, List, Optional, Sequence

import mxnet as mx
import numpy as np

from ...caffe.blobs import FileBlob
from ...errors import MismatchError, UnsupportedLayerError, UsageError
from ...fileio import atomic_outputs, write_bytes
from ...ir import Net
from ...layers import unsupported_error
from ...mxnet_params import save_params
from .norm import affine_scales
from .registry import (CONVERTERS, NOT_CONVERTED, OPTION_CHECKS, BuildContext,
                       check_blob_shapes, supported_types)

#: Attribute naming the Caffe blobs whose final value a node computes (read by forward_all).
BLOB_ATTR = "__caffe_blobs__"


def unsupported_report(net: Net) -> None:
    """Raise one UnsupportedLayerError listing *every* layer that cannot be converted."""
    bad = []
    for layer in net.layers:
        if layer.type not in CONVERTERS:
            bad.append((layer.name, layer.type, NOT_CONVERTED.get(layer.type)))
        elif layer.type in OPTION_CHECKS and (why := OPTION_CHECKS[layer.type](layer)):
            bad.append((layer.name, layer.type, why))
    if bad:
        raise unsupported_error(bad, supported_types(), target=" to MXNet")


def _checked_weights(net: Net, weights) -> Optional[Dict[str, List[np.ndarray]]]:
    """Shape-check ``weights`` against the (shape-inferred) net; None stays None."""
    if weights is None:
        return None
    out = {}
    for layer in net.layers:
        if not layer.blob_shapes:
            continue
        if layer.name not in weights:
            raise MismatchError("no weights for this layer", layer=layer.name,
                                layer_type=layer.type)
        out[layer.name] = check_blob_shapes(layer, weights[layer.name])
    return out


def _input_variables(net: Net) -> Dict[str, mx.sym.Symbol]:
    """One variable per input blob: ``data`` for a single input, else the Caffe names."""
    names = list(net.input_blobs())
    if len(names) == 1:
        return {names[0]: mx.sym.var("data", dtype=np.float32)}
    return {n: mx.sym.var(n, dtype=np.float32) for n in names}


def _build(net: Net, weights, train: bool = False):
    """Build every blob's symbol. Returns (ctx, ssa symbols, Caffe blob -> final SSA name)."""
    net.validate(shapes=False)
    unsupported_report(net)
    net.validate()  # fills layer.blob_shapes on ``net``; ssa() copies them
    blobs = _checked_weights(net, weights)
    ssa, final = net.ssa()
    shapes = ssa.validate()  # keyed by SSA name: in-place writes have names of their own
    inputs = _input_variables(net)
    loss_tops = [final[b] for b in net.output_blobs()] if train else []
    ctx = BuildContext(shapes, blobs, inputs, train=train, loss_tops=loss_tops,
                       affine=affine_scales(ssa.layers) if train else None)
    syms = dict(inputs)
    for layer in ssa.layers:
        try:
            tops = CONVERTERS[layer.type](ctx, layer, [syms[b] for b in layer.bottoms])
        except mx.base.MXNetError as exc:
            raise UnsupportedLayerError(f"MXNet rejected the layer: {exc}".splitlines()[0],
                                        layer=layer.name, layer_type=layer.type) from exc
        syms.update(zip(layer.tops, tops))
    return ctx, syms, final


def _tag_blobs(syms, final) -> None:
    """Record on each node which Caffe blobs' final values it computes (for forward_all)."""
    by_node: Dict[str, List[str]] = {}
    nodes = {}
    for blob, ssa_name in final.items():
        sym = syms[ssa_name]
        by_node.setdefault(sym.name, []).append(blob)
        nodes[sym.name] = sym
    for node, blobs in by_node.items():
        # JSON, not a joined string: a Caffe blob name may hold any character (issue 11)
        nodes[node]._set_attr(**{BLOB_ATTR: json.dumps(blobs)})


def _group(syms, final, outputs: Sequence[str]):
    """The symbol for ``outputs`` (Caffe blob names): itself for one, else a Group in order.
    A node requested twice (aliases such as Dropout) is copied so output names stay unique."""
    unknown = [b for b in outputs if b not in final]
    if unknown:
        raise UsageError(f"unknown output blob(s): {', '.join(unknown)}; "
                         f"blobs are: {', '.join(final)}")
    picked, seen = [], set()
    for blob in outputs:
        sym = syms[final[blob]]
        if sym.name in seen:
            sym = mx.sym.identity(sym, name=f"{blob}_copy{len(picked)}")
        seen.add(sym.name)
        picked.append(sym)
    return picked[0] if len(picked) == 1 else mx.sym.Group(picked)


def to_mxnet(net: Net, weights=None, outputs: Optional[Sequence[str]] = None,
             train: bool = False):
    """Convert ``net`` (and ``weights``, Caffe layer name -> blobs) to
    ``(symbol, arg_params, aux_params)``; ``outputs`` are Caffe blob names (default: the
    net's outputs). See the module docstring for names and conventions.

    ``train`` gives a symbol that trains (module docstring, "Trainable symbols")."""
    symbol, args, aux = to_mxnet_values(net, weights, outputs, train)
    return symbol, {k: _nd(v) for k, v in args.items()}, {k: _nd(v) for k, v in aux.items()}


def to_mxnet_values(net: Net, weights=None, outputs: Optional[Sequence[str]] = None,
                    train: bool = False):
    """:func:`to_mxnet` with the params as numpy arrays, or as FileBlobs where ``weights``
    holds a lazy load's blobs and the value is stored unchanged (never read here): what
    :func:`save_checkpoint` streams from the caffemodel."""
    net = net.copy()
    if train:
        _check_trainable(net, outputs)
    # A fresh name manager: ops left unnamed are numbered from 0 in every build, so the same
    # net gives the same symbol.json whatever was built before in the process.
    with mx.name.NameManager():
        ctx, syms, final = _build(net, weights, train)
        _tag_blobs(syms, final)
        symbol = _group(syms, final, list(outputs) if outputs else net.output_blobs())
    return symbol, ctx.arg_params, ctx.aux_params


def _check_trainable(net: Net, outputs) -> None:
    """A trainable symbol's outputs are its losses: the net must end in one Softmax."""
    ends = net.output_blobs()
    producers = {top: layer for layer in net.layers for top in layer.tops}
    if outputs or len(ends) != 1 or producers[ends[0]].type != "Softmax":
        raise UsageError("a trainable MXNet symbol needs a net whose one output is a "
                         "Softmax (it becomes the SoftmaxOutput loss)")


def net_to_symbol_json(net: Net, train: bool = False) -> str:
    """The untrained MXNet symbol of ``net`` as JSON (for ``resnet-gen mxnet``); ``train``
    as in :func:`to_mxnet`."""
    return to_mxnet(net, train=train)[0].tojson()


def save_checkpoint(prefix, symbol, arg_params, aux_params, epoch: int = 0,
                    extra_files: Optional[Dict[str, str]] = None,
                    verify: Iterable[FileBlob] = ()) -> List[str]:
    """Write ``PREFIX-symbol.json`` and ``PREFIX-%04d.params`` (MXNet's checkpoint layout,
    readable by ``mx.model.load_checkpoint`` and ``gluon.SymbolBlock.imports``) and
    ``extra_files`` (path -> text); returns the paths written.

    The params are NDArrays, numpy arrays or FileBlobs (from :func:`to_mxnet_values`):
    FileBlobs are streamed from their caffemodel, NaN/Inf-checked on the way, as are the
    unwritten FileBlobs in ``verify`` (:mod:`converter.mxnet_params`, mx.nd.save's bytes).
    All files are written to temporaries in the target folder and renamed into place as one
    (:func:`converter.fileio.atomic_outputs`): a failure never leaves a partial checkpoint.
    """
    prefix = os.fspath(prefix)
    params = [(f"arg:{k}", v) for k, v in arg_params.items()]
    params += [(f"aux:{k}", v) for k, v in aux_params.items()]
    entries = [(name, _shape(v), _values(v)) for name, v in params]
    missing = [a for a in symbol.list_arguments() + symbol.list_auxiliary_states()
               if a not in arg_params and a not in aux_params and not _is_input(a, symbol)]
    if missing:
        raise UsageError(f"no values for parameter(s): {', '.join(missing)}")
    extra = dict(extra_files or {})
    paths = [f"{prefix}-symbol.json", f"{prefix}-{epoch:04d}.params", *extra]
    with atomic_outputs(paths, [".json", ".params"] + [""] * len(extra)) as temps:
        write_bytes(temps[0], symbol.tojson().encode("utf-8"))
        save_params(temps[1], entries, verify=verify)
        for tmp, text in zip(temps[2:], extra.values()):
            write_bytes(tmp, text.encode("utf-8"))
    return paths


def _nd(value):
    if isinstance(value, mx.nd.NDArray):
        return value
    return mx.nd.array(np.asarray(value, dtype=np.float32), dtype=np.float32)


def _shape(value):
    return tuple(int(d) for d in value.shape) or (1,)  # MXNet 1.x has no 0-d arrays


def _values(value):
    """A param's values as save_params takes them: FileBlobs as they are, else float32."""
    if isinstance(value, FileBlob):
        return value
    if isinstance(value, mx.nd.NDArray):
        value = value.asnumpy()
    return np.asarray(value, dtype=np.float32).reshape(_shape(value))


def _is_input(name: str, symbol) -> bool:
    """Arguments without a declared shape are the data inputs (parameters carry shapes)."""
    attrs = symbol.attr_dict().get(name, {})
    return "__shape__" not in attrs


def forward_all(model, params, x, ctx=None) -> Dict[str, np.ndarray]:
    """Run ``model`` on ``x`` and return {Caffe blob name: final value} for every blob.

    ``model`` is a Net (then ``params`` are Caffe weights) or a symbol built by
    :func:`to_mxnet` (then ``params`` is ``(arg_params, aux_params)``; only blobs the symbol
    computes are returned). ``x`` is one array for ``data`` or a dict input name -> array.
    """
    if isinstance(model, Net):
        symbol, arg_params, aux_params = to_mxnet(model, params, outputs=model.blob_names())
    else:
        symbol, (arg_params, aux_params) = model, params
    internals = symbol.get_internals()
    outs, blobs = [], []
    for name in internals.list_outputs():
        node = internals[name]
        tagged = node.attr(BLOB_ATTR)
        if tagged:
            outs.append(node)
            blobs.append(json.loads(tagged))
    inputs = x if isinstance(x, dict) else {"data": x}
    args = {k: mx.nd.array(np.asarray(v), dtype=np.float32) for k, v in inputs.items()}
    args.update({k: _nd(v) for k, v in arg_params.items()})
    group = mx.sym.Group(outs)
    with unfused():
        exe = group.bind(ctx or mx.cpu(), args={a: args[a] for a in group.list_arguments()},
                         aux_states={a: _nd(aux_params[a])
                                     for a in group.list_auxiliary_states()},
                         grad_req="null")
    values = exe.forward(is_train=False)
    out = {b: v.asnumpy() for names, v in zip(blobs, values) for b in names}
    if isinstance(model, Net):
        # MXNet 1.x has no 0-axis arrays: a 0-axis Caffe blob (Reduction over every axis)
        # comes back as shape (1,).
        for name, shape in model.validate().items():
            if shape == () and name in out:
                out[name] = out[name].reshape(())
    return out


@contextlib.contextmanager
def unfused():
    """Bind without MXNet's subgraph (oneDNN fusion) pass.

    forward_all asks for every intermediate blob; MXNet 1.9's executor then fails on fused
    patterns whose inner output is also requested (e.g. a conv output that feeds a separate
    BatchNorm top: "arg_names.size() == in_args_map.size()"). Unfused, each op computes
    exactly what its Caffe layer does, which is what blob-by-blob verification wants. The
    variable is read at bind time, so it is restored right after.
    """
    key, old = "MXNET_SUBGRAPH_BACKEND", os.environ.get("MXNET_SUBGRAPH_BACKEND")
    os.environ[key] = "NONE"
    try:
        yield
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old
