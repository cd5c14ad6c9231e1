"""Saving converted PyTorch models: safetensors (+ what rebuilds the module), .pt2 and ONNX.

A ``.safetensors`` file written here is self-contained: its metadata carries the net (Caffe
prototxt text), the requested outputs, whether BatchNorm was folded, and the preprocessing
facts; a mean image, if any, rides along as the tensor ``__preprocess__.mean_image``.
:func:`load_torch` rebuilds the module from that file alone. Nothing is ever unpickled.

:func:`save_safetensors_streamed` writes the same file for a module that was never loaded,
copying blob values straight from the caffemodel (see :mod:`converter.safetensors_io`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...caffe.blobs import FileBlob
from ...caffe.reader import parse_prototxt_text
from ...caffe.schema import schema_from_text
from ...caffe.writer import net_schema, prototxt_text
from ...errors import CaffeFormatError
from ...fileio import atomic_output, write_bytes
from ...ir import Net
from ...ir.names import distinct
from ...preprocess import Preprocess
from ...safetensors_io import CHUNK_BYTES, Entry, write_safetensors
from ...streaming import unwritten_blobs
from .module import constants_frozen
from .net import (CaffeNet, checked_shape, layer_blob_pairs, layers_for_weights,
                            to_torch)

MEAN_KEY = "__preprocess__.mean_image"
FORMAT = "resnet-convert/torch/1"


def save_safetensors(module: CaffeNet, net: Net, path, pre: Preprocess,
                     fold_bn: bool = False) -> None:
    """Write the module's state_dict plus the metadata :func:`load_torch` needs (atomically)."""
    from safetensors.torch import save
    tensors = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    if pre.mean_image is not None:
        tensors[MEAN_KEY] = torch.from_numpy(np.ascontiguousarray(pre.mean_image, np.float32))
    meta = safetensors_metadata(module, net, pre, fold_bn)
    data = save(tensors, metadata=meta)  # bytes: the write below reports a full disk
    with atomic_output(path, ".safetensors") as tmp:
        write_bytes(tmp, data)


def safetensors_metadata(module: CaffeNet, net: Net, pre: Preprocess,
                         fold_bn: bool) -> Dict[str, str]:
    """What :func:`load_torch` needs besides the tensors to rebuild ``module``."""
    meta = {"format": FORMAT, "prototxt": prototxt_text(net),
            "outputs": json.dumps(module.output_names), "fold_bn": json.dumps(fold_bn),
            "single_output": json.dumps(module.single_output), "preprocess": pre.to_json()}
    schema = net_schema(net)
    if schema.text is not None:  # a custom type's fields: the file carries their schema
        meta["caffe_proto"] = schema.text
    return meta


def save_safetensors_streamed(module: CaffeNet, net: Net, weights, path, pre: Preprocess,
                              chunk_bytes: int = CHUNK_BYTES) -> bool:
    """Write what ``to_torch(net, weights)`` + :func:`save_safetensors` would, without
    loading ``module`` (built by ``build_module`` inside ``weights_follow()``, never filled):
    each state_dict entry comes straight from its Caffe blob, FileBlobs streamed from the
    caffemodel. The same checks run, with the same errors, as in loading. Returns False,
    writing nothing, if some state has no Caffe blob (then use the eager path).
    """
    entries = _stream_entries(module, net, weights)
    if entries is None:
        return False
    if pre.mean_image is not None:
        mean = np.ascontiguousarray(pre.mean_image, np.float32)
        entries.append((MEAN_KEY, "F32", mean.shape, mean))
    write_safetensors(path, entries, safetensors_metadata(module, net, pre, False),
                      verify=unwritten_blobs(weights, [e[3] for e in entries]), chunk_bytes=chunk_bytes)
    return True


def _stream_entries(module: CaffeNet, net: Net, weights) -> Optional[List[Entry]]:
    """``(state_dict key, "F32", shape, blob)`` in state_dict order, checked as
    ``net.load_weights`` checks; None if a key has no blob or is not float32."""
    layers = layers_for_weights(net, weights)
    sources = {}
    for name, mname in module.layer_modules.items():
        for attr, blob in _layer_sources(module._modules[mname], layers[name], weights.get(name)):
            sources[f"{mname}.{attr}"] = blob
    state = module.state_dict(keep_vars=True)
    if set(state) != set(sources) or any(t.dtype != torch.float32 for t in state.values()):
        return None
    return [(key, "F32", tuple(t.shape), sources[key]) for key, t in state.items()]


