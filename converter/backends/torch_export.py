"""Saving converted PyTorch models: safetensors (+ what rebuilds the module), .pt2 and ONNX.

A ``.safetensors`` file written here is self-contained: its metadata carries the net (Caffe
prototxt text), the requested outputs, whether BatchNorm was folded, and the preprocessing
facts; a mean image, if any, rides along as the tensor ``__preprocess__.mean_image``.
:func:`load_torch` rebuilds the module from that file alone. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ..caffe.reader import parse_prototxt_text
from ..caffe.writer import prototxt_text
from ..errors import CaffeFormatError
from ..fileio import atomic_output
from ..ir import Net
from ..preprocess import Preprocess
from .torch_backend import CaffeNet, to_torch

MEAN_KEY = "__preprocess__.mean_image"
FORMAT = "resnet-convert/torch/1"


def save_safetensors(module: CaffeNet, net: Net, path, pre: Preprocess,
                     fold_bn: bool = False) -> None:
    """Write the module's state_dict plus the metadata :func:`load_torch` needs (atomically)."""
    from safetensors.torch import save_file
    tensors = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    if pre.mean_image is not None:
        tensors[MEAN_KEY] = torch.from_numpy(np.ascontiguousarray(pre.mean_image, np.float32))
    meta = {"format": FORMAT, "prototxt": prototxt_text(net),
            "outputs": json.dumps(module.output_names), "fold_bn": json.dumps(fold_bn),
            "single_output": json.dumps(module.single_output), "preprocess": pre.to_json()}
    with atomic_output(path, ".safetensors") as tmp:
        save_file(tensors, tmp, metadata=meta)


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
    net = parse_prototxt_text(meta["prototxt"], path)
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
    program = torch.export.export(module, (_example(module, input_shape),),
                                  # forward(*inputs): one varargs entry holding the input.
                                  dynamic_shapes=(({0: batch},),))
    with atomic_output(path, ".pt2") as tmp:
        torch.export.save(program, tmp,
                          extra_files={"preprocess.json": pre.to_json(include_mean=True)})


def export_onnx(module: CaffeNet, path, input_shape: Sequence[int], pre: Preprocess,
                opset: Optional[int] = None) -> None:
    """Write ONNX with input ``data`` and the Caffe output blob names, dynamic batch; the
    preprocessing facts go in the model's metadata_props under ``preprocess``."""
    outputs = [n.replace("/", "_") for n in module.output_names]
    axes = {name: {0: "batch"} for name in ["data"] + outputs}
    kwargs = {} if opset is None else {"opset_version": opset}
    with atomic_output(path, ".onnx") as tmp:
        torch.onnx.export(module, (_example(module, input_shape),), tmp, input_names=["data"],
                          output_names=outputs, dynamic_axes=axes, dynamo=False, **kwargs)
        _add_onnx_metadata(tmp, {"preprocess": pre.to_json(include_mean=True)})


def _add_onnx_metadata(path: str, props: dict) -> None:
    import onnx
    model = onnx.load(path)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
