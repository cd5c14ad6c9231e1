"""Generate a standalone PyTorch module (a .py file) plus its weights (.safetensors).

:func:`generate` turns the IR and its weights into source text and a state_dict (NumPy
arrays keyed as the generated module's own ``state_dict()``); :func:`write_python` writes
``model.py`` and ``model.safetensors`` together, atomically and all-or-nothing. Nothing
here imports torch: the generated file does, and it imports nothing of this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import UsageError
from ..fileio import atomic_outputs
from ..ir import Net
from ..preprocess import Preprocess
from ..safetensors_io import header
from .ops import Program, build_program
from .resnet import match_resnet
from .resnet_text import resnet_source
from .source import assemble, module_docstring, net_class, preprocess_facts
from .straight import straight_body

FORMAT = "resnet-convert/torch-code/1"
_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
_LITTLE = {"F32": "<f4", "I64": "<i8"}  # safetensors stores little-endian


@dataclass
class Generated:
    """A generated model: the file's text, its state_dict and the safetensors metadata."""
    source: str
    tensors: Dict[str, np.ndarray]
    metadata: Dict[str, str]
    style: str  # "resnet" or "straight"


def prune(program: Program, outputs: Optional[Sequence[str]]) -> Program:
    """``program`` returning the SSA values ``outputs`` (default: the net's outputs), without
    the ops they do not depend on."""
    if outputs:
        program.outputs = list(outputs)
    wanted, kept = set(program.outputs), []
    for op in reversed(program.ops):
        if wanted.intersection(op.outputs):
            kept.append(op)
            wanted.update(op.inputs)
    program.ops = kept[::-1]
    return program


def _softmax_attr(program: Program) -> Optional[str]:
    """The attribute name a final nn.Softmax gets (checked against the text later)."""
    last = program.ops[-1] if program.ops else None
    if last is None or last.kind != "softmax" or len(program.outputs) != 1:
        return None
    from .names import RESERVED, identifier
    name = identifier(last.name)
    return None if name in RESERVED else name


def generate(net: Net, weights, pre: Preprocess, stem: str = "model",
             outputs: Optional[Sequence[str]] = None) -> Generated:
    """The module for ``net`` (Caffe blob names ``outputs`` returned; default the net's
    outputs). A recognised ResNet comes out torchvision-style, any other net straight-line."""
    net = net.copy()
    program = build_program(net, weights)
    final = net.ssa()[1]
    caffe_outputs = list(outputs) if outputs else net.output_blobs()
    prune(program, [final[o] for o in caffe_outputs])
    facts = preprocess_facts(pre)
    title = net.name or "A Caffe net"
    doc = module_docstring(title, stem, program.inputs, caffe_outputs, facts,
                           _softmax_attr(program))
    mean_shape = None if pre.mean_image is None else tuple(pre.mean_image.shape)
    match = match_resnet(program)
    if match is not None:
        source, tensors = resnet_source(program, match, doc, facts, caffe_outputs, mean_shape)
        style = "resnet"
    else:
        body = straight_body(program)
        cls = net_class(f"The Caffe net as straight-line PyTorch ({len(program.ops)} ops).",
                        body.init, body.forward, [], program.inputs, caffe_outputs,
                        mean_shape)
        source = assemble(doc, facts, body.helpers, [cls], uses_f=False)
        tensors, style = body.tensors, "straight"
    tip = _softmax_attr(program)
    if tip and f"self.{tip} = nn.Softmax(" not in source:  # named otherwise: no tip
        source = "\n".join(line for line in source.split("\n")
                           if "nn.CrossEntropyLoss" not in line)
    if pre.mean_image is not None:
        tensors["mean_image"] = np.ascontiguousarray(pre.mean_image, np.float32)
    metadata = {"format": FORMAT, "preprocess": pre.to_json(),
                "outputs": json.dumps(caffe_outputs), "style": style}
    return Generated(source, tensors, metadata, style)


def _entries(tensors: Dict[str, np.ndarray]):
    entries = []
    for key, value in tensors.items():
        value = np.ascontiguousarray(value)
        entries.append((key, _DTYPES[value.dtype], value.shape, value))
    return entries


def write_python(path, net: Net, weights, pre: Preprocess,
                 outputs: Optional[Sequence[str]] = None) -> List[Path]:
    """Write ``path`` (.py) and the .safetensors beside it: both or neither
    (:func:`converter.fileio.atomic_outputs`)."""
    path = Path(path)
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise UsageError("the module file name must be a Python identifier ending in .py "
                         "(e.g. resnet50.py)", file=path)
    weights_path = path.with_suffix(".safetensors")
    gen = generate(net, weights, pre, stem=path.stem, outputs=outputs)
    entries = _entries(gen.tensors)
    with atomic_outputs([path, weights_path], [".py", ".safetensors"]) as (tmp_py, tmp_st):
        with open(tmp_py, "w", encoding="utf-8") as handle:
            handle.write(gen.source)
        with open(tmp_st, "wb") as handle:
            handle.write(header(entries, gen.metadata))
            for _, dtype, _, value in entries:
                handle.write(np.ascontiguousarray(value, _LITTLE[dtype]).tobytes())
    return [path, weights_path]