def _layer_sources(module: torch.nn.Module, layer, blobs) -> List[Tuple[str, object]]:
    """``(attribute, blob in its shape)`` for one layer: ``net._load_layer``'s
    checks and errors, without touching the values."""
    out = []
    for i, (attr, blob) in enumerate(layer_blob_pairs(module, layer, blobs)):
        shape = checked_shape(blob, getattr(module, attr).shape, layer, i)
        if not isinstance(blob, FileBlob):
            blob = np.asarray(blob).astype(np.float32, copy=False)
        out.append((attr, blob.reshape(shape)))
    return out


def load_torch(path) -> Tuple[CaffeNet, Preprocess]:
    """Rebuild a module saved by :func:`save_safetensors`; returns ``(module, preprocess)``."""
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise CaffeFormatError(f"not a readable safetensors file ({exc})", file=path) from None
    if meta.get("format") != FORMAT:
        raise CaffeFormatError("not a resnet-convert torch file (no metadata)", file=path)
    mean = tensors.pop(MEAN_KEY, None)
    schema = schema_from_text(meta["caffe_proto"], path) if "caffe_proto" in meta else None
    net = parse_prototxt_text(meta["prototxt"], path, schema=schema)
    outputs = json.loads(meta["outputs"])
    single = json.loads(meta.get("single_output", "false"))
    module = to_torch(net, None, outputs=outputs[0] if single else outputs,
                      fold_bn=json.loads(meta["fold_bn"]))
    module.load_state_dict(tensors, strict=True)
    pre = Preprocess.from_json(meta["preprocess"], None if mean is None else mean.numpy())
    return module.eval(), pre


def _example(module: CaffeNet, input_shape: Sequence[int]) -> torch.Tensor:
    """An example input with batch 2: torch.export specialises a batch of 1 to a constant."""
    shape = (2,) + tuple(input_shape[1:])
    return torch.zeros(shape, dtype=torch.float32)


def export_pt2(module: CaffeNet, path, input_shape: Sequence[int], pre: Preprocess) -> None:
    """Write a ``torch.export`` ExportedProgram with a dynamic batch dimension; the
    preprocessing facts go in its extra file ``preprocess.json``."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    with constants_frozen(module):  # the same values, a graph of fewer nodes to trace
        program = torch.export.export(module, (_example(module, input_shape),),
                                      # forward(*inputs): one varargs entry holding the input.
                                      dynamic_shapes=(({0: batch},),))
    # Saved to memory first: torch's C++ writer aborts the process on a full disk.
    buffer = io.BytesIO()
    torch.export.save(program, buffer,
                      extra_files={"preprocess.json": pre.to_json(include_mean=True)})
    with atomic_output(path, ".pt2") as tmp:
        write_bytes(tmp, _renamed_archive(buffer, Path(path).stem).getbuffer())


#: torch's zip writer aligns every entry's data to 64 bytes (for memory-mapped loading).
_ALIGN = 64


def _renamed_archive(buffer: io.BytesIO, name: str) -> io.BytesIO:
    """The archive with its top folder renamed to ``name``, entries kept stored and aligned.

    torch names the folder after the file it writes, and "archive" when it writes to
    memory (as here, so that a full disk is an error rather than a C++ abort); users see
    that name when they unzip the ``.pt2``, so it is the final file's."""
    import struct
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for entry in src.infolist():
            head, _, rest = entry.filename.partition("/")
            info = zipfile.ZipInfo(f"{name}/{rest}" if rest else entry.filename,
                                   entry.date_time)
            start = out.tell() + 30 + len(info.filename.encode("utf-8")) + 4
            pad = -start % _ALIGN
            info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # "FB", as torch's
            dst.writestr(info, src.read(entry))
    return out


def export_onnx(module: CaffeNet, path, input_shape: Sequence[int], pre: Preprocess,
                opset: Optional[int] = None) -> None:
    """Write ONNX with input ``data`` and the Caffe output blob names, dynamic batch; the
    preprocessing facts go in the model's metadata_props under ``preprocess``."""
    outputs = distinct([n.replace("/", "_") for n in module.output_names], {"data"})
    axes = {name: {0: "batch"} for name in ["data"] + outputs}
    kwargs = {} if opset is None else {"opset_version": opset}
    buffer = io.BytesIO()  # in memory first, so that a full disk is one clean error
    torch.onnx.export(module, (_example(module, input_shape),), buffer, input_names=["data"],
                      output_names=outputs, dynamic_axes=axes, dynamo=False, **kwargs)
    data = _add_onnx_metadata(buffer.getvalue(), {"preprocess": pre.to_json(include_mean=True)})
    with atomic_output(path, ".onnx") as tmp:
        write_bytes(tmp, data)


def _add_onnx_metadata(data: bytes, props: dict) -> bytes:
    import onnx
    model = onnx.load_from_string(data)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()
