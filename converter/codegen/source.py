"""Assembling a generated model file: docstring, imports, facts, helpers, classes."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Dict, List, Optional, Sequence

from .. import __version__
from .helpers import USES_F, helper_source

LOAD_METHOD = '''
    @classmethod
    def load(cls, path):
        """A Net filled with the converted weights in `path` (a .safetensors file), in eval
        mode (Caffe's TEST phase); call .train() to fine-tune it."""
        from safetensors.torch import load_file

        net = cls()
        net.load_state_dict(load_file(path))
        return net.eval()
'''


def preprocess_facts(pre) -> Dict[str, object]:
    """The preprocessing facts as plain data (the mean image, if any, is the buffer
    ``Net.mean_image``)."""
    facts = json.loads(pre.to_json())
    facts.pop("has_mean_image", None)
    if pre.mean_image is not None:
        facts["mean_image"] = "the buffer Net.mean_image (C, H, W), in channel_order"
    return facts


def module_docstring(title: str, stem: str, inputs: Sequence[str], outputs: Sequence[str],
                     facts, softmax: Optional[str] = None) -> List[str]:
    """The generated file's docstring: what it is, how to load it, what goes in and out."""
    order = facts.get("channel_order", "BGR")
    plural = "s" if len(inputs) > 1 else ""
    paragraphs = [
        f'Plain PyTorch: ``Net()`` builds it, ``Net.load("{stem}.safetensors")`` fills it with '
        "the converted weights (or use ``load_state_dict``). In eval mode it computes what "
        "Caffe's TEST phase computes; in train mode BatchNorm uses batch statistics and "
        "updates its running statistics.",
        f"Input{plural} (Caffe blob{plural} {', '.join(inputs)}): N,C,H,W, preprocessed as "
        f"PREPROCESS says ({order} channel order, 0..{facts.get('input_scale', 255.0):g} "
        "range minus the mean, times scale). Returns the Caffe "
        f"blob{'s' if len(outputs) > 1 else ''} {', '.join(outputs)}.",
    ]
    if softmax:
        paragraphs.append(f"To train with nn.CrossEntropyLoss, take the logits: set "
                          f"``net.{softmax} = nn.Identity()``.")
    lines = [f'"""{title}, converted from Caffe by resnet-convert {__version__}.']
    for text in paragraphs:
        lines += [""] + textwrap.wrap(text, 92, break_on_hyphens=False)
    return lines + ['"""']


def assemble(docstring: List[str], facts, helpers: Sequence[str], classes: Sequence[str],
             uses_f: bool = False) -> str:
    """The whole file, ending with a newline."""
    code = helper_source(helpers) + list(classes)
    lines = list(docstring) + [""]
    if any(re.search(r"\btorch\.(?!nn\b)", block) for block in code):
        lines.append("import torch")
    if uses_f or USES_F.intersection(helpers) or any(re.search(r"\bF\.\w", block)
                                                      for block in code):
        lines.append("import torch.nn.functional as F")
    lines += ["from torch import nn", "", "#: How the Caffe model expects its input: "
              "(image[channel_order] * input_scale - mean) * scale.",
              "PREPROCESS = {"]
    lines += [f"    {key!r}: {value!r}," for key, value in sorted(facts.items())] + ["}"]
    for block in code:
        lines += ["", "", block]
    return "\n".join(lines).rstrip("\n") + "\n"


def net_class(doc: str, init: Sequence[str], forward: Sequence[str], extra: Sequence[str],
              caffe_inputs, caffe_outputs, mean_shape=None, signature: str = "self") -> str:
    """``class Net(nn.Module)`` from its parts."""
    lines = ["class Net(nn.Module):", f'    """{doc}"""', "",
             f"    caffe_inputs = {tuple(caffe_inputs)!r}",
             f"    caffe_outputs = {tuple(caffe_outputs)!r}", "",
             f"    def __init__({signature}):", "        super().__init__()"]
    lines += list(init)
    if mean_shape is not None:
        lines.append("        self.register_buffer('mean_image', "
                     f"torch.zeros({tuple(mean_shape)!r}))")
    lines += [""] + list(forward)
    for block in extra:
        lines += [""] + block.strip("\n").split("\n")
    lines += LOAD_METHOD.rstrip("\n").split("\n")
    return "\n".join(lines)
